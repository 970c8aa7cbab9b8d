"""The HTML copies of a CalDAV description, written together with its text.

Thunderbird and others keep the formatted version of a description in the ALTREP parameter of
DESCRIPTION, as a data: URL (RFC 2397) with the HTML percent-encoded or in base64; Outlook and
others write it as X-ALT-DESC;FMTTYPE=text/html. Clients show that copy rather than the text,
so when callplan writes a description, each copy gets the same agenda edit (agent.text.html_copy)
and goes back in the encoding it came in:

- a percent-encoded URL is edited in place: every byte of it outside the agenda stays as it
  was, and taking the agenda out gives the URL back exactly;
- a base64 URL is encoded again, which gives back the same URL only when it was encoded the
  standard way, so only such a one is edited;
- X-ALT-DESC is text, escaped as iCalendar escapes text.

A copy that cannot be edited (an ALTREP that points elsewhere, such as cid: or http:, or one
that cannot be decoded) and one whose agenda a person changed are kept exactly as they were,
and the write says so: the agenda is then in the text alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import icalendar
from icalendar.parser import unescape_backslash

from agent.core.model import AgendaTag
from agent.text.html_copy import NOTHING, Edit, follow

ALT_DESCRIPTION = "X-ALT-DESC"
# left as they are, with letters, digits and -_.~: what JavaScript's encodeURIComponent does
URL_SAFE = "!'()*"
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class Unusable(ValueError):
    """An HTML copy that cannot be edited; the message says why."""


@dataclass
class Description:
    """What a write of a description puts in place of the properties it replaces."""

    properties: icalendar.Event = field(default_factory=icalendar.Event)
    names: list[str] = field(default_factory=lambda: ["DESCRIPTION"])  # the properties replaced
    kept: list[str] = field(default_factory=list)  # one line per HTML copy left as it was, and why


def describe(
    component: icalendar.Component,
    before: str,
    before_tag: AgendaTag | None,
    after: str,
    after_tag: AgendaTag | None,
) -> Description:
    """DESCRIPTION with the text `after` and its parameters as they were, and each HTML copy of the
    component's description with the agenda edit that turned `before` into `after`."""
    result = Description()

    def edit_for(copy: str, html: str) -> Edit | None:
        """The agenda edit of one copy; None, and a line that says so, when the copy cannot
        follow."""
        edit = follow(html, before, before_tag, after, after_tag)
        if edit is None:
            result.kept.append(
                f"{copy}: it does not hold the agenda as callplan wrote it, so it was kept as it "
                "was"
            )
        return edit

    current = _first(component.get("DESCRIPTION"))
    parameters = dict(current.params) if current is not None else {}
    if "ALTREP" in parameters:
        try:
            url = DataUrl(str(parameters["ALTREP"]))
        except Unusable as exc:
            result.kept.append(f"ALTREP: {exc}")
        else:
            if (edit := edit_for("ALTREP", url.html)) is not None:
                parameters["ALTREP"] = url.edited(edit)
    if after or parameters:
        result.properties.add("DESCRIPTION", after, parameters=parameters)
    alternative = _first(component.get(ALT_DESCRIPTION))
    if (
        alternative is not None
        and str(alternative.params.get("FMTTYPE", "")).lower() == "text/html"
    ):
        # unknown to icalendar, so still escaped
        html = unescape_backslash(alternative.to_ical().decode("utf-8"))
        edit = edit_for(ALT_DESCRIPTION, html)
        if edit is not None and edit != NOTHING:
            result.properties.add(
                ALT_DESCRIPTION,
                icalendar.vText(edit.apply(html)),
                parameters=dict(alternative.params),
            )
            result.names.append(ALT_DESCRIPTION)
    return result


def _first(value: Any) -> Any:
    """A property that should appear once, as its first value when it appears more often."""
    return value[0] if isinstance(value, list) else value


class DataUrl:
    """An HTML document in a data: URL (RFC 2397), to be edited in the encoding it came in."""

    def __init__(self, url: str) -> None:
        scheme, colon, rest = url.partition(":")
        if not colon or scheme.strip().lower() != "data":
            kept = scheme.strip().lower() or "no scheme"
            raise Unusable(
                f"the HTML description is kept elsewhere ({kept}:) and callplan cannot edit it"
            )
        header, comma, self.payload = rest.partition(",")
        media, *options = [part.strip().lower() for part in header.split(";")]
        self.base64 = "base64" in options
        charsets = [
            option.partition("=")[2].strip('"')
            for option in options
            if option.startswith("charset=")
        ]
        if (
            not comma
            or media != "text/html"
            or any(charset not in ("utf-8", "utf8") for charset in charsets)
        ):
            raise Unusable(
                f"a data: URL of {header or 'no type'}, not HTML in UTF-8, which callplan cannot "
                "edit"
            )
        self.head = url[: len(url) - len(self.payload)]
        try:
            if self.base64:
                data = base64.b64decode(self.payload, validate=True)
                if base64.b64encode(data).decode("ascii") != self.payload:
                    raise Unusable(
                        "base64 not written the standard way, so it could not be given back exactly"
                    )
                self.html = data.decode("utf-8")
            else:
                self.html, self.bounds = _percent_decoded(self.payload)
        except binascii.Error:
            raise Unusable("a data: URL whose base64 cannot be decoded") from None
        except UnicodeDecodeError:
            raise Unusable("a data: URL whose HTML is not UTF-8") from None

    def edited(self, edit: Edit) -> str:
        """The URL with the edit made to its HTML, in the URL's own encoding."""
        if self.base64:
            return self.head + base64.b64encode(edit.apply(self.html).encode("utf-8")).decode(
                "ascii"
            )
        start, end = self.bounds[edit.start], self.bounds[edit.end]
        return (
            self.head + self.payload[:start] + quote(edit.text, safe=URL_SAFE) + self.payload[end:]
        )


def _percent_decoded(payload: str) -> tuple[str, list[int]]:
    """The text of a percent-encoded payload and, for each of its characters and for its end,
    where that character starts in the payload."""
    data = bytearray()
    starts: list[int] = []  # for each byte of `data`: where it starts in the payload
    at = 0
    while at < len(payload):
        if _ESCAPE.match(payload, at):
            data.append(int(payload[at + 1 : at + 3], 16))
            starts.append(at)
            at += 3
        else:
            raw = payload[at].encode("utf-8")
            data += raw
            starts += [at] * len(raw)
            at += 1
    text = data.decode("utf-8")
    bounds, byte = [], 0
    for character in text:
        bounds.append(starts[byte])
        byte += len(character.encode("utf-8"))
    bounds.append(len(payload))
    return text, bounds
