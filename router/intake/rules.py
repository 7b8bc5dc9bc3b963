"""Classification rules evaluated at intake: ordered rules, the first match wins.

Rules are built from YAML by `rules_config.parse_rules`; `classify` is a pure function (no I/O) so
that the channels, the daemon and the simulator run the same code:

    flags = customer_lists.lookup(request.customer)
    request = classify(request, rules, flags, now, settings.default_queue).apply(request)
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Protocol

from frontdesk.queues.request import Channel, Customer, Priority, Request, Scalar, SkillRequirement
from frontdesk.router.conf.calendar import Calendar

# Keywords and regular expressions look at no more than this much of the subject and of the body
# (a long quoted mail thread says nothing new at the bottom, and intake must stay fast).
TEXT_LIMIT = 32_768
MAX_BOOST = 2  # three bands: a boost beyond two cannot change anything

_SPACES = re.compile(r"\s+")
_BY_BAND = sorted(Priority, key=lambda p: p.band)


def fold(text: str) -> str:
    """`text` as keywords compare it: NFKC (full-width forms), case folded, whitespace runs as one
    space. Chinese has no spaces between words, so nothing is split."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _SPACES.sub(" ", folded)


def shifted(priority: Priority, boost: int) -> Priority:
    """`priority` raised by `boost` bands (lowered when negative), kept between high and low."""
    band = min(max(priority.band - boost, 0), len(_BY_BAND) - 1)
    return _BY_BAND[band]


class Facts:
    """What the conditions look at, each worked out once per request."""

    def __init__(self, request: Request, flags: CustomerFlags, now: datetime) -> None:
        self.request = request
        self.flags = flags
        self.now = now

    @cached_property
    def subject(self) -> str:
        return fold(self.request.subject[:TEXT_LIMIT])

    @cached_property
    def body(self) -> str:
        return fold(self.request.body[:TEXT_LIMIT])

    @cached_property
    def both(self) -> str:
        return f"{self.subject}\n{self.body}"

    @cached_property
    def raw(self) -> str:
        """Subject and body as written, for regular expressions."""
        return f"{self.request.subject[:TEXT_LIMIT]}\n{self.request.body[:TEXT_LIMIT]}"

    @cached_property
    def language(self) -> str:
        return (self.request.language or "").strip().casefold().replace("_", "-")

    @cached_property
    def entry_point(self) -> str | None:
        ep = self.request.entry_point
        return fold(ep).strip() if ep is not None else None


class Condition(Protocol):
    """One condition of a rule (`when:` key); a rule matches when all of its conditions hold."""

    def holds(self, facts: Facts) -> bool: ...


@dataclass(frozen=True, slots=True)
class ChannelIs:
    channels: frozenset[Channel]

    def holds(self, facts: Facts) -> bool:
        return facts.request.channel in self.channels


@dataclass(frozen=True, slots=True)
class EntryPointIs:
    """Exact strings or shell-style globs, compiled case-insensitively (patterns are folded)."""

    patterns: tuple[re.Pattern[str], ...]

    def holds(self, facts: Facts) -> bool:
        ep = facts.entry_point
        return ep is not None and any(p.match(ep) for p in self.patterns)


class TextPart(StrEnum):
    """Which text `keywords` look in."""

    SUBJECT = "subject"
    BODY = "body"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class HasKeyword:
    """Any of the (folded) keywords occurs as a substring of the (folded) text."""

    keywords: tuple[str, ...]
    part: TextPart = TextPart.BOTH

    def holds(self, facts: Facts) -> bool:
        if self.part is TextPart.SUBJECT:
            text = facts.subject
        elif self.part is TextPart.BODY:
            text = facts.body
        else:
            text = facts.both
        return any(k in text for k in self.keywords)


@dataclass(frozen=True, slots=True)
class MatchesRegex:
    patterns: tuple[re.Pattern[str], ...]

    def holds(self, facts: Facts) -> bool:
        return any(p.search(facts.raw) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class CustomerIs:
    """None: not part of the condition. A language `zh` also matches `zh-CN`, `zh_Hant`."""

    important: bool | None = None
    low_satisfaction: bool | None = None
    languages: frozenset[str] | None = None

    def holds(self, facts: Facts) -> bool:
        flags = facts.flags
        if self.important is not None and flags.important != self.important:
            return False
        if self.low_satisfaction is not None and flags.low_satisfaction != self.low_satisfaction:
            return False
        if self.languages is None:
            return True
        lang = facts.language
        return any(lang == want or lang.startswith(f"{want}-") for want in self.languages)


@dataclass(frozen=True, slots=True)
class TimeIs:
    """Open (or, with `open` False, closed) by a calendar at `now`: a named one from
    `calendars:`, or inline days and windows (router/conf/hours.py, `working_hours`), where a
    window whose end is before its start wraps midnight and its hours after midnight belong to
    the day it opened (`days: [fri], between: 22:00-06:00` includes Saturday 02:00). Inline
    hours without a timezone (`own_zone`) are read on `now`'s own clock."""

    calendar: Calendar
    own_zone: bool = False
    open: bool = True

    def holds(self, facts: Facts) -> bool:
        now = facts.now
        if now.tzinfo is None:
            raise ValueError("needs a timezone-aware datetime")
        calendar = self.calendar
        if self.own_zone:
            calendar = dataclasses.replace(calendar, zone=now.tzinfo)  # type: ignore[arg-type]
        return calendar.open_at(now) is self.open


def attribute_text(value: Scalar) -> str:
    """How attribute values compare: as folded text, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(str(value)).strip() if value is not None else ""


@dataclass(frozen=True, slots=True)
class AttributeIs:
    """Every named attribute is present with one of its values (compared by `attribute_text`)."""

    wanted: tuple[tuple[str, frozenset[str]], ...]

    def holds(self, facts: Facts) -> bool:
        attributes = facts.request.attributes
        return all(
            name in attributes and attribute_text(attributes[name]) in values
            for name, values in self.wanted
        )


@dataclass(frozen=True, slots=True)
class Actions:
    """What a matching rule sets (`then:`); None or empty: left as it was."""

    queue: str | None = None
    category: str | None = None
    priority: Priority | None = None
    boost: int = 0
    skills: tuple[SkillRequirement, ...] = ()
    tier: int | None = None
    preferred_agent: str | None = None
    continue_: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One classification rule: when all `conditions` hold, `actions` apply."""

    name: str
    conditions: tuple[Condition, ...] = ()
    actions: Actions = field(default_factory=Actions)

    def matches(self, facts: Facts) -> bool:
        return all(c.holds(facts) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Classification:
    """Where a request goes and what it needs; `matched` names the rules that applied, in order."""

    queue: str
    category: str | None
    priority: Priority
    skills: tuple[SkillRequirement, ...]
    tier: int
    preferred_agent: str | None
    matched: tuple[str, ...]

    def apply(self, request: Request) -> Request:
        return dataclasses.replace(
            request,
            queue=self.queue,
            category=self.category,
            priority=self.priority,
            skills=self.skills,
            tier=self.tier,
            preferred_agent=self.preferred_agent,
        )


def classify(
    request: Request,
    rules: Sequence[Rule],
    flags: CustomerFlags,
    now: datetime,
    default_queue: str,
) -> Classification:
    """Run `rules` in order over `request` at `now` (timezone-aware).

    The first matching rule wins unless it says `continue`; then later matching rules override
    its actions field by field, except that skills merge by name (a later level replaces an
    earlier one) and boosts add up. The priority is the last one set (else the request's own)
    shifted by the sum of the boosts. Category, skills, tier and preferred agent start from the
    request's own; the queue is `default_queue` unless a matching rule set one."""
    if now.utcoffset() is None:
        raise ValueError("classify needs a timezone-aware `now`")
    facts = Facts(request, flags, now)
    queue: str | None = None
    category, priority, tier = request.category, request.priority, request.tier
    agent = request.preferred_agent
    skills = {s.name: s for s in request.skills}
    boost = 0
    matched: list[str] = []
    for rule in rules:
        if not rule.matches(facts):
            continue
        matched.append(rule.name)
        a = rule.actions
        queue = a.queue or queue
        category = a.category or category
        priority = a.priority or priority
        tier = a.tier or tier
        agent = a.preferred_agent or agent
        boost += a.boost
        skills.update((s.name, s) for s in a.skills)
        if not a.continue_:
            break
    return Classification(
        queue=queue or default_queue,
        category=category,
        priority=shifted(priority, boost),
        skills=tuple(skills.values()),
        tier=tier,
        preferred_agent=agent,
        matched=tuple(matched),
    )


# Customer lists ---------------------------------------------------------------------------------


class CustomerList(StrEnum):
    """The lists a customer can be on (`customers:` keys)."""

    IMPORTANT = "important"
    LOW_SATISFACTION = "low_satisfaction"


@dataclass(frozen=True, slots=True)
class CustomerFlags:
    """Which lists a customer is on."""

    important: bool = False
    low_satisfaction: bool = False


_E164 = re.compile(r"\+[1-9]\d{1,14}")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

Key = tuple[str, str]  # ("email" | "phone" | "id", normalized value)


def entry_key(entry: str) -> Key:
    """The identity a list entry stands for; ValueError says why `entry` is none.

    Text with an @ is an email (case-insensitive); text starting with + is an E.164 phone number
    (spaces, dots, dashes and brackets ignored); anything else is a customer id, as written."""
    text = entry.strip()
    if not text:
        raise ValueError("an entry must be an email, an E.164 phone number or a customer id")
    if "@" in text:
        if not _EMAIL.fullmatch(text):
            raise ValueError(f"{entry!r} is not an email address")
        return ("email", text.casefold())
    if text.startswith("+"):
        phone = _PHONE_PUNCTUATION.sub("", text)
        if not _E164.fullmatch(phone):
            raise ValueError(f"{entry!r} is not an E.164 phone number such as +8613800138000")
        return ("phone", phone)
    return ("id", text)


def customer_keys(customer: Customer) -> list[Key]:
    """Every identity of `customer` that a list entry can name; a claimed address (typed, not
    proven by the channel) none."""
    keys: list[Key] = []
    if customer.id:
        keys.append(("id", customer.id.strip()))
    if customer.email and "email" not in customer.claimed:
        keys.append(("email", customer.email.strip().casefold()))
    if customer.phone and "phone" not in customer.claimed:
        keys.append(("phone", _PHONE_PUNCTUATION.sub("", customer.phone)))
    return keys


class CustomerLists:
    """Important and low-satisfaction customers, by email, phone or id; changeable at run time.
    An entry may hold until an instant (`until_ms`, Unix ms; 0: for ever): past it, `lookup`
    no longer sees it. The daemon keeps its copy in step with Redis (router/intake/care.py)."""

    def __init__(self) -> None:
        self._lists: dict[CustomerList, dict[Key, tuple[str, int]]] = {
            name: {} for name in CustomerList
        }

    @classmethod
    def of(
        cls, important: Iterable[str] = (), low_satisfaction: Iterable[str] = ()
    ) -> CustomerLists:
        """Lists holding these entries; ValueError on the first one that is not valid."""
        lists = cls()
        for entry in important:
            lists.add(CustomerList.IMPORTANT, entry)
        for entry in low_satisfaction:
            lists.add(CustomerList.LOW_SATISFACTION, entry)
        return lists

    def add(self, which: CustomerList | str, entry: str, until_ms: int = 0) -> bool:
        """Put `entry` on list `which`; False when it was already there (then unchanged).
        ValueError when `which` is no list or `entry` is not valid."""
        entries = self._lists[CustomerList(which)]
        key = entry_key(entry)
        if key in entries:
            return False
        entries[key] = (entry.strip(), until_ms)
        return True

    def put(self, which: CustomerList | str, key: Key, entry: str, until_ms: int = 0) -> None:
        """Set `key` (an `entry_key`) on `which`, replacing what it held."""
        self._lists[CustomerList(which)][key] = (entry, until_ms)

    def remove(self, which: CustomerList | str, entry: str) -> bool:
        """Take `entry` (in any equivalent spelling) off `which`; False when it was not there."""
        return self.drop(which, entry_key(entry))

    def drop(self, which: CustomerList | str, key: Key) -> bool:
        return self._lists[CustomerList(which)].pop(key, None) is not None

    def entries(self, which: CustomerList | str) -> tuple[str, ...]:
        """The entries of `which` as they were written, in the order they were added."""
        return tuple(e for e, _ in self._lists[CustomerList(which)].values())

    def items(self, which: CustomerList | str) -> list[tuple[Key, str, int]]:
        """(key, entry, until_ms) of every entry of `which`, expired ones too."""
        return [(k, e, u) for k, (e, u) in self._lists[CustomerList(which)].items()]

    def lookup(self, customer: Customer, now_ms: int | None = None) -> CustomerFlags:
        keys = customer_keys(customer)
        now = int(time.time() * 1000) if now_ms is None else now_ms

        def on(which: CustomerList) -> bool:
            held = self._lists[which]
            return any((u := held.get(k)) is not None and (not u[1] or u[1] > now) for k in keys)

        return CustomerFlags(
            important=on(CustomerList.IMPORTANT),
            low_satisfaction=on(CustomerList.LOW_SATISFACTION),
        )


__all__ = [
    "Actions",
    "AttributeIs",
    "ChannelIs",
    "Classification",
    "Condition",
    "CustomerFlags",
    "CustomerIs",
    "CustomerList",
    "CustomerLists",
    "EntryPointIs",
    "Facts",
    "HasKeyword",
    "MatchesRegex",
    "Rule",
    "TextPart",
    "TimeIs",
    "classify",
    "entry_key",
]
