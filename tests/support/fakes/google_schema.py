"""Request checks built from the Calendar v3 discovery document that ships with googleapiclient.

The fake refuses what the real API refuses: a body field the Event schema does not have, a
value of the wrong JSON type, an enumerated value the reference does not list, a query
parameter the method does not take. So a connector that would be rejected by Google fails
its tests here first.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient

DOCUMENT = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
)

# Values the reference lists in prose (the discovery document has no enum for these fields).
ENUMS = {
    ("Event", "status"): {"confirmed", "tentative", "cancelled"},
    ("Event", "transparency"): {"opaque", "transparent"},
    ("Event", "visibility"): {"default", "public", "private", "confidential"},
    ("Event", "eventType"): {
        "default",
        "birthday",
        "focusTime",
        "fromGmail",
        "outOfOffice",
        "workingLocation",
    },
    ("EventAttendee", "responseStatus"): {"needsAction", "declined", "tentative", "accepted"},
    ("EventReminder", "method"): {"email", "popup"},
}


class Invalid(ValueError):
    """A request the API would answer with 400; `reason` is the API's error reason."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@cache
def discovery() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def method(resource: str, name: str) -> dict[str, Any]:
    return discovery()["resources"][resource]["methods"][name]


def check_query(resource: str, name: str, query: dict[str, list[str]]) -> None:
    """Every query parameter is one the method (or every method) takes, with a value of its type."""
    known = {**discovery()["parameters"], **method(resource, name).get("parameters", {})}
    for key, values in query.items():
        spec = known.get(key)
        if spec is None or spec.get("location") == "path":
            raise Invalid(f"Unknown parameter: {key}", "badRequest")
        if len(values) > 1 and not spec.get("repeated"):
            raise Invalid(f"Parameter {key} may not be repeated", "badRequest")
        for value in values:
            if spec.get("type") == "boolean" and value not in ("true", "false"):
                raise Invalid(f"Invalid boolean value for {key}: {value}")
            if spec.get("type") == "integer" and not value.lstrip("-").isdigit():
                raise Invalid(f"Invalid integer value for {key}: {value}")
            if "enum" in spec and value not in spec["enum"]:
                raise Invalid(f"Invalid value for {key}: {value}")


def check_body(schema: str, body: Any, *, patch: bool = False) -> None:
    """`body` is a valid `schema` resource (null may clear a field in a PATCH)."""
    _object(schema, discovery()["schemas"][schema], body, schema, patch)


def _object(name: str, spec: dict[str, Any], value: Any, path: str, patch: bool) -> None:
    if not isinstance(value, dict):
        raise Invalid(f"{path}: expected an object")
    if "additionalProperties" in spec:
        for key, item in value.items():
            _value(name, key, spec["additionalProperties"], item, f"{path}.{key}", patch)
        return
    for key, item in value.items():
        field = spec.get("properties", {}).get(key)
        if field is None:
            raise Invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find "
                "field.",
                "badRequest",
            )
        _value(name, key, field, item, f"{path}.{key}", patch)


def _value(owner: str, key: str, spec: dict[str, Any], value: Any, path: str, patch: bool) -> None:
    if value is None:
        if patch:
            return
        raise Invalid(f"{path}: null is only allowed in a patch")
    if "$ref" in spec:
        ref = spec["$ref"]
        _object(ref, discovery()["schemas"][ref], value, path, patch)
        return
    kind = spec.get("type")
    if kind == "string":
        if not isinstance(value, str):
            raise Invalid(f"Invalid value for {path}: expected a string")
        if spec.get("format") == "date-time":
            _datetime(value, path)
        elif spec.get("format") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise Invalid(f"Invalid value for {path}: {value}") from None
        allowed = ENUMS.get((owner, key))
        if allowed is not None and value not in allowed:
            raise Invalid(f"Invalid value for {path}: {value}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"Invalid value for {path}: expected true or false")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
            raise Invalid(f"Invalid value for {path}: expected a 32-bit integer")
    elif kind == "array":
        if not isinstance(value, list):
            raise Invalid(f"Invalid value for {path}: expected a list")
        for index, item in enumerate(value):
            _value(owner, key, spec["items"], item, f"{path}[{index}]", patch)
    elif kind == "object":
        _object(owner, spec, value, path, patch)


def _datetime(value: str, path: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"Invalid value for {path}: {value}") from None


def moment(value: Any, path: str, *, need_zone: bool = True) -> datetime:
    """An RFC 3339 timestamp with its mandatory offset."""
    if not isinstance(value, str):
        raise Invalid(f"Missing {path}", "required")
    parsed = _datetime(value, path)
    if need_zone and parsed.tzinfo is None:
        raise Invalid(f"Invalid value for {path}: a time zone offset is required")
    return parsed
