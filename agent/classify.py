"""Which meetings are customer meetings, and which customer each one is with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from agent.config import Rules, Settings
from agent.model import Attendee, Event, Response, Status


@dataclass(frozen=True)
class Verdict:
    customer: bool
    reason: str  # shown in dry runs and summaries: why this meeting gets (or does not get) blocks


def _domain_matches(domain: str, patterns: tuple[str, ...]) -> bool:
    """example.com matches example.com and any subdomain of it (eu.example.com)."""
    return any(domain == pattern or domain.endswith("." + pattern) for pattern in patterns)


def is_internal(attendee: Attendee, rules: Rules) -> bool:
    email = attendee.email.lower()
    if email in rules.include_addresses or _domain_matches(attendee.domain, rules.include_domains):
        return False
    return _domain_matches(attendee.domain, rules.internal_domains)


def external_attendees(event: Event, rules: Rules) -> list[Attendee]:
    """Attendees from outside the seller's organisation, excluding rooms and excluded parties."""
    self_email = event.self_email.lower()
    people = []
    for attendee in event.attendees:
        email = attendee.email.lower()
        if attendee.resource or email == self_email or email in rules.exclude_addresses:
            continue
        if _domain_matches(attendee.domain, rules.exclude_domains) or is_internal(attendee, rules):
            continue
        people.append(attendee)
    return people


def classify(event: Event, settings: Settings) -> Verdict:
    """Decide whether an event is a customer meeting the agent should enrich."""
    rules = settings.rules
    title = event.title.lower()
    if event.is_block:
        return Verdict(False, "a callplan block")
    if event.all_day:
        return Verdict(False, "all-day event")
    if event.status is Status.CANCELLED:
        return Verdict(False, "cancelled")
    if event.self_response is Response.DECLINED:
        return Verdict(False, "declined by the seller")
    if event.end <= event.start:
        return Verdict(False, "ends before it starts")
    if any(keyword.lower() in title for keyword in rules.exclude_title_keywords):
        return Verdict(False, "title excluded by a rule")
    if external_attendees(event, rules):
        return Verdict(True, "customer meeting")
    if any(keyword.lower() in title for keyword in rules.include_title_keywords):
        return Verdict(True, "title included by a rule")
    if rules.enrich_internal and any(a.email.lower() != event.self_email.lower() for a in event.attendees):
        return Verdict(True, "internal meeting (enrich_internal)")
    if not event.attendees:
        return Verdict(False, "no attendees")
    return Verdict(False, "internal meeting")


def customer_of(event: Event, settings: Settings) -> str:
    """The customer a meeting is with: a configured customer name, else the main external domain.

    People at personal domains (gmail.com...) are customers by their address. With several
    external organisations the most represented one wins (ties: alphabetical), so the answer
    is stable from cycle to cycle.
    """
    return customer_among(external_attendees(event, settings.rules), settings)


def customer_among(externals: Iterable[Attendee], settings: Settings) -> str:
    """The customer most represented among external attendees ("" when there are none)."""
    names: Counter[str] = Counter(customer_name(attendee, settings) for attendee in externals)
    return min(names, key=lambda name: (-names[name], name)) if names else ""


def customer_name(attendee: Attendee, settings: Settings) -> str:
    email, domain = attendee.email.lower(), attendee.domain
    for name, members in sorted(settings.customers.items()):
        lowered = tuple(member.lower() for member in members)
        if email in lowered or _domain_matches(domain, tuple(m for m in lowered if "@" not in m)):
            return name
    if domain in settings.rules.personal_domains:
        return email
    return domain


def customer_label(customer: str, settings: Settings) -> str:
    """A readable name: configured names as they are, "Globex" for globex.com, a person's address as is."""
    if customer in settings.customers or "@" in customer or not customer:
        return customer
    labels = customer.split(".")
    if len(labels) < 2:
        return customer
    main = labels[-3] if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2 else labels[-2]
    return main.replace("-", " ").title()
