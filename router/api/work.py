"""An agent's work through the API: accept, reject, reply, complete, transfer, escalate. The
agent acting is the token's agent; a supervisor's or admin's token names it in the body."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from frontdesk.queues.errors import (
    AgentRefused,
    NotYourOffer,
    QueueError,
    RequestNotFound,
    TopTier,
    WrongState,
)
from frontdesk.queues.request import Message
from frontdesk.queues.store import RequestRecord
from frontdesk.router.api.keys import FRONT, SETTINGS, STORE
from frontdesk.router.http.auth import ApiToken, Scope, principal
from frontdesk.router.http.body import json_body, number, text
from frontdesk.router.http.errors import ApiError, invalid
from frontdesk.router.http.views import attachment_view, describe

MAX_WRAP_UP_S = 3600.0


def refusal(exc: QueueError) -> ApiError:
    """A queue refusal as the HTTP answer a client can act on."""
    status = {
        RequestNotFound: 404,
        NotYourOffer: 403,
        WrongState: 409,
        AgentRefused: 409,
        TopTier: 409,
    }.get(type(exc), 409)
    return ApiError(status, exc.code.name.lower(), str(exc))


def acting_agent(token: ApiToken, body: dict[str, Any]) -> str:
    """The agent a call acts for: an agent token's own agent, or `agent` in a supervisor's body."""
    if token.scope is Scope.AGENT:
        assert token.agent is not None
        if body.get("agent") not in (None, token.agent):
            raise ApiError(403, "forbidden", "an agent token acts for its own agent only", "agent")
        return token.agent
    return text(body, "agent", max_len=64)


async def _record(app: web.Application, request_id: str) -> RequestRecord:
    record = await app[STORE].get(request_id)
    if record is None:
        raise ApiError(404, "not_found", f"no request {request_id!r}")
    return record


async def full_request(app: web.Application, record: RequestRecord) -> dict[str, Any]:
    """What an agent needs on accepting: the request, its thread, the customer, and the
    customer's other requests, open ones first."""
    messages = await app[STORE].messages(record.request.id)
    customer_id = record.request.customer.id
    customer = await app[FRONT].customers.get(customer_id) if customer_id else None
    history = await app[FRONT].customers.requests(customer_id) if customer_id else []
    described = describe(record)
    return described | {
        "body": record.request.body,
        "thread": [
            {
                "author": m.author,
                "body": m.body,
                "received_at": m.received_at,
                "attachments": [attachment_view(record.request.id, a) for a in m.attachments],
            }
            for m in messages
        ],
        "customer": described["customer"]
        | ({"addresses": sorted(customer.addresses)} if customer else {}),
        "customer_requests": [
            {"id": r.request.id, "state": r.state.value, "subject": r.request.subject}
            for r in history
            if r.request.id != record.request.id
        ],
    }


FIELDS = {"agent", "reason", "text", "resolution", "wrap_up_s", "queue", "to_agent", "note"}


async def work(request: web.Request) -> web.Response:
    """POST /v1/requests/{id}/{action}: accept, reject, messages, complete, transfer, escalate."""
    token = principal(request, Scope.AGENT, Scope.SUPERVISOR)
    body = await json_body(request, FIELDS)
    result = await perform(
        request.app, token, request.match_info["action"], request.match_info["id"], body
    )
    return web.json_response(result)


async def perform(
    app: web.Application, token: ApiToken, action: str, request_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """One action on a request for the acting agent (the REST API and the agent WebSocket)."""
    record = await _record(app, request_id)
    store = app[STORE]
    agent = acting_agent(token, body)
    if action != "accept" and record.agent != agent and token.scope is Scope.AGENT:
        raise ApiError(403, "not_your_request", f"request {request_id} is not held by {agent}")
    try:
        if action == "accept":
            await store.accept(request_id, agent)
        elif action == "reject":
            await store.reject(request_id, agent, text(body, "reason", required=False))
        elif action == "messages":
            if record.agent != agent:
                raise ApiError(403, "not_your_request", f"{agent} does not hold {request_id}")
            reply = Message(text(body, "text", max_len=20000), "agent")
            await store.append_message(request_id, reply)
        elif action == "complete":
            wrap = number(body, "wrap_up_s", 0, MAX_WRAP_UP_S, 0)
            await store.complete(request_id, agent, text(body, "resolution", False, 200), wrap)
        elif action == "transfer":
            await _transfer(app, record, body)
        elif action == "escalate":
            target = _next_tier(app, record)
            await store.escalate(request_id, target, text(body, "note", required=False))
        else:
            raise ApiError(404, "not_found", f"no action {action!r}")
    except QueueError as exc:
        raise refusal(exc) from None
    updated = await _record(app, request_id)
    return await full_request(app, updated) if action == "accept" else describe(updated)


def _next_tier(app: web.Application, record: RequestRecord) -> str:
    queue = app[SETTINGS]().queues.get(record.request.queue)
    if queue is None or not queue.escalate_to:
        raise ApiError(409, "no_escalation", f"queue {record.request.queue!r} has no escalate_to")
    return queue.escalate_to


async def _transfer(app: web.Application, record: RequestRecord, body: dict[str, Any]) -> None:
    """To another queue (`queue`), or to a named colleague (`to_agent`): the request goes back to
    its queue with its age kept, then straight to that agent, who must be available with room."""
    reason = text(body, "reason", required=False)
    if body.get("to_agent") is not None:
        colleague = text(body, "to_agent", max_len=64)
        await app[STORE].transfer(record.request.id, record.request.queue, reason)
        await app[STORE].assign(record.request.id, colleague, why={"transfer": reason})
        return
    queue = text(body, "queue", max_len=64)
    if queue not in app[SETTINGS]().queues:
        raise invalid("queue", f"no queue {queue!r}")
    await app[STORE].transfer(record.request.id, queue, reason)
