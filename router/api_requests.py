"""`/v1/requests/{id}`: a request, where it stands, and why it went where it went."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.skills import Presence

from .app_keys import DAEMON
from .auth import Scope, principal
from .eta import estimate_wait_s


def _iso(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms is not None else None


async def standing(request: web.Request, record: RequestRecord) -> dict[str, Any]:
    """Queue position and estimated wait of a waiting request."""
    daemon = request.app[DAEMON]
    if record.state is not State.WAITING:
        return {"position": None, "estimated_wait_s": None}
    position = await daemon.store.position(record.request.id, record.request.queue)
    if position is None:
        return {"position": None, "estimated_wait_s": None}
    queue = daemon.settings.queues.get(record.request.queue)
    groups = set(queue.routing.groups) if queue else set()
    channel = record.request.channel.value
    free = sum(
        a.spare(channel)
        for a in await daemon.agents.recent()
        if a.presence is Presence.AVAILABLE and (not groups or groups & set(a.groups))
    )
    rate = daemon.dispatcher.throughput.rate(record.request.queue, await daemon.store.now_ms())
    wait = estimate_wait_s(position, rate, free)
    return {
        "position": position,
        "estimated_wait_s": None if wait is None else round(wait, 1),
    }


def describe(record: RequestRecord) -> dict[str, Any]:
    r = record.request
    return {
        "id": r.id,
        "state": record.state.value,
        "queue": r.queue,
        "channel": r.channel.value,
        "priority": r.priority.value,
        "tier": r.tier,
        "category": r.category,
        "skills": [
            {"name": s.name, "min_level": s.min_level, "optional": s.optional} for s in r.skills
        ],
        "agent": record.agent,
        "subject": r.subject,
        "customer": {
            "id": r.customer.id,
            "name": r.customer.name,
            "email": r.customer.email,
            "phone": r.customer.phone,
        },
        "enqueued_at": _iso(record.enqueued_ms),
        "offer_deadline": _iso(record.deadline_ms),
        "messages": record.messages,
        "resolution": record.resolution,
        "routing": record.why,
    }


async def get_request(request: web.Request) -> web.Response:
    token = principal(request, Scope.AGENT, Scope.INTEGRATION, Scope.SUPERVISOR)
    request_id = request.match_info["id"]
    record = await request.app[DAEMON].store.get(request_id)
    if record is None or (token.scope is Scope.AGENT and record.agent != token.agent):
        raise web.HTTPNotFound(text=f"no request {request_id!r}")
    return web.json_response(describe(record) | await standing(request, record))
