"""What a simulation run produced: one row per request and per agent, and the figures from them
(service level, ASA, abandonment, skill match, throughput, occupancy), overall, per channel and
per queue, and the attainment of the config's service-level policies (sla.py)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from frontdesk.router.routing.window import CHANNELS
from frontdesk.router.sim.model import Workload
from frontdesk.router.sim.sla import attainment
from frontdesk.router.sim.state import (
    ABANDONED,
    ACTIVE,
    OFFERED,
    Job,
    Kind,
    QueueState,
    SimAgent,
    SimulationError,
)

if TYPE_CHECKING:
    from frontdesk.router.daemon.settings import Settings


class Named(Protocol):
    @property
    def name(self) -> str: ...


class Run(Protocol):
    """What a result reads of a finished run (the engine)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def stop_ms(self) -> int: ...
    @property
    def workload(self) -> Workload: ...
    @property
    def policy(self) -> Named: ...
    @property
    def queues(self) -> Sequence[QueueState]: ...
    @property
    def agents(self) -> Sequence[SimAgent]: ...
    @property
    def jobs(self) -> Sequence[Job]: ...
    @property
    def kinds(self) -> Sequence[Kind]: ...
    @property
    def warm_ms(self) -> int: ...
    @property
    def end_ms(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def rounds(self) -> int: ...
    @property
    def offers(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def missed(self) -> int: ...


class Result:
    """What a run produced: one row per request and per agent, and the figures from them."""

    def __init__(self, engine: Run) -> None:
        w = engine.workload
        self.policy = engine.policy.name
        self.queue_names = [q.name for q in engine.queues]
        self.window_h = (engine.end_ms - engine.warm_ms) / 3_600_000
        jobs, n = engine.jobs, len(engine.jobs)

        def field(name: str, dtype: type[Any] = np.int64) -> np.ndarray[Any, Any]:
            return np.fromiter(map(attrgetter(name), jobs), dtype=dtype, count=n)

        self.arrival_t = t = field("t")  # every arrival, counted or not
        counted = (t >= engine.warm_ms) & (t < engine.end_ms)
        answered_ms, state = field("answered")[counted], field("state")[counted]
        self._queue = field("first_queue", np.intp)[counted]
        self._channel = field("kind.channel", np.intp)[counted]
        sources = np.array([k.source for k in engine.kinds] or [""], dtype=object)
        self.source = sources[field("kind.index", np.intp)[counted]]
        self.channel = np.array(CHANNELS, dtype=object)[self._channel]
        self.queue = np.array(self.queue_names, dtype=object)[self._queue]
        self.answered = answered_ms >= 0
        self.abandoned = state == ABANDONED
        self.wait_s = np.where(self.answered, (answered_ms - t[counted]) / 1000, np.nan)
        targets = np.array(
            [[w.target_s(c, q) for c in CHANNELS] for q in self.queue_names] or [[0.0]]
        )
        self.target_s = targets[self._queue, self._channel]
        self.steps = field("steps")[counted]
        self.overflowed = field("overflows")[counted] > 0
        self.met = field("met", np.bool_)[counted]
        self.margin = field("margin", np.float64)[counted]
        self.agent_ids = [a.id for a in engine.agents]
        self.busy_ms = np.array([a.busy_ms for a in engine.agents], dtype=np.int64)
        self.staffed_ms = np.array([a.staffed_ms for a in engine.agents], dtype=np.int64)
        self.handled = np.array([a.handled for a in engine.agents], dtype=np.int64)
        self.engine = {
            "arrivals": len(engine.jobs),
            "counted": int(counted.sum()),
            "events": engine.events,
            "rounds": engine.rounds,
            "offers": engine.offers,
            "rejected": engine.rejected,
            "missed": engine.missed,
        }
        self.sla = attainment(
            engine.settings, w.start, (j for j, c in zip(jobs, counted, strict=True) if c),
            engine.stop_ms,
        )  # fmt: skip
        held = Counter(
            (j.agent, j.kind.channel) for j in engine.jobs if j.state in (OFFERED, ACTIVE)
        )
        for a in engine.agents:  # every agent holds exactly its load, never over capacity
            for c, cap in enumerate(a.cap):
                if not 0 <= held[a.i, c] == cap - a.spare[c] <= cap:
                    raise SimulationError(f"agent {a.id} holds {held[a.i, c]} of {CHANNELS[c]}")

    def figures(self, mask: np.ndarray[Any, np.dtype[np.bool_]] | None = None) -> dict[str, Any]:
        """Service level, ASA, abandonment, skill match and throughput of the requests in
        `mask` (all counted requests by default)."""
        m = np.ones(len(self.answered), dtype=bool) if mask is None else mask
        offered = int(m.sum())
        answered = m & self.answered
        waits = self.wait_s[answered]
        within = int((waits <= self.target_s[answered] + 1e-9).sum())
        skilled = answered & ~np.isnan(self.margin)
        n = int(answered.sum())
        return {
            "offered": offered,
            "answered": n,
            "abandoned": int((m & self.abandoned).sum()),
            "unanswered": int((m & ~self.answered & ~self.abandoned).sum()),
            "service_level": within / offered if offered else None,
            "asa_s": float(waits.mean()) if n else None,
            "p_wait": float((waits > 0).mean()) if n else None,
            "wait_p90_s": float(np.percentile(waits, 90)) if n else None,
            "abandon_rate": float((m & self.abandoned).sum() / offered) if offered else None,
            "skill_margin": float(self.margin[skilled].mean()) if skilled.any() else None,
            "at_requirement": float(self.met[answered].mean()) if n else None,
            "relaxed": float((self.steps[answered] > 0).mean()) if n else None,
            "overflowed": int((m & self.overflowed).sum()),
            "throughput_per_h": n / self.window_h if self.window_h > 0 else None,
        }

    def occupancy(self) -> dict[str, Any]:
        """Per agent, busy time (holding work or in wrap-up) over staffed time, in the measured
        period; its spread across the agents who were staffed."""
        staffed = self.staffed_ms > 0
        occ = self.busy_ms[staffed] / self.staffed_ms[staffed]
        values = [float(v) for v in occ]
        handled = [int(h) for h in self.handled]
        return {
            "agents": int(staffed.sum()),
            "mean": statistics.fmean(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "stdev": statistics.pstdev(values) if values else None,
            "overall": float(self.busy_ms.sum() / self.staffed_ms.sum()) if values else None,
            "handled_min": min(handled) if handled else None,
            "handled_max": max(handled) if handled else None,
            "by_agent": {
                a: round(float(b / s), 4) if s else None
                for a, b, s in zip(self.agent_ids, self.busy_ms, self.staffed_ms, strict=True)
            },
        }

    def report(self) -> dict[str, Any]:
        """Every figure: overall, per channel, per queue (the queue a request came into),
        occupancy, and the engine's counters."""
        return {
            "policy": self.policy,
            "overall": self.figures(),
            "channels": {
                c: self.figures(self._channel == k)
                for k, c in enumerate(CHANNELS)
                if (self._channel == k).any()
            },
            "queues": {
                q: self.figures(self._queue == k)
                for k, q in enumerate(self.queue_names)
                if (self._queue == k).any()
            },
            "occupancy": self.occupancy(),
            "sla": self.sla,
            "engine": self.engine,
        }
