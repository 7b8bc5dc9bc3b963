"""An agent's work through the API: accept, reject, reply, complete, transfer, escalate. The
agent acting is the token's agent; a supervisor's or admin's token names it in the body."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from frontdesk.queues.errors import (
    AgentRefused,
    NoNextTier,
    NotYourOffer,
    NotYourRequest,
    QueueError,
    RequestNotFound,
    TopTier,
    WrongState,
)
from frontdesk.queues.request import Message
from frontdesk.queues.store import RequestRecord
from frontdesk.queues.work import Accepted
from frontdesk.router.api.calls import CALL_ACTION, CALL_FIELDS, call_attempt
from frontdesk.router.api.keys import SETTINGS, STORE
from frontdesk.router.api.reclassify import RECLASSIFY_FIELDS, parse_reclassify
from frontdesk.router.api.sla import SLA_VERBS, sla_verb
from frontdesk.router.http.auth import ApiToken, Scope, principal
from frontdesk.router.http.body import json_body, number, text
from frontdesk.router.http.errors import ApiError, invalid
from frontdesk.router.http.views import describe, thread_view
from frontdesk.router.outbound.notices.templates import resolution_key

log = logging.getLogger("frontdesk.work")

MAX_WRAP_UP_S = 3600.0
MAX_SUMMARY = 1000  # the agent's summary for the customer, given with complete


def refusal(exc: QueueError) -> ApiError:
    """A queue refusal as the HTTP answer a client can act on."""
    status = {
        RequestNotFound: 404,
        NotYourOffer: 403,
        NotYourRequest: 403,
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


def full_request(accepted: Accepted) -> dict[str, Any]:
    """What an agent needs on accepting: the request, its thread, the customer, and the
    customer's other requests, open ones first (all of it from the accept itself)."""
    record = accepted.record
    described = describe(record)
    addresses = accepted.addresses
    known = {"addresses": sorted(addresses)} if addresses is not None else {}
    history = [{"id": p.id, "state": p.state.value, "subject": p.subject} for p in accepted.history]
    more = {"customer": described["customer"] | known, "customer_requests": history}
    return described | thread_view(record, accepted.thread) | more


FIELDS = {"agent", "reason", "text", "resolution", "wrap_up_s", "queue", "to_agent", "note"}
FIELDS |= {"target", "summary"}  # milestones; complete's summary for the customer
FIELDS |= RECLASSIFY_FIELDS | {"reason_code"} | CALL_FIELDS


async def work(request: web.Request) -> web.Response:
    """POST /v1/requests/{id}/{action}: accept, reject, messages, complete, transfer, escalate,
    pending, resume, milestones."""
    token = principal(request, Scope.AGENT, Scope.SUPERVISOR)
    body = await json_body(request, FIELDS)
    result = await perform(
        request.app, token, request.match_info["action"], request.match_info["id"], body
    )
    return web.json_response(result)


VERBS = {"accept", "reject", "complete", "transfer", "escalate", "reclassify"}


async def perform(
    app: web.Application, token: ApiToken, action: str, request_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """One action on a request for the acting agent (the REST API and the agent WebSocket).
    The verbs read nothing first and nothing after: each script answers with the record (an
    agent's own token asks it to refuse a request the agent does not hold)."""
    if action in SLA_VERBS:
        agent = acting_agent(token, body)
        return await sla_verb(app, token, agent, action, request_id, body, refusal)
    if action == CALL_ACTION:
        return await call_attempt(app, acting_agent(token, body), request_id, body, refusal)
    if action not in VERBS:
        return await _other(app, token, action, request_id, body)
    store = app[STORE]
    own = token.scope is Scope.AGENT
    if action == "reclassify" and not own and body.get("agent") is None:
        agent = f"supervisor:{token.name}"  # a supervisor corrects it for no agent
    else:
        agent = acting_agent(token, body)
    try:
        if action == "accept":
            accepted = await store.accept_full(request_id, agent)
            log.info("%s accepted by %s", request_id, agent)
            return full_request(accepted)
        if action == "reject":
            reason = text(body, "reason", required=False)
            record = (await store.reject(request_id, agent, reason, holder_only=own)).record
        elif action == "complete":
            wrap = number(body, "wrap_up_s", 0, MAX_WRAP_UP_S, 0)
            resolution = _resolution(app, text(body, "resolution", False, 200))
            summary = text(body, "summary", False, MAX_SUMMARY).strip()
            done = await store.complete(request_id, agent, resolution, wrap, own, summary)
            record = done.record
        elif action == "transfer":
            record = await _transfer(app, request_id, body, agent if own else None)
        elif action == "reclassify":
            category, priority, skills = parse_reclassify(app[SETTINGS](), body)
            changed = await store.reclassify(
                request_id, category, priority, skills, agent if own else None, agent
            )
            record = changed.record
        else:
            note = text(body, "note", required=False)
            code = _reason_code(app, body)
            raised = await store.escalate_to(
                request_id, lambda queue: _next_tier(app, queue), note, agent if own else None,
                code,
            )  # fmt: skip
            record = raised.record
    except NoNextTier as exc:
        raise ApiError(409, "no_escalation", f"queue {exc.queue!r} has no escalate_to") from None
    except QueueError as exc:
        raise refusal(exc) from None
    log.info("%s %s by %s (now %s in %s)", request_id, _DONE[action], agent,
             record.state.value, record.request.queue)  # fmt: skip
    return describe(record)


_DONE = {
    "reject": "rejected", "complete": "completed", "transfer": "transferred",
    "escalate": "escalated", "reclassify": "reclassified",
}  # fmt: skip


async def _other(
    app: web.Application, token: ApiToken, action: str, request_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The agent's reply (`messages`), or an action that does not exist."""
    record = await _record(app, request_id)
    agent = acting_agent(token, body)
    if record.agent != agent and token.scope is Scope.AGENT:
        raise ApiError(403, "not_your_request", f"request {request_id} is not held by {agent}")
    if action != "messages":
        raise ApiError(404, "not_found", f"no action {action!r}")
    if record.agent != agent:
        raise ApiError(403, "not_your_request", f"{agent} does not hold {request_id}")
    reply = Message(text(body, "text", max_len=20000), "agent")
    try:
        await app[STORE].append_message(request_id, reply)
    except QueueError as exc:
        raise refusal(exc) from None
    return describe(await _record(app, request_id))


def _resolution(app: web.Application, code: str) -> str:
    """A resolution code as given; with `notices.resolutions` in the config, one of its codes
    (or the shipped ones) only, compared as the notices compare them."""
    notices = app[SETTINGS]().notices
    codes = notices.resolution_codes if notices is not None else None
    if code and codes is not None and resolution_key(code) not in codes:
        raise invalid("resolution", f"unknown resolution code {code!r}; known: "
                      + ", ".join(sorted(codes)))  # fmt: skip
    return code


def _reason_code(app: web.Application, body: dict[str, Any]) -> str:
    """An escalation's `reason_code`: one of escalation.reasons ('' none, unless required)."""
    settings = app[SETTINGS]().escalation
    code = body.get("reason_code")
    if code is None and not settings.require_reason:
        return ""
    if code not in settings.reasons:
        known = ", ".join(settings.reasons)
        raise invalid("reason_code", f"must be one of {known} (escalation.reasons)")
    return str(code)


def _next_tier(app: web.Application, queue: str) -> str | None:
    """The queue the next tier of `queue` waits in (None: it has none)."""
    found = app[SETTINGS]().queues.get(queue)
    return found.escalate_to if found is not None and found.escalate_to else None


async def _transfer(
    app: web.Application, request_id: str, body: dict[str, Any], holder: str | None
) -> RequestRecord:
    """To another queue (`queue`), or to a named colleague (`to_agent`): the request goes back to
    its queue with its age kept, then straight to that agent, who must be available with room.
    `holder`: the agent that must hold it (an agent's own token)."""
    reason = text(body, "reason", required=False)
    store = app[STORE]
    if body.get("to_agent") is not None:
        colleague = text(body, "to_agent", max_len=64)
        back = await store.transfer(request_id, None, reason, holder)
        await store.assign(request_id, colleague, back.queue, {"transfer": reason})
        return await _record(app, request_id)
    queue = text(body, "queue", max_len=64)
    if queue not in app[SETTINGS]().queues:
        raise invalid("queue", f"no queue {queue!r}")
    return (await store.transfer(request_id, queue, reason, holder)).record
