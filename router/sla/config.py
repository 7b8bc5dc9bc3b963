"""`sla:` in the config: service-level policies, each problem with its YAML path and line.

    sla:
      warning_at: 80%                 # default warning point of every target
      policies:                       # in order: the first whose `when` holds applies
        - name: chat
          when: {channel: [chat, social]}
          targets:
            first_response: 30s                          # wall time
            next_response: 2m
          on_breach: [raise_priority, notify_supervisors]
        - name: email
          when: {channel: email}
          targets:
            first_response: {within: 2h, calendar: desk} # working time of calendar desk
            resolution: {within: 3d, calendar: desk, warning_at: 90%}

In working time, `d` is a working day of the calendar (its `working_day_hours`, by default
Monday's hours): `3d` on a desk open 08:30-18:00 is 28.5 working hours.
"""

from __future__ import annotations

import re
from typing import Any

from frontdesk.queues.request import Priority
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.yaml import Checker, Path, items, render, strings
from frontdesk.router.intake.config import parse_conditions
from frontdesk.router.intake.rules import Condition
from frontdesk.router.sla.policy import (
    Action,
    CategoryIs,
    MetBy,
    Policy,
    PriorityIs,
    QueueIs,
    SlaSettings,
    Target,
)

SLA_KEYS = ["warning_at", "late_after", "tick", "policies"]
POLICY_KEYS = ["name", "when", "targets", "on_warning", "on_breach", "first_response_by"]
WHEN_KEYS = ["channel", "queue", "category", "priority", "customer", "entry_point"]
TARGET_KEYS = ["within", "calendar", "warning_at"]
_SHARED = ("channel", "customer", "entry_point")  # parsed as the rules parse them
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_WORKING_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*d\s*$")
_TARGET_NAME = r"^[a-z][a-z0-9_]{0,63}$"
MAX_TARGET_S = 366 * 86400.0


def parse_sla(
    check: Checker, value: object, *, queues: set[str], calendars: dict[str, Calendar]
) -> SlaSettings:
    s = check.mapping(("sla",), value, SLA_KEYS)
    default_warning = _fraction(check, ("sla", "warning_at"), s.get("warning_at", 0.8))
    late = check.duration(("sla", "late_after"), s.get("late_after", "2s"))
    tick = check.duration(("sla", "tick"), s.get("tick", "250ms"))
    if tick is not None and not 0.01 <= tick <= 5:
        check.error(("sla", "tick"), "must be from 10ms to 5s")
    policies: list[Policy] = []
    seen: dict[str, Path] = {}
    for i, raw in enumerate(check.sequence(("sla", "policies"), s.get("policies"))):
        path: Path = ("sla", "policies", i)
        before = len(check.problems)
        policy = _policy(check, path, raw, queues, calendars, default_warning or 0.8)
        name = raw.get("name") if isinstance(raw, dict) else None
        if isinstance(name, str) and name in seen:
            check.error((*path, "name"), f"{name!r} is already {render(seen[name])}")
        elif isinstance(name, str):
            seen[name] = path
        if policy is not None and len(check.problems) == before:
            policies.append(policy)
    return SlaSettings(tuple(policies), late or 2.0, tick or 0.25)


def _policy(
    check: Checker,
    path: Path,
    raw: object,
    queues: set[str],
    calendars: dict[str, Calendar],
    default_warning: float,
) -> Policy | None:
    if not isinstance(raw, dict):
        check.error(path, f"a policy is a mapping with {', '.join(POLICY_KEYS)}")
        return None
    p = check.mapping(path, raw, POLICY_KEYS)
    name = check.string((*path, "name"), p.get("name"), r"^[a-z][a-z0-9_-]{0,63}$")
    conditions = parse_when(check, (*path, "when"), p.get("when"), queues)
    targets: list[Target] = []
    body = check.mapping((*path, "targets"), p.get("targets"))
    if not body:
        check.error((*path, "targets"), "a policy needs targets: e.g. {first_response: 30s}")
    for target_name, spec in body.items():
        where = (*path, "targets", target_name)
        if check.string(where, target_name, _TARGET_NAME) is None:
            continue
        target = _target(check, where, target_name, spec, calendars, default_warning)
        if target is not None:
            targets.append(target)
    on_warning = _actions(check, (*path, "on_warning"), p.get("on_warning"))
    on_breach = _actions(check, (*path, "on_breach"), p.get("on_breach"))
    by = check.choice(
        (*path, "first_response_by"), p.get("first_response_by", "message"), list(MetBy)
    )
    if name is None or not targets:
        return None
    return Policy(name, tuple(targets), conditions, on_warning, on_breach, MetBy(by or "message"))


def parse_when(
    check: Checker, path: Path, value: object, queues: set[str]
) -> tuple[Condition, ...]:
    """`when:` of a policy (an SLA policy, a survey): the rules' channel, customer and
    entry_point, and the classified request's queue, category and priority."""
    w = check.mapping(path, value, WHEN_KEYS)
    out = list(parse_conditions(check, path, {k: w[k] for k in _SHARED if k in w}))
    if "queue" in w:
        names = {n for _, n in strings(check, (*path, "queue"), w["queue"])}
        for where, queue in strings(check, (*path, "queue"), w["queue"]):
            if queue not in queues:
                check.error(where, f"names no queue defined under queues: {queue!r}")
        out.append(QueueIs(frozenset(names)))
    if "category" in w:
        out.append(
            CategoryIs(frozenset(n for _, n in strings(check, (*path, "category"), w["category"])))
        )
    if "priority" in w:
        picked = [
            check.choice(p, v, list(Priority))
            for p, v in items(check, (*path, "priority"), w["priority"])
        ]
        out.append(PriorityIs(frozenset(Priority(x) for x in picked if x)))
    return tuple(out)


def _target(
    check: Checker,
    path: Path,
    name: str,
    spec: object,
    calendars: dict[str, Calendar],
    default_warning: float,
) -> Target | None:
    t: dict[str, Any] = (
        {"within": spec} if not isinstance(spec, dict) else check.mapping(path, spec, TARGET_KEYS)
    )
    if "within" not in t:
        check.error(path, "a target needs `within`: a duration such as 30s or 2h")
        return None
    calendar_name = None
    calendar = None
    if "calendar" in t:
        calendar_name = check.string((*path, "calendar"), t["calendar"])
        calendar = calendars.get(calendar_name or "")
        if calendar_name is not None and calendar is None:
            known = ", ".join(sorted(calendars)) or "none defined"
            check.error((*path, "calendar"), f"names no calendar under calendars ({known})")
            return None
    where = (*path, "within") if isinstance(spec, dict) else path
    within = _within(check, where, t["within"], calendar)
    warning = _fraction(check, (*path, "warning_at"), t.get("warning_at", default_warning))
    if within is None or warning is None:
        return None
    return Target(name, within, calendar_name, warning)


def _within(check: Checker, path: Path, value: object, calendar: Calendar | None) -> float | None:
    """Seconds of the target; in working time, `Nd` is N working days of the calendar."""
    if calendar is not None and isinstance(value, str) and (m := _WORKING_DAYS.match(value)):
        day = sum(end - start for start, end in calendar.extra_hours)
        if not day:
            check.error(path, f"calendar {calendar.name} has no working-day hours to count days in")
            return None
        seconds = float(m[1]) * day
    else:
        given = check.duration(path, value)
        if given is None:
            return None
        seconds = given
    if not 0 < seconds <= MAX_TARGET_S:
        check.error(path, "a target is more than nothing and at most a year")
        return None
    return seconds


def _fraction(check: Checker, path: Path, value: object) -> float | None:
    """`80%` or `0.8`; 100% (1.0) means no warning."""
    number: float | None = None
    if isinstance(value, str) and (m := _PERCENT.match(value)):
        number = float(m[1]) / 100
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    if number is None or not 0 < number <= 1:
        check.error(path, f"must be a share of the target such as 80% (up to 100%), got {value!r}")
        return None
    return number


def _actions(check: Checker, path: Path, value: object) -> tuple[Action, ...]:
    found: list[Action] = []
    if value is None:
        return ()
    for where, v in items(check, path, value):
        picked = check.choice(where, v, list(Action))
        if picked and Action(picked) not in found:
            found.append(Action(picked))
    return tuple(found)
