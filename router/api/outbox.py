"""The outbox's operator surface over the HTTP API (scope supervisor or admin): dead letters
listed, replayed and purged. The command line's is router/cli/outbox.py.

    GET    /v1/outbox/dead[?sink=NAME&limit=N]       the dead letters, oldest event first
    POST   /v1/outbox/dead/{id}/replay[?sink=NAME]   one back to its lane, delivered again
    POST   /v1/outbox/dead/replay[?sink=NAME]        every one of them
    DELETE /v1/outbox/dead/{id}[?sink=NAME]          one removed for good
    DELETE /v1/outbox/dead[?sink=NAME&older_than=D]  every one (dead for longer than D)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from frontdesk.queues.outbox import DeadLetter
from frontdesk.router.api.keys import OUTBOX
from frontdesk.router.conf.yaml import parse_duration
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.openapi import Schema, json_content, operation
from frontdesk.router.outbound.outbox import OutboxEngine

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def mount(app: web.Application, engine: OutboxEngine) -> None:
    """Add the outbox routes to the daemon's app."""
    app[OUTBOX] = engine
    app.router.add_get("/v1/outbox/dead", list_dead)
    app.router.add_post("/v1/outbox/dead/replay", replay_all)
    app.router.add_post("/v1/outbox/dead/{id}/replay", replay_one)
    app.router.add_delete("/v1/outbox/dead", purge_all)
    app.router.add_delete("/v1/outbox/dead/{id}", purge_one)


def iso_ms(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


def describe(letter: DeadLetter) -> dict[str, Any]:
    return {
        "sink": letter.sink,
        "id": letter.id,
        "lane": letter.lane,
        "type": letter.fields.get("type"),
        "request": letter.fields.get("req") or None,
        "attempts": letter.attempts,
        "error": letter.error,
        "dead_at": iso_ms(letter.dead_ms),
        "event": letter.fields,
    }


async def _listed_sinks(request: web.Request) -> list[str]:
    engine = request.app[OUTBOX]
    known = sorted(set(await engine.outbox.sinks()) | set(engine.sink_names))
    wanted = request.query.get("sink")
    if wanted is None:
        return known
    if wanted not in known:
        raise web.HTTPNotFound(text=f"no sink {wanted!r}; known: {', '.join(known) or 'none'}")
    return [wanted]


def _replayable_sinks(request: web.Request) -> list[str]:
    configured = list(request.app[OUTBOX].sink_names)
    wanted = request.query.get("sink")
    if wanted is None:
        return configured
    if wanted not in configured:
        raise web.HTTPConflict(
            text=f"sink {wanted!r} is not configured in this daemon; "
            "replayed events would wait until it is"
        )
    return [wanted]


async def list_dead(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    digits = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 9  # int() of 5,000
    if not digits or not 1 <= int(raw_limit) <= MAX_LIMIT:  # digits raises: bounded first
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    outbox = request.app[OUTBOX].outbox
    letters = [d for sink in await _listed_sinks(request) for d in await outbox.dead_letters(sink)]
    shown = letters[: int(raw_limit)]
    return web.json_response({"dead": [describe(d) for d in shown], "total": len(letters)})


async def _on_each(
    sinks: list[str], act: Callable[[str], Awaitable[list[str]]]
) -> list[dict[str, str]]:
    """`act` on each sink: the dead letters it touched, as {sink, id}."""
    return [{"sink": sink, "id": i} for sink in sinks for i in await act(sink)]


def _one(request: web.Request, done: list[dict[str, str]], key: str) -> web.Response:
    if not done:
        raise web.HTTPNotFound(text=f"no dead letter {request.match_info['id']!r}")
    return web.json_response({key: done})


async def replay_one(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    ids, outbox = [request.match_info["id"]], request.app[OUTBOX].outbox
    done = await _on_each(_replayable_sinks(request), lambda s: outbox.replay(s, ids))
    return _one(request, done, "replayed")


async def replay_all(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    outbox = request.app[OUTBOX].outbox
    done = await _on_each(_replayable_sinks(request), outbox.replay)
    return web.json_response({"replayed": done})


async def purge_one(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    ids, outbox = [request.match_info["id"]], request.app[OUTBOX].outbox
    done = await _on_each(await _listed_sinks(request), lambda s: outbox.purge(s, ids))
    return _one(request, done, "purged")


async def purge_all(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    older_than_ms = None
    if "older_than" in request.query:
        seconds = parse_duration(request.query["older_than"])
        if seconds is None:
            raise web.HTTPBadRequest(text="older_than must be a duration such as 30d, 12h or 90m")
        older_than_ms = int(seconds * 1000)
    outbox = request.app[OUTBOX].outbox
    done = await _on_each(
        await _listed_sinks(request), lambda s: outbox.purge(s, older_than_ms=older_than_ms)
    )
    return web.json_response({"purged": done})


_LETTER: Schema = {
    "type": "object",
    "required": ["sink", "id", "lane", "attempts", "error", "dead_at", "event"],
    "properties": {
        "sink": {"type": "string"},
        "id": {"type": "string", "description": "the event's stream entry id (its CloudEvent id)"},
        "lane": {"type": "string", "description": "the request (or agent:, customer:) it is for"},
        "type": {"type": ["string", "null"]},
        "request": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "error": {"type": "string"},
        "dead_at": {"type": "string", "format": "date-time"},
        "event": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_DEAD: Schema = {
    "type": "object",
    "required": ["dead", "total"],
    "properties": {"dead": {"type": "array", "items": _LETTER}, "total": {"type": "integer"}},
}


def _letters(key: str) -> Schema:
    """{key: [{sink, id}, ...]}: the dead letters an operation touched."""
    return {
        "type": "object",
        "required": [key],
        "properties": {
            key: {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sink", "id"],
                    "properties": {"sink": {"type": "string"}, "id": {"type": "string"}},
                },
            }
        },
    }


_REPLAYED = _letters("replayed")
_PURGED = _letters("purged")
_SINK_PARAM: Schema = {
    "name": "sink",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
}
_OLDER_PARAM: Schema = {
    "name": "older_than",
    "in": "query",
    "required": False,
    "description": "only those dead for longer than this: 30d, 12h, 90m, 45s",
    "schema": {"type": "string"},
}
_LIMIT_PARAM: Schema = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
}


def _op(summary: str, op_id: str, ok: Schema, errors: tuple[int, ...], *query: Schema) -> Schema:
    path_params = ("id",) if "{id}" in summary else ()
    op = operation(summary, op_id, ok, path_params=path_params, errors=errors)
    op["parameters"] = [*op.get("parameters", []), *query]
    return op


OPENAPI_PATHS: dict[str, Schema] = {
    "/v1/outbox/dead": {
        "get": _op(
            "Events a sink gave up on (supervisor)",
            "listDeadLetters",
            json_content("The dead letters, oldest event first", _DEAD),
            (400, 404),
            _SINK_PARAM,
            _LIMIT_PARAM,
        ),
        "delete": _op(
            "Remove dead letters for good (supervisor)",
            "purgeDeadLetters",
            json_content("The dead letters removed", _PURGED),
            (400, 404),
            _SINK_PARAM,
            _OLDER_PARAM,
        ),
    },
    "/v1/outbox/dead/{id}": {
        "delete": _op(
            "Remove dead letter {id} for good (supervisor)",
            "purgeDeadLetter",
            json_content("Removed", _PURGED),
            (404,),
            _SINK_PARAM,
        )
    },
    "/v1/outbox/dead/{id}/replay": {
        "post": _op(
            "Deliver dead letter {id} again (supervisor)",
            "replayDeadLetter",
            json_content("Back in its lane, due at once", _REPLAYED),
            (404, 409),
            _SINK_PARAM,
        )
    },
    "/v1/outbox/dead/replay": {
        "post": _op(
            "Deliver every dead letter again (supervisor)",
            "replayAllDeadLetters",
            json_content("Back in their lanes, due at once", _REPLAYED),
            (409,),
            _SINK_PARAM,
        )
    },
}
