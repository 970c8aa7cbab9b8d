"""Events to and from JSON-ready dicts, for the state store's mirror and audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.core.model import (
    AgendaTag,
    Attendee,
    BlockTag,
    BodyFormat,
    Event,
    Response,
    Source,
    Status,
)


def dump_event(event: Event, *, source: bool = True) -> dict[str, Any]:
    """The event as JSON-ready data. The audit log leaves out the connector's `source`: undo
    needs what the event said, not the provider's text of it."""
    return {
        "key": event.key,
        "ref": event.ref,
        "calendar": event.calendar,
        "title": event.title,
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "etag": event.etag,
        "all_day": event.all_day,
        "status": event.status.value,
        "organizer": event.organizer,
        "self_email": event.self_email,
        "self_is_organizer": event.self_is_organizer,
        "self_response": event.self_response.value,
        "attendees": [
            [a.email, a.name, a.response.value, a.optional, a.resource] for a in event.attendees
        ],
        "description": event.description,
        "body_format": event.body_format.value,
        "transparent": event.transparent,
        "private": event.private,
        "recurring": event.recurring,
        "location": event.location,
        "block_tag": event.block_tag.encode() if event.block_tag else None,
        "agenda_tag": event.agenda_tag.encode() if event.agenda_tag else None,
        "source": list(event.source) if source and event.source else None,
    }


def load_event(data: dict[str, Any]) -> Event:
    return Event(
        key=data["key"],
        ref=data["ref"],
        calendar=data["calendar"],
        title=data["title"],
        start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]),
        etag=data["etag"],
        all_day=data["all_day"],
        status=Status(data["status"]),
        organizer=data["organizer"],
        self_email=data["self_email"],
        self_is_organizer=data["self_is_organizer"],
        self_response=Response(data["self_response"]),
        attendees=tuple(
            Attendee(email, name, Response(response), optional, resource)
            for email, name, response, optional, resource in data["attendees"]
        ),
        description=data["description"],
        body_format=BodyFormat(data["body_format"]),
        transparent=data["transparent"],
        private=data["private"],
        recurring=data["recurring"],
        location=data["location"],
        block_tag=BlockTag.decode(data["block_tag"]) if data["block_tag"] else None,
        agenda_tag=AgendaTag.decode(data["agenda_tag"]) if data["agenda_tag"] else None,
        source=Source(*data["source"])
        if data.get("source")
        else None,  # absent from rows of older versions
    )
