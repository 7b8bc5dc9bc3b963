"""The agent WebSocket, `GET /v1/agents/ws` with an agent token (or `?ticket=` from a browser,
router/api/ws_tickets.py): offers pushed as they happen,
and the agent's actions (accept, reject, message, complete, transfer, escalate, presence) over the
same socket. Frames are JSON objects with a `type`.

    server -> agent: hello {agent, work}, offer {request}, assigned {request + its thread,
                     bounded: FRAME_MESSAGES newest messages, texts cut to FRAME_CHARS},
                     gone {request, reason}, message {request, author, body},
                     presence {presence, reason} (set by a supervisor, or after missed offers),
                     result {action, request}, error {code, message, field}
    agent -> server: {"type": "accept" | "reject" | "messages" | "complete" | "transfer" |
                      "escalate" | "reclassify" | "call-attempts", "request": "FD-1",
                      ...fields as in the REST API}
                     {"type": "presence", "presence": "away", "reason": "lunch"}
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.api.keys import AGENTS, FANOUT, PRESENCE, STORE
from frontdesk.router.api.work import FIELDS, perform
from frontdesk.router.api.ws_tickets import agent_token, redeem
from frontdesk.router.http.auth import PRINCIPAL, ApiToken, public
from frontdesk.router.http.body import choice, text
from frontdesk.router.http.errors import REDIS_DOWN, ApiError, Unavailable
from frontdesk.router.http.views import describe, thread_view
from frontdesk.skills import Presence

log = logging.getLogger("frontdesk.agents")

MAX_FRAME = 64 * 1024
FRAME_MESSAGES = 20  # an `assigned` frame lists the newest this many messages of the thread
FRAME_CHARS = 4000  # and cuts every text to this many characters (a frame stays under ~100 KB)
BACKLOG = 1000  # events queued for one socket before it is closed as too slow
PUSH_RETRY_S = 15.0  # an event's request unreadable this long: the socket is closed (1013)
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0
UNAVAILABLE = b"storage unavailable, try again later"
GONE = {
    EventType.EXPIRED: "expired",
    EventType.REJECTED: "rejected",
    EventType.ABANDONED: "abandoned",
    EventType.TRANSFERRED: "transferred",
    EventType.ESCALATED: "escalated",
    EventType.COMPLETED: "completed",
    EventType.REQUEUED: "requeued",
}


@public  # by its bearer token, or a one-time ticket from a browser (router/api/ws_tickets.py)
async def agent_socket(request: web.Request) -> web.StreamResponse:
    request[PRINCIPAL] = await redeem(request)
    token = agent_token(request)
    assert token.agent is not None  # for the type checker: agent_token refused any other (403)
    app = request.app
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    events: asyncio.Queue[Event] = asyncio.Queue(BACKLOG)
    slow = asyncio.Event()  # the backlog overflowed: the socket is closed, never left deaf

    def listen(event: Event) -> None:  # the events naming this agent (a message: its holder)
        try:
            events.put_nowait(event)
        except asyncio.QueueFull:
            slow.set()

    # before the hello's reads: nothing between them is missed
    unsubscribe = app[FANOUT].subscribe(listen, agent=token.agent)
    app[PRESENCE].connected(token.agent)  # renewed in Redis while open (presence_watch.py)
    pump: asyncio.Task[None] | None = None
    try:
        # Every read of the hello happens before the upgrade, so that with Redis down the
        # agent's client gets a plain 503 + Retry-After, not a socket dropped without a code.
        try:
            holds = await app[AGENTS].holds(token.agent)
            work = [r for r in await app[STORE].get_many(sorted(holds)) if r is not None]
        except REDIS_DOWN as exc:
            log.warning("agent socket of %s refused, Redis unavailable: %s", token.agent, exc)
            raise Unavailable() from None
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "agent": token.agent,
                            "work": [describe(r) for r in work]})  # fmt: skip
        pump = asyncio.create_task(_push(ws, app, token.agent, events, slow))
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            await ws.send_json(await _answer(app, token, frame.data))
    finally:
        unsubscribe()
        app[PRESENCE].disconnected(token.agent)
        if pump is not None:
            pump.cancel()
            await asyncio.wait([pump])  # its outcome is its own: it logs what concerns us
    return ws


async def _answer(app: web.Application, token: ApiToken, data: str) -> dict[str, Any]:
    """The reply to one frame from the agent; every failure is an error frame, never a crash."""
    assert token.agent is not None  # the socket opened with an agent token only (agent_token)
    try:
        frame = json.loads(data)
        if not isinstance(frame, dict):
            raise ApiError(400, "invalid_json", "a frame is a JSON object")
        action = frame.pop("type", None)
        if action == "presence":
            presence = Presence(choice(frame, "presence", [p.value for p in Presence]))
            reason = text(frame, "reason", required=False, max_len=200)
            await app[AGENTS].set_presence(token.agent, presence, reason)
            return {"type": "result", "action": "presence", "presence": presence.value}
        request_id = text(frame, "request", max_len=64)
        frame.pop("request")
        unknown = set(frame) - FIELDS
        if unknown:
            raise ApiError(
                400, "invalid", f"unknown field {sorted(unknown)[0]}", sorted(unknown)[0]
            )
        if not isinstance(action, str):
            raise ApiError(400, "invalid", "type: must name an action", "type")
        result = await perform(app, token, action, request_id, frame)
        return {"type": "result", "action": action, "request": result}
    except ApiError as exc:
        return {"type": "error", "code": exc.code, "message": exc.message, "field": exc.field}
    except ValueError as exc:
        return {"type": "error", "code": "invalid_json", "message": str(exc), "field": None}


async def _push(
    ws: web.WebSocketResponse,
    app: web.Application,
    agent: str,
    events: asyncio.Queue[Event],
    slow: asyncio.Event,
) -> None:
    """Forward what concerns this agent: its offers and assignments, offers taken back, and
    customers' messages on the requests it holds. A Redis error reading an event's request is
    retried with back-off; if the event cannot be read within PUSH_RETRY_S, or the agent reads
    too slowly to keep up, the socket is closed with 1013 so that the agent's client reconnects
    (its hello lists what it holds, offers included). Never an open socket that stopped
    listening."""
    try:
        while not ws.closed:
            if slow.is_set():
                log.warning("agent socket of %s closed: over %d events behind", agent, BACKLOG)
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow, reconnect")
                return
            event = await events.get()
            try:
                frame = await _retrying(lambda: _frame(app, agent, event), ws)  # noqa: B023
            except (RedisError, OSError) as exc:
                log.warning("agent socket of %s closed: Redis unavailable for %.0f s (%s)",
                            agent, PUSH_RETRY_S, exc)  # fmt: skip
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=UNAVAILABLE)
                return
            if frame is not None and not ws.closed:
                await ws.send_json(frame)
    except ConnectionError:  # the agent's side went away meanwhile: the handler ends too
        log.info("agent socket of %s: closed by the peer while sending", agent)


async def _retrying(
    read: Callable[[], Awaitable[dict[str, Any] | None]], ws: web.WebSocketResponse
) -> dict[str, Any] | None:
    """`read()`, tried again with back-off on a Redis error for up to PUSH_RETRY_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PUSH_RETRY_S
    delay = RETRY_FIRST_S
    while True:
        try:
            return await read()
        except (RedisError, OSError):
            if ws.closed or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)


async def _thread(app: web.Application, record: RequestRecord) -> dict[str, Any]:
    """The thread as an `assigned` frame carries it: bounded, the newest FRAME_MESSAGES messages
    with every text cut to FRAME_CHARS (`thread_omitted`, `truncated` say what was left out;
    GET /v1/requests/{id}/messages has all of it)."""
    shown = await app[STORE].messages(record.request.id, FRAME_MESSAGES) if record.messages else []
    omitted = max(0, record.messages - len(shown))
    return thread_view(record, shown, FRAME_CHARS, omitted)


async def _frame(app: web.Application, agent: str, event: Event) -> dict[str, Any] | None:
    """The frame that tells the agent about `event`, if it concerns the agent."""
    if event.type in (EventType.OFFERED, EventType.ASSIGNED) and event.agent == agent:
        record = await app[STORE].get(event.request)
        if record is None:
            return None
        if event.type is EventType.OFFERED and (
            record.state is not State.OFFERED or record.agent != agent
        ):  # read late (after a retry or a follower's gap): the offer is over, not news
            return None
        if event.type is EventType.OFFERED:
            return {"type": "offer", "request": describe(record)}
        return {"type": "assigned", "request": describe(record) | await _thread(app, record)}
    if event.type is EventType.PRESENCE and event.agent == agent:
        return {"type": "presence", "presence": event.data.get("presence"),
                "reason": event.data.get("reason", "")}  # fmt: skip
    if event.type in GONE and event.agent == agent:
        return {"type": "gone", "request": event.request, "reason": GONE[event.type]}
    if (
        event.type is EventType.MESSAGE
        and event.data.get("author") == "customer"
        and "auto" not in event.data  # an auto-reply: in the thread, not news for the agent
        and event.request in await app[AGENTS].holds(agent)
    ):
        thread = await app[STORE].messages(event.request)
        body = thread[-1].body if thread else ""
        return {"type": "message", "request": event.request, "author": "customer", "body": body}
    return None
