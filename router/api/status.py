"""The customer's own view of a request, for any channel's receipt (public, with the status token
from the receipt or the link in a notice):

    GET /v1/requests/{id}/status?token=...   state, queue position, estimated wait, the agent

A browser gets the status page (router/api/status_page.py), an API client the JSON view. A wrong
token is answered as if there were no such request. A form site's origin may read the answer
(CORS), as the config has the sites now."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.api import status_page
from frontdesk.router.api.keys import AGENTS, FRONT, SETTINGS, SITE_ORIGIN, STORE
from frontdesk.router.api.requests import standing
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import Handler, Refusal, allow_origin
from frontdesk.router.http.openapi import json_content, operation
from frontdesk.router.http.views import iso_ms
from frontdesk.router.routing.callbacks import hold_until, is_callback


async def _status(request: web.Request) -> web.StreamResponse:
    """The customer's view: state, queue position, estimated wait, and the agent's display
    name once one works on it. A wrong token is answered as if there were no such request."""
    request_id = request.match_info["id"]
    token = request.query.get("token")
    if not token:
        raise Refusal(400, "missing", "token: is required", "token")
    browser = status_page.wants_html(request)
    unknown = Refusal(404, "not_found", "no such request, or the token does not match it")
    app = request.app
    known = _printable(request_id, 64) and _printable(token, 128)
    if not (known and app[FRONT].check_status_token(request_id, token)):
        if browser:
            return status_page.not_found(status_page.language(request))
        raise unknown
    record = await app[STORE].get(request_id)
    if record is None:
        if browser:
            return status_page.not_found(status_page.language(request))
        raise unknown
    agent = None
    if record.agent and record.state in (State.ASSIGNED, State.COMPLETED):
        profile = await app[AGENTS].get(record.agent)
        agent = profile.name if profile is not None else None
    where = await standing(request, record)
    call_at = _call_at(record, app[SETTINGS]().callback_hours)
    wait = where["estimated_wait_s"]
    if call_at is not None:  # held: not before the call (the first working hour, a retry)
        wait = max(wait or 0.0, (call_at - datetime.now(UTC)).total_seconds())
    view = {
        "id": record.request.id,
        "state": record.state.value,
        "position": where["position"],
        "estimated_wait_s": wait,
        "call_at": call_at.isoformat() if call_at is not None else None,
        "agent": agent,
        "service_levels": promises(record, app[SETTINGS]().calendars),
    }
    if browser:  # the link in a notice, opened in a browser
        return status_page.page(view, status_page.language(request, record.request.language))
    return web.json_response(view)


def _call_at(record: RequestRecord, hours: Calendar | None) -> datetime | None:
    """When a waiting phone callback that is held (outside working hours or its window, or
    waiting for a retry) will be called: the instant the dispatcher routes it from."""
    if record.state is not State.WAITING or not is_callback(record.request):
        return None
    return hold_until(record.request, datetime.now(UTC), hours)


def promises(record: RequestRecord, calendars: Mapping[str, Calendar]) -> list[dict[str, Any]]:
    """What the desk promised the customer (every target but the next response), each with
    its due instant, also in words local to its calendar."""
    out: list[dict[str, Any]] = []
    for c in record.clocks.clocks if record.clocks else ():
        if c.target == "next_response" or c.state in ("idle", "new", "stopped"):
            continue
        calendar = calendars.get(c.calendar) if c.calendar else None
        local = None
        if c.due_ms is not None:
            zone = calendar.zone if calendar is not None else UTC
            when = datetime.fromtimestamp(c.due_ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
            local = f"{when} ({calendar.zone.key if calendar is not None else 'UTC'})"
        out.append(
            {
                "target": c.target,
                "state": c.state,
                "due_at": iso_ms(c.due_ms),
                "local_due": local,
                "breached": c.breached_ms is not None,
            }
        )
    return out


def _cors(inner: Handler) -> Handler:
    """CORS for the form sites' origins (as the config has the sites now), refusals included:
    the one error renderer adds the headers (router/http/errors.py)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and request.app[SITE_ORIGIN](origin):
            allow_origin(request, origin)
        return await inner(request)

    return handle


status_lookup = public(_cors(_status))
"""`GET /v1/requests/{id}/status?token=...`, for any channel's request (public)."""


def _printable(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and all("\x21" <= c <= "\x7e" for c in text)


# -- the API description --------------------------------------------------------------------------
_TEXT: dict[str, Any] = {"type": "string"}
_STATUS: dict[str, Any] = {
    "type": "object",
    "required": ["id", "state", "position", "estimated_wait_s", "agent"],
    "properties": {
        "id": _TEXT,
        "state": {"enum": [s.value for s in State]},
        "position": {"type": ["integer", "null"], "description": "1-based, while waiting"},
        "estimated_wait_s": {"type": ["number", "null"]},
        "call_at": {
            "type": ["string", "null"],
            "description": "a held phone callback: when it will be called (ISO 8601, UTC)",
        },
        "agent": {"type": ["string", "null"], "description": "the agent's display name"},
        "service_levels": {
            "type": "array",
            "description": "what the desk promised: each target's state and due instant",
            "items": {
                "type": "object",
                "properties": {
                    "target": _TEXT,
                    "state": {"enum": ["running", "paused", "met"]},
                    "due_at": {"type": ["string", "null"], "format": "date-time"},
                    "local_due": {"type": ["string", "null"]},
                    "breached": {"type": "boolean"},
                },
            },
        },
    },
}


def _get_status() -> dict[str, Any]:
    op = operation(
        "The customer's view of their request (with the status token from the receipt)",
        "getRequestStatus",
        json_content("Where the request stands", _STATUS)
        | {
            "content": {
                **json_content("", _STATUS)["content"],
                "text/html": {"schema": {"type": "string"}},
            }
        },
        path_params=("id",),
        errors=(400, 404),
        secured=False,
    )
    op["parameters"].append({"name": "token", "in": "query", "required": True, "schema": _TEXT})
    return op


OPENAPI_PATHS: dict[str, Any] = {"/v1/requests/{id}/status": {"get": _get_status()}}
