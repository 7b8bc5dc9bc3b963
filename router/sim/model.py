"""The simulator's workload: who asks, when, for how long, and who works; and its arrivals,
drawn. Read from YAML by workload.py, from an exported event log by replay.py.

    workload = load_workload("config/simulate.example.yaml")   # router/sim/workload.py
    arrivals = draw(workload)          # the same seed gives the same arrivals, every time

A workload holds arrival streams (per channel and kind of request: Poisson at a rate, with the
customer's message as a template that the config's rules classify), or arrivals replayed from
an exported event log (JSON lines of the event stream); handle times (exponential, lognormal,
fixed, or drawn from data); customer patience (exponential, fixed, or none: nobody hangs up);
the agents on duty with their skills, capacities and shifts (or, left out, the config's own
agents who are available); how agents answer offers; and the service-level targets. Every
problem is reported with its file, line and YAML path (`router/conf/yaml.py`).

Everything drawn at random is drawn here, per arrival and before any routing, from generators
seeded by (seed, stream): every policy and every config of a what-if sees the same arrivals,
handle times and patience, and adding a stream leaves the others' draws unchanged.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from frontdesk.queues.request import Channel, Priority, Request, SkillRequirement
from frontdesk.skills import Agent, Presence

CHANNELS = [c.value for c in Channel]
DEFAULT_TARGET_S = 20.0  # answered within 20 s, the classic 80/20 service level
DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning
MAX_ARRIVALS = 20_000_000

Ints = NDArray[np.int64]


# Distributions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dist:
    """A distribution of durations in seconds: exponential, lognormal, fixed or empirical."""

    kind: str
    mean_s: float = 0.0
    sd_s: float = 0.0
    values_s: tuple[float, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """`n` durations in seconds."""
        if self.kind == "exponential":
            return rng.exponential(self.mean_s, n)
        if self.kind == "lognormal":
            sigma2 = math.log1p((self.sd_s / self.mean_s) ** 2)
            return rng.lognormal(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2), n)
        if self.kind == "fixed":
            return np.full(n, self.mean_s)
        values = np.array(self.values_s, dtype=np.float64)
        return values[rng.integers(0, len(values), n)]

    def sample(self, rnd: random.Random) -> float:
        """One duration in seconds, from a plain `random.Random` (cheap one at a time)."""
        if self.kind == "exponential":
            return rnd.expovariate(1.0 / self.mean_s)
        if self.kind == "lognormal":
            sigma2 = math.log1p((self.sd_s / self.mean_s) ** 2)
            return rnd.lognormvariate(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))
        if self.kind == "fixed":
            return self.mean_s
        return rnd.choice(self.values_s)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values_s)) if self.kind == "empirical" else self.mean_s


def exponential(mean_s: float) -> Dist:
    return Dist("exponential", mean_s)


# The workload ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """Requests of one kind arriving as a Poisson process, each classified by the config's rules
    from `request` (channel, text, language, entry point, customer, attributes)."""

    name: str
    channel: Channel
    rate_per_s: float
    request: Request
    handle: Dist
    patience: Dist | None = None  # None: nobody hangs up
    wrap_up_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Replayed:
    """Requests taken from an event log: their queue as the log has it (no text to classify)
    and, where the log line carries them, priority, skills, tier and category."""

    name: str  # the source's name in reports: replay:<queue>
    channel: Channel
    queue: str
    priority: Priority = Priority.MEDIUM
    skills: tuple[SkillRequirement, ...] = ()
    tier: int = 1
    category: str | None = None
    wrap_up_s: float = 0.0


Source = Stream | Replayed


@dataclass(frozen=True, slots=True)
class Shift:
    """On duty from `on_s` to `off_s` (simulated seconds)."""

    on_s: float
    off_s: float


@dataclass(frozen=True, slots=True)
class Staff:
    """An agent on the simulated floor; `shifts` empty: on duty throughout."""

    agent: Agent
    shifts: tuple[Shift, ...] = ()


@dataclass(frozen=True, slots=True)
class Offers:
    """How agents answer offers in `mode: offer` queues: after `accept_after` (None: at once),
    rejecting a share `reject` of them. An answer later than the queue's offer timeout is a
    missed offer; rejected and missed requests go to another agent."""

    accept_after: Dist | None = None
    reject: float = 0.0


@dataclass(frozen=True, slots=True)
class ReplayLog:
    """Arrivals read from an event log, with what the log tells of each one."""

    path: str
    sources: tuple[Replayed, ...]
    t_s: tuple[float, ...]  # arrival, seconds after the log's first enqueue
    source: tuple[int, ...]  # index into sources
    handle_s: tuple[float, ...]  # nan: not in the log (drawn from the replay's `handle`)
    patience_s: tuple[float, ...]  # nan: not in the log (drawn, or none)
    handle: Dist | None = None
    patience: Dist | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    """Everything a simulation run needs besides the routing config."""

    source: str
    seed: int = 1
    start: datetime = DEFAULT_START
    duration_s: float = 8 * 3600.0  # arrivals come during this long
    warmup_s: float = 0.0  # arrivals before this are routed but not counted
    drain_s: float = 3600.0  # after the arrivals stop, open requests may still be served
    targets: dict[str, float] = field(default_factory=dict)  # channel -> answered within (s)
    queue_targets: dict[str, float] = field(default_factory=dict)  # queue -> answered within
    offers: Offers = Offers()
    streams: tuple[Stream, ...] = ()
    replay: ReplayLog | None = None
    staff: tuple[Staff, ...] | None = None  # None: the config's available agents

    def target_s(self, channel: str, queue: str) -> float:
        """The service-level target of a request of `channel` that came into `queue`."""
        if queue in self.queue_targets:
            return self.queue_targets[queue]
        return self.targets.get(channel, DEFAULT_TARGET_S)


@dataclass(frozen=True, slots=True, eq=False)
class Arrivals:
    """Every arrival of a run, in time order, as arrays (one row per request)."""

    sources: tuple[Source, ...]
    t_ms: Ints  # arrival, milliseconds after the start
    source: Ints  # index into sources
    handle_ms: Ints  # handle time (from acceptance to completion), >= 1 ms
    patience_ms: Ints  # hangs up this long after arriving if not answered; -1: never

    def __len__(self) -> int:
        return len(self.t_ms)


def staff_from_config(agents: tuple[Agent, ...]) -> tuple[Staff, ...]:
    """The config's agents who start available, on duty throughout."""
    return tuple(Staff(a) for a in agents if a.presence is Presence.AVAILABLE)


# Drawing ----------------------------------------------------------------------------------


def _rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def _ms(seconds: NDArray[np.float64], least: int) -> Ints:
    return np.maximum(np.rint(seconds * 1000), least).astype(np.int64)


def draw(workload: Workload) -> Arrivals:
    """Every arrival of the run; the same workload and seed give the same arrivals."""
    duration_ms = round(workload.duration_s * 1000)
    times, sources, handles, patiences = [], [], [], []
    for i, stream in enumerate(workload.streams):
        rng = _rng(workload.seed, i)
        n = int(rng.poisson(stream.rate_per_s * workload.duration_s))
        if n > MAX_ARRIVALS:
            raise ValueError(f"stream {stream.name}: {n} arrivals, more than {MAX_ARRIVALS}")
        # A Poisson process: given the count, the times are uniform and independent.
        t = np.sort(rng.integers(0, max(duration_ms, 1), n))
        times.append(t)
        sources.append(np.full(n, i, dtype=np.int64))
        handles.append(_ms(stream.handle.draw(rng, n), 1))
        patience = stream.patience.draw(rng, n) if stream.patience else None
        patiences.append(_ms(patience, 0) if patience is not None else np.full(n, -1))
    all_sources: list[Source] = list(workload.streams)
    if workload.replay is not None:
        log = workload.replay
        rng = _rng(workload.seed, 1_000_000)
        n = len(log.t_s)
        offset = len(all_sources)
        all_sources.extend(log.sources)
        times.append(np.rint(np.array(log.t_s, dtype=np.float64) * 1000).astype(np.int64))
        sources.append(np.array(log.source, dtype=np.int64).reshape(n) + offset)
        handle = np.array(log.handle_s, dtype=np.float64).reshape(n)
        missing = np.isnan(handle)
        if missing.any():
            fallback = log.handle or exponential(300.0)
            handle[missing] = fallback.draw(rng, int(missing.sum()))
        handles.append(_ms(handle, 1))
        patience = np.array(log.patience_s, dtype=np.float64).reshape(n)
        missing = np.isnan(patience)
        if missing.any() and log.patience is not None:
            patience[missing] = log.patience.draw(rng, int(missing.sum()))
        patiences.append(np.where(np.isnan(patience), -1, _ms(np.nan_to_num(patience), 0)))
    if not times:
        empty = np.zeros(0, dtype=np.int64)
        return Arrivals(tuple(all_sources), empty, empty, empty, empty)
    t_ms = np.concatenate(times)
    source = np.concatenate(sources)
    order = np.lexsort((source, t_ms))  # by time, then by source: stable and reproducible
    order = order[t_ms[order] < max(duration_ms, 1)]  # a replay longer than the run is cut
    return Arrivals(
        sources=tuple(all_sources),
        t_ms=t_ms[order],
        source=source[order],
        handle_ms=np.concatenate(handles)[order],
        patience_ms=np.concatenate(patiences).astype(np.int64)[order],
    )
