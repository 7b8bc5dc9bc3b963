"""The dispatcher: runs decision rounds inside `frontdesk serve`.

A round expires overdue offers, reads the events appended since the last round (one XRANGE) to
bring its board of agents (board.py) and its rows of waiting requests (rows.py) up to date,
reading again only the agents and requests those events name; then for each queue it reads its
waiting head (the ids, one ZRANGE), applies the relaxation steps, moves requests that overflow,
runs the matcher and offers (or assigns) each chosen pair through the Lua scripts, in one
pipeline; the scripts refuse anything another daemon got to first or that the board had stale.
`split` says where the last round's time went (benchmarks/dispatch_round.py prints it).
Rounds run when an event says something changed (a new request, an agent freed or back, an
offer rejected or expired) and when a timer is due (the next offer deadline, the next
relaxation step); with nothing to do the dispatcher sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from redis.exceptions import RedisError

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import QueueError
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.states import State
from frontdesk.queues.store import HandOver, QueueStore, RequestRecord
from frontdesk.router.routing.board import Board
from frontdesk.router.routing.config import QueueSettings, RoutingSettings
from frontdesk.router.routing.eta import Throughput
from frontdesk.router.routing.head import HeadScan
from frontdesk.router.routing.matcher import match
from frontdesk.router.routing.rows import Rows, Tail
from frontdesk.router.routing.window import Waiting, build
from frontdesk.skills import Agent, Presence

log = logging.getLogger("frontdesk.dispatch")

WAKE_ON = frozenset(
    {
        EventType.ENQUEUED,
        EventType.REJECTED,
        EventType.EXPIRED,
        EventType.COMPLETED,
        EventType.ABANDONED,
        EventType.TRANSFERRED,
        EventType.ESCALATED,
        EventType.REQUEUED,
        EventType.REOPENED,  # a completed request waiting again
        EventType.RECLASSIFIED,  # a waiting request's skills or priority corrected
        EventType.CALL_ATTEMPTED,  # a missed callback waiting again (held to its retry time)
        EventType.PRESENCE,
        EventType.AGENT_CREATED,
        EventType.AGENT_UPDATED,
        EventType.SLA_WARNING,  # may have raised a waiting request's priority
        EventType.SLA_BREACHED,
    }
)
MAX_SLEEP_S = 1.0  # a safety net only: rounds are driven by events and timers
MIN_SLEEP_S = 0.005
PROFILE_EVENTS = frozenset({EventType.AGENT_CREATED.value, EventType.AGENT_UPDATED.value})


@dataclass(slots=True)
class Split:
    """Where one round's time went, in milliseconds: reading Redis, building the matcher's
    arrays, matching, handing over (the offer and assign scripts)."""

    reads_ms: float = 0.0
    build_ms: float = 0.0
    match_ms: float = 0.0
    hand_over_ms: float = 0.0
    total_ms: float = 0.0
    offers: int = 0


class Dispatcher:
    """Matches waiting requests to available agents, round after round."""

    def __init__(
        self, store: QueueStore, agents: AgentStore, settings: Callable[[], RoutingSettings]
    ) -> None:
        self.store = store
        self.agents = agents
        self.settings = settings
        self.throughput = Throughput()
        self.rounds = 0
        self._wake = asyncio.Event()
        self.board = Board(agents)  # the agents' live state, kept from the stream
        self.rows = Rows(store)  # the waiting requests' fields, kept from the stream
        self.tail = Tail(store.redis, store.keys.events)
        self.split = Split()  # the last round's

    def notify(self, event: Event) -> None:
        """Called for every event on the stream; wakes a round when the event can change one.
        What the event changed is applied by the round itself, from the stream's tail
        (`_catch_up`): once, in order, and safe against a gap."""
        self.throughput.observe(event)
        if event.type in WAKE_ON:
            self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._wake.clear()
            try:
                next_in = await self.round()
            except (RedisError, OSError) as exc:
                log.warning("dispatch round failed, Redis unavailable: %s", exc)
                next_in = MAX_SLEEP_S
            sleep = MAX_SLEEP_S if next_in is None else max(MIN_SLEEP_S, min(next_in, MAX_SLEEP_S))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)

    async def round(self) -> float | None:
        """One decision round over every queue; returns seconds until a timer is next due."""
        self.rounds += 1
        self.split = split = Split()
        began = time.perf_counter()
        await self.store.expire_overdue()
        now_ms = await self.store.now_ms()
        settings = self.settings()
        await self._catch_up()
        live = await self.board.refresh()
        present = [a for a in live if a.presence is Presence.AVAILABLE]
        available = [a for a in present if a.wrap_until_ms <= now_ms]
        spare = {a.id: {ch: a.spare(ch) for ch in a.capacity} for a in available}
        due = [(a.wrap_until_ms - now_ms) / 1000 for a in present if a.wrap_until_ms > now_ms]
        split.reads_ms += (time.perf_counter() - began) * 1000
        for queue in settings.queues.values():
            change = await self._queue_round(queue, available, spare, now_ms)
            if change is not None:
                due.append(change)
        deadline = await self.store.next_deadline_ms()  # offers made in this round included
        if deadline is not None:
            due.append((deadline - now_ms) / 1000)
        split.total_ms = (time.perf_counter() - began) * 1000
        return min(due) if due else None

    def _changed(self, etype: str, request_id: str, agent_id: str) -> None:
        """An event: the request's row is read again when next seen, the agent's state too."""
        if request_id:
            self.rows.drop(request_id)
        if agent_id:
            if etype in PROFILE_EVENTS:
                self.board.profile_changed(agent_id)
            else:
                self.board.touch(agent_id)

    async def _catch_up(self) -> None:
        """The events since the last round applied to the board and the rows (one read of the
        stream's tail); on a gap in it everything is read again."""
        changes = await self.tail.read()
        if changes is None:
            await self.tail.start()  # before reading what it follows: nothing falls between
            self.board.reset()
            self.rows.reset()
            return
        for c in changes:
            self._changed(c.type, c.request, c.agent)

    async def _waiting(
        self, queue: QueueSettings, now_ms: int
    ) -> tuple[list[Waiting], list[float]]:
        """The queue's head as the matcher will see it: up to `window` requests that may be
        routed now, by the head scan (router/routing/head.py, the simulator's too): overflowing
        requests are moved on, phone callbacks outside their window or the working hours held
        back (their wait counts from when they became eligible), and read past, a window at a
        time, up to HELD_PAGES windows."""
        now = datetime.fromtimestamp(now_ms / 1000, UTC)
        scan: HeadScan[tuple[RequestRecord, frozenset[str]]]
        scan = HeadScan(queue.routing, now, now_ms, self.settings().callback_hours)
        while (page := scan.next_page()) is not None:
            ids, scores = await self.store.peek_scored(queue.name, page.size, start=page.start)
            rows = await self.rows.read(queue.name, ids, scores)
            seen = [r.seen for r in rows if r is not None and r.record.state is State.WAITING]
            moves = scan.read(seen, len(ids))
            scan.moved([await self._overflow(m.item[0], m.target, m.wait_s) for m in moves])
        head = scan.head()
        waiting = [Waiting(k.item[0], k.item[1], k.wait_s) for k in head.waiting]
        return waiting, head.changes

    async def _overflow(self, record: RequestRecord, target: str, wait_s: float) -> bool:
        try:
            await self.store.transfer(record.request.id, target, f"overflow after {wait_s:.0f}s")
        except QueueError:
            return False  # moved or taken meanwhile; the next round sees where it is
        return True

    async def _queue_round(
        self, queue: QueueSettings, available: list[Agent],
        spare: dict[str, dict[str, int]], now_ms: int,
    ) -> float | None:  # fmt: skip
        candidates = [a for a in available if any(spare[a.id].values())]
        if not candidates and not any(step.overflow_to for step in queue.routing.relax):
            return None  # nobody to offer to, nothing to move on: an agent's return wakes us
        t0 = time.perf_counter()
        waiting, changes = await self._waiting(queue, now_ms)
        t1 = time.perf_counter()
        self.split.reads_ms += (t1 - t0) * 1000
        if waiting and candidates:
            built = build(queue, waiting, candidates, spare, now_ms)
            routing = queue.routing
            t2 = time.perf_counter()
            decision = match(built.window, built.pool, routing.weights, routing.assignment)
            t3 = time.perf_counter()
            self.split.build_ms += (t2 - t1) * 1000
            self.split.match_ms += (t3 - t2) * 1000
            moves: list[tuple[Waiting, Agent, HandOver]] = []
            for k in range(len(decision)):
                w = waiting[int(decision.requests[k])]
                agent = candidates[int(decision.agents[k])]
                why = {
                    "queue": queue.name,
                    "assignment": queue.routing.assignment,
                    "waited_s": round(w.wait_s, 3),
                    "score": decision.explain(k),
                    "weights": asdict(queue.routing.weights),
                    "relaxation": [s.describe() for s in built.steps[int(decision.requests[k])]],
                    "window": {"waiting": len(waiting), "agents": len(candidates)},
                }
                timeout = None if queue.mode == "assign" else queue.offer_timeout_s
                moves.append(
                    (w, agent, HandOver(w.record.request.id, agent.id, queue.name, why, timeout))
                )
            # one round trip for the whole decision: under load every await waits its turn in
            # the event loop behind hundreds of sockets, so offers made one by one fall behind
            refused = await self.store.hand_over([m for _, _, m in moves])
            self.split.hand_over_ms += (time.perf_counter() - t3) * 1000
            self.split.offers += refused.count(None)
            verb = "assigned to" if queue.mode == "assign" else "offered to"
            for k, ((w, agent, move), error) in enumerate(zip(moves, refused, strict=True)):
                if error is None:
                    spare[agent.id][w.record.request.channel.value] -= 1
                    log.info("%s %s %s in %s (score %.2f, waited %.1fs)", move.request_id, verb,
                             agent.id, queue.name, decision.score[k], w.wait_s)  # fmt: skip
                else:  # another daemon got there first, or what this one knew was stale
                    log.debug("not handed over: %s", error)
                    self.rows.drop(w.record.request.id)
                    self.board.touch(agent.id)
        return min(changes) if changes else None
