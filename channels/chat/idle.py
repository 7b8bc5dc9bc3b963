"""The chat idle timeout, across daemons: a conversation is abandoned once no daemon has heard
from its customer (a message, or a socket open) for `channels.chat.idle_timeout`.

Each daemon counts the sockets it holds and when it last heard each customer; every sweep
(a quarter of the idle time) it tells Redis which conversations it heard from and asks which of
those gone quiet here have been heard by no daemon either (queues/conversations.py). So a
customer who reconnects to another daemon behind the load balancer keeps the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from frontdesk.queues.conversations import HeardConversations
from frontdesk.queues.errors import QueueError
from frontdesk.queues.store import QueueStore

log = logging.getLogger("frontdesk.chat")
FORGET_AFTER = 10  # idle times: a conversation heard elsewhere for this long is that daemon's


@dataclass(slots=True)
class _Heard:
    """When a conversation's customer was last heard from here, and their open sockets here."""

    request_id: str
    last: float
    sockets: int = 0


class IdleConversations:
    """Abandons chat conversations that no daemon has heard from for `idle_s`."""

    def __init__(self, store: QueueStore, idle_s: float) -> None:
        self.store = store
        self.shared = HeardConversations(store.redis, store.keys, store.scripts)
        self.idle_s = idle_s
        self._heard: dict[str, _Heard] = {}
        self._last_sweep = 0.0

    def touch(self, conversation: str, request_id: str, sockets: int = 0) -> None:
        """The customer of `conversation` was just heard from (a socket opened or closed here:
        `sockets` +1 or -1)."""
        now = asyncio.get_running_loop().time()
        found = self._heard.setdefault(conversation, _Heard(request_id, now))
        found.request_id, found.last = request_id, now
        found.sockets = max(0, found.sockets + sockets)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep every quarter of the idle time (from 0.25 s to 30 s) until `stopping`."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), min(max(self.idle_s / 4, 0.25), 30.0))
            try:
                await self.sweep()
            except RedisError as exc:
                log.warning("chat idle sweep: Redis unavailable (%s); trying again", exc)

    async def sweep(self) -> list[str]:
        """One pass; returns the requests abandoned."""
        now = asyncio.get_running_loop().time()
        since, self._last_sweep = self._last_sweep, now
        heard = [c for c, h in self._heard.items() if h.sockets > 0 or h.last > since]
        quiet = [
            c for c, h in self._heard.items() if h.sockets == 0 and now - h.last >= self.idle_s
        ]
        if not heard and not quiet:
            return []
        idle = await self.shared.sweep(int(self.idle_s * 1000), heard, quiet)
        abandoned: list[str] = []
        for conversation in quiet:
            found = self._heard[conversation]
            if conversation not in idle:  # heard by another daemon: drop it once it is theirs
                if now - found.last >= FORGET_AFTER * self.idle_s:
                    del self._heard[conversation]
                continue
            try:
                await self.store.abandon(found.request_id, f"chat idle for {self.idle_s:g}s")
                log.info("chat %s idle: request %s abandoned", conversation, found.request_id)
                abandoned.append(found.request_id)
            except QueueError:
                pass  # closed already
            del self._heard[conversation]
            await self.shared.forget(conversation)
        return abandoned
