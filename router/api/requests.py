"""`/v1/requests/{id}`: a request, where it stands, and why it went where it went."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from frontdesk.queues.blobs import is_reference
from frontdesk.queues.request import Attachment
from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.api.keys import DAEMON
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.routing.eta import estimate_wait_s
from frontdesk.skills import Presence

_BINARY = "application/octet-stream"


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


def attachment_view(request_id: str, attachment: Attachment) -> dict[str, Any]:
    """An attachment's metadata, and where its content is: `url` while the desk keeps it (None
    when it was over the channel's size limit), else `source`, the platform's own reference (a
    WhatsApp media id, a Messenger file URL) when the channel gave one."""
    ref = attachment.ref
    ours = ref is not None and is_reference(ref)
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "url": f"/v1/requests/{request_id}/attachments/{ref}" if ours else None,
        "source": None if ours else ref,
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
        "attachments": [attachment_view(r.id, a) for a in r.attachments],
        "resolution": record.resolution,
        "routing": record.why,
    }


async def _visible(request: web.Request) -> RequestRecord:
    """The request of the path, if the caller may see it (an agent: only one it holds)."""
    token = principal(request, Scope.AGENT, Scope.INTEGRATION, Scope.SUPERVISOR)
    request_id = request.match_info["id"]
    record = await request.app[DAEMON].store.get(request_id)
    if record is None or (token.scope is Scope.AGENT and record.agent != token.agent):
        raise web.HTTPNotFound(text=f"no request {request_id!r}")
    return record


async def get_request(request: web.Request) -> web.Response:
    record = await _visible(request)
    return web.json_response(describe(record) | await standing(request, record))


async def get_attachment(request: web.Request) -> web.Response:
    """An attachment of the request or of a follow-up, served as a download: never rendered
    in the desk's own origin (customers choose its type and content)."""
    record = await _visible(request)
    ref = request.match_info["ref"]
    daemon = request.app[DAEMON]
    messages = await daemon.store.messages(record.request.id) if record.messages else []
    listed = [*record.request.attachments, *(a for m in messages for a in m.attachments)]
    found = next((a for a in listed if a.ref == ref), None) if is_reference(ref) else None
    if found is None:
        raise web.HTTPNotFound(text=f"request {record.request.id} has no attachment {ref!r}")
    content = await daemon.front.blobs.get(ref)
    if content is None:
        raise web.HTTPGone(text=f"attachment {found.filename!r} is no longer kept (retention)")
    name = quote(found.filename, safe="")
    return web.Response(
        body=content,
        headers={
            "Content-Type": found.content_type if "/" in found.content_type else _BINARY,
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
