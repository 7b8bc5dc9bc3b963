"""Queue position and estimated wait, from recent throughput and the agents free now."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Any

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.skills import Agent, Presence

HORIZON_S = 900.0  # throughput is measured over the last 15 minutes
MIN_SPAN_S = 60.0  # ... or over at least this long, so that one early answer is no rate
SERVED = frozenset({EventType.ACCEPTED, EventType.ASSIGNED})
AGENT_EVENTS = frozenset({EventType.PRESENCE, EventType.AGENT_CREATED, EventType.AGENT_UPDATED})
Fit = tuple[str, tuple[tuple[str, int], ...]]  # a channel, and the skills required (name, level)
BOARD_EVERY_S = 0.25  # a queue's board is read at most this often, however many sockets ask
BOARD_MAX_AGE_S = 2.0  # ... and again after this long without a change (the rate moves on)
ASKED_KEPT_S = 30.0  # a request nobody asked about this long leaves its queue's board


class Throughput:
    """How fast each queue's requests reach an agent, learned from the event stream."""

    def __init__(self, horizon_s: float = HORIZON_S) -> None:
        self.horizon_ms = int(horizon_s * 1000)
        self._served: dict[str, deque[int]] = {}
        self._first_ms: int | None = None

    def observe(self, event: Event) -> None:
        if self._first_ms is None:
            self._first_ms = event.ts_ms
        if event.type in SERVED and event.queue:
            self._served.setdefault(event.queue, deque()).append(event.ts_ms)

    def rate(self, queue: str, now_ms: int) -> float:
        """Requests of `queue` served per second over the recent horizon."""
        served = self._served.get(queue)
        if not served or self._first_ms is None:
            return 0.0
        while served and served[0] < now_ms - self.horizon_ms:
            served.popleft()
        span_ms = min(self.horizon_ms, max(now_ms - self._first_ms, int(MIN_SPAN_S * 1000)))
        return len(served) / (span_ms / 1000)


def estimate_wait_s(position: int, rate_per_s: float, free_agents: int) -> float | None:
    """Seconds until the request at `position` (1-based) is likely served: none when agents are
    free for it now, position / throughput otherwise, None when there is nothing to go on."""
    if position <= free_agents:
        return 0.0
    if rate_per_s <= 0:
        return None
    return (position - free_agents) / rate_per_s


class Board:
    """One queue's positions, read for every request asked about since the queue last changed:
    one pipelined read of their ranks, the clock and the agents, shared by every socket that
    shows a position in the queue."""

    __slots__ = ("agents", "asked", "changes", "free", "now_ms", "ranks", "read_at", "reading")

    def __init__(self) -> None:
        self.asked: dict[str, float] = {}  # request id -> when a socket last asked (monotonic)
        self.ranks: dict[str, int | None] = {}  # as read, for the ids asked before the read
        self.changes = -1  # the queue's change count the read saw
        self.read_at = -BOARD_MAX_AGE_S  # monotonic
        self.now_ms = 0
        self.agents: list[Agent] = []
        self.free: dict[Fit, int] = {}  # (channel, skills) -> spare capacity of free agents
        self.reading: asyncio.Future[None] | None = None


class Standing:
    """Where a waiting request stands: its position in its queue and the estimated wait, from
    the agents free for it now (in the queue's groups) and the queue's recent throughput.
    Called with `shared=True` (pushes to many sockets), from the queue's `Board`: read once per
    change of the queue (`heard` counts them), at most every BOARD_EVERY_S, for all askers."""

    def __init__(
        self,
        store: QueueStore,
        agents: AgentStore,
        throughput: Throughput,
        groups: Callable[[str], Collection[str]],
    ) -> None:
        self.store = store
        self.agents = agents
        self.throughput = throughput
        self.groups = groups  # a queue's agent groups, as the config has them now
        self.boards: dict[str, Board] = {}
        self._changes: dict[str, int] = {}  # queue -> events heard that may move its positions
        self._agent_changes = 0  # agent events heard (free capacity may have changed)
        self.board_reads = 0  # boards read (one pipelined round trip each)

    def heard(self, event: Event) -> None:
        """Note an event of the stream: its queue's board (and an escalated request's former
        queue's) is out of date; after an agent event, every board's free capacity is."""
        if event.type in AGENT_EVENTS:
            self._agent_changes += 1
        elif event.queue and event.type is not EventType.MESSAGE:
            self._changes[event.queue] = self._changes.get(event.queue, 0) + 1
            if event.type is EventType.ESCALATED and (former := event.data.get("from")):
                self._changes[former] = self._changes.get(former, 0) + 1

    async def __call__(self, record: RequestRecord, *, shared: bool = False) -> dict[str, Any]:
        """`position` and `estimated_wait_s` (both None unless the request is waiting)."""
        if record.state is not State.WAITING:
            return {"position": None, "estimated_wait_s": None}
        queue = record.request.queue
        required = record.request.skills
        needs = tuple(sorted((s.name, s.min_level) for s in required if not s.optional))
        fit: Fit = (record.request.channel.value, needs)
        if shared:
            return await self._shared(record.request.id, queue, fit)
        position = await self.store.position(record.request.id, queue)
        if position is None:
            return {"position": None, "estimated_wait_s": None}
        agents = await self.agents.recent()
        return self._view(queue, position, self._free(queue, fit, agents),
                          await self.store.now_ms())  # fmt: skip

    async def _shared(self, request_id: str, queue: str, fit: Fit) -> dict[str, Any]:
        board = self.boards.get(queue)
        if board is None:
            board = self.boards[queue] = Board()
        board.asked[request_id] = time.monotonic()
        if request_id not in board.ranks or self._stale(queue, board):
            needed = self._changes.get(queue, 0) + self._agent_changes
            for _ in range(3):  # a read already under way may not have it: the next one has
                if board.reading is None:
                    board.reading = asyncio.ensure_future(self._read(queue, board))
                await asyncio.shield(board.reading)
                if request_id in board.ranks and board.changes >= needed:
                    break
        position = board.ranks.get(request_id)
        if position is None:
            return {"position": None, "estimated_wait_s": None}
        free = board.free.get(fit)
        if free is None:
            free = board.free[fit] = self._free(queue, fit, board.agents)
        return self._view(queue, position, free, board.now_ms)

    def _stale(self, queue: str, board: Board) -> bool:
        return (
            board.changes != self._changes.get(queue, 0) + self._agent_changes
            or time.monotonic() - board.read_at > BOARD_MAX_AGE_S
        )

    async def _read(self, queue: str, board: Board) -> None:
        try:
            wait = board.read_at + BOARD_EVERY_S - time.monotonic()
            await asyncio.sleep(max(wait, 0))  # at least one tick: the same wake-up joins
            now = time.monotonic()
            board.asked = {r: t for r, t in board.asked.items() if now - t < ASKED_KEPT_S}
            ids = list(board.asked)
            changes = self._changes.get(queue, 0) + self._agent_changes
            positions, agents, now_ms = await asyncio.gather(
                self.store.positions(queue, ids), self.agents.recent(), self.store.now_ms()
            )
            self.board_reads += 1
            board.ranks = dict(zip(ids, positions, strict=True))
            board.changes, board.read_at = changes, now
            board.agents, board.now_ms, board.free = agents, now_ms, {}
            for request_id, position in board.ranks.items():
                if position is None:  # no longer waiting here: no more reads for it
                    board.asked.pop(request_id, None)
        finally:
            board.reading = None

    def _free(self, queue: str, fit: Fit, agents: list[Agent]) -> int:
        """Spare capacity on the request's channel of the available agents in the queue's
        groups who have every skill it requires: an agent who cannot take it is no free
        place for it (relaxation may widen this later; the estimate does not count on it)."""
        channel, needs = fit
        groups = set(self.groups(queue))
        return sum(
            a.spare(channel)
            for a in agents
            if a.presence is Presence.AVAILABLE
            and (not groups or groups & set(a.groups))
            and all(a.skills.get(name, 0) >= level for name, level in needs)
        )

    def _view(self, queue: str, position: int, free: int, now_ms: int) -> dict[str, Any]:
        wait = estimate_wait_s(position, self.throughput.rate(queue, now_ms), free)
        return {
            "position": position,
            "estimated_wait_s": None if wait is None else round(wait, 1),
        }
