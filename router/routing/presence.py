"""A vanished agent lets go: every daemon notes the agents it hears (an open agent WebSocket, an
API call with the agent's token) in Redis, one call per tick for all of them, and sweeps for
agents no daemon has heard for a while.

- Not heard for `presence.grace`: an available agent (in wrap-up or not) is set away with the
  reason "connection lost", and its pending offers go back to waiting at once.
- Neither heard nor given work for its queue's `orphaned_after`: assigned work is requeued (back
  to waiting, ahead by its original arrival) or flagged to supervisors, per `orphaned`.

Only agents heard at least once are watched: an agent set available by the config or by a
supervisor, that never opened a socket nor called the API, is left as it is (tests, benchmarks
and desks whose agents work in a helpdesk). Every change is one Lua script that reads last-heard
again, so the sweepers of several daemons and a reconnect race safely: one change, one event.
Liveness lives in Redis only; what this class keeps in memory (open sockets, when to look at a
gone agent again) is lost harmlessly with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from frontdesk.queues.liveness import Liveness, Orphan
from frontdesk.router.routing.config import QueueSettings

log = logging.getLogger("frontdesk.presence")

REASON = "connection lost"
MAX_TICK_S = 5.0  # a socket's agent is renewed at least this often
MIN_TICK_S = 0.05
LOOK_AGAIN_MS = 30_000  # a gone agent with nothing due is looked at again after this, at most
PRUNE_EVERY_MS = 60_000  # the supervisors' list of flagged work is tidied this often
CANDIDATES = 1000  # gone agents looked at per tick, at most


class PresenceSettings(Protocol):
    """What the sweeper reads of the daemon's settings (the daemon's `Settings` has them), through
    a callable on every tick, so that a reload applies at once."""

    @property
    def presence_grace_s(self) -> float: ...
    @property
    def queues(self) -> Mapping[str, QueueSettings]: ...


class PresenceWatch:
    """One daemon's part: heartbeat of its sockets and API callers, and the sweeper."""

    def __init__(
        self, settings: Callable[[], PresenceSettings], registry: CollectorRegistry
    ) -> None:
        self.settings = settings
        self.liveness: Liveness | None = None  # set when the task starts
        self._sockets: Counter[str] = Counter()  # agent -> open sockets on this daemon
        self._called: set[str] = set()  # agents heard by an API call since the last tick
        self._looks: dict[str, tuple[int, int]] = {}  # agent -> (last heard, look again at ms)
        self._pruned_ms = 0
        self.lost = PromCounter(
            "frontdesk_agents_lost_total",
            'Agents set away with the reason "connection lost" (not heard for presence.grace)',
            registry=registry,
        )
        self.released = PromCounter(
            "frontdesk_offers_released_total",
            "Offers taken back from agents not heard for presence.grace",
            registry=registry,
        )
        self.orphaned = PromCounter(
            "frontdesk_orphaned_requests_total",
            "Assigned requests of agents gone past their queue's orphaned_after, by action",
            ["action"],
            registry=registry,
        )

    # -- what this daemon hears ------------------------------------------------------------------
    def connected(self, agent_id: str) -> None:
        """An agent WebSocket opened here."""
        self._sockets[agent_id] += 1

    def disconnected(self, agent_id: str) -> None:
        """An agent WebSocket closed here (the agent has the grace to come back, anywhere)."""
        self._called.add(agent_id)  # heard until this moment
        self._sockets[agent_id] -= 1
        if self._sockets[agent_id] <= 0:
            del self._sockets[agent_id]

    def heard(self, agent_id: str) -> None:
        """An API call with the agent's token: noted at the next tick (no Redis call here)."""
        self._called.add(agent_id)

    # -- the task --------------------------------------------------------------------------------
    def runner(self, liveness: Liveness, stopping: asyncio.Event) -> Callable[[], Awaitable[None]]:
        """The daemon's background step (restarted with back-off while Redis is down)."""
        self.liveness = liveness

        async def run() -> None:
            while not stopping.is_set():
                await self.tick(liveness)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.interval_s())

        return run

    def _thresholds_ms(self) -> tuple[int, dict[str, tuple[int, str]]]:
        """The grace (0: off) and each queue's orphaned_after (those not off) and action."""
        s = self.settings()
        queues = {
            q.name: (int(q.orphaned_after_s * 1000), q.orphaned)
            for q in s.queues.values()
            if q.orphaned_after_s > 0
        }
        return int(s.presence_grace_s * 1000), queues

    def _shortest_ms(self) -> int:
        """The shortest of the grace and the queues' orphaned_after (0: all off)."""
        grace, queues = self._thresholds_ms()
        return min([ms for ms in (grace, *(a for a, _ in queues.values())) if ms > 0] or [0])

    def interval_s(self) -> float:
        shortest = self._shortest_ms()
        if not shortest:
            return MAX_TICK_S
        return max(MIN_TICK_S, min(MAX_TICK_S, shortest / 4000))

    async def tick(self, liveness: Liveness) -> None:
        """One heartbeat for every agent heard here, then one sweep."""
        called, self._called = self._called, set()
        try:
            now = await liveness.hear(set(self._sockets) | called)
        except BaseException:
            self._called |= called  # heard all the same: noted at the next tick
            raise
        grace, queues = self._thresholds_ms()
        shortest = self._shortest_ms()
        if not shortest:
            return
        gone = await liveness.unheard(now - shortest, CANDIDATES)
        looks = {}
        for agent, heard_ms in gone:
            if agent in self._sockets:
                continue  # open here: heard in this very tick
            look = self._looks.get(agent)
            if look is not None and look[0] == heard_ms and look[1] > now:
                looks[agent] = look
                continue
            again = await self._let_go(liveness, agent, heard_ms, now, grace, queues)
            if again is not None:
                looks[agent] = (heard_ms, again)
        self._looks = looks
        if now - self._pruned_ms >= PRUNE_EVERY_MS:
            self._pruned_ms = now
            await liveness.prune_orphans()

    async def _let_go(
        self, liveness: Liveness, agent: str, heard_ms: int, now: int, grace: int,
        queues: dict[str, tuple[int, str]],
    ) -> int | None:  # fmt: skip
        """Everything due for one gone agent; returns when to look at it again (None: at the
        next tick, as it was heard meanwhile)."""
        again = now + LOOK_AGAIN_MS
        if grace and now - heard_ms >= grace:
            outcome = await liveness.vanish(agent, grace, REASON)
            if outcome < 0:
                return None  # heard again (or the grace counts from a later return), or unknown
            if outcome == 1:
                self.lost.inc()
                log.info("agent %s not heard for %.1fs: set away (%s)", agent, grace / 1000, REASON)
        elif grace:
            again = min(again, heard_ms + grace)
        held, taken_ms = await liveness.held(agent)
        for h in held:
            if h.state == "offered" and grace and now - heard_ms >= grace:
                if await liveness.release_offer(h.request_id, agent, h.queue, grace, REASON):
                    self.released.inc()
                    log.info(
                        "offer of %s taken back from agent %s (%s)", h.request_id, agent, REASON
                    )
            elif h.state == "assigned" and h.queue in queues:
                after, action = queues[h.queue]
                since = max(heard_ms, taken_ms)
                if now - since < after:
                    again = min(again, since + after)
                    continue
                outcome = await liveness.orphan(h.request_id, agent, h.queue, after, action)
                if outcome in (1, 2):
                    done = "requeued" if outcome == 1 else "flagged"
                    self.orphaned.labels(done).inc()
                    log.info("request %s of agent %s gone for %.0fs: %s", h.request_id, agent,
                             (now - since) / 1000, done)  # fmt: skip
                elif outcome < 0:
                    return None  # heard or given work meanwhile: look again at the next tick
        return again

    async def orphans(self) -> list[Orphan]:
        """Work flagged to supervisors whose agent is still gone."""
        return await self.liveness.orphans() if self.liveness is not None else []
