"""Care lists through the API (supervisor): who is an important customer, who is unhappy, for
how long. `{id}` is a customer id (C-1), an email address or an E.164 number, as a `customers:`
entry is; the lists are the live ones every daemon's intake reads (router/intake/care.py).

    GET    /v1/care-lists/{list}                   everyone on a list now
    GET    /v1/customers/{id}/lists/{list}         one customer's entry (404 when not on it)
    PUT    /v1/customers/{id}/lists/{list}         on the list: {"for": "30d"} or {"until":
                                                   ISO 8601} or neither (for ever), "reason"
    DELETE /v1/customers/{id}/lists/{list}         off it (204; 404 when not on it)
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiohttp import web

from frontdesk.queues.care import LISTS, Entry
from frontdesk.router.api.keys import STORE
from frontdesk.router.conf.yaml import parse_duration
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.body import json_body, text
from frontdesk.router.http.errors import ApiError, invalid
from frontdesk.router.http.views import iso_ms
from frontdesk.router.intake.care import joined
from frontdesk.router.intake.rules import entry_key

MAX_FOR_S = 10 * 366 * 86400


def _list(request: web.Request) -> str:
    name = request.match_info["list"]
    if name not in LISTS:
        raise ApiError(404, "no_such_list", f"no care list {name!r}; there are {', '.join(LISTS)}")
    return name


def _key(request: web.Request) -> tuple[str, str]:
    """The entry key and the entry as written, from the path's customer."""
    entry = request.match_info["id"].strip()
    try:
        return joined(entry_key(entry)), entry
    except ValueError as exc:
        raise invalid("id", str(exc)) from None


def view(entry: Entry) -> dict[str, Any]:
    return {
        "customer": entry.entry,
        "key": entry.key,
        "until": iso_ms(entry.until_ms) if entry.until_ms else None,
        "source": entry.source,
        "reason": entry.reason or None,
        "since": iso_ms(entry.at_ms) if entry.at_ms else None,
    }


def _live(entry: Entry | None, now_ms: int) -> Entry | None:
    return entry if entry is not None and (not entry.until_ms or entry.until_ms > now_ms) else None


async def list_all(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    name = _list(request)
    now = int(time.time() * 1000)
    entries = [e for e in await request.app[STORE].care.all(name) if _live(e, now)]
    entries.sort(key=lambda e: (e.at_ms, e.key))
    return web.json_response({"list": name, "entries": [view(e) for e in entries]})


async def get_entry(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    name, (key, entry) = _list(request), _key(request)
    found = _live(await request.app[STORE].care.get(name, key), int(time.time() * 1000))
    if found is None:
        raise ApiError(404, "not_listed", f"{entry} is not on {name}")
    return web.json_response(view(found))


async def put_entry(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    name, (key, entry) = _list(request), _key(request)
    body = await json_body(request, ("for", "until", "reason"))
    if "for" in body and "until" in body:
        raise invalid("until", "give for or until, not both")
    now = int(time.time() * 1000)
    until = 0
    if "for" in body:
        seconds = parse_duration(body["for"])
        if seconds is None or not 0 < seconds <= MAX_FOR_S:
            raise invalid("for", "must be a duration such as 30d or 12h, up to ten years")
        until = now + int(seconds * 1000)
    elif "until" in body:
        raw = text(body, "until", max_len=64)
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise invalid("until", f"{raw!r} is not an ISO 8601 instant") from None
        if when.tzinfo is None:
            raise invalid("until", "needs an offset or Z (2027-01-01T00:00:00+08:00)")
        until = int(when.timestamp() * 1000)
        if until <= now:
            raise invalid("until", "is in the past")
    reason = text(body, "reason", required=False, max_len=200)
    store = request.app[STORE].care
    created = await store.put(name, key, entry, until, "api", reason)
    found = await store.get(name, key)
    assert found is not None
    return web.json_response(view(found) | {"created": created}, status=201 if created else 200)


async def delete_entry(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    name, (key, entry) = _list(request), _key(request)
    if not await request.app[STORE].care.remove(name, key, "api"):
        raise ApiError(404, "not_listed", f"{entry} is not on {name}")
    return web.Response(status=204)


def mount(app: web.Application) -> None:
    app.router.add_get("/v1/care-lists/{list}", list_all)
    path = "/v1/customers/{id}/lists/{list}"
    app.router.add_get(path, get_entry)
    app.router.add_put(path, put_entry)
    app.router.add_delete(path, delete_entry)
