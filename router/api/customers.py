"""Customers through the API (supervisor): merge two customers who are one person, import a
customer directory with its care lists.

    POST /v1/customers/{id}/merge    {"into": "C-2"}: customer {id} becomes part of C-2 (its
                                     addresses, its requests, its care-list standing follow);
                                     the event customer.merged
    POST /v1/customers/import        a directory as JSON ({"customers": [...]}) or CSV (text/csv);
                                     the same rows as `frontdesk customers import`
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import QueueError, WrongState
from frontdesk.router.api.keys import FRONT
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.body import json_body, read_body, text
from frontdesk.router.http.errors import ApiError, invalid
from frontdesk.router.intake.directory import DirectoryError, import_rows, parse

CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}")
MAX_IMPORT = 4 * 1024 * 1024


async def customer_view(customers: CustomerStore, customer_id: str) -> dict[str, Any]:
    record = await customers.get(customer_id)
    assert record is not None
    listed = await customers.requests(customer_id)
    return {
        "id": record.id,
        "name": record.name or None,
        "addresses": sorted(record.addresses),
        "requests": [r.request.id for r in listed],
    }


async def merge(request: web.Request) -> web.Response:
    """POST /v1/customers/{id}/merge: {id} into the body's `into`."""
    principal(request, Scope.SUPERVISOR)
    other = request.match_info["id"]
    body = await json_body(request, ("into",))
    into = text(body, "into", max_len=64)
    if not CUSTOMER_ID.fullmatch(other):
        raise invalid("id", "is not a customer id (C-12)")
    if not CUSTOMER_ID.fullmatch(into):
        raise invalid("into", "is not a customer id (C-12)")
    customers = request.app[FRONT].customers
    found = await customers.get(other)
    if found is None:
        raise ApiError(404, "not_found", f"id: no customer {other!r}", "id")
    if found.merged_into:
        raise ApiError(409, "merged_already", f"id: {other} was merged into "
                       f"{await customers.resolve(other)} already", "id")  # fmt: skip
    if await customers.get(into) is None:
        raise ApiError(404, "not_found", f"into: no customer {into!r}", "into")
    final = await customers.resolve(into)  # one merged already: into the one it became
    if final == other:
        raise invalid("into", f"is {other} itself (or was merged into it)")
    try:
        moved = await customers.merge(other, final)
    except WrongState:
        raise ApiError(409, "merged_already", f"id: {other} was merged meanwhile", "id") from None
    except QueueError as exc:
        raise ApiError(404, "not_found", str(exc), "id") from None
    view = await customer_view(customers, final)
    return web.json_response({"merged": other, "addresses_moved": moved, "customer": view})


async def import_directory(request: web.Request) -> web.Response:
    """POST /v1/customers/import: every good row imported (each all or nothing), the bad ones
    reported with their line."""
    principal(request, Scope.SUPERVISOR)
    kinds = {"application/json": "json", "text/csv": "csv"}
    kind = kinds.get(request.content_type)
    if kind is None:
        raise ApiError(415, "unsupported_media_type", "Content-Type: send application/json or "
                       "text/csv", "Content-Type")  # fmt: skip
    raw = await read_body(request, MAX_IMPORT)  # all of it (413 past the limit)
    try:
        rows = parse(raw.decode("utf-8-sig"), kind)
    except UnicodeDecodeError:
        raise invalid("(body)", "is not UTF-8 text") from None
    except DirectoryError as exc:
        raise invalid("(body)", str(exc)) from None
    report = await import_rows(request.app[FRONT].customers, rows)
    return web.json_response(report.as_dict())


def mount(app: web.Application) -> None:
    app.router.add_post("/v1/customers/import", import_directory)
    app.router.add_post("/v1/customers/{id}/merge", merge)
