"""Calendar API v3 events to and from `agent.core.model`, shaped exactly as the API documents them.

Ownership tags live in `extendedProperties.private`, which belongs to the seller's copy of an
event: attendees never see it and cannot write it. Each tag field is one property under a
fixed prefix (`callplan_kind`, `callplan_meeting`...), so the agent's events are found with
one `privateExtendedProperty=callplan_agent=callplan` filter. The documented limits (keys
up to 44 characters, values up to 1024, longer ones silently dropped or cut) are checked
before writing, since a silently cut tag would make the agent lose track of its own work.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from agent.core.errors import BadDataError, ConnectorError
from agent.core.model import (
    AGENT,
    AgendaTag,
    Attendee,
    BlockSpec,
    BlockTag,
    BodyFormat,
    Event,
    Kind,
    Response,
    Status,
)

PREFIX = "callplan_"
OWNED_FILTER = (
    f"{PREFIX}agent={AGENT}"  # privateExtendedProperty value that finds every tagged event
)
# extendedProperties limits (Calendar API guide, "Extended properties")
MAX_KEY, MAX_VALUE = (
    44,
    1024,
)
AGENDA_FIELDS = tuple(AgendaTag("", "", "").fields())  # the keys a meeting's agenda tag uses

RESPONSES = {
    "accepted": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentative": Response.TENTATIVE,
    "needsAction": Response.NEEDS_ACTION,
}
STATUSES = {"confirmed": Status.CONFIRMED, "tentative": Status.TENTATIVE}


def tag_properties(fields: dict[str, str]) -> dict[str, str]:
    """A tag's fields as private extended properties, refusing what Google would cut."""
    properties = {PREFIX + name: value for name, value in fields.items()}
    for key, value in properties.items():
        if len(key) > MAX_KEY or len(value) > MAX_VALUE:
            raise ConnectorError(
                f"tag field {key} is too long for a Google extended property ({len(value)} "
                "characters)"
            )
    return properties


def read_tags(private: Any) -> tuple[BlockTag | None, AgendaTag | None]:
    """The block or agenda tag in an event's private extended properties, if any."""
    if not isinstance(private, dict):
        return None, None
    fields = {
        key[len(PREFIX) :]: value
        for key, value in private.items()
        if key.startswith(PREFIX) and isinstance(value, str)
    }
    if not fields:
        return None, None
    if fields.get("kind") == Kind.AGENDA.value:
        return None, AgendaTag.from_fields(fields)
    return BlockTag.from_fields(fields), None


def rfc3339(moment: datetime) -> str:
    """A timestamp as the API wants it: RFC 3339 with its offset."""
    return moment.isoformat(timespec="seconds")


def _moment(value: Any, field: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    """An EventDateTime as an aware datetime in the seller's zone, and whether it is a date."""
    if not isinstance(value, dict):
        raise ValueError(f"{field} is missing")
    if value.get("dateTime"):
        moment = datetime.fromisoformat(value["dateTime"])
        if moment.tzinfo is None:  # the API adds an offset; a bare time is in the named zone
            moment = moment.replace(tzinfo=ZoneInfo(value.get("timeZone") or str(zone)))
        return moment.astimezone(zone), False
    if value.get("date"):
        return datetime.combine(date.fromisoformat(value["date"]), clock_time(), zone), True
    raise ValueError(f"{field} has neither date nor dateTime")


def cancelled(item: dict[str, Any]) -> bool:
    """A cancelled item is a deletion (of an event, or of one instance of a series).

    Google has no "cancelled but still shown" state: an organiser who cancels a meeting
    deletes it, and the API reports it as `status: cancelled` with little else filled in.
    """
    return item.get("status") == "cancelled"


def parse(item: dict[str, Any], calendar: str, self_email: str, zone: ZoneInfo) -> Event:
    """One event (or instance) as the seller sees it; BadDataError when it cannot be read."""
    ident = item.get("id")
    if not isinstance(ident, str) or not ident:
        raise BadDataError("skipped malformed event: no id", where=calendar)
    try:
        start, all_day = _moment(item.get("start"), "start", zone)
        end, _ = _moment(item.get("end"), "end", zone)
        if end < start:
            raise ValueError("end is before start")
        organizer = item.get("organizer") or {}
        attendees = tuple(
            Attendee(
                email=str(entry["email"]).strip().lower(),
                name=str(entry.get("displayName", "")),
                response=RESPONSES.get(entry.get("responseStatus", ""), Response.NEEDS_ACTION),
                optional=bool(entry.get("optional", False)),
                resource=bool(entry.get("resource", False)),
            )
            for entry in item.get("attendees") or ()
            if entry.get("email")
        )
        me = next((entry for entry in item.get("attendees") or () if entry.get("self")), None)
        block_tag, agenda_tag = read_tags((item.get("extendedProperties") or {}).get("private"))
        organizer_email = str(organizer.get("email", "")).strip().lower()
        return Event(
            # an instance id encodes the series and the original start: stable when moved
            key=ident,
            ref=ident,
            calendar=calendar,
            title=str(item.get("summary", "")),
            start=start,
            end=end,
            etag=item.get("etag"),
            all_day=all_day,
            status=STATUSES.get(item.get("status", "confirmed"), Status.CONFIRMED),
            organizer=organizer_email,
            self_email=self_email,
            self_is_organizer=bool(organizer.get("self")) or organizer_email in ("", self_email),
            self_response=RESPONSES.get(me.get("responseStatus", ""), Response.NEEDS_ACTION)
            if me
            else Response.ACCEPTED,
            attendees=attendees,
            description=(description := str(item.get("description", ""))),
            body_format=BodyFormat.HTML if looks_like_html(description) else BodyFormat.TEXT,
            transparent=item.get("transparency") == "transparent",
            private=item.get("visibility") in ("private", "confidential"),
            recurring=bool(item.get("recurringEventId")),
            location=str(item.get("location", "")),
            block_tag=block_tag,
            agenda_tag=agenda_tag,
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise BadDataError(
            f"skipped malformed event: {reason[:200]}", where=f"{calendar}/{ident}"
        ) from None


# Tags Google Calendar's own editor writes into descriptions (it stores rich text as HTML).
EDITOR_HTML = re.compile(
    r"<(?:br|b|i|u|a|p|ul|ol|li|span|div|strong|em)(?:\s[^>]*)?/?>", re.IGNORECASE
)


def looks_like_html(description: str) -> bool:
    """Descriptions edited in Google Calendar's web UI are HTML fragments, and the UI renders
    them as HTML: the agenda must then go in as HTML paragraphs, or its lines would run into one."""
    return bool(EDITOR_HTML.search(description))


def block_fields(block: BlockSpec) -> dict[str, Any]:
    """The fields of a block the agent owns and rewrites: title, text, times and tag."""
    return {
        "summary": block.title,
        "description": block.description,
        "start": {"dateTime": rfc3339(block.start)},
        "end": {"dateTime": rfc3339(block.end)},
        "extendedProperties": {"private": tag_properties(block.tag.fields())},
    }


def new_block(event_id: str, block: BlockSpec) -> dict[str, Any]:
    """A new block: private, busy, no attendees, no reminders (it sits beside the meeting's own)."""
    return {
        "id": event_id,
        **block_fields(block),
        "visibility": "private",
        "transparency": "opaque",
        "reminders": {"useDefault": False},
    }


def agenda_patch(description: str, agenda: AgendaTag | None) -> dict[str, Any]:
    """A PATCH body that sets a meeting's description and its agenda tag (null removes a
    property)."""
    private: dict[str, str | None] = dict.fromkeys((PREFIX + name for name in AGENDA_FIELDS), None)
    if agenda is not None:
        private.update(tag_properties(agenda.fields()))
    return {"description": description, "extendedProperties": {"private": private}}
