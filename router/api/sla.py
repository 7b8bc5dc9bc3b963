"""Service levels through the API: an agent waits on the customer (`pending`) or takes the
request up again (`resume`), marks a stage done (`milestones`: a complaint's investigation), and
supervisors see the requests nearest to breach (`GET /v1/sla/at-risk`). The agent WebSocket takes
the same three verbs as frames (router/api/agent_ws.py hands them to `perform`)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from frontdesk.queues.errors import NoSuchTarget, QueueError, TargetDone
from frontdesk.queues.sla import member_request
from frontdesk.queues.wire import text as wire_text
from frontdesk.router.api.keys import STORE
from frontdesk.router.http.auth import ApiToken, Scope, principal
from frontdesk.router.http.body import text
from frontdesk.router.http.errors import ApiError
from frontdesk.router.http.views import describe, iso_ms

SLA_VERBS = {"pending", "resume", "milestones"}
MAX_AT_RISK = 500


async def sla_verb(
    app: web.Application, token: ApiToken, agent: str, action: str, request_id: str,
    body: dict[str, Any], refusal: Any,
) -> dict[str, Any]:  # fmt: skip
    """pending {reason}, resume, milestones {target, note}: for the acting agent, who must hold
    the request when the token is the agent's own."""
    store = app[STORE]
    own = token.scope is Scope.AGENT
    try:
        if action == "milestones":
            target = text(body, "target", max_len=64)
            note = text(body, "note", required=False, max_len=2000)
            reply = await store.sla.milestone(request_id, agent, target, note, own)
        else:
            reason = text(body, "reason", required=False, max_len=200)
            reply = await store.sla.pend(request_id, agent, action == "resume", reason, own)
    except NoSuchTarget:
        raise ApiError(
            422, "no_such_target", f"the request's service level has no target {target!r}",
            "target",
        ) from None  # fmt: skip
    except TargetDone:
        done = f"{target!r} was marked done already"
        raise ApiError(409, "target_done", done, "target") from None
    except QueueError as exc:
        raise refusal(exc) from None
    return describe(reply.record)


async def at_risk(request: web.Request) -> web.Response:
    """GET /v1/sla/at-risk?limit=N&within=SECONDS: the open requests whose next breach is
    nearest, soonest first, with the target and the time left (supervisor)."""
    principal(request, Scope.SUPERVISOR)
    limit = _number(request, "limit", 50, 1, MAX_AT_RISK)
    within = _number(request, "within", None, 0, 366 * 86400)
    store = request.app[STORE]
    now = int(time.time() * 1000)
    until = "+inf" if within is None else now + int(within * 1000)
    raw: Any = await store.redis.zrangebyscore(
        store.keys.sla_due, "-inf", until, start=0, num=limit * 2, withscores=True
    )
    breaches = [(wire_text(m), int(s)) for m, s in raw if wire_text(m).endswith("|b")][:limit]
    ids = [member_request(m) for m, _ in breaches]
    async with store.redis.pipeline(transaction=False) as pipe:
        for request_id in ids:
            pipe.hmget(store.keys.request(request_id), "state", "queue", "agent", "band", "sla")
        rows = await pipe.execute()
    out = []
    for (member, due), request_id, row in zip(breaches, ids, rows, strict=True):
        state, queue, agent, band, raw_clocks = row
        if state is None:
            continue
        index = int(member.rsplit("|", 2)[1])
        target = _target_name(raw_clocks, index)
        out.append(
            {
                "request": request_id,
                "target": target,
                "due_at": iso_ms(due),
                "remaining_s": (due - now) / 1000,
                "state": state.decode(),
                "queue": queue.decode() if queue else None,
                "agent": agent.decode() if agent else None,
                "priority": {b"0": "high", b"1": "medium", b"2": "low"}.get(band),
            }
        )
    return web.json_response({"at_risk": out, "now": iso_ms(now)})


def _target_name(raw: bytes | None, index: int) -> str | None:
    if not raw:
        return None
    targets = json.loads(raw).get("t", [])
    return str(targets[index - 1]["n"]) if 0 < index <= len(targets) else None


def _number(request: web.Request, name: str, default: float | None, low: float, high: float) -> Any:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ApiError(400, "invalid", f"{name}: a number from {low:g} to {high:g}", name)
    return int(value) if name == "limit" else value
