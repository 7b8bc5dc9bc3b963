"""A queue's settings (`queues:` and `queue_defaults:`) and its routing: assignment mode, window,
agent groups, score weights, and the time-based relaxation steps (lower skills, drop optional
skills, widen groups and tiers, overflow into another queue); `RoutingSettings`, what the
dispatcher reads of the daemon's settings."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.conf.yaml import NAME, Checker, Path, merge
from frontdesk.router.routing.matcher import Weights
from frontdesk.router.routing.presence_config import ORPHANED_KEYS, parse_orphaned
from frontdesk.skills import TIERS

ASSIGNMENT = ["greedy", "batch"]
ROUTING_KEYS = ["assignment", "window", "groups", "weights", "preferred_agent_for", "relax"]
ROUTING_KEYS += ["sticky"]
STICKY_KEYS = ["within", "mode", "only_for"]
_STEP = ["after", "lower_skills", "drop_optional", "widen_groups", "widen_tiers", "overflow_to"]
QUEUE_MODES = ["offer", "assign"]
QUEUE_KEYS = ["tier", "mode", "offer_timeout", "escalate_to", "description", *ROUTING_KEYS]
QUEUE_KEYS += ORPHANED_KEYS
_WEIGHTS = ["skill", "load", "idle", "wait", "priority", "sla", "preferred"]
_WEIGHTS += ["wait_scale", "idle_scale"]


@dataclass(frozen=True, slots=True)
class RelaxStep:
    """What changes for a request once it has waited `after_s`."""

    after_s: float
    lower_skills: int = 0  # every required minimum lowered by this much (never below 1)
    drop_optional: bool = False  # optional skills stop being required
    widen_groups: tuple[str, ...] = ()  # these agent groups become eligible too
    widen_tiers: bool = False  # agents of higher tiers become eligible too
    overflow_to: str | None = None  # the request moves to this queue, keeping its age

    def describe(self) -> str:
        parts = []
        if self.lower_skills:
            parts.append(f"skills lowered by {self.lower_skills}")
        if self.drop_optional:
            parts.append("optional skills dropped")
        if self.widen_groups:
            parts.append(f"groups widened to {', '.join(self.widen_groups)}")
        if self.widen_tiers:
            parts.append("higher tiers allowed")
        if self.overflow_to:
            parts.append(f"overflow to {self.overflow_to}")
        return f"after {self.after_s:g}s: {'; '.join(parts)}"


@dataclass(frozen=True, slots=True)
class Routing:
    """How one queue's waiting requests are matched to agents."""

    assignment: Literal["greedy", "batch"] = (
        "greedy"  # greedy: most urgent first; batch: optimal over the window
    )
    window: int = 200  # waiting requests considered per decision round
    groups: tuple[str, ...] = ()  # agent groups that serve this queue (empty: any)
    weights: Weights = field(default_factory=Weights)
    preferred_agent_for_s: float = 0.0  # the preferred agent alone, for this long
    relax: tuple[RelaxStep, ...] = ()  # in order of `after_s`
    sticky_s: float = 0.0  # the customer's last agent here, within this long, is preferred

    def steps_at(self, wait_s: float) -> tuple[RelaxStep, ...]:
        """The relaxation steps in force for a request that has waited `wait_s`."""
        return tuple(s for s in self.relax if s.after_s <= wait_s)

    def next_change_s(self, wait_s: float) -> float | None:
        """Seconds until this request's eligibility next changes, None when it never will."""
        times = [s.after_s for s in self.relax] + [self.preferred_agent_for_s]
        later = [t - wait_s for t in times if t > wait_s]
        return min(later) if later else None

    def overflow_target(self, wait_s: float) -> str | None:
        targets = [s.overflow_to for s in self.steps_at(wait_s) if s.overflow_to]
        return targets[-1] if targets else None


@dataclass(frozen=True, slots=True)
class QueueSettings:
    name: str
    tier: int
    mode: str
    offer_timeout_s: float
    escalate_to: str | None = None
    description: str = ""
    routing: Routing = field(default_factory=Routing)
    orphaned_after_s: float = 0.0  # assigned work of an agent gone this long is let go (0: never)
    orphaned: str = "requeue"  # requeue (back to waiting) or flag (to supervisors)


class RoutingSettings(Protocol):
    """What the dispatcher reads of the daemon's settings (the daemon's `Settings` has them); read
    through a callable every round, so that a reload applies at once."""

    @property
    def queues(self) -> Mapping[str, QueueSettings]: ...
    @property
    def callback_hours(self) -> Calendar | None: ...


def parse_queues(check: Checker, d: dict[str, Any]) -> dict[str, QueueSettings]:
    """`queues`, each merged over `queue_defaults`; overflow and escalation targets checked."""
    defaults = check.mapping(("queue_defaults",), d.get("queue_defaults"), QUEUE_KEYS)
    raw = check.mapping(("queues",), d.get("queues"))
    if not raw:
        check.error(("queues",), "define at least one queue")
    out: dict[str, QueueSettings] = {}
    for name, body in raw.items():
        path: tuple[str, ...] = ("queues", name)
        if check.string(path, name, NAME) is None:
            continue
        q = merge(defaults, check.mapping(path, body, QUEUE_KEYS))
        tier = check.integer((*path, "tier"), q.get("tier"), min(TIERS), max(TIERS))
        mode = check.choice((*path, "mode"), q.get("mode"), QUEUE_MODES)
        timeout = check.duration((*path, "offer_timeout"), q.get("offer_timeout"))
        description = q.get("description") or ""
        escalate_to = q.get("escalate_to")
        if escalate_to is not None:
            check.string((*path, "escalate_to"), escalate_to)
        routing = parse_routing(check, path, q)
        orphaned = parse_orphaned(check, path, q)
        if tier is not None and mode is not None and timeout is not None and routing and orphaned:
            out[name] = QueueSettings(
                name, tier, mode, timeout, escalate_to, str(description), routing, *orphaned
            )
    for q in out.values():
        for i, step in enumerate(q.routing.relax):
            where = ("queues", q.name, "relax", i, "overflow_to")
            if step.overflow_to and step.overflow_to not in raw:
                check.error(where, f"names no queue defined under queues: {step.overflow_to!r}")
            elif step.overflow_to == q.name:
                check.error(where, "a queue cannot overflow into itself")
    _overflow_cycles(check, out)
    for name, body in raw.items():
        target_name = body.get("escalate_to") if isinstance(body, dict) else None
        path = ("queues", name, "escalate_to")
        if isinstance(target_name, str) and target_name not in raw:
            check.error(path, f"names no queue defined under queues: {target_name!r}")
        source, target = out.get(name), out.get(str(target_name))
        if source and target and target.tier <= source.tier:
            check.error(
                path,
                f"escalates to {target.name!r} of tier {target.tier}; "
                f"it must be a higher tier than {source.tier}",
            )
    return out


def _overflow_cycles(check: Checker, queues: dict[str, QueueSettings]) -> None:
    """Overflow keeps a request's age, so a cycle of overflows would move it round forever."""
    edges = {
        q.name: [(i, s.overflow_to) for i, s in enumerate(q.routing.relax) if s.overflow_to]
        for q in queues.values()
    }
    for start, targets in edges.items():
        for i, first in targets:
            seen, todo = {start}, [first]
            while todo:
                name = todo.pop()
                if name == start:
                    where = ("queues", start, "relax", i, "overflow_to")
                    check.error(where, f"overflow from {start!r} comes back to it")
                    break
                if name not in seen:
                    seen.add(name)
                    todo.extend(t for _, t in edges.get(name, []))


def parse_routing(check: Checker, path: Path, q: dict[str, Any]) -> Routing | None:
    """The routing keys of one queue (already merged with queue_defaults)."""
    assignment = check.choice((*path, "assignment"), q.get("assignment", "greedy"), ASSIGNMENT)
    window = check.integer((*path, "window"), q.get("window", 200), 1, 100_000)
    groups = _names(check, (*path, "groups"), q.get("groups"))
    weights = _weights(check, (*path, "weights"), q.get("weights"))
    preferred = check.duration((*path, "preferred_agent_for"), q.get("preferred_agent_for", 0))
    sticky = check.mapping((*path, "sticky"), q.get("sticky"), STICKY_KEYS)
    within = check.duration((*path, "sticky", "within"), sticky.get("within", 0))
    sticky_mode = check.choice((*path, "sticky", "mode"), sticky.get("mode", "prefer"),
                               ("prefer", "only"))  # fmt: skip
    only_for = check.duration((*path, "sticky", "only_for"), sticky.get("only_for", "60s"))
    if sticky_mode == "only" and preferred is not None and only_for is not None:
        preferred = max(preferred, only_for)  # the preferred agent alone, then anyone
    steps = [
        _step(check, (*path, "relax", i), s)
        for i, s in enumerate(check.sequence((*path, "relax"), q.get("relax")))
    ]
    ordered = [s for s in steps if s is not None]
    if len(ordered) == len(steps):
        for i, (a, b) in enumerate(itertools.pairwise(ordered)):
            if b.after_s <= a.after_s:
                check.error((*path, "relax", i + 1, "after"), "steps must come in order of `after`")
    if None in (assignment, window, weights, preferred, groups) or None in steps:
        return None
    assert assignment and window and weights is not None and preferred is not None
    assert groups is not None
    mode = cast(Literal["greedy", "batch"], assignment)
    return Routing(mode, window, groups, weights, preferred, tuple(ordered), within or 0.0)


def _names(check: Checker, path: Path, value: object) -> tuple[str, ...] | None:
    items = check.sequence(path, value)
    names = [check.string((*path, i), v) for i, v in enumerate(items)]
    return None if None in names else tuple(n for n in names if n)


def _weights(check: Checker, path: Path, value: object) -> Weights | None:
    raw = check.mapping(path, value, _WEIGHTS)
    base = Weights()
    out: dict[str, float] = {}
    for key, v in raw.items():
        if key.endswith("_scale"):
            seconds = check.duration((*path, key), v)
            if seconds is not None and seconds <= 0:
                check.error((*path, key), "must be longer than 0s")
            elif seconds is not None:
                out[f"{key}_s"] = seconds
        elif isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            check.error((*path, key), f"must be a number of at least 0, got {v!r}")
        else:
            out[key] = float(v)
    if len(out) != len(raw):
        return None
    return Weights(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, **out})


def _step(check: Checker, path: Path, value: object) -> RelaxStep | None:
    s = check.mapping(path, value, _STEP)
    after = check.duration((*path, "after"), s.get("after"))
    lower = check.integer((*path, "lower_skills"), s.get("lower_skills", 0), 0, 4)
    drop = check.boolean((*path, "drop_optional"), s.get("drop_optional", False))
    widen_tiers = check.boolean((*path, "widen_tiers"), s.get("widen_tiers", False))
    groups = _names(check, (*path, "widen_groups"), s.get("widen_groups"))
    overflow = s.get("overflow_to")
    if overflow is not None:
        overflow = check.string((*path, "overflow_to"), overflow)
    if len(s) <= 1 and isinstance(value, dict):
        check.error(path, "a relaxation step needs `after` and at least one change")
    if None in (after, lower, drop, widen_tiers, groups) or ("overflow_to" in s and not overflow):
        return None
    assert after is not None and lower is not None and groups is not None
    return RelaxStep(after, lower, bool(drop), groups, bool(widen_tiers), overflow)
