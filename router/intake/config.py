"""What intake reads from the config: the `rules:`, `customers:` and `limits:` sections, checked
with their YAML paths and lines, and `IntakeSettings`, the attributes the front door reads.

    rules = parse_rules(check, data.get("rules"), queues=..., skills=..., agents=...)
    lists = parse_customer_lists(check, data.get("customers"))
    check.raise_if_any()

A rule with any problem is left out of the result; every problem is on `check`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from frontdesk.queues.request import Channel, Priority, Request, SkillRequirement
from frontdesk.router.conf.calendar import DAY_S, Calendar
from frontdesk.router.conf.hours import (
    CALENDAR_NAME,
    parse_days,
    parse_windows,
    parse_zone,
    resolve_calendar,
    working_hours,
)
from frontdesk.router.conf.yaml import Checker, Path, items, render, strings
from frontdesk.router.intake.rules import (
    MAX_BOOST,
    Actions,
    AttributeIs,
    ChannelIs,
    Condition,
    CustomerFlags,
    CustomerIs,
    CustomerList,
    CustomerLists,
    EntryPointIs,
    HasKeyword,
    MatchesRegex,
    Rule,
    TextPart,
    TimeIs,
    attribute_text,
    fold,
)
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL, TIERS

RULE_KEYS = ("name", "when", "then")
LIMIT_KEYS = ["per_sender", "per_source"]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` hits per `per_s` seconds."""

    count: int
    per_s: float


@dataclass(frozen=True, slots=True)
class Limits:
    """Intake rate limits: per sender (an address, a phone number, a chat id) and per source
    (a client IP address)."""

    per_sender: Limit = Limit(30, 600)
    per_source: Limit = Limit(300, 60)


class IntakeSettings(Protocol):
    """What the front door reads of the daemon's settings (the daemon's `Settings` has them);
    read through a callable on every message, so that a reload applies at once."""

    @property
    def default_queue(self) -> str: ...
    @property
    def rules(self) -> Sequence[Rule]: ...
    @property
    def customers(self) -> CustomerLists: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def sla(self) -> ServiceLevels: ...
    @property
    def reopen_within(self) -> dict[str, float]: ...
    def sticky_for(self, queue: str) -> float: ...


class ServiceLevels(Protocol):
    """The service-level policies (router/sla/policy.py `SlaSettings`): the clocks a new,
    classified request starts with, as the intake script takes them ('' none)."""

    def plan(self, request: Request, flags: CustomerFlags) -> str: ...


CONDITION_KEYS = (
    *("channel", "entry_point", "keywords", "keywords_in", "regex"),
    *("customer", "time", "attribute"),
)
ACTION_KEYS = (
    *("queue", "category", "priority", "boost", "skills", "tier"),
    *("preferred_agent", "continue"),
)
CUSTOMER_KEYS = ("important", "low_satisfaction", "language")
TIME_KEYS = ("days", "between", "timezone", "calendar", "open")
SKILL_KEYS = ("name", "min", "optional")
_LANGUAGE = r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*"


@dataclass(frozen=True, slots=True)
class _Known:
    """The names that rules may refer to."""

    queues: set[str]
    skills: set[str]
    agents: set[str]
    calendars: dict[str, Calendar]


def parse_rules(
    check: Checker,
    raw: object,
    *,
    queues: set[str],
    skills: set[str],
    agents: set[str],
    calendars: dict[str, Calendar] | None = None,
    path: Path = ("rules",),
) -> tuple[Rule, ...]:
    """The ordered rules in `raw` (a list; None: no rules). Names must be unique; queues, skills,
    agents and calendars must be among those given."""
    known = _Known(queues, skills, agents, calendars or {})
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    for i, body in enumerate(check.sequence(path, raw)):
        before = len(check.problems)
        rule = _rule(check, (*path, i), body, known)
        name = body.get("name") if isinstance(body, dict) else None
        if isinstance(name, str) and name in seen:
            check.error((*path, i, "name"), f"{name!r} is already {render(seen[name])}")
        elif isinstance(name, str):
            seen[name] = (*path, i)
        if rule is not None and len(check.problems) == before:
            rules.append(rule)
    return tuple(rules)


def parse_customer_lists(check: Checker, raw: object, path: Path = ("customers",)) -> CustomerLists:
    """`important` and `low_satisfaction`, each a list of emails, E.164 phones or customer ids."""
    lists = CustomerLists()
    names = [c.value for c in CustomerList]
    for which, value in check.mapping(path, raw, names).items():
        if which not in names:
            continue
        for j, entry in enumerate(check.sequence((*path, which), value)):
            where = (*path, which, j)
            if not isinstance(entry, str):
                check.error(
                    where,
                    f"must be text, got {type(entry).__name__} {entry!r}; "
                    'quote phone numbers and numeric ids ("+8613800138000", "100234")',
                )
                continue
            try:
                if not lists.add(which, entry):
                    check.error(where, f"{entry!r} is listed twice")
            except ValueError as exc:
                check.error(where, str(exc))
    return lists


def _rule(check: Checker, path: Path, body: object, known: _Known) -> Rule | None:
    if not isinstance(body, dict):
        if body is None:
            check.error(path, f"an empty rule; a rule has {', '.join(RULE_KEYS)}")
        check.mapping(path, body)  # reports what it is instead
        return None
    r = check.mapping(path, body, RULE_KEYS)
    name = check.string((*path, "name"), r.get("name"))
    conditions = parse_conditions(check, (*path, "when"), r.get("when"), known.calendars)
    if r.get("then") is None:
        check.error((*path, "then"), f"a rule needs actions: {', '.join(ACTION_KEYS)}")
        return None
    actions = _actions(check, (*path, "then"), r["then"], known)
    if name is None or actions is None:
        return None
    return Rule(name, conditions, actions)


def parse_conditions(
    check: Checker, path: Path, value: object, calendars: dict[str, Calendar] | None = None
) -> tuple[Condition, ...]:
    """`when:` (absent or empty: the rule matches every request). SLA policies take some of
    the same conditions (router/sla/config.py)."""
    w = check.mapping(path, value, CONDITION_KEYS)
    out: list[Condition] = []
    if "channel" in w:
        channels = [c.value for c in Channel]
        picked = [
            check.choice(p, v, channels) for p, v in items(check, (*path, "channel"), w["channel"])
        ]
        out.append(ChannelIs(frozenset(Channel(c) for c in picked if c)))
    if "entry_point" in w:
        globs = strings(check, (*path, "entry_point"), w["entry_point"])
        out.append(
            EntryPointIs(tuple(re.compile(fnmatch.translate(fold(g).strip())) for _, g in globs))
        )
    if "keywords" in w:
        out.append(_keywords(check, path, w))
    elif "keywords_in" in w:
        check.error((*path, "keywords_in"), "says where to look for keywords, but none are given")
    if "regex" in w:
        patterns = []
        for where, text in strings(check, (*path, "regex"), w["regex"]):
            try:
                patterns.append(re.compile(text))
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                check.error(where, f"not a valid regular expression: {exc}")
        out.append(MatchesRegex(tuple(patterns)))
    if "customer" in w:
        out.append(_customer(check, (*path, "customer"), w["customer"]))
    if "time" in w:
        timed = _time(check, (*path, "time"), w["time"], calendars or {})
        if timed is not None:
            out.append(timed)
    if "attribute" in w:
        out.append(_attribute(check, (*path, "attribute"), w["attribute"]))
    return tuple(out)


def _keywords(check: Checker, path: Path, w: dict[str, Any]) -> HasKeyword:
    words = []
    for where, text in strings(check, (*path, "keywords"), w["keywords"]):
        word = fold(text).strip()
        if word:
            words.append(word)
        else:
            check.error(where, "must be a word or phrase")
    part = check.choice((*path, "keywords_in"), w.get("keywords_in", "both"), list(TextPart))
    return HasKeyword(tuple(words), TextPart(part or "both"))


def _customer(check: Checker, path: Path, value: object) -> CustomerIs:
    c = check.mapping(path, value, CUSTOMER_KEYS)
    if not value:
        check.error(path, f"set at least one of: {', '.join(CUSTOMER_KEYS)}")
    important = check.boolean((*path, "important"), c["important"]) if "important" in c else None
    unhappy = None
    if "low_satisfaction" in c:
        unhappy = check.boolean((*path, "low_satisfaction"), c["low_satisfaction"])
    languages = None
    if "language" in c:
        found = strings(check, (*path, "language"), c["language"])
        for where, text in found:
            if not re.fullmatch(_LANGUAGE, text.strip()):
                check.error(where, f"{text!r} is not a language code such as zh, en or zh-CN")
        languages = frozenset(t.strip().casefold().replace("_", "-") for _, t in found)
    return CustomerIs(important, unhappy, languages)


def _time(
    check: Checker, path: Path, value: object, calendars: dict[str, Calendar]
) -> TimeIs | None:
    t = check.mapping(path, value, TIME_KEYS)
    is_open = check.boolean((*path, "open"), t["open"]) if "open" in t else True
    if "calendar" in t:
        for key in ("days", "between", "timezone"):
            if key in t:
                check.error((*path, key), "a time condition names a calendar or gives hours")
        name = check.string((*path, "calendar"), t["calendar"], CALENDAR_NAME)
        calendar = resolve_calendar(check, (*path, "calendar"), name, calendars) if name else None
        return TimeIs(calendar, open=is_open is not False) if calendar else None
    if not ("days" in t or "between" in t) and (not value or "timezone" in t):
        check.error(path, "set days, between, or both (or a calendar)")
    days = parse_days(check, (*path, "days"), t["days"]) if "days" in t else frozenset(range(7))
    windows: tuple[tuple[int, int], ...] = ((0, DAY_S),)
    if "between" in t:
        windows = parse_windows(check, (*path, "between"), t["between"])
    zone = parse_zone(check, (*path, "timezone"), t["timezone"]) if "timezone" in t else None
    if not days or not windows or ("timezone" in t and zone is None):
        return None
    hours = working_hours(zone or ZoneInfo("UTC"), days, windows, name="time")
    return TimeIs(hours, own_zone=zone is None, open=is_open is not False)


def _attribute(check: Checker, path: Path, value: object) -> AttributeIs:
    a = check.mapping(path, value)
    if not value:
        check.error(path, "name at least one attribute and its value(s)")
    wanted = []
    for name, values in a.items():
        texts = set()
        for where, v in items(check, (*path, name), values):
            if isinstance(v, str | int | float) and str(v).strip():
                texts.add(attribute_text(v))
            else:
                check.error(where, f"must be text, a number, true or false, got {v!r}")
        wanted.append((name, frozenset(texts)))
    return AttributeIs(tuple(wanted))


def _actions(check: Checker, path: Path, value: object, known: _Known) -> Actions | None:
    t = check.mapping(path, value, ACTION_KEYS)
    if not t:
        if isinstance(value, dict):
            check.error(path, f"a rule needs actions: {', '.join(ACTION_KEYS)}")
        return None
    queue = _ref(check, (*path, "queue"), t, known.queues, "queue defined under queues")
    category = check.string((*path, "category"), t["category"]) if "category" in t else None
    priority = None
    if "priority" in t:
        chosen = check.choice((*path, "priority"), t["priority"], list(Priority))
        priority = Priority(chosen) if chosen else None
    boost = check.integer((*path, "boost"), t.get("boost", 0), -MAX_BOOST, MAX_BOOST)
    skills = _skills(check, (*path, "skills"), t.get("skills"), known.skills)
    tier = (
        check.integer((*path, "tier"), t["tier"], min(TIERS), max(TIERS)) if "tier" in t else None
    )
    agent = _ref(check, (*path, "preferred_agent"), t, known.agents, "agent defined under agents")
    go_on = check.boolean((*path, "continue"), t.get("continue", False))
    return Actions(queue, category, priority, boost or 0, skills, tier, agent, bool(go_on))


def _ref(check: Checker, path: Path, t: dict[str, Any], names: set[str], what: str) -> str | None:
    key = str(path[-1])
    if key not in t:
        return None
    name = check.string(path, t[key])
    if name is not None and name not in names:
        check.error(path, f"names no {what}: {name!r}")
        return None
    return name


def _skills(
    check: Checker, path: Path, value: object, known: set[str]
) -> tuple[SkillRequirement, ...]:
    """`{skill: min_level}`, or a list of skill names and `{name, min, optional}` mappings."""
    # (path of the name, name, path of the level, level, optional)
    wanted: list[tuple[Path, object, Path, object, object]] = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            where = (*path, i)
            if isinstance(item, dict):
                s = check.mapping(where, item, SKILL_KEYS)
                level, optional = s.get("min", MIN_LEVEL), s.get("optional", False)
                if check.boolean((*where, "optional"), optional) is None:
                    continue
                wanted.append(((*where, "name"), s.get("name"), (*where, "min"), level, optional))
            else:
                wanted.append((where, item, where, MIN_LEVEL, False))
    else:
        for skill_name, skill_level in check.mapping(path, value).items():
            at = (*path, skill_name)
            wanted.append((at, skill_name, at, skill_level, False))
    out: dict[str, SkillRequirement] = {}
    for name_at, name, level_at, level, optional in wanted:
        skill = check.string(name_at, name)
        low = check.integer(level_at, level, MIN_LEVEL, MAX_LEVEL)
        if skill is None or low is None:
            continue
        if skill not in known:
            check.error(name_at, f"{skill!r} is not a skill listed under skills")
        elif skill in out:
            check.error(name_at, f"{skill!r} is listed twice")
        else:
            out[skill] = SkillRequirement(skill, low, bool(optional))
    return tuple(out.values())


# how long after its completion a customer's message reopens a request, per channel (seconds)
REOPEN_DEFAULTS = {c.value: 72 * 3600.0 for c in Channel} | {"chat": 1800.0, "phone": 0.0}
MAX_REOPEN_S = 366 * 86400.0


def parse_reopen(check: Checker, value: object) -> dict[str, float]:
    """`reopen_within`: per channel (email, chat, ...), a duration from 0 (never reopened: a
    new request, linked) to 366d; channels not named keep their default."""
    raw = check.mapping(("reopen_within",), value, list(REOPEN_DEFAULTS))
    out = dict(REOPEN_DEFAULTS)
    for name, given in raw.items():
        seconds = check.duration(("reopen_within", name), given)
        if seconds is not None and not 0 <= seconds <= MAX_REOPEN_S:
            check.error(("reopen_within", name), "must be from 0s to 366d")
        elif seconds is not None:
            out[name] = seconds
    return out


def parse_limits(check: Checker, value: object) -> Limits:
    """`limits.per_sender` and `limits.per_source`: `{count, per}` each."""
    raw = check.mapping(("limits",), value, LIMIT_KEYS)
    out = {}
    for name in raw:
        path = ("limits", name)
        body = check.mapping(path, raw[name], ["count", "per"])
        count = check.integer((*path, "count"), body.get("count"), 1)
        per = check.duration((*path, "per"), body.get("per"))
        if count is not None and per is not None:
            out[name] = Limit(count, per)
    return Limits(**out)


__all__ = [
    "ACTION_KEYS", "CONDITION_KEYS", "LIMIT_KEYS", "REOPEN_DEFAULTS", "RULE_KEYS",
    "IntakeSettings", "Limit", "Limits", "parse_conditions", "parse_customer_lists",
    "parse_limits", "parse_reopen", "parse_rules",
]  # fmt: skip
