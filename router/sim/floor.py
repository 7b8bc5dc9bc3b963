"""The simulated floor: the agents, which of them can take work now and with how much room per
channel (kept up to date as work is handed out and comes back), the accounting of their time in
the measured period, and who may take a request now (the hard constraints, cached)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from frontdesk.router.routing.window import CHANNELS
from frontdesk.router.sim.model import Staff
from frontdesk.router.sim.state import Job, Kind, QueueState, SimAgent, eligible


class Floor:
    """The agents of one run (the engine is one)."""

    def __init__(self, staff: Sequence[Staff], warm_ms: int, end_ms: int) -> None:
        self.agents = [SimAgent(i, s.agent) for i, s in enumerate(staff)]
        self.warm_ms, self.end_ms = warm_ms, end_ms  # the measured period
        self.free = [0] * len(CHANNELS)  # spare slots of the available agents, per channel
        self.open: list[set[int]] = [set() for _ in CHANNELS]  # those agents, per channel
        self._eligible: dict[tuple[int, int, int], tuple[tuple[SimAgent, ...], set[int]]] = {}
        self._fit: dict[tuple[int, int], tuple[float, bool]] = {}

    # -- presence, capacity and time ---------------------------------------------------------------

    def _presence(self, agent: SimAgent, present: bool, now: int) -> None:
        self._accrue(agent, now)
        if present and not agent.present:
            agent.idle_since = now  # becoming available starts the idle clock
        agent.present = present
        self._available(agent)

    def _available(self, agent: SimAgent) -> None:
        """Keep `free` the sum of the spare slots of the agents who can take work now."""
        avail = agent.present and not agent.wrapping
        if avail != agent.avail:
            for c, spare in enumerate(agent.spare):
                if spare:
                    self.free[c] += spare if avail else -spare
                    (self.open[c].add if avail else self.open[c].discard)(agent.i)
            agent.avail = avail

    def _accrue(self, agent: SimAgent, now: int) -> None:
        """Count the time since the agent's last change, inside the measured period."""
        last = agent.last_ms
        if now <= last:
            return
        lo = last if last > self.warm_ms else self.warm_ms
        hi = now if now < self.end_ms else self.end_ms
        if hi > lo:
            if agent.load or agent.wrapping:
                agent.busy_ms += hi - lo
            if agent.present or agent.load or agent.wrapping:
                agent.staffed_ms += hi - lo
        agent.last_ms = now

    def _release(self, agent: SimAgent, job: Job, now: int) -> None:
        self._accrue(agent, now)
        c = job.kind.channel
        agent.load -= 1
        agent.spare[c] += 1
        if agent.avail:
            self.free[c] += 1
            self.open[c].add(agent.i)

    # -- who may take what -------------------------------------------------------------------------

    def _static(self, job: Job, q: QueueState, steps: int) -> tuple[tuple[SimAgent, ...], set[int]]:
        """The agents who pass `eligible` for `job` in `q` with `steps` in force (cached)."""
        key = (job.kind.index, q.i, steps)
        found = self._eligible.get(key)
        if found is None:
            relax = q.routing.relax[:steps]
            request = job.kind.request
            agents = tuple(a for a in self.agents if eligible(a.profile, request, q.routing, relax))
            found = (agents, {a.i for a in agents})
            self._eligible[key] = found
        return found

    def eligible_now(self, q: QueueState, job: Job, now: int) -> list[SimAgent]:
        """Every agent who may take `job` now: the matcher's hard constraints, each one."""
        c = job.kind.channel
        steps = bisect.bisect_right(q.relax_ms, now - job.wait_from) if q.relax_ms else 0
        static, members = self._eligible.get((job.kind.index, q.i, steps)) or self._static(
            job, q, steps
        )
        opened = self.open[c]  # the available agents with room on the channel
        if len(opened) < len(static):
            agents = [self.agents[i] for i in sorted(opened) if i in members]
        else:
            agents = [a for a in static if a.i in opened]
        preferred = job.kind.request.preferred_agent
        if preferred is not None and now - job.wait_from < q.preferred_ms:
            agents = [a for a in agents if a.id == preferred]
        excluded = job.excluded
        return agents if excluded is None else [a for a in agents if a.i not in excluded]

    def available(self) -> list[SimAgent]:
        """The agents who can take work now and have spare capacity on some channel, in order
        (the dispatcher's candidates)."""
        return [a for a in self.agents if a.avail and any(a.spare)]

    def _skill_fit(self, kind: Kind, agent: SimAgent) -> tuple[float, bool]:
        key = (kind.index, agent.i)
        fit = self._fit.get(key)
        if fit is None:
            needs = kind.request.skills
            gaps = [agent.profile.skills.get(s.name, 0) - s.min_level for s in needs]
            fit = (float(np.mean(gaps)) if gaps else math.nan, all(g >= 0 for g in gaps))
            self._fit[key] = fit
        return fit
