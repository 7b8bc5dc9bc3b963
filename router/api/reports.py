"""The reports through the API: `GET /v1/reports/{name}` with the command line's parameters as
query strings (from, to, by, group, calendar, format=json|csv|html; supervisor or admin). A bad
parameter is a 400 naming it; the HTML page is the command line's, served under the status
page's headers (no script, nothing cached)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from frontdesk.queues.reports import ReportStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.api.keys import SETTINGS
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.errors import invalid
from frontdesk.router.http.openapi import Schema, json_content, operation
from frontdesk.router.reports.page import CONTENT_TYPES, CSP, output
from frontdesk.router.reports.query import BY, NAMES, ReportError, parse_query
from frontdesk.router.reports.tables import run

REPORTS: web.AppKey[ReportStore] = web.AppKey("reports", ReportStore)
API_FORMATS = ("json", "csv", "html")
PARAMS = ("from", "to", "by", "group", "calendar", "format")


def mount(app: web.Application, store: QueueStore) -> None:
    app[REPORTS] = ReportStore(store.redis, store.keys)
    app.router.add_get("/v1/reports/{name}", get_report)


async def get_report(request: web.Request) -> web.Response:
    """GET /v1/reports/{name}?from=&to=&by=&group=&calendar=&format=."""
    principal(request, Scope.SUPERVISOR)
    q = request.query
    for key in q:
        if key not in PARAMS:
            raise invalid(key, f"unknown parameter (takes {', '.join(PARAMS)})")
    fmt = q.get("format", "json")
    if fmt not in API_FORMATS:
        raise invalid("format", f"must be one of {', '.join(API_FORMATS)}, got {fmt!r}")
    try:
        query = parse_query(
            request.match_info["name"],
            {k: q.get(k) for k in PARAMS},
            request.app[SETTINGS]().calendars,
        )
    except ReportError as exc:
        raise invalid(exc.field, exc.message) from None
    table = await run(request.app[REPORTS], query)
    headers = {"Cache-Control": "no-store"}
    if fmt == "html":
        headers |= {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}
    if fmt == "csv":
        headers["Content-Disposition"] = f'inline; filename="{query.name}.csv"'
    return web.Response(
        text=output(table, fmt), content_type=CONTENT_TYPES[fmt], charset="utf-8", headers=headers
    )


def openapi_paths() -> dict[str, Schema]:
    params: list[Schema] = [
        {"name": "name", "in": "path", "required": True, "schema": {"enum": list(NAMES)}},
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "first local day (default: 6 days before `to`)"},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "last local day, included (default: today)"},
        {"name": "by", "in": "query", "schema": {"enum": list(BY)}},
        {"name": "group", "in": "query", "schema": {"type": "string"},
         "description": "channel, queue, category, priority, agent, tier, reason, policy, all: "
                        "the ones the report takes"},
        {"name": "calendar", "in": "query", "schema": {"type": "string"},
         "description": "whose timezone (default: desk, else the first calendar, else UTC)"},
        {"name": "format", "in": "query", "schema": {"enum": list(API_FORMATS)}},
    ]  # fmt: skip
    table: Schema = {
        "type": "object", "required": ["report", "columns", "rows"],
        "properties": {
            "report": {"type": "string"}, "title": {"type": "string"},
            "from": {"type": "string"}, "to": {"type": "string"}, "by": {"type": "string"},
            "group": {"type": ["string", "null"]}, "timezone": {"type": "string"},
            "calendar": {"type": ["string", "null"]},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "object"}},
            "comments": {"type": "array", "items": {"type": "object"}},
        },
    }  # fmt: skip
    ok = json_content("The report (CSV or an HTML page with format=csv, html)", table)
    content: dict[str, Any] = ok["content"]
    content["text/csv"] = {"schema": {"type": "string"}}
    content["text/html"] = {"schema": {"type": "string"}}
    op = operation("Supervisor: a report from the figures kept per hour", "getReport", ok,
                   errors=(400,))  # fmt: skip
    op["parameters"] = params
    return {"/v1/reports/{name}": {"get": op}}
