"""How many agents a promise needs: `frontdesk simulate --staff 6-20 --sla-goal
chat.first_response=95%` runs the same arrivals with each head count and reports the
service-level attainment of each, stopping at the first count that meets every goal.

A head count of N takes the workload's agents (or the config's available ones) in order, cycled:
the 16th agent of 15 is a copy of the first (`li.na~2`), with the same skills, capacity, tier,
groups and shifts. Attainment grows with staff in practice but need not strictly (another
agent changes who takes what): with goals the sweep stops at the first count that meets them,
without it runs every count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from frontdesk.router.daemon.settings import Settings
from frontdesk.router.sim.engine import Engine
from frontdesk.router.sim.model import Arrivals, Staff, Workload, staff_from_config
from frontdesk.router.sim.policies import make
from frontdesk.router.sim.progress import Progress
from frontdesk.router.sim.sla import goal_met

MAX_STAFF = 2000
_GOAL = re.compile(r"^([a-z][a-z0-9_-]*)\.([a-z][a-z0-9_]*)=(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True, slots=True)
class Goal:
    policy: str
    target: str
    share: float  # 0..1

    def __str__(self) -> str:
        return f"{self.policy}.{self.target} >= {self.share * 100:g}%"


def parse_counts(text: str) -> list[int]:
    """`8`, `4,6,8` or a range `4-12` (every count) or `4-20/2` (every second); ValueError
    saying what is wrong."""
    counts: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+)(?:/(\d+))?)?\s*", part)
        if not m:
            raise ValueError(f"{part!r} is not a head count (8), a list (4,6,8) or a range (4-12)")
        first = int(m[1])
        last, step = int(m[2] or first), int(m[3] or 1)
        if not 1 <= first <= last <= MAX_STAFF or step < 1:
            raise ValueError(f"{part!r}: counts run upward from 1 to {MAX_STAFF}")
        counts += range(first, last + 1, step)
    return sorted(set(counts))


def parse_goals(text: str) -> list[Goal]:
    """`chat.first_response=95%[,email.first_response=90%]`; ValueError saying what is wrong."""
    goals = []
    for part in text.split(","):
        m = _GOAL.fullmatch(part.strip())
        if not m or not 0 < float(m[3]) <= 100:
            raise ValueError(f"{part!r} is not a goal such as chat.first_response=95%")
        goals.append(Goal(m[1], m[2], float(m[3]) / 100))
    return goals


def check_goals(settings: Settings, goals: Sequence[Goal]) -> str | None:
    """What is wrong with `goals` for this config (a policy or target it does not have)."""
    for goal in goals:
        policy = settings.sla.policy(goal.policy)
        if policy is None:
            names = ", ".join(p.name for p in settings.sla.policies) or "none"
            return f"no sla policy {goal.policy!r} in the config (there: {names})"
        if policy.target(goal.target) is None:
            names = ", ".join(t.name for t in policy.targets)
            return f"policy {goal.policy!r} has no target {goal.target!r} (it has: {names})"
        if goal.target not in ("first_response", "resolution"):
            return f"{goal.target!r} is not simulated: first_response and resolution are"
    return None


def scaled(staff: Sequence[Staff], n: int) -> tuple[Staff, ...]:
    """`n` agents: `staff` in order, cycled, each copy's id suffixed ~2, ~3..."""
    out = []
    for k in range(n):
        base = staff[k % len(staff)]
        copy = k // len(staff)
        agent = base.agent if not copy else replace(base.agent, id=f"{base.agent.id}~{copy + 1}")
        out.append(replace(base, agent=agent))
    return tuple(out)


def sweep(
    settings: Settings, workload: Workload, arrivals: Arrivals, counts: Sequence[int],
    policy: str, goals: Sequence[Goal] = (), progress: Progress | None = None,
) -> list[tuple[int, dict[str, Any]]]:  # fmt: skip
    """(head count, report) for each count in order, up to the first that meets `goals`."""
    base = workload.staff if workload.staff is not None else staff_from_config(settings.agents)
    if not base:
        raise ValueError("no agents to scale: the workload and the config have none available")
    wanted = [(g.policy, g.target, g.share) for g in goals]
    runs = []
    for n in counts:
        staffed = replace(workload, staff=scaled(base, n))
        watch = progress.run(f"{policy}, {n} agents") if progress else None
        engine = Engine(settings, staffed, arrivals, make(policy, workload.seed), watch)
        report = engine.run().report()
        runs.append((n, report))
        if wanted and goal_met(report["sla"], wanted):
            break
    return runs
