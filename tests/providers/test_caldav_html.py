"""The HTML copy of a description on CalDAV (Radicale): the agenda goes into it too.

Thunderbird keeps the formatted description in DESCRIPTION's ALTREP, as a data: URL
(percent-encoded, or in base64 elsewhere); Outlook and others write X-ALT-DESC. Each form is
taken through a whole life with the real engine: the agenda inserted, rewritten when the meeting
moves, then taken out by `callplan undo`, with the person's HTML kept byte for byte outside the
agenda and given back exactly. An ALTREP that points elsewhere (cid:, http:) is never touched,
and each write says so in one log line naming the meeting.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import icalendar
import pytest
from icalendar.parser import unescape_backslash

from agent.sync.undo import undo
from agent.text import splice
from agent.text.html_copy import Edit
from agent.text.splice.html import MARKER_STYLE
from connectors.caldav_html import DataUrl, Unusable
from tests.loop.test_invariants import Agent, at
from tests.support.harness.caldav import CaldavHarness
from tests.support.servers.radicale import SELLER, put_ics, send

TEXT = "Hello Dana,\nsee the deck before we meet."
# What a person formatted: non-ASCII text, an entity, an attribute with characters a URL escapes.
PERSON = (
    '<p>Hello <b>Dana</b>,</p>\n<p>see <a href="https://deck.example/?a=1&amp;b=2">the deck</a> '
    "before we meet — ünïcode ✓</p>"
)
DOCUMENT = f"<html><head><meta charset='utf-8'></head><body>{PERSON}</body></html>"
# The agenda chunk in an HTML copy: from the opening marker paragraph to the closing one.
CHUNK = re.compile(
    f'<p style="{MARKER_STYLE}">{re.escape(html.escape(splice.BEGIN))}</p>.*?'
    f'<p style="{MARKER_STYLE}">{re.escape(html.escape(splice.END))}</p>',
    re.S,
)


def percent(text: str) -> str:
    """Percent-encoded as another client might: lower-case escapes, slashes and spaces left
    alone."""
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(text, safe="/ "))


@dataclass(frozen=True)
class Form:
    """One way a client keeps the HTML copy: the lines it writes, and how to read the copy back."""

    name: str
    lines: tuple[str, ...]
    original: str  # the HTML as the person's client wrote it

    def read(self, vevent: icalendar.Component) -> str:
        """The HTML copy as stored."""
        if self.name == "X-ALT-DESC":
            stored = vevent["X-ALT-DESC"].to_ical()
            assert isinstance(stored, bytes)
            return unescape_backslash(stored.decode())
        return DataUrl(str(vevent["DESCRIPTION"].params["ALTREP"])).html


def escaped(text: str) -> str:
    """Text as an iCalendar TEXT value."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


BASE64 = base64.b64encode(DOCUMENT.encode()).decode()
FORMS = [
    Form(
        "percent-encoded ALTREP",
        (f'DESCRIPTION;LANGUAGE=en;ALTREP="data:text/html,{percent(PERSON)}":{escaped(TEXT)}',),
        PERSON,
    ),
    Form(
        "base64 ALTREP",
        (f'DESCRIPTION;ALTREP="data:text/html;charset=utf-8;base64,{BASE64}":{escaped(TEXT)}',),
        DOCUMENT,
    ),
    Form(
        "X-ALT-DESC",
        (f"DESCRIPTION:{escaped(TEXT)}", f"X-ALT-DESC;FMTTYPE=text/html:{escaped(DOCUMENT)}"),
        DOCUMENT,
    ),
]


def add_meeting(harness: CaldavHarness, uid: str, lines: tuple[str, ...]) -> str:
    """A customer meeting the seller organises on Tuesday at 10:00, written as another client
    would."""
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar "
        f"V1.1//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20300319T100000\r\n"
        f"DTEND;TZID=Europe/Berlin:20300319T110000\r\nSUMMARY:Globex {uid}\r\n"
        f"ORGANIZER;CN=Ana:mailto:{SELLER}\r\n"
        "ATTENDEE;CN=Dana;PARTSTAT=ACCEPTED:mailto:dana@globex.example\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{SELLER}\r\n"
        + "".join(f"{line}\r\n" for line in lines)
        + "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return put_ics(harness.calendar, f"{uid}.ics", text)


def stored_all(href: str) -> list[icalendar.Component]:
    """The events of a resource as the server now holds them."""
    status, text = send("GET", href)
    assert status == 200
    return icalendar.Calendar.from_ical(text).walk("VEVENT")


def stored(href: str) -> icalendar.Component:
    return stored_all(href)[0]


def kept_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    return [record.fields for record in caplog.records if record.msg == "html_description_kept"]  # type: ignore[attr-defined]


@pytest.fixture
def agent(caldav_harness: CaldavHarness, tmp_path: Path) -> Agent:
    return Agent(caldav_harness, tmp_path, at(caldav_harness, 0, 7))


def outside_the_agenda(copy: str) -> str:
    """The HTML copy without our agenda chunk (there must be exactly one)."""
    assert len(CHUNK.findall(copy)) == 1, copy
    return CHUNK.sub("", copy)


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_the_html_copy_gets_the_agenda_and_gives_it_back_exactly(
    form: Form, agent: Agent, caldav_harness: CaldavHarness, caplog: pytest.LogCaptureFixture
) -> None:
    href = add_meeting(caldav_harness, "m1", form.lines)
    written_by_client = stored(href)
    assert agent.cycle() == ["create", "create", "write agenda"]
    inserted = stored(href)
    copy = form.read(inserted)
    assert outside_the_agenda(copy) == form.original  # the person's HTML, byte for byte
    assert "Discussion of your focus areas (24 min)" in CHUNK.search(copy).group()  # type: ignore[union-attr]
    # inside the body, not after it
    assert copy.endswith("</body></html>") == form.original.endswith("</body></html>")
    assert str(inserted["DESCRIPTION"]).startswith(TEXT + "\n\n" + splice.BEGIN)

    caldav_harness.edit_meeting("m1", minutes=90)  # longer: the agenda's timings change
    assert agent.cycle() == ["update", "update", "write agenda"]
    rewritten = form.read(stored(href))
    assert "(37 min)" in rewritten and "(24 min)" not in rewritten
    assert outside_the_agenda(rewritten) == form.original
    assert agent.cycle() == []

    report = undo(agent.sync)
    assert (len(report.restored), report.errors) == (1, [])
    given_back = stored(href)
    assert str(given_back["DESCRIPTION"]) == TEXT
    assert form.read(given_back) == form.original
    # the very URL the client wrote
    assert given_back["DESCRIPTION"].params == written_by_client["DESCRIPTION"].params
    assert kept_lines(caplog) == []


def test_an_instance_of_a_series_gets_its_own_copy_and_the_series_keeps_the_persons(
    agent: Agent, caldav_harness: CaldavHarness, caplog: pytest.LogCaptureFixture
) -> None:
    form = FORMS[0]
    href = add_meeting(caldav_harness, "weekly", (*form.lines, "RRULE:FREQ=WEEKLY;COUNT=3"))
    assert agent.cycle().count("write agenda") == 1  # the instance inside the agenda's lead time
    master, instance = sorted(stored_all(href), key=lambda vevent: "RECURRENCE-ID" in vevent)
    assert (
        form.read(master) == form.original
        and outside_the_agenda(form.read(instance)) == form.original
    )
    undo(agent.sync)
    instance = next(vevent for vevent in stored_all(href) if "RECURRENCE-ID" in vevent)
    assert instance["DESCRIPTION"].params["ALTREP"] == master["DESCRIPTION"].params["ALTREP"]
    assert str(instance["DESCRIPTION"]) == TEXT and kept_lines(caplog) == []


@pytest.mark.parametrize(
    "altrep", ["cid:part1.5F3A@thunderbird.example", "http://intranet.example/notes/globex.html"]
)
def test_an_html_copy_kept_elsewhere_is_left_as_it_was_and_each_write_says_so(
    altrep: str, agent: Agent, caldav_harness: CaldavHarness, caplog: pytest.LogCaptureFixture
) -> None:
    href = add_meeting(caldav_harness, "m2", (f'DESCRIPTION;ALTREP="{altrep}":{escaped(TEXT)}',))
    assert agent.cycle() == ["create", "create", "write agenda"]
    inserted = stored(href)
    assert inserted["DESCRIPTION"].params["ALTREP"] == altrep and splice.BEGIN in str(
        inserted["DESCRIPTION"]
    )
    (line,) = kept_lines(caplog)
    scheme = altrep.partition(":")[0]
    assert line == {
        "meeting": "Globex m2",
        "reason": f"ALTREP: the HTML description is kept elsewhere ({scheme}:) and callplan "
        "cannot edit it; the agenda is in the text description only",
    }
    undo(agent.sync)
    given_back = stored(href)
    assert (str(given_back["DESCRIPTION"]), given_back["DESCRIPTION"].params["ALTREP"]) == (
        TEXT,
        altrep,
    )
    assert len(kept_lines(caplog)) == 2


def test_an_agenda_a_person_changed_in_the_html_alone_is_kept_and_the_text_goes_on(
    agent: Agent, caldav_harness: CaldavHarness, caplog: pytest.LogCaptureFixture
) -> None:
    form = FORMS[2]
    href = add_meeting(caldav_harness, "m3", form.lines)
    agent.cycle()
    calendar = icalendar.Calendar.from_ical(send("GET", href)[1])
    vevent = calendar.walk("VEVENT")[0]
    # in an HTML editor
    edited = form.read(vevent).replace("Purpose", "Purpose (Dana: add pricing)")
    vevent.pop("X-ALT-DESC")
    vevent.add("X-ALT-DESC", icalendar.vText(edited), parameters={"FMTTYPE": "text/html"})
    assert send("PUT", href, calendar.to_ical().decode())[0] in (201, 204)
    caldav_harness.edit_meeting("m3", minutes=90)
    assert agent.cycle() == ["update", "update", "write agenda"]
    after = stored(href)
    assert form.read(after) == edited and "(37 min)" in str(after["DESCRIPTION"])
    (line,) = kept_lines(caplog)
    assert line["meeting"] == "Globex m3" and line["reason"] == (
        "X-ALT-DESC: it does not hold the agenda as callplan wrote it, so it was kept as it was; "
        "the agenda is in the text description only"
    )


@pytest.mark.parametrize(
    "url, reason",
    [
        ("data:text/plain,hello", "a data: URL of text/plain, not HTML in UTF-8"),
        (
            "data:text/html;charset=iso-8859-1,caf%e9",
            "a data: URL of text/html;charset=iso-8859-1, not HTML in UTF-8",
        ),
        ("data:text/html,caf%e9", "a data: URL whose HTML is not UTF-8"),
        ("data:text/html;base64,YR==", "base64 not written the standard way"),
        ("data:text/html;base64,PHA+aGk8L3A-", "a data: URL whose base64 cannot be decoded"),
    ],
)
def test_a_data_url_callplan_cannot_give_back_exactly_is_not_edited(url: str, reason: str) -> None:
    with pytest.raises(Unusable) as caught:
        DataUrl(url)
    assert str(caught.value).startswith(reason)


def test_a_percent_encoded_url_is_edited_in_place() -> None:
    url = DataUrl("data:text/html,%3cp%3Ecaf%C3%A9 ✓ /x%3C/p%3e")
    assert url.html == "<p>café ✓ /x</p>"
    at_end = len("<p>café ✓ /x")
    assert (
        url.edited(Edit(at_end, at_end, " & more"))
        == "data:text/html,%3cp%3Ecaf%C3%A9 ✓ /x%20%26%20more%3C/p%3e"
    )
    assert unquote(url.edited(Edit(3, 7, "tea"))) == "data:text/html,<p>tea ✓ /x</p>"
