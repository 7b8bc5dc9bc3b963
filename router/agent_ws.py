"""The agent WebSocket, `GET /v1/agents/ws` with an agent token (or `?ticket=` from a browser,
router/ws_tickets.py): offers pushed as they happen,
and the agent's actions (accept, reject, message, complete, transfer, escalate, presence) over the
same socket. Frames are JSON objects with a `type`.

    server -> agent: hello {agent, work}, offer {request}, assigned {request},
                     gone {request, reason}, message {request, author, body},
                     result {action, request}, error {code, message, field}
    agent -> server: {"type": "accept" | "reject" | "messages" | "complete" | "transfer" |
                      "escalate", "request": "FD-1", ...fields as in the REST API}
                     {"type": "presence", "presence": "away", "reason": "lunch"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from frontdesk.queues.events import Event, EventType
from frontdesk.skills import Presence

from .api_body import ApiError, choice, text
from .api_requests import describe
from .api_work import FIELDS, perform
from .app_keys import DAEMON
from .auth import PRINCIPAL, ApiToken, Scope, principal, public
from .ws_tickets import redeem

MAX_FRAME = 64 * 1024
BACKLOG = 1000  # events queued for one socket before it is closed as too slow
GONE = {
    EventType.EXPIRED: "expired",
    EventType.REJECTED: "rejected",
    EventType.ABANDONED: "abandoned",
    EventType.TRANSFERRED: "transferred",
    EventType.ESCALATED: "escalated",
    EventType.COMPLETED: "completed",
    EventType.REQUEUED: "requeued",
}


@public  # by its bearer token, or a one-time ticket from a browser (router/ws_tickets.py)
async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    request[PRINCIPAL] = await redeem(request)
    token = principal(request, Scope.AGENT)
    assert token.agent is not None
    daemon = request.app[DAEMON]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    events: asyncio.Queue[Event] = asyncio.Queue(BACKLOG)

    def listen(event: Event) -> None:
        if event.agent == token.agent or event.type is EventType.MESSAGE:
            try:
                events.put_nowait(event)
            except asyncio.QueueFull:
                pump.cancel()

    daemon.listeners.add(listen)
    daemon.presence.connected(token.agent)  # renewed in Redis while open (presence_watch.py)
    pump = asyncio.create_task(_push(ws, daemon, token.agent, events))
    try:
        holds = await daemon.agents.holds(token.agent)
        work = [r for r in await daemon.store.get_many(sorted(holds)) if r is not None]
        await ws.send_json({"type": "hello", "agent": token.agent,
                            "work": [describe(r) for r in work]})  # fmt: skip
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            await ws.send_json(await _answer(daemon, token, frame.data))
    finally:
        daemon.listeners.discard(listen)
        daemon.presence.disconnected(token.agent)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    return ws


async def _answer(daemon: Any, token: ApiToken, data: str) -> dict[str, Any]:
    """The reply to one frame from the agent; every failure is an error frame, never a crash."""
    try:
        frame = json.loads(data)
        if not isinstance(frame, dict):
            raise ApiError(400, "invalid_json", "a frame is a JSON object")
        action = frame.pop("type", None)
        if action == "presence":
            presence = Presence(choice(frame, "presence", [p.value for p in Presence]))
            reason = text(frame, "reason", required=False, max_len=200)
            await daemon.agents.set_presence(token.agent, presence, reason)
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
        result = await perform(daemon, token, action, request_id, frame)
        return {"type": "result", "action": action, "request": result}
    except ApiError as exc:
        return {"type": "error", "code": exc.code, "message": exc.message, "field": exc.field}
    except ValueError as exc:
        return {"type": "error", "code": "invalid_json", "message": str(exc), "field": None}


async def _push(
    ws: web.WebSocketResponse, daemon: Any, agent: str, events: asyncio.Queue[Event]
) -> None:
    """Forward what concerns this agent: its offers and assignments, offers taken back, and
    customers' messages on the requests it holds."""
    while not ws.closed:
        event = await events.get()
        if event.type in (EventType.OFFERED, EventType.ASSIGNED) and event.agent == agent:
            record = await daemon.store.get(event.request)
            if record is not None:
                kind = "offer" if event.type is EventType.OFFERED else "assigned"
                await ws.send_json({"type": kind, "request": describe(record)})
        elif event.type in GONE and event.agent == agent:
            await ws.send_json(
                {"type": "gone", "request": event.request, "reason": GONE[event.type]}
            )
        elif (
            event.type is EventType.MESSAGE
            and event.data.get("author") == "customer"
            and event.request in await daemon.agents.holds(agent)
        ):
            thread = await daemon.store.messages(event.request)
            body = thread[-1].body if thread else ""
            await ws.send_json(
                {"type": "message", "request": event.request, "author": "customer", "body": body}
            )
