"""Queue position and estimated wait, from recent throughput and the agents free now."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from typing import Any

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.skills import Presence

HORIZON_S = 900.0  # throughput is measured over the last 15 minutes
MIN_SPAN_S = 60.0  # ... or over at least this long, so that one early answer is no rate
SERVED = frozenset({EventType.ACCEPTED, EventType.ASSIGNED})


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


class Standing:
    """Where a waiting request stands: its position in its queue and the estimated wait, from
    the agents free for it now (in the queue's groups) and the queue's recent throughput."""

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

    async def __call__(self, record: RequestRecord) -> dict[str, Any]:
        """`position` and `estimated_wait_s` (both None unless the request is waiting)."""
        if record.state is not State.WAITING:
            return {"position": None, "estimated_wait_s": None}
        queue = record.request.queue
        position = await self.store.position(record.request.id, queue)
        if position is None:
            return {"position": None, "estimated_wait_s": None}
        groups = set(self.groups(queue))
        channel = record.request.channel.value
        free = sum(
            a.spare(channel)
            for a in await self.agents.recent()
            if a.presence is Presence.AVAILABLE and (not groups or groups & set(a.groups))
        )
        rate = self.throughput.rate(queue, await self.store.now_ms())
        wait = estimate_wait_s(position, rate, free)
        return {
            "position": position,
            "estimated_wait_s": None if wait is None else round(wait, 1),
        }
