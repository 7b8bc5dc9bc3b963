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
driven by the daemon's event stream (its `listeners`), with a slow timer for the wait
estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError

from frontdesk.channels.base import ChannelContext, Inbound
from frontdesk.channels.chat.config import ChatSettings, Site
from frontdesk.channels.chat.config import (
    parse_config as parse_config,  # the channel module's config parser
)
from frontdesk.channels.chat.idle import IdleConversations
from frontdesk.channels.chat.protocol import (
    ChatError,
    End,
    Frame,
    Ping,
    Resume,
    Send,
    Start,
    decode,
    decode_send,
    decode_start,
    openapi_paths,
)
from frontdesk.queues.errors import QueueError
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.states import TERMINAL_STATES, State
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import STORAGE_RETRY_S, allow_origin

log = logging.getLogger("frontdesk.chat")

_CONVERSATION = re.compile(r"[0-9a-f]{24}")
_TOKEN = re.compile(r"[0-9a-f]{32}")
STATIC = Path(__file__).resolve().parent / "static"
HEARTBEAT_S = 30.0  # WebSocket pings; a peer that stops answering is dropped
REFRESH_S = 5.0  # the wait estimate is recomputed at least this often while waiting
COALESCE_S = 0.25  # a burst of other requests' events costs one recomputation
STOP_TIMEOUT_S = 5.0
_AGENT_EVENTS = frozenset({EventType.PRESENCE, EventType.AGENT_CREATED, EventType.AGENT_UPDATED})
_SHOWN_AUTHORS = (
    "customer",
    "agent",
    "system",
)  # system: customer notices (router/outbound/notices/sink.py)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create(settings: ChatSettings, context: ChannelContext) -> ChatChannel:
    return ChatChannel(settings, context)


# -- conversations ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Conversation:
    """A customer's conversation and the request it is."""

    id: str
    request_id: str
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class Started:
    conversation: Conversation
    token: str
    created: bool  # False: the same start (same client id) was answered before


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


def _customer_state(state: State) -> str:
    """What a customer is shown: an offer is still waiting, from where they sit."""
    return State.WAITING.value if state is State.OFFERED else state.value


def _message_view(seq: int, message: Message, conversation: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "seq": seq,
        "from": message.author,
        "text": message.body,
        "at": message.received_at,
    }
    prefix = f"{conversation}:"
    if message.author == "customer" and (message.external_id or "").startswith(prefix):
        out["id"] = (message.external_id or "")[len(prefix) :]
    return out


def _internal() -> ChatError:
    return ChatError("internal", "internal error; it has been logged")


class ChatChannel:
    """The running web chat of one daemon."""

    name = "chat"

    def __init__(self, settings: ChatSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.store = context.store
        self.sites = {s.key: s for s in settings.sites}
        self._unsubscribe: Callable[[], None] | None = None  # from the daemon's event fan-out
        self._by_request: dict[str, set[Watch]] = {}
        self._by_queue: dict[str, set[Watch]] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        idle = settings.idle_timeout_s
        self._idle = IdleConversations(self.store, idle) if idle is not None else None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle -----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        conversation = "/v1/chat/conversations/{id}"
        rest = ("/v1/chat/conversations", f"{conversation}/messages", f"{conversation}/end")
        return [
            web.get("/v1/chat/ws", _public(self._websocket), allow_head=False),
            web.post("/v1/chat/conversations", self._rest(self._rest_start, origin=True)),
            web.post(f"{conversation}/messages", self._rest(self._rest_send)),
            web.post(f"{conversation}/end", self._rest(self._rest_end)),
            web.get(conversation, self._rest(self._rest_poll)),
            *(web.route("OPTIONS", p, self._rest(self._preflight)) for p in (*rest, conversation)),
            web.get("/chat/chat.js", _static("chat.js", "application/javascript")),
            web.get("/chat/", _static("chat.html", "text/html")),
            web.get("/chat", _to_demo),
        ]

    def openapi_paths(self) -> dict[str, Any]:
        """The REST fallback's operations, for /v1/openapi.json."""
        return openapi_paths()

    async def start(self) -> None:
        if self._idle is not None:
            self._tasks.append(
                asyncio.create_task(self._idle.run(self._stopping), name="chat-idle")
            )

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

    # -- what both transports do ---------------------------------------------------------------
    async def start_conversation(self, site: Site, frame: Start, peer: str | None) -> Started:
        """Open a conversation with the customer's first message; durable on return."""
        if frame.id is not None:  # the client's own id: a resent start is the same conversation
            conversation = self.context.status_token(f"chat-start:{site.key}:{frame.id}")[:24]
        else:
            conversation = secrets.token_hex(12)
        await self._admit(frame.email or frame.phone, peer)
        request = Request(
            id="",
            channel=Channel.CHAT,
            queue="",
            external_id=f"{conversation}:start",
            entry_point=site.entry_point,
            customer=Customer(name=frame.name, email=frame.email, phone=frame.phone),
            subject=frame.topic or "",
            body=frame.text,
            language=frame.language,
            received_at=time.time(),
        )
        receipt = await self.context.receive(
            Inbound(request, thread_keys=(f"chat:{conversation}",))
        )
        found = Conversation(conversation, receipt.request_id, receipt.customer_id)
        self._touch(found)
        token = self.context.status_token(f"chat:{conversation}")
        return Started(found, token, receipt.created)

    async def open_conversation(self, conversation: str, token: str) -> Conversation:
        """The conversation `token` opens; refused alike whether it exists or not."""
        if not (
            _CONVERSATION.fullmatch(conversation)
            and _TOKEN.fullmatch(token)
            and self.context.check_status_token(f"chat:{conversation}", token)
        ):
            raise ChatError("bad_token", "this token does not open that conversation", "token")
        request_id = await self.context.customers.thread(f"chat:{conversation}")
        record = await self.store.get(request_id) if request_id else None
        if record is None:
            raise ChatError("not_found", "that conversation is gone", "conversation")
        found = Conversation(conversation, record.request.id, record.request.customer.id)
        self._touch(found)
        return found

    async def send_message(self, conv: Conversation, frame: Send, peer: str | None) -> bool:
        """Append the customer's message to the conversation's request; True for a resend."""
        if await self.store.seen(f"{Channel.CHAT.value}:{conv.id}:{frame.id}"):
            return True  # a resend: not counted against the limits, never appended twice
        record = await self.store.get(conv.request_id)
        if record is None or record.state in TERMINAL_STATES:
            raise ChatError("closed", "this conversation has ended", id=frame.id)
        await self._admit(f"chat:{conv.id}", peer, frame.id)
        request = Request(
            id="",
            channel=Channel.CHAT,
            queue="",
            external_id=f"{conv.id}:{frame.id}",
            customer=Customer(id=conv.customer_id),
            body=frame.text,
            received_at=time.time(),
        )
        try:
            receipt = await self.context.receive(Inbound(request, thread_refs=(f"chat:{conv.id}",)))
        except QueueError:  # it closed between our look and the append
            raise ChatError("closed", "this conversation has ended", id=frame.id) from None
        self._touch(conv)
        return receipt.duplicate

    async def end_conversation(self, conv: Conversation) -> None:
        with contextlib.suppress(QueueError):  # already closed
            await self.store.abandon(conv.request_id, "the customer ended the chat")

    async def view(self, request: web.Request, conv: Conversation, after: int) -> dict[str, Any]:
        """Where the conversation stands, and its messages after `after` (from the start, with
        the opening topic and text)."""
        record = await self.store.get(conv.request_id)
        if record is None:
            raise ChatError("not_found", "that conversation is gone", "conversation")
        messages = await self.store.messages(conv.request_id) if record.messages > after else []
        shown = [
            _message_view(seq, m, conv.id)
            for seq, m in enumerate(messages, start=1)
            if seq > after and m.author in _SHOWN_AUTHORS
        ]
        opening = {"topic": record.request.subject, "text": record.request.body}
        return {
            "conversation": conv.id,
            "request": conv.request_id,
            "state": _customer_state(record.state),
            **(opening if after == 0 else {}),
            **await self.context.standing(record),
            "agent": self._agent_name(record.agent) if record.state is State.ASSIGNED else None,
            "messages": shown,
            "next": max(after, len(messages)),
        }

    async def _admit(self, sender: str | None, peer: str | None, msg_id: str | None = None) -> None:
        wait = await self.context.admit(sender, peer)
        if wait is not None:
            raise ChatError(
                "rate_limited",
                f"too many messages; try again in {max(1, math.ceil(wait))}s",
                retry_after_s=wait,
                id=msg_id,
            )

    def _agent_name(self, agent_id: str | None) -> str | None:
        if agent_id is None:
            return None
        return self.context.agent_name(agent_id)

    # -- the WebSocket ----------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        site = self._site(request)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=self.settings.socket_limit)
        if not ws.can_prepare(request).ok:
            message = "this endpoint speaks WebSocket; without one use /v1/chat/conversations"
            raise ChatError("websocket_required", message)
        if self._unsubscribe is None:  # the daemon's one reader of the event stream tells us too
            self._unsubscribe = self.context.subscribe(self.notify)
        await ws.prepare(request)
        session = _Session(self, ws, request, site)
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

    def _site(self, request: web.Request, origin: bool = True) -> Site:
        """The site named by `?site=`, if the request's Origin is one of its origins. With
        `origin` False (calls that carry a conversation token, the real credential) a missing
        Origin is let through: browsers send none on a same-origin GET."""
        key = request.query.get("site")
        if not key:
            raise ChatError("missing", "the site key is required: ?site=KEY", "site")
        site = self.sites.get(key)
        if site is None:
            raise ChatError("unknown_site", "no site has that key", "site")
        sent = request.headers.get("Origin")
        if not site.allows(sent) and (origin or sent is not None):
            shown = (sent or "(none)")[:200]
            raise ChatError(
                "origin_not_allowed", f"this site key is not for origin {shown!r}", "Origin"
            )
        return site

    # -- pushing to sockets -----------------------------------------------------------------------
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

    async def changes(self, request: web.Request, watch: Watch) -> list[dict[str, Any]]:
        """The frames that bring a socket up to date with its request."""
        record = await self.store.get(watch.request_id)
        if record is None:
            watch.closed = True
            return [{"type": "closed", "state": None}]
        self._place(watch, record.request.queue)
        frames: list[dict[str, Any]] = []
        if record.state is State.WAITING:
            watch.agent = None  # back in a queue (transferred, escalated): announce the next one
            now = await self.context.standing(record)
            seen = (now["position"], now["estimated_wait_s"])
            if now["position"] is not None and seen != watch.standing:
                watch.standing = seen
                frames.append({"type": "queue", **now})
        elif record.state is State.ASSIGNED and record.agent != watch.agent:
            watch.agent, watch.standing = record.agent, None
            frames.append({"type": "assigned", "agent": self._agent_name(record.agent)})
        if record.messages > watch.seq:
            messages = await self.store.messages(watch.request_id)
            for seq, message in enumerate(messages[watch.seq :], start=watch.seq + 1):
                if message.author == "agent":
                    frame = _message_view(seq, message, "")
                    frames.append(
                        {"type": "message", **frame, "agent": self._agent_name(record.agent)}
                    )
                elif message.author == "system":
                    frames.append({"type": "message", **_message_view(seq, message, "")})
            watch.seq = max(watch.seq, len(messages))
        if record.state in TERMINAL_STATES:
            watch.closed = True
            frames.append({"type": "closed", "state": record.state.value})
        return frames

    async def push(self, session: _Session, watch: Watch) -> None:
        """Keep one socket up to date until its conversation closes."""
        failing = False
        while not (watch.closed or watch.stopped):
            watch.wake.clear()
            watch.urgent.clear()
            try:
                for frame in await self.changes(session.request, watch):
                    await session.send(frame)
                failing = False
            except Exception as exc:  # told once per outage; the socket stays open
                if not failing:
                    if not isinstance(exc, RedisError):
                        log.exception("chat: updating a conversation failed")
                    error = ChatError.unavailable() if isinstance(exc, RedisError) else _internal()
                    await session.send(error.frame())
                failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.wake.wait(), STORAGE_RETRY_S)
                continue
            if watch.closed:
                await session.ws.close(code=WSCloseCode.OK, message=b"conversation closed")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), REFRESH_S)
            if watch.wake.is_set() and not watch.urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.urgent.wait(), COALESCE_S)

    # -- idle conversations -----------------------------------------------------------------------
    def _touch(self, conv: Conversation, sockets: int = 0) -> None:
        """The customer of `conv` was just heard from (a socket opened or closed: `sockets`)."""
        if self._idle is not None:
            self._idle.touch(conv.id, conv.request_id, sockets)

    # -- REST -------------------------------------------------------------------------------------
    def _rest(
        self, method: Callable[[web.Request, Site], Awaitable[web.Response]], origin: bool = False
    ) -> Handler:
        """A public REST handler: site key and Origin checked (`origin`: an Origin is required
        when the site lists origins); json_errors adds the CORS headers and renders refusals."""

        async def handler(request: web.Request) -> web.StreamResponse:
            site = self._site(request, origin)
            if sent := request.headers.get("Origin"):
                allow_origin(request, sent)
            return await method(request, site)

        return public(handler)

    async def _preflight(self, request: web.Request, site: Site) -> web.Response:
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            },
        )

    async def _body(self, request: web.Request) -> bytes:
        """The whole body, up to the frame limit (`read(n)` gives up to n bytes: loop to EOF)."""
        limit = self.settings.frame_limit
        if request.content_length is not None and request.content_length > limit:
            raise ChatError("too_large", f"the body is larger than {limit} bytes", "body")
        raw = bytearray()
        while len(raw) <= limit:
            chunk = await request.content.read(limit + 1 - len(raw))
            if not chunk:
                return bytes(raw)
            raw += chunk
        raise ChatError("too_large", f"the body is larger than {limit} bytes", "body")

    async def _conversation(self, request: web.Request) -> Conversation:
        token = request.query.get("token")
        if not token:
            raise ChatError("missing", "the conversation's token is required: ?token=T", "token")
        return await self.open_conversation(request.match_info["id"], token)

    async def _rest_start(self, request: web.Request, site: Site) -> web.Response:
        frame = decode_start(await self._body(request), self.settings.max_message_bytes)
        started = await self.start_conversation(site, frame, request.remote)
        view = await self.view(request, started.conversation, 0)
        return web.json_response(
            {"token": started.token, **view}, status=201 if started.created else 200
        )

    async def _rest_send(self, request: web.Request, site: Site) -> web.Response:
        conv = await self._conversation(request)
        frame = decode_send(await self._body(request), self.settings.max_message_bytes)
        duplicate = await self.send_message(conv, frame, request.remote)
        return web.json_response(
            {"id": frame.id, "duplicate": duplicate}, status=200 if duplicate else 201
        )

    async def _rest_end(self, request: web.Request, site: Site) -> web.Response:
        conv = await self._conversation(request)
        await self.end_conversation(conv)
        return web.json_response(await self.view(request, conv, 0) | {"messages": []})

    async def _rest_poll(self, request: web.Request, site: Site) -> web.Response:
        conv = await self._conversation(request)
        raw = request.query.get("after", "0")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            raise ChatError("invalid", "after must be a whole number of at least 0", "after")
        return web.json_response(await self.view(request, conv, int(raw)))


class _Session:
    """One customer WebSocket: frames in, frames out, and its conversation once started."""

    def __init__(
        self, channel: ChatChannel, ws: web.WebSocketResponse, request: web.Request, site: Site
    ) -> None:
        self.channel = channel
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
        limit = self.channel.settings.frame_limit
        try:
            if len(text) > limit:
                raise ChatError("too_large", f"a frame may be at most {limit} bytes")
            await self._dispatch(decode(text, self.channel.settings.max_message_bytes))
        except ChatError as exc:
            await self.send(exc.frame())
        except RedisError:
            await self.send(ChatError.unavailable().frame())
        except Exception:
            log.exception("chat: frame failed")
            await self.send(_internal().frame())

    async def _dispatch(self, frame: Frame) -> None:
        chat = self.channel
        peer = self.request.remote
        if isinstance(frame, Ping):
            await self.send({"type": "pong"})
        elif isinstance(frame, Start | Resume) and self.conv is not None:
            raise ChatError("already_started", "this socket already has a conversation", "type")
        elif isinstance(frame, Start):
            started = await chat.start_conversation(self.site, frame, peer)
            conv = started.conversation
            await self.send(
                {"type": "started", "conversation": conv.id, "token": started.token,
                 "request": conv.request_id}
            )  # fmt: skip
            self._attach(conv, 0)
        elif isinstance(frame, Resume):
            conv = await chat.open_conversation(frame.conversation, frame.token)
            view = await chat.view(self.request, conv, frame.after)
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
            duplicate = await chat.send_message(self.conv, frame, peer)
            await self.send({"type": "ack", "id": frame.id, "duplicate": duplicate})
        elif isinstance(frame, End):
            await chat.end_conversation(self.conv)  # the pusher sends `closed`

    def _attach(self, conv: Conversation, seq: int) -> None:
        self.conv = conv
        self.watch = Watch(conv.request_id, seq)
        self.channel.watch(self.watch)
        self.channel._touch(conv, sockets=1)
        self.pusher = asyncio.create_task(self.channel.push(self, self.watch), name="chat-push")

    async def detach(self) -> None:
        """The socket went away: stop its pusher (by flag and by cancellation, since a
        cancellation can be swallowed on the way) and forget it."""
        if self.watch is not None:
            self.watch.stopped = True
            self.watch.wake.set()
            self.watch.urgent.set()
            self.channel.unwatch(self.watch)
        if self.pusher is not None and not self.pusher.done():
            self.pusher.cancel()
            await asyncio.wait([self.pusher], timeout=STOP_TIMEOUT_S)
        if self.conv is not None:
            self.channel._touch(self.conv, sockets=-1)


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
