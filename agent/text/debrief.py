"""Reading back the debrief a seller wrote: the debrief form, and what its answers mean.

The form reader (agent.text.form) does the reading; this module describes the debrief form to
it and turns what it read into a Debrief: commitments with their dates, the objective of the
next meeting, the private notes, the quick check's one-word answers (agent.text.answers). Only
the commitment items and the first line of the primary objective are shared, in the next
meeting's agenda; the rest stays in the prep, except the quick check, which only the review
(`callplan report`) counts: no prep and no agenda shows it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Literal

from dateutil import parser as date_parser

from agent.core.debrief import Debrief, Item, Shared
from agent.core.history import Agreed, Carryover, Commitment
from agent.text.answers import YES_NO, YES_NO_UNSURE, YES_PARTLY_NO, answer
from agent.text.form import BOX, Form, Read, Section

DateOrder = Literal["day-first", "month-first"]

# Each section and the headings that name it: the form's own heading first, then what sellers
# rename it to. The names of the shared sections are kept specific, so that a stray
# "Customer:" line in a private note does not open one.
DEBRIEF = Form(
    [
        # the quick check: private, one word each (agent.text.answers reads the answers)
        Section("quick", ("Quick check", "Quick self-check", "Self-assessment", "Self check")),
        Section(
            "our_goals",
            (
                "Our goals met",
                "Our goals",
                "We met our goals",
                "We reached our goals",
                "Our objectives met",
                "Goals met, us",
            ),
        ),
        Section(
            "their_goals",
            (
                "Their goals met",
                "Their goals",
                "They met their goals",
                "They reached their goals",
                "Customer goals met",
                "Their objectives met",
                "Goals met, them",
                "Goals met, customer",
            ),
        ),
        Section(
            "more",
            (
                "Could we have achieved more",
                "Could we have done more",
                "Could have achieved more",
                "Could have done more",
                "Achieved more",
            ),
        ),
        Section(
            "learned",
            (
                "Did they learn something that mattered to them",
                "Did they learn something",
                "They learned something",
                "They learned something that mattered",
                "Customer learned something",
                "Learned something",
            ),
        ),
        Section(
            "liked",
            (
                "What I liked about this meeting",
                "What I liked",
                "Liked",
                "What went well",
                "Went well",
                "Good",
            ),
        ),
        Section(
            "differently",
            (
                "What I would do differently next time",
                "What I would do differently",
                "Do differently",
                "Differently",
                "What to improve",
                "Improve",
                "Lessons",
                "Lessons learned",
            ),
        ),
        Section(
            "authority",
            (
                "Authority",
                "A",
                "Buying process",
                "Decision process",
                "Who decides",
                "Decision makers",
            ),
        ),
        Section(
            "theirs",
            (
                "Commitment, customer",
                "Customer commitment",
                "Commitment, them",
                "Commitment, their side",
                "Commitment, theirs",
                "Their commitment",
                "Commitment, client",
                "Client commitment",
            ),
            Read.ITEMS,
        ),
        Section(
            "ours",
            (
                "Commitment, us",
                "Our commitment",
                "Commitment, our side",
                "Commitment, ours",
                "Commitment, we",
            ),
            Read.ITEMS,
        ),
        Section(
            "objective",
            (
                "Primary objective of the next meeting",
                "Primary objective",
                "Objective of the next meeting",
                "Next meeting objective",
                "Goal of the next meeting",
                "Next meeting goal",
            ),
            Read.FIRST_LINE,
        ),
        Section("time", ("Time", "T", "Timing", "Dates", "Timeline")),
        Section(
            "interest", ("Interest", "I", "Interest, need, why", "Need", "Why", "Business reasons")
        ),
        Section(
            "questions",
            (
                "Still to discover",
                "Questions",
                "Questions to ask",
                "Open questions",
                "To discover",
                "Questions for next time",
            ),
        ),
        Section("overview", ("Overview", "O", "Summary", "Agreed summary", "Recap")),
        Section(
            "next_steps",
            ("Next steps agreed", "Next steps", "Agreed next steps", "Action items", "Actions"),
        ),
        Section(
            "next_meeting",
            (
                "Next meeting scheduled?",
                "Next meeting scheduled",
                "Next meeting",
                "Follow-up meeting",
            ),
        ),
        Section(
            "openers",
            (
                "Opening statement ideas for next time",
                "Opening statement ideas",
                "Opening statements",
                "Opening ideas",
                "Openers",
            ),
        ),
        Section("notes", ("Notes", "N", "Other notes", "Anything else", "Other")),
    ]
)

DONE_MARK = re.compile(r"^(?:[✓✔☑✅]|done\s*[:\-–])\s*|\s*[(\[]done[)\]]\s*", re.I)
SUBJECT = re.compile(
    r"^(?:(?:they|we|i|you|the customer|customer|us)\s*(?:will|'ll|’ll|shall|are "
    r"to|to)|[A-Z][a-z]+ will)\s+",
    re.I,
)
# The words a commitment usually opens with, capitalised only because they open the line: the
# agenda reads "you would send the figures", so they lose their capital. Any other first word
# keeps it: a name ("Maria sends the contract"), a noun in a language that capitalises nouns
# ("Angebot schicken"), a product or a team.
OPENING_WORDS = frozenset(
    """
    add agree align answer approve arrange ask assess book bring build call cancel check choose
    circulate clarify collect compare complete confirm connect consider contact coordinate create
    decide define deliver demo describe discuss do document draft email e-mail estimate evaluate
    explain explore extend find finish fix follow forward gather get give go hand have help hold
    identify include inform install intro introduce invite involve issue join keep know let list
    loop make map meet mention move name note offer open order organise organize outline pass
    pay pick plan play post prepare present price prioritise prioritize propose provide publish
    put raise reach read receive recommend reply report request reschedule research respond
    return review revise run schedule scope see sell send set settle share show sign sort speak
    start submit suggest summarise summarize take talk tell test think trial try update upload
    validate verify visit walk write
    """.split()
)
DUE_WORD = re.compile(r"\b(?:by|until|till|due(?: on| by)?|before|deadline)\b", re.I)
DUE_TAIL = re.compile(r"[:\s]+(?P<when>[^()]{1,40}?)\s*\)?\s*[.;]?\s*$")
MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
WEEKDAYS = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?"
DATE_TOKEN = (
    rf"(?:{WEEKDAYS},?\s+)?(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}(?:[./]\d{{2,4}})?\.?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTHS}(?:\s+\d{{4}})?|{MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)"
)
TRAILING_DATE = re.compile(
    rf"[\s,;:(–—-]*(?:\bon\s+)?\(?(?P<when>{DATE_TOKEN})\)?\s*[.;]?\s*$", re.I
)
DATE_LIKE = re.compile(rf"^(?:{DATE_TOKEN}|{WEEKDAYS})$", re.I)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NUMERIC_DATE = re.compile(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?")
RELATIVE = {"tomorrow": 1}


def parse_date(text: str, meeting_day: date, order: DateOrder = "day-first") -> date | None:
    """A due date as a seller writes it, relative to the meeting it was agreed in.

    Weekdays mean the next such day after the meeting; a date without a year is the next
    one on or after the meeting day. Numeric dates follow `order` (ISO dates are ISO).
    """
    words = text.strip().rstrip(".").strip()
    if words.lower() in RELATIVE:
        return meeting_day + timedelta(days=RELATIVE[words.lower()])
    if not DATE_LIKE.match(words) and not DATE_LIKE.match(words + "."):
        return None
    try:
        if ISO_DATE.fullmatch(words):
            return date.fromisoformat(words)
        if numeric := NUMERIC_DATE.fullmatch(words):
            first, second, year = numeric.groups()
            day, month = (first, second) if order == "day-first" else (second, first)
            stated = int(year) + (2000 if len(year) == 2 else 0) if year else meeting_day.year
            parsed = date(stated, int(month), int(day))
        else:
            default = datetime.combine(meeting_day + timedelta(days=1), datetime.min.time())
            parsed = date_parser.parse(words, default=default).date()
    except (ValueError, OverflowError):
        return None
    if parsed < meeting_day and not re.search(r"\d{4}|\d[./]\d{1,2}[./]\d{2}", words):
        parsed = parsed.replace(year=parsed.year + 1)
    return parsed


def parse_item(text: str, meeting_day: date, order: DateOrder = "day-first") -> Item | None:
    """One commitment line: done marks, the subject ("they will"), and the due date."""
    done = False
    box = BOX.match(text)
    if box:
        done = bool(box.group("mark").strip())
        text = text[box.end() :]
    if DONE_MARK.search(text):
        done = True
        text = DONE_MARK.sub(" ", text).strip()
    text = SUBJECT.sub("", text.strip())
    due, due_text = None, ""
    candidates = [
        (word.start(), DUE_TAIL.match(text, word.end())) for word in DUE_WORD.finditer(text)
    ]
    candidates.append((-1, TRAILING_DATE.search(text)))
    for cut, match in candidates:  # "by Friday", the first that is a date; else a date at the end
        if match and (when := parse_date(match.group("when"), meeting_day, order)):
            due, due_text, text = (
                when,
                match.group("when").strip(),
                text[: cut if cut >= 0 else match.start()],
            )
            break
    what = text.rstrip(" ,;:(-–—").strip(" ,;:-–—").strip()
    if not what:
        return None
    first = what.split()[0]
    if first[1:].islower() and first.lower() in OPENING_WORDS:
        what = what[0].lower() + what[1:]
    return Item(what, due, due_text, done)


def parse(
    text: str, meeting_day: date, *, html: bool | None = None, order: DateOrder = "day-first"
) -> Debrief:
    """Read a filled-in debrief form agreed at a meeting on `meeting_day`.

    `html` True: an HTML body (Outlook); None: plain text, in which HTML tags are tolerated.
    """
    found = DEBRIEF.read(text, html=html)

    def items(entries: tuple[str, ...]) -> tuple[Item, ...]:
        parsed = (parse_item(entry, meeting_day, order) for entry in entries)
        return tuple(item for item in parsed if item is not None)

    return Debrief(
        liked=found.text("liked"),
        differently=found.text("differently"),
        authority=found.text("authority"),
        theirs=items(found.items("theirs")),
        ours=items(found.items("ours")),
        objective=" ".join(found.items("objective")),
        time=found.text("time"),
        interest=found.text("interest"),
        questions=found.lines("questions"),
        overview=found.text("overview"),
        next_steps=items(found.lines("next_steps")),
        next_meeting=found.text("next_meeting"),
        openers=found.lines("openers"),
        notes=found.text("notes"),
        our_goals=answer(found.text("our_goals"), YES_PARTLY_NO),
        their_goals=answer(found.text("their_goals"), YES_PARTLY_NO),
        more=answer(found.text("more"), YES_NO),
        learned=answer(found.text("learned"), YES_NO_UNSURE),
        other=found.other,
        withheld=found.withheld,
    )


def carryover(
    debrief: Debrief,
    meeting_title: str,
    meeting_day: date,
    today: date,
    *,
    settles_at: datetime | None = None,
    settled: Shared | None = None,
) -> Carryover:
    """What a debrief carries into the next meeting with the customer: its open commitments
    (flagged overdue when their date is before `today`), objective, questions and ideas.

    `settles_at` is when the debrief's latest version reaches the agenda if it stays
    unchanged, None when it has; until then the agenda carries `settled`, the shared part of
    the last earlier version that had settled (None: none had, and `agreed` stays None).
    """

    def open_items(who: str, items: tuple[Item, ...], overdue: bool) -> tuple[Commitment, ...]:
        return tuple(
            Commitment(
                who,
                item.what,
                item.due_label,
                overdue=overdue and item.due is not None and item.due < today,
            )
            for item in items
            if not item.done
        )

    def agreed(shared: Shared) -> Agreed:
        commitments = open_items("customer", shared.theirs, False) + open_items(
            "us", shared.ours, False
        )
        return Agreed(meeting_title, label, shared.objective, commitments)

    label = meeting_day.strftime("%a %d %b %Y")
    latest = agreed(debrief.shared)
    carry = Carryover(
        meeting_title=meeting_title,
        meeting_date=label,
        objective=debrief.objective,
        commitments=open_items("customer", debrief.theirs, True)
        + open_items("us", debrief.ours, True),
        questions=debrief.questions,
        openers=debrief.openers,
        overview=debrief.overview,
        lessons=debrief.differently,
        next_steps=tuple(
            f"{item.what} (by {item.due_label})" if item.due_label else item.what
            for item in debrief.next_steps
            if not item.done
        ),
        withheld=debrief.withheld,
    )
    if settles_at is None:
        return carry.carrying(latest)
    waiting = replace(carry, pending=latest, settles_at=settles_at)
    # with no settled version, what the agenda carries now is for the history to say (an
    # earlier debrief's part, or nothing): History.carry_before
    return waiting.carrying(agreed(settled)) if settled is not None else waiting
