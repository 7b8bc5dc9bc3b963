"""Web chat (config key `chat`): a customer WebSocket with a REST fallback, and the embeddable
widget that speaks it.

    GET  /v1/chat/ws?site=KEY                                   WebSocket, JSON frames
    POST /v1/chat/conversations?site=KEY                        start
    POST /v1/chat/conversations/{id}/messages?site=KEY&token=T  send (idempotent by message id)
    POST /v1/chat/conversations/{id}/end?site=KEY&token=T       the customer ends it
    GET  /v1/chat/conversations/{id}?site=KEY&token=T&after=N   poll: state, position, messages
    GET  /chat/chat.js, /chat/                                  the widget and a demo page

A site key (public, embedded in the page) and the browser's Origin admit the widget; a
conversation's token (an HMAC by the Front's secret over the conversation id) admits its owner.
A conversation is one request: the first message opens it through the Front (the rules pick the
queue), follow-ups join it by the thread key `chat:<conversation>`, and the customer is told its
queue position, the agent who took it, the agent's messages, and when it closed. Pushes are
driven by the daemon's event stream (its `Fanout`: each socket by its request and queue), with a
slow timer for the wait estimate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from frontdesk.channels.base import ChannelContext
from frontdesk.channels.chat.config import ChatSettings
from frontdesk.channels.chat.config import (
    parse_config as parse_config,  # the channel module's config parser
)
from frontdesk.channels.chat.conversations import Conversations
from frontdesk.channels.chat.openapi import openapi_paths
from frontdesk.channels.chat.protocol import ChatError
from frontdesk.channels.chat.rest import RestFallback
from frontdesk.channels.chat.session import STOP_TIMEOUT_S, Session
from frontdesk.channels.chat.watch import Watchers
from frontdesk.queues.events import Event
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import Handler

STATIC = Path(__file__).resolve().parent / "static"
HEARTBEAT_S = 30.0  # WebSocket pings; a peer that stops answering is dropped


def create(settings: ChatSettings, context: ChannelContext) -> ChatChannel:
    return ChatChannel(settings, context)


class ChatChannel:
    """The running web chat of one daemon: its conversations (conversations.py), the sockets
    watching them (watch.py, session.py) and the REST fallback (rest.py)."""

    name = "chat"

    def __init__(self, settings: ChatSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.chats = Conversations(settings, context)
        self.watchers = Watchers(self.chats)
        self.rest = RestFallback(self.chats)
        self._unsubscribe: Callable[[], None] | None = None  # from the daemon's event fan-out
        self._sockets: set[web.WebSocketResponse] = set()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle -----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/chat/ws", _public(self._websocket), allow_head=False),
            *self.rest.routes(),
            web.get("/chat/chat.js", _static("chat.js", "application/javascript")),
            web.get("/chat/", _static("chat.html", "text/html")),
            web.get("/chat", _to_demo),
        ]

    def openapi_paths(self) -> dict[str, Any]:
        """The REST fallback's operations, for /v1/openapi.json."""
        return openapi_paths()

    async def start(self) -> None:
        idle = self.chats.idle
        if idle is not None:
            self._tasks.append(asyncio.create_task(idle.run(self._stopping), name="chat-idle"))

    async def stop(self) -> None:
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    def notify(self, event: Event) -> None:
        """Wake the waiting sockets on an agent event (the daemon's event stream tells us; each
        socket hears its own request's and queue's events by its own subscriptions)."""
        self.watchers.notify(event)

    # -- the WebSocket ----------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        site = self.chats.site(request)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=self.settings.socket_limit)
        if not ws.can_prepare(request).ok:
            message = "this endpoint speaks WebSocket; without one use /v1/chat/conversations"
            raise ChatError("websocket_required", message)
        if self._unsubscribe is None:  # the daemon's one reader of the event stream tells us too
            self._unsubscribe = self.context.subscribe(self.notify)
        await ws.prepare(request)
        session = Session(self.chats, self.watchers, ws, request, site)
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await session.handle(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await session.send(ChatError("bad_frame", "frames are JSON text").frame())
        finally:
            self._sockets.discard(ws)
            await session.detach()
        return ws


def _public(method: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await method(request)

    return public(handler)


async def _to_demo(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.rel_url.with_path("/chat/").with_query(request.query))


def _static(name: str, content_type: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            STATIC / name,
            headers={"Content-Type": f"{content_type}; charset=utf-8",
                     "Cache-Control": "public, max-age=300"},
        )  # fmt: skip

    return handler
