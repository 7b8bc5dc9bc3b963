"""Keeping a customer's WebSocket up to date: which sockets watch which request and queue, what
an event of the daemon's stream wakes (its request's sockets at once, its queue's soon), the
frames that bring a socket up to date (queue position and wait, the agent who took it, agent and
system messages, closed), and the loop that pushes them until the conversation closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from frontdesk.channels.chat.conversations import Conversations, message_view
from frontdesk.channels.chat.protocol import ChatError
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.states import TERMINAL_STATES, State
from frontdesk.router.http.errors import STORAGE_RETRY_S

log = logging.getLogger("frontdesk.chat")

REFRESH_S = 5.0  # the wait estimate is recomputed at least this often while waiting
COALESCE_S = 0.25  # a burst of other requests' events costs one recomputation
_AGENT_EVENTS = frozenset({EventType.PRESENCE, EventType.AGENT_CREATED, EventType.AGENT_UPDATED})

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Watch:
    """What one socket has been told about its request, and what wakes it."""

    def __init__(self, request_id: str, seq: int) -> None:
        self.request_id = request_id
        self.queue = ""
        self.seq = seq  # messages up to this one (1-based) were sent or replayed
        self.standing: tuple[Any, Any] | None = None  # the last queue frame's position and wait
        self.agent: str | None = None  # the agent announced
        self.closed = False  # the conversation closed: told, and the socket closed
        self.stopped = False  # the socket went away: stop pushing
        self.wake = asyncio.Event()  # something that may concern it happened
        self.urgent = asyncio.Event()  # an event of its own request happened


def internal() -> ChatError:
    return ChatError("internal", "internal error; it has been logged")


class Watchers:
    """Every watching socket of one daemon's web chat, by request and by queue."""

    def __init__(self, chats: Conversations) -> None:
        self.chats = chats
        self._by_request: dict[str, set[Watch]] = {}
        self._by_queue: dict[str, set[Watch]] = {}

    def watch(self, watch: Watch) -> None:
        self._by_request.setdefault(watch.request_id, set()).add(watch)

    def unwatch(self, watch: Watch) -> None:
        for index, key in ((self._by_request, watch.request_id), (self._by_queue, watch.queue)):
            found = index.get(key)
            if found is not None:
                found.discard(watch)
                if not found:
                    del index[key]

    def _place(self, watch: Watch, queue: str) -> None:
        if watch.queue != queue:
            self.unwatch(watch)
            watch.queue = queue
            self._by_request.setdefault(watch.request_id, set()).add(watch)
            self._by_queue.setdefault(queue, set()).add(watch)

    def notify(self, event: Event) -> None:
        """Wake the sockets an event may concern: its request's at once, its queue's soon."""
        if event.type in _AGENT_EVENTS:
            for watches in self._by_queue.values():
                for w in watches:
                    w.wake.set()
            return
        for w in self._by_request.get(event.request, ()):
            w.urgent.set()
            w.wake.set()
        if event.type is not EventType.MESSAGE:
            for w in self._by_queue.get(event.queue, ()):
                w.wake.set()

    async def changes(self, watch: Watch) -> list[dict[str, Any]]:
        """The frames that bring a socket up to date with its request."""
        chats = self.chats
        record = await chats.store.get(watch.request_id)
        if record is None:
            watch.closed = True
            return [{"type": "closed", "state": None}]
        self._place(watch, record.request.queue)
        frames: list[dict[str, Any]] = []
        if record.state is State.WAITING:
            watch.agent = None  # back in a queue (transferred, escalated): announce the next one
            now = await chats.context.standing(record)
            seen = (now["position"], now["estimated_wait_s"])
            if now["position"] is not None and seen != watch.standing:
                watch.standing = seen
                frames.append({"type": "queue", **now})
        elif record.state is State.ASSIGNED and record.agent != watch.agent:
            watch.agent, watch.standing = record.agent, None
            frames.append({"type": "assigned", "agent": chats.agent_name(record.agent)})
        if record.messages > watch.seq:
            messages = await chats.store.messages(watch.request_id)
            for seq, message in enumerate(messages[watch.seq :], start=watch.seq + 1):
                if message.author == "agent":
                    frame = message_view(seq, message, "")
                    frames.append(
                        {"type": "message", **frame, "agent": chats.agent_name(record.agent)}
                    )
                elif message.author == "system":
                    frames.append({"type": "message", **message_view(seq, message, "")})
            watch.seq = max(watch.seq, len(messages))
        if record.state in TERMINAL_STATES:
            watch.closed = True
            frames.append({"type": "closed", "state": record.state.value})
        return frames

    async def push(self, watch: Watch, send: Send, ws: web.WebSocketResponse) -> None:
        """Keep one socket up to date until its conversation closes."""
        failing = False
        while not (watch.closed or watch.stopped):
            watch.wake.clear()
            watch.urgent.clear()
            try:
                for frame in await self.changes(watch):
                    await send(frame)
                failing = False
            except Exception as exc:  # told once per outage; the socket stays open
                if not failing:
                    if not isinstance(exc, RedisError):
                        log.exception("chat: updating a conversation failed")
                    redis_down = isinstance(exc, RedisError)
                    error = ChatError.unavailable() if redis_down else internal()
                    await send(error.frame())
                failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.wake.wait(), STORAGE_RETRY_S)
                continue
            if watch.closed:
                await ws.close(code=WSCloseCode.OK, message=b"conversation closed")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), REFRESH_S)
            if watch.wake.is_set() and not watch.urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.urgent.wait(), COALESCE_S)
