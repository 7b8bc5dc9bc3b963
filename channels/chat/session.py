"""One customer's WebSocket (GET /v1/chat/ws?site=KEY): JSON frames in, frames out, every frame
that does not do what it asks answered with an error frame; the conversation it started or
resumed, and the pusher (watch.py) that keeps it up to date."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from frontdesk.channels.chat.config import Site
from frontdesk.channels.chat.conversations import Conversation, Conversations
from frontdesk.channels.chat.protocol import (
    ChatError,
    End,
    Frame,
    Ping,
    Rate,
    Resume,
    Send,
    Start,
    decode,
)
from frontdesk.channels.chat.watch import Watch, Watchers, internal
from frontdesk.queues.errors import QueueError

log = logging.getLogger("frontdesk.chat")

STOP_TIMEOUT_S = 5.0


class Session:
    """One customer WebSocket: frames in, frames out, and its conversation once started."""

    def __init__(
        self, chats: Conversations, watchers: Watchers, ws: web.WebSocketResponse,
        request: web.Request, site: Site,
    ) -> None:  # fmt: skip
        self.chats = chats
        self.watchers = watchers
        self.ws = ws
        self.request = request
        self.site = site
        self.conv: Conversation | None = None
        self.watch: Watch | None = None
        self.pusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            if not self.ws.closed:
                with contextlib.suppress(ConnectionError):
                    await self.ws.send_json(frame)

    async def handle(self, text: str) -> None:
        """Answer one frame: every frame that does not do what it asks gets an error frame."""
        settings = self.chats.settings
        limit = settings.frame_limit
        try:
            if len(text) > limit:
                raise ChatError("too_large", f"a frame may be at most {limit} bytes")
            await self._dispatch(decode(text, settings.max_message_bytes))
        except ChatError as exc:
            await self.send(exc.frame())
        except RedisError:
            await self.send(ChatError.unavailable().frame())
        except Exception:
            log.exception("chat: frame failed")
            await self.send(internal().frame())

    async def _dispatch(self, frame: Frame) -> None:
        chats = self.chats
        peer = self.request.remote
        if isinstance(frame, Ping):
            await self.send({"type": "pong"})
        elif isinstance(frame, Start | Resume) and self.conv is not None:
            raise ChatError("already_started", "this socket already has a conversation", "type")
        elif isinstance(frame, Start):
            started = await chats.start_conversation(self.site, frame, peer)
            conv = started.conversation
            await self.send(
                {"type": "started", "conversation": conv.id, "token": started.token,
                 "request": conv.request_id}
            )  # fmt: skip
            self._attach(conv, 0)
        elif isinstance(frame, Resume):
            conv = await chats.open_conversation(frame.conversation, frame.token)
            view = await chats.view(conv, frame.after)
            shown = ("conversation", "request", "state", "topic", "text")
            await self.send({"type": "resumed"} | {k: view[k] for k in shown if k in view})
            for message in view["messages"]:
                named = {"agent": view["agent"]} if message["from"] == "agent" else {}
                await self.send({"type": "message", **message, **named})
            self._attach(conv, view["next"])
        elif self.conv is None:
            msg_id = frame.id if isinstance(frame, Send) else None
            raise ChatError(
                "not_started", "start or resume a conversation first", "type", id=msg_id
            )
        elif isinstance(frame, Send):
            duplicate = await chats.send_message(self.conv, frame, peer)
            await self.send({"type": "ack", "id": frame.id, "duplicate": duplicate})
        elif isinstance(frame, End):
            await chats.end_conversation(self.conv)  # the pusher sends `closed`
        elif isinstance(frame, Rate):
            await self._rate(frame)

    async def _rate(self, frame: Rate) -> None:
        """The survey's answer: recorded once, then the socket is told and closes."""
        rating, conv = self.chats.context.rating, self.conv
        if rating is None or conv is None or self.watch is None or self.watch.asked is None:
            raise ChatError("invalid", "no survey was asked in this conversation", "type")
        try:
            await rating.answer(conv.request_id, frame.score, frame.dimensions, frame.comment,
                                "chat")  # fmt: skip
        except QueueError as exc:  # answered before (another tab), or its time is over
            log.info("chat rating of %s refused: %s", conv.request_id, type(exc).__name__)
            await self.send({"type": "rated", "accepted": False})
        else:
            await self.send({"type": "rated", "accepted": True, "score": frame.score})
        self.watch.rated.set()
        self.watch.wake.set()

    def _attach(self, conv: Conversation, seq: int) -> None:
        self.conv = conv
        self.watch = Watch(conv.request_id, seq)
        self.watchers.watch(self.watch)
        self.chats.touch(conv, sockets=1)
        pushing = self.watchers.push(self.watch, self.send, self.ws)
        self.pusher = asyncio.create_task(pushing, name="chat-push")

    async def detach(self) -> None:
        """The socket went away: stop its pusher (by flag and by cancellation, since a
        cancellation can be swallowed on the way) and forget it."""
        if self.watch is not None:
            self.watch.stopped = True
            self.watch.wake.set()
            self.watch.urgent.set()
            self.watchers.unwatch(self.watch)
        if self.pusher is not None and not self.pusher.done():
            self.pusher.cancel()
            await asyncio.wait([self.pusher], timeout=STOP_TIMEOUT_S)
        if self.conv is not None:
            self.chats.touch(self.conv, sockets=-1)
