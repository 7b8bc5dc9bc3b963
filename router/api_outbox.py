"""The outbox's operator surface: dead letters listed and replayed over the HTTP API (scope
supervisor or admin) and from the command line.

    GET  /v1/outbox/dead[?sink=NAME&limit=N]       the dead letters, oldest event first
    POST /v1/outbox/dead/{id}/replay[?sink=NAME]   one back to its lane, delivered again
    POST /v1/outbox/dead/replay[?sink=NAME]        every one of them

    frontdesk outbox dead [--sink NAME]
    frontdesk outbox replay ID|--all [--sink NAME]

The command line talks to Redis itself: `redis.url`, or the embedded server's socket while
`frontdesk serve` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from frontdesk.queues.keys import Keys
from frontdesk.queues.outbox import DeadLetter, Outbox

from .auth import Scope, principal
from .openapi import Schema, json_content, operation
from .outbox import OutboxEngine

OUTBOX: web.AppKey[OutboxEngine] = web.AppKey("outbox", OutboxEngine)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
EXIT_RUNTIME = 1
EXIT_CONFIG = 2
EXIT_USAGE = 64


def mount(app: web.Application, engine: OutboxEngine) -> None:
    """Add the outbox routes to the daemon's app."""
    app[OUTBOX] = engine
    app.router.add_get("/v1/outbox/dead", list_dead)
    app.router.add_post("/v1/outbox/dead/replay", replay_all)
    app.router.add_post("/v1/outbox/dead/{id}/replay", replay_one)


def _iso(ms: int) -> str:
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
        "dead_at": _iso(letter.dead_ms),
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
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    outbox = request.app[OUTBOX].outbox
    letters = [d for sink in await _listed_sinks(request) for d in await outbox.dead_letters(sink)]
    shown = letters[: int(raw_limit)]
    return web.json_response({"dead": [describe(d) for d in shown], "total": len(letters)})


async def replay_one(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    entry_id = request.match_info["id"]
    outbox = request.app[OUTBOX].outbox
    replayed = [
        {"sink": sink, "id": i}
        for sink in _replayable_sinks(request)
        for i in await outbox.replay(sink, [entry_id])
    ]
    if not replayed:
        raise web.HTTPNotFound(text=f"no dead letter {entry_id!r}")
    return web.json_response({"replayed": replayed})


async def replay_all(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    outbox = request.app[OUTBOX].outbox
    replayed = [
        {"sink": sink, "id": i}
        for sink in _replayable_sinks(request)
        for i in await outbox.replay(sink)
    ]
    return web.json_response({"replayed": replayed})


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
_REPLAYED: Schema = {
    "type": "object",
    "required": ["replayed"],
    "properties": {
        "replayed": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sink", "id"],
                "properties": {"sink": {"type": "string"}, "id": {"type": "string"}},
            },
        }
    },
}
_SINK_PARAM: Schema = {
    "name": "sink",
    "in": "query",
    "required": False,
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


# -- the command line --------------------------------------------------------------------------
def cli_redis_url(url: str | None, data_dir: Path) -> str:
    """The configured Redis, else the embedded server's socket under `data_dir`."""
    return url or f"unix://{(Path(data_dir) / 'redis.sock').absolute()}"


async def _with_outbox(url: str, tenant: str) -> tuple[Redis, Outbox]:
    redis = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        await redis.ping()
    except BaseException:
        await redis.aclose()
        raise
    return redis, Outbox(redis, Keys(tenant))


def _unreachable(url: str, exc: BaseException, err: TextIO) -> int:
    print(f"cannot reach Redis at {url}: {exc}", file=err)
    if url.startswith("unix://"):
        print(
            "the embedded redis-server runs only while `frontdesk serve` does: start it, "
            "or use the API (GET /v1/outbox/dead)",
            file=err,
        )
    return EXIT_RUNTIME


async def _dead(url: str, tenant: str, sink: str | None, out: TextIO) -> int:
    redis, outbox = await _with_outbox(url, tenant)
    try:
        sinks = [sink] if sink else await outbox.sinks()
        letters = [d for s in sinks for d in await outbox.dead_letters(s)]
    finally:
        await redis.aclose()
    if not letters:
        print("no dead letters", file=out)
        return 0
    print("sink\tid\trequest\ttype\tattempts\tdead_at\terror", file=out)
    for d in letters:
        row = (d.sink, d.id, d.fields.get("req") or "-", d.fields.get("type", "?"), d.attempts)
        print(*row, _iso(d.dead_ms), d.error, sep="\t", file=out)
    print(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}", file=out)
    return 0


def dead_command(
    url: str, tenant: str, sink: str | None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`frontdesk outbox dead`: list the dead letters (of one sink, or all)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return asyncio.run(_dead(url, tenant, sink, out))
    except (RedisError, OSError) as exc:
        return _unreachable(url, exc, err)


async def _replay(
    url: str, tenant: str, ids: Sequence[str] | None, sink: str | None, out: TextIO, err: TextIO
) -> int:
    redis, outbox = await _with_outbox(url, tenant)
    try:
        known = await outbox.sinks()
        if sink is not None and sink not in known:
            print(f"no sink {sink!r}; known: {', '.join(known) or 'none'}", file=err)
            return EXIT_USAGE
        done = [(s, i) for s in ([sink] if sink else known) for i in await outbox.replay(s, ids)]
    finally:
        await redis.aclose()
    for s, entry_id in done:
        print(f"replayed {entry_id} to {s}", file=out)
    if ids is not None and not done:
        print(f"no dead letter {', '.join(ids)}", file=err)
        return EXIT_RUNTIME
    print(f"{len(done)} replayed; a daemon with the sink configured delivers them", file=out)
    return 0


def replay_command(
    url: str,
    tenant: str,
    ids: Sequence[str] | None,
    sink: str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`frontdesk outbox replay ID|--all`: dead letters back to their lanes (ids None: all), in
    one sink or every sink known to Redis."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return asyncio.run(_replay(url, tenant, ids, sink, out, err))
    except (RedisError, OSError) as exc:
        return _unreachable(url, exc, err)


def main(argv: Sequence[str]) -> int:
    """`frontdesk outbox dead|replay ...` (a tool of the `frontdesk` command)."""
    from .cli import config_option, load_or_report

    parser = argparse.ArgumentParser(
        prog="frontdesk outbox", description="The outbox's dead letters: list and replay them."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    dead = commands.add_parser("dead", help="list the dead letters")
    replay = commands.add_parser("replay", help="deliver dead letters again")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="a dead letter's id (its event's stream entry id)")
    which.add_argument("--all", action="store_true", help="every dead letter")
    for command in (dead, replay):
        command.add_argument("--sink", help="only this sink (default: every sink)")
        config_option(command, "config file, for redis.url or the embedded server's data_dir")
    args = parser.parse_args(argv)
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_CONFIG
    url = cli_redis_url(settings.redis.url, settings.redis.data_dir)
    if args.command == "dead":
        return dead_command(url, settings.tenant, args.sink)
    return replay_command(url, settings.tenant, None if args.all else [args.id], args.sink)
