"""Reading back the call plan a seller wrote in a prep: the form, and what its answers mean.

The prep block opens with callplan's notes (who is coming, what the last debrief said) and
holds the call plan form; the form reader (agent.text.form) reads it with the same
forgiveness and privacy rules as a debrief. The shared sections are written to the customer
and become the agenda: the purpose (its first line), what they will get from the meeting,
what we hope to get from it, the topics (one per line, minutes optional), what to bring, who
should join from their side and what we hope to decide. The questions before you go in, the
commitments we will ask for, the risks and the notes are private, as is anything under a
heading of the seller's own or marked private. Lines callplan pre-filled start with
"Suggested:" and are not the seller's until they delete that word; the preview at the prep's
end (agent.core.preview) is callplan's and is never read.
"""

from __future__ import annotations

import re

from agent.core.callplan import CallPlan, PlanShared, Topic
from agent.core.preview import form_part
from agent.text.body import body_lines
from agent.text.form import Form, Read, Section

SUGGESTED = "Suggested:"

CALL_PLAN = Form(
    [
        Section(
            "purpose",
            (
                "Purpose",
                "Purpose of the meeting",
                "Purpose of this meeting",
                "Meeting purpose",
                "Why we meet",
                "Why meet",
            ),
            Read.FIRST_LINE,
        ),
        Section(
            "for_them",
            (
                "What they will get from it",
                "What they will get from the meeting",
                "What they will get",
                "What they get",
                "What you will get from it",
                "What you will get",
                "For them",
                "For you",
                "Their outcome",
                "Outcome for them",
                "Outcomes for them",
                "What's in it for them",
            ),
            Read.ITEMS,
        ),
        Section(
            "for_us",
            (
                "What we hope to get from it",
                "What we hope to get from the meeting",
                "What we hope to get",
                "What we want from it",
                "What we get",
                "For us",
                "Our outcome",
                "Outcome for us",
                "Outcomes for us",
            ),
            Read.ITEMS,
        ),
        Section(
            "topics",
            ("Topics", "Agenda", "Agenda topics", "Topics and timing", "Agenda items"),
            Read.ITEMS,
        ),
        Section(
            "bring",
            ("Please bring", "What to bring", "Bring", "Helpful to bring", "To prepare"),
            Read.ITEMS,
        ),
        Section(
            "join",
            (
                "Who should join from their side",
                "Who should join",
                "Who should attend",
                "Who else should join",
                "Who to invite",
                "Invite",
            ),
            Read.ITEMS,
        ),
        Section(
            "decide",
            (
                "What we hope to decide",
                "What we hope to agree",
                "What to decide",
                "Decisions we hope for",
                "Decisions",
                "To decide",
            ),
            Read.ITEMS,
        ),
        Section(
            "readiness",
            ("Before you go in", "Readiness", "Readiness questions", "Checklist", "Questions"),
        ),
        Section(
            "asks",
            (
                "Commitments we will ask for",
                "Commitments to ask for",
                "Commitments we want",
                "What we will ask for",
                "Our asks",
                "Asks",
                "Commitments",
            ),
        ),
        Section("risks", ("Risks", "Risk", "What could derail it", "Derailers", "Concerns")),
        Section("notes", ("Notes", "My notes", "Other notes", "Anything else", "Other")),
    ],
    suggestion=SUGGESTED,
)

_AMOUNT = r"\d{1,3}(?:[.,]\d{1,2})?"
_UNIT = r"(?:minutes?|mins?\.?|min\.?|[′'’]|hours?|hrs?\.?|h)"
TRAILING_MINUTES = re.compile(
    rf"[\s,;:–—-]*[(\[]?\s*(?P<amount>{_AMOUNT})\s*(?P<unit>{_UNIT})\s*[)\]]?\s*\.?\s*$", re.I
)
LEADING_MINUTES = re.compile(
    rf"^[(\[]?\s*(?P<amount>{_AMOUNT})\s*(?P<unit>{_UNIT})\s*[)\]]?\s*[:\-–—.|]?\s+", re.I
)


def parse_topic(text: str) -> Topic | None:
    """One topic line: "Pilot scope (20 min)", "Pilot scope, 20'", "20 min: pilot scope",
    "Rollout plan - 1 h"; minutes only where the seller gave them."""
    minutes = None
    for pattern in (TRAILING_MINUTES, LEADING_MINUTES):
        found = pattern.search(text)
        if found and (rest := (text[: found.start()] + text[found.end() :]).strip(" ,;:–—-")):
            amount = float(found.group("amount").replace(",", "."))
            hours = found.group("unit").lower().startswith("h")
            minutes = max(1, round(amount * 60 if hours else amount))
            text = rest
            break
    what = " ".join(text.split())
    return Topic(what, minutes) if what else None


def parse_plan(text: str, *, html: bool | None = None) -> CallPlan:
    """Read the call plan in a prep's text (its preview left out). `html` True: an HTML body
    (Outlook); None: plain text, in which HTML tags are tolerated."""
    found = CALL_PLAN.read_lines(form_part("\n".join(body_lines(text, html=html))).split("\n"))
    topics = (parse_topic(entry) for entry in found.items("topics"))
    return CallPlan(
        shared=PlanShared(
            purpose=" ".join(found.items("purpose")),
            for_them=found.items("for_them"),
            for_us=found.items("for_us"),
            topics=tuple(topic for topic in topics if topic is not None),
            bring=found.items("bring"),
            join=found.items("join"),
            decide=found.items("decide"),
        ),
        readiness=found.text("readiness"),
        asks=found.lines("asks"),
        risks=found.text("risks"),
        notes=found.text("notes"),
        other=found.other,
        withheld=found.withheld,
    )
