"""Routing policies for the simulator, compared side by side on the same arrivals.

- ``frontdesk``: the daemon's own decision, per queue as configured (`assignment: greedy` or
  `batch`): the window and pool built by `router.window.build` and decided by
  `router.matcher.match`, exactly as `router/routing/dispatcher.py` does.
- ``frontdesk-greedy``, ``frontdesk-batch``: the same with every queue in that mode.
- Baselines: ``round-robin`` (the next eligible agent after the last one chosen), ``longest-idle``
  (the eligible agent idle longest, by the daemon's idle clock), ``fewest-handled`` (the eligible
  agent who has taken the fewest requests so far), ``random`` (any eligible agent, seeded).
  They take each queue's waiting head in the daemon's order (band, then age) and give each
  request one agent among those the matcher would allow (`Engine.eligible_now`: skills at level
  after relaxation, tier, groups, exclusions, the preferred agent's period, presence, spare
  capacity), so they differ from frontdesk only in whom they choose.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Literal

from frontdesk.router.routing.matcher import match
from frontdesk.router.routing.window import Waiting, build
from frontdesk.router.sim.engine import Engine
from frontdesk.router.sim.state import Job, QueueState, SimAgent

Mode = Literal["greedy", "batch"]
_NO_ONE: frozenset[str] = frozenset()


class Frontdesk:
    """The production matcher on the daemon's windows; `mode` None: each queue's own."""

    def __init__(self, mode: Mode | None = None) -> None:
        self.mode = mode
        self.name = "frontdesk" if mode is None else f"frontdesk-{mode}"
        self.decisions = 0

    def route(self, engine: Engine, queue: QueueState, jobs: Iterator[Job], now: int) -> None:
        window = list(islice(jobs, queue.routing.window))
        candidates = engine.available()
        if not window or not candidates:
            return
        waiting = [
            Waiting(
                job.kind.record,
                frozenset(engine.agents[a].id for a in job.excluded) if job.excluded else _NO_ONE,
                (now - job.wait_from) / 1000,
            )
            for job in window
        ]
        spare = {a.id: a.spare_by_channel() for a in candidates}
        built = build(queue.settings, waiting, [a.view for a in candidates], spare, now)
        routing = queue.routing
        decision = match(built.window, built.pool, routing.weights, self.mode or routing.assignment)
        self.decisions += 1
        for r, a in zip(decision.requests.tolist(), decision.agents.tolist(), strict=True):
            engine.take(window[r], candidates[a], now)


class Baseline:
    """Each waiting request in queue order takes one eligible agent, chosen by `choose`."""

    name = "baseline"

    def route(self, engine: Engine, queue: QueueState, jobs: Iterator[Job], now: int) -> None:
        free = engine.free
        for job in jobs:
            if not free[job.kind.channel]:
                if not any(free):
                    return
                continue
            agents = engine.eligible_now(queue, job, now)
            if agents:
                engine.take(job, self.choose(agents, queue), now)
                if not any(free):
                    return

    def choose(self, agents: list[SimAgent], queue: QueueState) -> SimAgent:
        raise NotImplementedError


class RoundRobin(Baseline):
    """Per queue, the first eligible agent after the one the queue gave work to last (in
    config order, wrapping round), as a helpdesk's round robin per inbox."""

    name = "round-robin"

    def __init__(self) -> None:
        self.last: dict[int, int] = {}  # queue index -> the agent index chosen last

    def choose(self, agents: list[SimAgent], queue: QueueState) -> SimAgent:
        last = self.last.get(queue.i, -1)
        agent = next((a for a in agents if a.i > last), agents[0])
        self.last[queue.i] = agent.i
        return agent


class LongestIdle(Baseline):
    """The agent idle longest: earliest to have last taken work or become available."""

    name = "longest-idle"

    def choose(self, agents: list[SimAgent], queue: QueueState) -> SimAgent:
        if len(agents) == 1:
            return agents[0]
        return min(agents, key=lambda a: (a.idle_since, a.i))


class FewestHandled(Baseline):
    """The agent who has taken the fewest requests so far."""

    name = "fewest-handled"

    def choose(self, agents: list[SimAgent], queue: QueueState) -> SimAgent:
        if len(agents) == 1:
            return agents[0]
        return min(agents, key=lambda a: (a.handled, a.i))


class RandomChoice(Baseline):
    """Any eligible agent, with equal chances (seeded)."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def choose(self, agents: list[SimAgent], queue: QueueState) -> SimAgent:
        return agents[self.rnd.randrange(len(agents))]


Policy = Frontdesk | Baseline

POLICIES: dict[str, Callable[[int], Policy]] = {
    "frontdesk": lambda seed: Frontdesk(),
    "frontdesk-greedy": lambda seed: Frontdesk("greedy"),
    "frontdesk-batch": lambda seed: Frontdesk("batch"),
    "round-robin": lambda seed: RoundRobin(),
    "longest-idle": lambda seed: LongestIdle(),
    "fewest-handled": lambda seed: FewestHandled(),
    "random": lambda seed: RandomChoice(seed),
}


def make(name: str, seed: int = 1) -> Policy:
    """A fresh policy by name (one of POLICIES); ValueError names the choices."""
    factory = POLICIES.get(name)
    if factory is None:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
    return factory(seed)
