"""Keeping a customer's WebSocket up to date: which sockets watch which request and queue (each
subscribed to the daemon's event fan-out by its request and by its queue), what an event wakes
(its request's sockets at once, its queue's soon), the frames that bring a socket up to date
(queue position and wait, the agent who took it, agent and system messages, closed), and the
loop that pushes them until the conversation closes. A wake by another request's event reads
nothing of its own: its position comes from the queue's board, read once for every socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from frontdesk.channels.chat.conversations import Conversations, message_view
from frontdesk.channels.chat.protocol import ChatError
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.notices import NoticeLog, closing_tag
from frontdesk.queues.states import TERMINAL_STATES, State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.http.errors import STORAGE_RETRY_S

log = logging.getLogger("frontdesk.chat")

REFRESH_S = 5.0  # the wait estimate is recomputed at least this often while waiting
FULL_READ_S = 30.0  # a waiting socket rereads its own request at least this often
COALESCE_S = 0.25  # a burst of other requests' events costs one recomputation
SURVEY_WAIT_S = 300.0  # a completed chat's socket waits this long for the rating
CLOSE_HOLD_S = 15.0  # a closed chat's socket waits this long for its closing notice
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
        self.asked: tuple[str, ...] | None = None  # the survey it was asked (a completed chat)
        self.rated = asyncio.Event()  # the customer answered it (or it cannot be answered)
        self.stopped = False  # the socket went away: stop pushing
        self.wake = asyncio.Event()  # something that may concern it happened
        self.urgent = asyncio.Event()  # an event of its own request happened
        self.record: RequestRecord | None = None  # its request as last read
        self.read_at = 0.0  # when (monotonic)
        self.stops: list[Callable[[], None]] = []  # its subscriptions: request, then queue
        self.hold_until: float | None = None  # closed: waiting for its notice until then
        self.shown: str | None = None  # the closing notice shown (its tag)

    @property
    def waiting(self) -> bool:
        """Its request was waiting in a queue when last read (nothing of its own heard since)."""
        return self.record is not None and self.record.state is State.WAITING

    def heard(self, event: Event) -> None:
        """An event of its request (urgent) or of its queue (soon, unless a message)."""
        if event.request == self.request_id:
            self.urgent.set()
            self.wake.set()
        elif event.type is not EventType.MESSAGE:
            self.wake.set()


def internal() -> ChatError:
    return ChatError("internal", "internal error; it has been logged")


class Watchers:
    """Every watching socket of one daemon's web chat, subscribed by request and by queue."""

    def __init__(self, chats: Conversations) -> None:
        self.chats = chats
        self._placed: set[Watch] = set()  # subscribed by queue too

    def watch(self, watch: Watch) -> None:
        watch.stops = [self.chats.context.subscribe(watch.heard, request=watch.request_id)]

    def unwatch(self, watch: Watch) -> None:
        for stop in watch.stops:
            stop()
        watch.stops = []
        self._placed.discard(watch)

    def _place(self, watch: Watch, queue: str) -> None:
        if watch.queue != queue and watch.stops:
            for stop in watch.stops[1:]:
                stop()
            watch.queue = queue
            subscribe = self.chats.context.subscribe
            watch.stops[1:] = [subscribe(watch.heard, queue=queue)]
            self._placed.add(watch)

    def notify(self, event: Event) -> None:
        """An agent event (presence, an agent added or changed) may change every waiting
        socket's wait estimate; its request's and its queue's events reach a socket directly."""
        if event.type in _AGENT_EVENTS:
            for w in self._placed:
                if w.waiting:
                    w.wake.set()

    async def changes(self, watch: Watch, full: bool = True) -> list[dict[str, Any]]:
        """The frames that bring a socket up to date with its request; not `full` (woken by
        another request's event or the timer while waiting): its standing only, no reads."""
        chats = self.chats
        record = watch.record if not full and watch.waiting else None
        if record is None:
            record = await chats.store.get(watch.request_id)
            watch.record, watch.read_at = record, time.monotonic()
        if record is None:
            watch.closed = True
            return [{"type": "closed", "state": None}]
        self._place(watch, record.request.queue)
        frames: list[dict[str, Any]] = []
        if record.state is State.WAITING:
            watch.agent = None  # back in a queue (transferred, escalated): announce the next one
            now = await chats.context.standing(record, shared=True)
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
                    await self._shown(watch, record, message.external_id)
            watch.seq = max(watch.seq, len(messages))
        if record.state in TERMINAL_STATES and await self._holding(watch, record):
            return frames  # its closing notice first: woken by its message event
        if record.state in TERMINAL_STATES:
            rating = chats.context.rating
            asked = rating.dimensions_for(record) if rating is not None else None
            if asked is not None and watch.asked is None and not watch.rated.is_set():
                watch.asked = asked  # rated before it closes (push waits for the answer)
                frames.append({"type": "survey", "dimensions": list(asked), "scale": [1, 5]})
            else:
                watch.closed = True
                frames.append({"type": "closed", "state": record.state.value})
        return frames

    async def _shown(self, watch: Watch, record: RequestRecord, external_id: str | None) -> None:
        """A system message went to the socket: when it is the closing notice, say so (the
        notice sink then sends no email copy)."""
        tag = closing_tag(record)
        if record.state in TERMINAL_STATES and external_id == f"notice:{tag}":
            watch.shown = tag
            await NoticeLog.of(self.chats.store).mark_shown(record.request.id, tag)

    async def _holding(self, watch: Watch, record: RequestRecord) -> bool:
        """A closed chat whose notice is on its way (notices configured for it) and not shown
        yet: hold the `closed` frame (and the survey) for it, at most CLOSE_HOLD_S."""
        tag = closing_tag(record)
        if watch.shown == tag or not self.chats.context.notice_on_close(record):
            return False
        now = time.monotonic()
        watch.hold_until = watch.hold_until or now + CLOSE_HOLD_S
        if now >= watch.hold_until:
            return False
        messages = await self.chats.store.messages(watch.request_id)  # shown on a resume?
        if any(m.external_id == f"notice:{tag}" for m in messages):
            watch.shown = tag
            return False
        return True

    async def push(self, watch: Watch, send: Send, ws: web.WebSocketResponse) -> None:
        """Keep one socket up to date until its conversation closes."""
        failing = False
        full = True  # the first time, after its own request's event, after a failure
        while not (watch.closed or watch.stopped):
            full = full or watch.urgent.is_set()
            full = full or time.monotonic() - watch.read_at > FULL_READ_S
            watch.wake.clear()
            watch.urgent.clear()
            try:
                frames = await self.changes(watch, full)
                for frame in frames:
                    await send(frame)
                failing, full = False, False
            except Exception as exc:  # told once per outage; the socket stays open
                if not failing:
                    if not isinstance(exc, RedisError):
                        log.exception("chat: updating a conversation failed")
                    redis_down = isinstance(exc, RedisError)
                    error = ChatError.unavailable() if redis_down else internal()
                    await send(error.frame())
                failing = full = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.wake.wait(), STORAGE_RETRY_S)
                continue
            if watch.closed:
                await ws.close(code=WSCloseCode.OK, message=b"conversation closed")
                return
            if watch.asked is not None and not watch.rated.is_set():
                with contextlib.suppress(TimeoutError):  # the rating, or closed without one
                    await asyncio.wait_for(watch.rated.wait(), SURVEY_WAIT_S)
                watch.rated.set()
                full = True
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), REFRESH_S)
            if watch.wake.is_set() and not watch.urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.urgent.wait(), COALESCE_S)
