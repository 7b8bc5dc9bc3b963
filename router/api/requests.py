"""`/v1/requests/{id}`: a request, where it stands, and why it went where it went."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from frontdesk.queues.blobs import is_reference
from frontdesk.queues.store import RequestRecord
from frontdesk.router.api.keys import FRONT, STANDING, STORE
from frontdesk.router.api.work import full_request
from frontdesk.router.http.auth import PRINCIPAL, Scope, principal
from frontdesk.router.http.views import describe, thread_view

_BINARY = "application/octet-stream"


async def standing(request: web.Request, record: RequestRecord) -> dict[str, Any]:
    """Queue position and estimated wait of a waiting request."""
    return await request.app[STANDING](record)


async def _visible(request: web.Request) -> RequestRecord:
    """The request of the path, if the caller may see it (an agent: only one it holds; a
    quality reviewer: only a closed one)."""
    token = principal(request, Scope.AGENT, Scope.INTEGRATION, Scope.SUPERVISOR, Scope.QA)
    request_id = request.match_info["id"]
    record = await request.app[STORE].get(request_id)
    if record is None or (token.scope is Scope.AGENT and record.agent != token.agent):
        raise web.HTTPNotFound(text=f"no request {request_id!r}")
    if token.scope is Scope.QA and record.state.value not in ("completed", "abandoned"):
        raise web.HTTPNotFound(text=f"no request {request_id!r}")
    return record


async def get_request(request: web.Request) -> web.Response:
    """GET /v1/requests/{id}: the request, where it stands, and its thread (what the customer
    wrote, every reply, with authors, times, attachments and auto-replies marked)."""
    record = await _visible(request)
    messages = await request.app[STORE].messages(record.request.id) if record.messages else []
    thread = thread_view(record, messages)
    return web.json_response(describe(record) | thread | await standing(request, record))


async def get_attachment(request: web.Request) -> web.Response:
    """An attachment of the request or of a follow-up, served as a download: never rendered
    in the desk's own origin (customers choose its type and content)."""
    record = await _visible(request)
    ref = request.match_info["ref"]
    app = request.app
    messages = await app[STORE].messages(record.request.id) if record.messages else []
    listed = [*record.request.attachments, *(a for m in messages for a in m.attachments)]
    found = next((a for a in listed if a.ref == ref), None) if is_reference(ref) else None
    if found is None:
        raise web.HTTPNotFound(text=f"request {record.request.id} has no attachment {ref!r}")
    content = await app[FRONT].blobs.get(ref)
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


async def get_messages(request: web.Request) -> web.Response:
    """GET /v1/requests/{id}/messages: the request with its thread, the customer and the
    customer's other requests (open first), as accepting it answered: for the agent that holds
    it (a desk that reloads), a supervisor or an integration."""
    record = await _visible(request)
    if request[PRINCIPAL].scope is Scope.QA:
        raise web.HTTPNotFound(text=f"no request {record.request.id!r}")
    return web.json_response(full_request(await request.app[STORE].held_view(record)))
