"""How Exchange rewrites an HTML body it stores, so tests prove our markers survive it.

Outlook never keeps HTML as sent: a fragment is wrapped in a full document with a charset
<meta>, tags and attribute names are lower-cased and attributes re-quoted, paragraphs get
Word's `MsoNormal` class, runs of spaces become `&nbsp;`, and line breaks become CRLF. The
rewrite is idempotent, as Exchange's is: storing what it returned changes nothing.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

HEAD = (
    '<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
    "</head>\r\n<body>\r\n"
)
TAIL = "\r\n</body>\r\n</html>\r\n"
RAW = frozenset({"script", "style"})


class _Rewriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.raw = 0

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        if tag == "p" and not any(name == "class" for name, _ in attrs):
            attrs = [("class", "MsoNormal"), *attrs]
        rendered = "".join(
            f' {name}="{html.escape(value or "", quote=True)}"' for name, value in attrs
        )
        return f"<{tag}{rendered}>"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.raw += tag in RAW
        self.out.append(self._tag(tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.raw -= tag in RAW and self.raw > 0
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.raw:
            self.out.append(data)
            return
        data = re.sub(" (?= )", "\xa0", data)
        self.out.append(html.escape(data, quote=False).replace("\xa0", "&nbsp;"))

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")


def outlook_rewrite(body: str) -> str:
    """The HTML body as Exchange stores and returns it."""
    if not re.search(r"<html[\s>]", body, re.IGNORECASE):
        body = HEAD + body + TAIL
    rewriter = _Rewriter()
    rewriter.feed(body)
    rewriter.close()
    return re.sub(r"(?<!\r)\n", "\r\n", "".join(rewriter.out))
