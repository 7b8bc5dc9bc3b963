"""The simulator's discrete-event engine: a heap of events in simulated milliseconds.

No asyncio, no Redis. Requests arrive (`sim_model.draw`), are classified by the config's rules
(`rules.classify`, the daemon's code), wait in their queue in the daemon's order (priority band,
then first come), and are handed to agents by a routing policy (`sim_policies`) in decision
rounds, run whenever the daemon would run one: an arrival, an agent freed (a completion, a
rejected or missed offer, the end of a wrap-up), an agent back on shift, a customer hanging up,
a relaxation step or a callback window falling due. Events at the same millisecond make one
round. A round takes the queues in config order, and in each the waiting head (`window`), after
moving requests that overflow and holding callbacks back (as `router/routing/dispatcher.py` does).

Offers in `mode: offer` queues are accepted at once, unless the workload's `offers` give a
delay (an answer later than the queue's `offer_timeout` is a missed offer) or a share of
rejections; a rejected or missed request waits again, its age kept, and that agent is never
offered it again. A customer's patience runs until an agent accepts.

Every hand-over is checked against the hard constraints (skills at level after relaxation, tier,
groups, exclusions, the preferred-agent period, presence, wrap-up, spare capacity) by code of
its own (`eligible`), and `SimulationError` stops the run at the first breach: no policy can
cheat. Times are whole milliseconds (the daemon's clock is Redis's, in ms too).
"""

from __future__ import annotations

import bisect
import gc
import heapq
import math
import random
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from frontdesk.queues.errors import FrontdeskError
from frontdesk.queues.request import Request
from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.intake.rules import TimeIs, classify
from frontdesk.router.routing.callbacks import is_callback
from frontdesk.router.routing.config import QueueSettings, RelaxStep, Routing
from frontdesk.router.routing.head import HeadScan, Seen
from frontdesk.router.routing.window import CHANNEL_INDEX, CHANNELS
from frontdesk.router.sim.model import Arrivals, Replayed, Staff, Workload, staff_from_config
from frontdesk.skills import TIERS, Agent

NEVER = 1 << 62
# Heap entries are (time ms, sequence, kind, x, y); the sequence keeps equal times in order.
COMPLETE, ABANDON, ANSWER, TIMER, SHIFT_ON, SHIFT_OFF, WRAP_END = range(7)
# Request states in the engine.
WAITING, OFFERED, ACTIVE, DONE, ABANDONED = range(5)
PHONE = CHANNEL_INDEX["phone"]
EVENTS_PER_ARRIVAL = 64  # a run stops with SimulationError beyond this many events per arrival


class SimulationError(FrontdeskError):
    """A run broke one of its own rules (a hard constraint, capacity, the event budget)."""


@dataclass(frozen=True, slots=True, eq=False)
class Kind:
    """One classification of requests: what the rules made of a source's request."""

    index: int
    source: str
    request: Request  # as classified: queue, priority, skills, tier, preferred agent
    record: RequestRecord  # the same, as the daemon's window builder reads it
    queue: int  # queue index at arrival
    channel: int  # channel index (window.CHANNELS)
    band: int
    callback: bool  # a phone callback that waits for its window and the working hours


class Job:
    """One request in the run."""

    __slots__ = (
        *("i", "t", "kind", "handle", "patience", "wrap", "state", "queue", "band", "seq"),
        *("token", "agent", "answered", "ended", "wait_from", "excluded", "steps", "margin"),
        *("met", "first_queue", "overflows", "offer"),
    )

    def __init__(self, i: int, t: int, kind: Kind, handle: int, patience: int, wrap: int) -> None:
        self.i, self.t, self.kind = i, t, kind
        self.handle, self.patience, self.wrap = handle, patience, wrap
        self.state = WAITING
        self.queue = self.first_queue = kind.queue
        self.band, self.seq, self.token = kind.band, i, 0
        self.agent = -1
        self.answered = self.ended = -1
        self.wait_from = t  # its wait counts from here (later for a held callback)
        self.excluded: set[int] | None = None  # agents who rejected or missed it
        self.steps = 0  # relaxation steps in force when it was handed over
        self.margin = math.nan  # mean proficiency above the requirement, at hand-over
        self.met = True  # every required skill at or above its level (before relaxation)
        self.overflows = 0
        self.offer = 0  # counts offers, so that a stale answer is recognized


class SimAgent:
    """An agent on the simulated floor, with the accounting of its time."""

    __slots__ = (
        *("i", "id", "profile", "_view", "cap", "spare", "present", "wrapping", "avail"),
        *("idle_since", "handled", "load", "busy_ms", "staffed_ms", "last_ms"),
    )

    def __init__(self, i: int, profile: Agent) -> None:
        self.i, self.id, self.profile = i, profile.id, profile
        self._view = profile
        self.cap = [profile.capacity.get(c, 0) for c in CHANNELS]
        self.spare = list(self.cap)
        self.present = self.wrapping = self.avail = False
        self.idle_since = 0
        self.handled = self.load = 0
        self.busy_ms = self.staffed_ms = self.last_ms = 0

    @property
    def view(self) -> Agent:
        """The profile with the idle clock, as the window builder reads it."""
        if self._view.idle_since_ms != self.idle_since:
            self._view = replace(self.profile, idle_since_ms=self.idle_since)
        return self._view

    def spare_by_channel(self) -> dict[str, int]:
        return {c: self.spare[k] for k, c in enumerate(CHANNELS) if self.cap[k]}


class QueueState:
    """One queue's waiting requests in the daemon's order: band, then age (arrival order).

    Per band a list of (seq, token, job) sorted by seq, with lazy deletion: an entry is live
    while its job waits and its token is the job's current one."""

    __slots__ = (
        *("i", "name", "settings", "routing", "bands", "heads", "live", "entries"),
        *("relax_ms", "preferred_ms", "timers", "offer", "timeout_ms"),
    )

    def __init__(self, i: int, settings: QueueSettings) -> None:
        self.i, self.name, self.settings = i, settings.name, settings
        self.routing: Routing = settings.routing
        self.bands: list[list[tuple[int, int, Job]]] = [[], [], []]
        self.heads = [0, 0, 0]
        self.live = self.entries = 0
        self.relax_ms = [round(s.after_s * 1000) for s in self.routing.relax]
        self.preferred_ms = round(self.routing.preferred_agent_for_s * 1000)
        self.timers = bool(self.relax_ms or self.preferred_ms)
        self.offer = settings.mode == "offer"
        self.timeout_ms = max(1, round(settings.offer_timeout_s * 1000))

    def add(self, job: Job) -> None:
        job.token += 1
        band = self.bands[job.band]
        entry = (job.seq, job.token, job)
        if not band or band[-1][0] < job.seq:
            band.append(entry)
        else:
            at = bisect.bisect_left(band, (job.seq, job.token))
            band.insert(at, entry)
            self.heads[job.band] = min(self.heads[job.band], at)
        self.live += 1
        self.entries += 1

    def waiting(self) -> Iterator[Job]:
        """The waiting requests in order, lazily."""
        for b in range(3):
            band = self.bands[b]
            h, n = self.heads[b], len(band)
            while h < n and (band[h][2].token != band[h][1] or band[h][2].state != WAITING):
                h += 1
            self.heads[b] = h
            for k in range(h, n):
                entry = band[k]
                if entry[2].token == entry[1] and entry[2].state == WAITING:
                    yield entry[2]

    def compact(self) -> None:
        """Drop the dead entries (called once they outnumber the live ones)."""
        for b in range(3):
            self.bands[b] = [
                e for e in self.bands[b] if e[2].token == e[1] and e[2].state == WAITING
            ]
            self.heads[b] = 0
        self.entries = sum(len(band) for band in self.bands)


class Policy(Protocol):
    """Hands a queue's waiting requests to agents, through `Engine.take`."""

    name: str

    def route(self, engine: Engine, queue: QueueState, jobs: Iterator[Job], now: int) -> None: ...


def required(request: Request, steps: tuple[RelaxStep, ...]) -> dict[str, int]:
    """The skills a request requires with `steps` in force: minimums lowered (never below 1),
    optional skills dropped, the highest minimum of a skill named twice (as `window.build`)."""
    lower = sum(s.lower_skills for s in steps)
    drop = any(s.drop_optional for s in steps)
    out: dict[str, int] = {}
    for need in request.skills:
        if need.optional and drop:
            continue
        out[need.name] = max(out.get(need.name, 0), max(1, need.min_level - lower))
    return out


def eligible(
    agent: Agent, request: Request, routing: Routing, steps: tuple[RelaxStep, ...]
) -> bool:
    """The matcher's hard constraints that do not change within a round: skills at level, tier
    within the request's tiers, and a group of the queue's (widened by the steps)."""
    for name, level in required(request, steps).items():
        if agent.skills.get(name, 0) < level:
            return False
    top = max(TIERS) if any(s.widen_tiers for s in steps) else request.tier
    if not request.tier <= agent.tier <= top:
        return False
    if routing.groups:
        allowed = set(routing.groups) | {g for s in steps for g in s.widen_groups}
        if not allowed & set(agent.groups):
            return False
    return True


class Engine:
    """One run: a routing config, a workload's arrivals and staff, one policy."""

    def __init__(
        self, settings: Settings, workload: Workload, arrivals: Arrivals, policy: Policy
    ) -> None:
        self.settings, self.workload, self.arrivals, self.policy = (
            settings, workload, arrivals, policy,
        )  # fmt: skip
        staff = workload.staff
        self.staff: tuple[Staff, ...] = (
            staff_from_config(settings.agents) if staff is None else staff
        )
        self.agents = [SimAgent(i, s.agent) for i, s in enumerate(self.staff)]
        self.queues = [QueueState(i, q) for i, q in enumerate(settings.queues.values())]
        self.queue_index = {q.name: q for q in self.queues}
        self.eager = any(q.timers for q in self.queues)  # some queue needs every round
        self.free = [0] * len(CHANNELS)  # spare slots of the available agents, per channel
        self.open: list[set[int]] = [set() for _ in CHANNELS]  # those agents, per channel
        self.heap: list[tuple[int, int, int, int, int]] = []
        self.seq = 0
        self.jobs: list[Job] = []
        self.kinds: list[Kind] = []
        self._kind_cache: dict[tuple[int, int], Kind] = {}
        self._kinds_by_request: dict[tuple[Any, ...], Kind] = {}
        self._eligible: dict[tuple[int, int, int], tuple[tuple[SimAgent, ...], set[int]]] = {}
        self._fit: dict[tuple[int, int], tuple[float, bool]] = {}
        self._timers: set[int] = set()
        self.rnd = random.Random(workload.seed)  # offers: answer delays and rejections
        self.timed_rules = any(isinstance(c, TimeIs) for r in settings.rules for c in r.conditions)
        self.hours = settings.callback_hours
        self.callbacks = False  # any callback seen: rounds then look at every waiting head
        self.start_ms = round(workload.start.timestamp() * 1000)
        self.warm_ms = round(workload.warmup_s * 1000)
        self.end_ms = round(workload.duration_s * 1000)
        self.stop_ms = self.end_ms + round(workload.drain_s * 1000)
        self._wrap = [round(s.wrap_up_s * 1000) for s in arrivals.sources]
        self.answers = workload.offers.accept_after is not None or workload.offers.reject > 0
        self.rounds = self.events = self.offers = self.rejected = self.missed = 0
        self.dirty = False

    # -- the clock and the event heap ----------------------------------------------------------

    def clock(self, now: int) -> datetime:
        """The wall-clock time of simulated millisecond `now`."""
        return self.workload.start + timedelta(milliseconds=now)

    def push(self, t: int, kind: int, x: int = 0, y: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, x, y))

    def timer(self, t: int) -> None:
        if t not in self._timers and t <= self.stop_ms:
            self._timers.add(t)
            self.push(t, TIMER)

    def run(self) -> Result:
        """Run to the end of the drain (or until nothing more can happen)."""
        collecting = gc.isenabled()
        gc.disable()  # the run holds every request: cycle collection would scan them again
        try:  # and again; the engine makes no cycles
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> Result:
        self._staff_shifts()
        times = self.arrivals.t_ms.tolist()
        sources = self.arrivals.source.tolist()
        handles = self.arrivals.handle_ms.tolist()
        patience = self.arrivals.patience_ms.tolist()
        n, i, heap, free, stop = len(times), 0, self.heap, self.free, self.stop_ms
        budget = EVENTS_PER_ARRIVAL * (n + 1) + 16 * len(self.heap) + 100_000
        events, heappop, arrive, event = 0, heapq.heappop, self._arrive, self._event
        while True:  # every pass handles at least one event, and the budget bounds them
            t = times[i] if i < n else NEVER
            if heap and heap[0][0] < t:
                t = heap[0][0]
            if t > stop:
                break
            while i < n and times[i] == t:
                arrive(i, t, sources[i], handles[i], patience[i])
                i += 1
                events += 1
            while heap and heap[0][0] == t:
                _, _, kind, x, y = heappop(heap)
                event(kind, x, y, t)
                events += 1
            if self.dirty and (self.eager or self.callbacks or any(free)):
                self._round(t)
            if events > budget:
                raise SimulationError(f"more than {budget} events: a run that does not end")
        self.events = events
        for agent in self.agents:
            self._accrue(agent, self.end_ms)
        return Result(self)

    def _staff_shifts(self) -> None:
        for agent, staff in zip(self.agents, self.staff, strict=True):
            if not staff.shifts:
                self._presence(agent, True, 0)
            for shift in staff.shifts:
                self.push(round(shift.on_s * 1000), SHIFT_ON, agent.i)
                self.push(round(shift.off_s * 1000), SHIFT_OFF, agent.i)

    # -- arrivals and classification -----------------------------------------------------------

    def _kind(self, source: int, t: int) -> Kind:
        """The classification of `source`'s request at `t`, cached (per minute when a rule
        looks at the time: rules compare times to the minute)."""
        key = (source, (self.start_ms + t) // 60_000 if self.timed_rules else 0)
        kind = self._kind_cache.get(key)
        if kind is not None:
            return kind
        src = self.arrivals.sources[source]
        settings = self.settings
        if isinstance(src, Replayed):
            queue = src.queue if src.queue in settings.queues else settings.default_queue
            request = Request(
                id=src.name, channel=src.channel, queue=queue, category=src.category,
                priority=src.priority, skills=src.skills, tier=src.tier,
            )  # fmt: skip
        else:
            flags = settings.customers.lookup(src.request.customer)
            decided = classify(
                src.request, settings.rules, flags, self.clock(t), settings.default_queue
            )
            request = decided.apply(src.request)
        # A rule about the time may give the same result again: the same kind, then.
        same: tuple[Any, ...] = (source, request.queue, request.category, request.priority)
        same += (request.skills, request.tier, request.preferred_agent)
        kind = self._kinds_by_request.get(same)
        if kind is not None:
            self._kind_cache[key] = kind
            return kind
        record = RequestRecord(request, State.WAITING, None, None, 0, 0, 0, 0, None)
        kind = Kind(
            index=len(self.kinds),
            source=src.name,
            request=request,
            record=record,
            queue=self.queue_index[request.queue].i,
            channel=CHANNEL_INDEX[request.channel.value],
            band=request.priority.band,
            callback=is_callback(request),
        )
        self.callbacks |= kind.callback
        self.kinds.append(kind)
        self._kind_cache[key] = self._kinds_by_request[same] = kind
        return kind

    def _arrive(self, i: int, t: int, source: int, handle: int, patience: int) -> None:
        kind = self._kind_cache.get((source, 0)) if not self.timed_rules else None
        if kind is None:
            kind = self._kind(source, t)
        job = Job(i, t, kind, handle, t + patience if patience >= 0 else -1, self._wrap[source])
        self.jobs.append(job)
        self.queues[kind.queue].add(job)
        if patience >= 0:
            self.push(t + patience, ABANDON, i)
        self.dirty = True

    # -- events ----------------------------------------------------------------------------------

    def _event(self, kind: int, x: int, y: int, now: int) -> None:
        if kind == COMPLETE:
            job = self.jobs[x]
            agent = self.agents[job.agent]
            job.state, job.ended = DONE, now
            self._release(agent, job, now)
            if job.wrap > 0:
                self._accrue(agent, now)
                agent.wrapping = True
                self._available(agent)
                self.push(now + job.wrap, WRAP_END, agent.i)
        elif kind == ABANDON:
            job = self.jobs[x]
            if job.state == WAITING:
                self.queues[job.queue].live -= 1
            elif job.state == OFFERED:
                self._release(self.agents[job.agent], job, now)
            else:
                return
            job.state, job.ended = ABANDONED, now
        elif kind == ANSWER:
            job = self.jobs[x]
            if job.state != OFFERED or job.offer != y >> 1:
                return
            if y & 1:
                job.state, job.answered = ACTIVE, now
                self.push(now + job.handle, COMPLETE, job.i)
                return
            agent = self.agents[job.agent]
            self._release(agent, job, now)
            if job.excluded is None:
                job.excluded = set()
            job.excluded.add(agent.i)
            job.state, job.agent = WAITING, -1
            self.queues[job.queue].add(job)
            if 0 <= job.patience <= now:
                self.queues[job.queue].live -= 1
                job.state, job.ended = ABANDONED, now
        elif kind == TIMER:
            self._timers.discard(now)
        elif kind in (SHIFT_ON, SHIFT_OFF):
            self._presence(self.agents[x], kind == SHIFT_ON, now)
        elif kind == WRAP_END:
            agent = self.agents[x]
            self._accrue(agent, now)
            agent.wrapping = False
            self._available(agent)
        self.dirty = True

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

    # -- rounds ----------------------------------------------------------------------------------

    def _round(self, now: int) -> None:
        """One decision round over every queue, as the daemon's; again at once if a request
        overflowed into another queue (the daemon's transfer event wakes a round too)."""
        self.dirty = False
        for _ in range(len(self.queues) + 1):  # overflow chains have no cycles
            self.rounds += 1
            moved = False
            for q in self.queues:
                if not q.live:
                    continue
                if q.entries > 2 * q.live + 256:
                    q.compact()
                if q.timers or self.callbacks:
                    jobs, moved_here = self._scan(q, now)
                    moved |= moved_here
                    if jobs and any(self.free[j.kind.channel] for j in jobs):
                        self.policy.route(self, q, iter(jobs), now)
                elif any(self.free):
                    self.policy.route(self, q, islice(q.waiting(), q.routing.window), now)
            if not moved:
                return

    def _scan(self, q: QueueState, now: int) -> tuple[list[Job], bool]:
        """The queue's head as the dispatcher sees it, by the same head scan
        (router/routing/head.py): overflowing requests moved on, callbacks outside their window
        or the working hours held back and read past; the next timer set."""
        scan: HeadScan[Job] = HeadScan(q.routing, self.clock(now), now, self.hours)
        # one lazy pass: a page starting after what was read, less what moved out, is where
        # the dispatcher's next page starts too
        ahead, moved = q.waiting(), False
        while (page := scan.next_page()) is not None:
            seen = [Seen(job, job.kind.request, job.t) for job in islice(ahead, page.size)]
            moves = scan.read(seen)
            for move in moves:
                move.item.wait_from = move.wait_from_ms  # its age goes with it
                self._transfer(move.item, q, self.queue_index[move.target])
            scan.moved([True] * len(moves))
            moved |= bool(moves)
        head = scan.head()
        for kept in head.waiting:
            kept.item.wait_from = kept.wait_from_ms
        if head.changes:
            change = min(head.changes)
            self.timer(now + max(1, math.ceil(change * 1000 - 1e-6)))
        return [kept.item for kept in head.waiting], moved

    def _transfer(self, job: Job, source: QueueState, target: QueueState) -> None:
        source.live -= 1
        job.queue = target.i
        job.overflows += 1
        target.add(job)

    # -- what policies call ------------------------------------------------------------------------

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

    def take(self, job: Job, agent: SimAgent, now: int) -> None:
        """Hand `job` to `agent` (an offer, or an assignment), after checking every hard
        constraint; SimulationError on any breach."""
        kind = job.kind
        c = kind.channel
        q = self.queues[job.queue]
        steps = bisect.bisect_right(q.relax_ms, now - job.wait_from) if q.relax_ms else 0
        if job.state != WAITING:
            raise SimulationError(f"request {job.i} handed over while not waiting")
        if not agent.avail:
            raise SimulationError(f"agent {agent.id} given request {job.i} while not available")
        if agent.spare[c] <= 0:
            raise SimulationError(f"agent {agent.id} given request {job.i} with no room for it")
        found = self._eligible.get((kind.index, q.i, steps)) or self._static(job, q, steps)
        preferred = kind.request.preferred_agent
        if (
            agent.i not in found[1]
            or (job.excluded is not None and agent.i in job.excluded)
            or (
                preferred is not None
                and now - job.wait_from < q.preferred_ms
                and agent.id != preferred
            )
        ):
            raise SimulationError(f"agent {agent.id} is not eligible for request {job.i}")
        if agent.last_ms != now:
            self._accrue(agent, now)
        q.live -= 1
        agent.spare[c] -= 1
        agent.load += 1
        self.free[c] -= 1
        if not agent.spare[c]:
            self.open[c].discard(agent.i)
        agent.handled += 1
        agent.idle_since = now  # taking work restarts the idle clock
        job.agent, job.steps = agent.i, steps
        fit = self._fit.get((kind.index, agent.i))
        job.margin, job.met = fit if fit is not None else self._skill_fit(kind, agent)
        if q.offer and self.answers:
            self._offer(job, q, now)
        else:
            job.state, job.answered = ACTIVE, now
            self.seq += 1
            heapq.heappush(self.heap, (now + job.handle, self.seq, COMPLETE, job.i, 0))

    def _offer(self, job: Job, q: QueueState, now: int) -> None:
        offers = self.workload.offers
        self.offers += 1
        job.state = OFFERED
        job.offer += 1
        delay = offers.accept_after.sample(self.rnd) if offers.accept_after else 0.0
        after = round(delay * 1000)
        accepted = self.rnd.random() >= offers.reject
        if after >= q.timeout_ms:  # no answer before the deadline: a missed offer
            self.missed += 1
            after, accepted = q.timeout_ms, False
        elif not accepted:
            self.rejected += 1
        self.push(now + after, ANSWER, job.i, job.offer << 1 | accepted)

    def _skill_fit(self, kind: Kind, agent: SimAgent) -> tuple[float, bool]:
        key = (kind.index, agent.i)
        fit = self._fit.get(key)
        if fit is None:
            needs = kind.request.skills
            gaps = [agent.profile.skills.get(s.name, 0) - s.min_level for s in needs]
            fit = (float(np.mean(gaps)) if gaps else math.nan, all(g >= 0 for g in gaps))
            self._fit[key] = fit
        return fit


# Results -----------------------------------------------------------------------------------


class Result:
    """What a run produced: one row per request and per agent, and the figures from them."""

    def __init__(self, engine: Engine) -> None:
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
            "engine": self.engine,
        }
