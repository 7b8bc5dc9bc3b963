"""The simulator's discrete-event engine: a heap of events in simulated milliseconds.

No asyncio, no Redis. Requests arrive (`model.draw`), are classified by the config's rules
(`rules.classify`, the daemon's code), wait in their queue in the daemon's order (priority band,
then first come), and are handed to agents by a routing policy (`policies`) in decision
rounds, run whenever the daemon would run one: an arrival, an agent freed (a completion, a
rejected or missed offer, the end of a wrap-up), an agent back on shift, a customer hanging up,
a relaxation step or a callback window falling due. Events at the same millisecond make one
round. A round takes the queues in config order, and in each the waiting head (`window`), after
moving requests that overflow and holding callbacks back, by the dispatcher's own head scan
(`router/routing/head.py`). The agents, their room and their time are the `Floor` (floor.py);
requests, agents and queues are in state.py, the figures of a run in result.py.

Offers in `mode: offer` queues are accepted at once, unless the workload's `offers` give a
delay (an answer later than the queue's `offer_timeout` is a missed offer) or a share of
rejections; a rejected or missed request waits again, its age kept, and that agent is never
offered it again. A customer's patience runs until an agent accepts.

Every hand-over is checked against the hard constraints (skills at level after relaxation, tier,
groups, exclusions, the preferred-agent period, presence, wrap-up, spare capacity) by code of
its own (`state.eligible`), and `SimulationError` stops the run at the first breach: no policy can
cheat. Times are whole milliseconds (the daemon's clock is Redis's, in ms too).
"""

from __future__ import annotations

import bisect
import gc
import heapq
import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Protocol

from frontdesk.queues.request import Request
from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.intake.rules import TimeIs, classify
from frontdesk.router.routing.callbacks import is_callback
from frontdesk.router.routing.head import HeadScan, Seen
from frontdesk.router.routing.window import CHANNEL_INDEX
from frontdesk.router.sim.floor import Floor
from frontdesk.router.sim.model import Arrivals, Replayed, Staff, Workload, staff_from_config
from frontdesk.router.sim.progress import Watch
from frontdesk.router.sim.result import Result
from frontdesk.router.sim.state import (
    ABANDONED,
    ACTIVE,
    DONE,
    OFFERED,
    WAITING,
    Job,
    Kind,
    QueueState,
    SimAgent,
    SimulationError,
)

NEVER = 1 << 62
# Heap entries are (time ms, sequence, kind, x, y); the sequence keeps equal times in order.
COMPLETE, ABANDON, ANSWER, TIMER, SHIFT_ON, SHIFT_OFF, WRAP_END = range(7)
EVENTS_PER_ARRIVAL = 64  # a run stops with SimulationError beyond this many events per arrival


class Policy(Protocol):
    """Hands a queue's waiting requests to agents, through `Engine.take`."""

    name: str

    def route(self, engine: Engine, queue: QueueState, jobs: Iterator[Job], now: int) -> None: ...


class Engine(Floor):
    """One run: a routing config, a workload's arrivals and staff, one policy."""

    def __init__(
        self, settings: Settings, workload: Workload, arrivals: Arrivals, policy: Policy,
        watch: Watch | None = None,  # told the simulated time and arrivals every 1% of them
    ) -> None:  # fmt: skip
        self.settings, self.workload, self.arrivals, self.policy = (
            settings, workload, arrivals, policy,
        )  # fmt: skip
        self.watch = watch
        staff = workload.staff
        self.staff: tuple[Staff, ...] = (
            staff_from_config(settings.agents) if staff is None else staff
        )
        warm_ms, end_ms = round(workload.warmup_s * 1000), round(workload.duration_s * 1000)
        super().__init__(self.staff, warm_ms, end_ms)
        self.queues = [QueueState(i, q) for i, q in enumerate(settings.queues.values())]
        self.queue_index = {q.name: q for q in self.queues}
        self.eager = any(q.timers for q in self.queues)  # some queue needs every round
        self.heap: list[tuple[int, int, int, int, int]] = []
        self.seq = 0
        self.jobs: list[Job] = []
        self.kinds: list[Kind] = []
        self._kind_cache: dict[tuple[int, int], Kind] = {}
        self._kinds_by_request: dict[tuple[Any, ...], Kind] = {}
        self._timers: set[int] = set()
        self.rnd = random.Random(workload.seed)  # offers: answer delays and rejections
        self.timed_rules = any(isinstance(c, TimeIs) for r in settings.rules for c in r.conditions)
        self.hours = settings.callback_hours
        self.callbacks = False  # any callback seen: rounds then look at every waiting head
        self.start_ms = round(workload.start.timestamp() * 1000)
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
        watch, every = self.watch, max(n // 100, 1)
        next_watch = every if watch else NEVER
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
            if i >= next_watch and watch:
                watch(t, stop, i, n)
                next_watch = i + every
        if watch:
            watch(stop, stop, n, n)
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
