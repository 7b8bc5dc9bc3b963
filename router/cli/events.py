"""`frontdesk events export`: the event stream as JSON lines, for the simulator's replay and for
whatever else reads a log (a warehouse, jq).

    frontdesk events export [--config F] [--since T] [--until T] [--type T ...] [--out FILE]

One JSON object a line, oldest first: ``id`` (the stream entry id), ``type``, ``req``, ``agent``,
``queue``, ``ts`` (ms since the epoch, Redis clock) and the event's own fields. An ``enqueued``
event also carries what the simulator routes by, read from the request's record while Redis
still holds it: ``priority``, ``skills`` ({name: minimum level}), ``optional_skills``, ``tier``,
``category``. The stream keeps the newest ``events.max_length`` events (about); older ones are
gone, and so is the record of a request past its retention.

Like `frontdesk outbox`, it talks to Redis itself: `redis.url`, or the embedded server's socket
while `frontdesk serve` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisError

from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.redis_config import RedisSettings
from frontdesk.router.daemon.redis_connect import tool_client, tool_target

CHUNK = 1_000


def parse_time(value: str) -> int:
    """Milliseconds since the epoch from ISO 8601 (no zone: UTC) or a number of milliseconds."""
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither ISO 8601 (2026-11-24T09:00:00Z) nor milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _time(value: str) -> int:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _line(event: Event, extra: dict[str, Any]) -> str:
    row: dict[str, Any] = {
        "id": event.id,
        "type": event.type.value,
        "req": event.request,
        "agent": event.agent,
        "queue": event.queue,
        "ts": event.ts_ms,
    }
    row.update(event.data)
    row.update(extra)
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


async def _routing(store: QueueStore, events: list[Event]) -> dict[str, dict[str, Any]]:
    """What the simulator routes by, for the requests enqueued among `events`."""
    ids = sorted({e.request for e in events if e.type is EventType.ENQUEUED})
    out: dict[str, dict[str, Any]] = {}
    for request_id, record in zip(ids, await store.get_many(ids), strict=True):
        if record is None:
            continue
        r = record.request
        out[request_id] = {
            "priority": r.priority.value,
            "skills": {s.name: s.min_level for s in r.skills if not s.optional},
            "optional_skills": {s.name: s.min_level for s in r.skills if s.optional},
            "tier": r.tier,
            "category": r.category,
        }
    return out


async def export(
    redis: Redis,
    tenant: str,
    out: TextIO,
    since_ms: int | None = None,
    until_ms: int | None = None,
    types: set[EventType] | None = None,
) -> int:
    """Write the tenant's events from `since_ms` to `until_ms` (inclusive) to `out`; returns
    how many were written."""
    keys = Keys(tenant)
    log, store = EventLog(redis, keys), QueueStore(redis, keys)
    start = "-" if since_ms is None else str(since_ms)
    end = "+" if until_ms is None else str(until_ms)
    written = 0
    while True:
        events = await log.range(start, end, count=CHUNK)
        if not events:
            return written
        routing = await _routing(store, events)
        for event in events:
            if types is None or event.type in types:
                out.write(_line(event, routing.get(event.request, {})) + "\n")
                written += 1
        if len(events) < CHUNK:
            return written
        start = "(" + events[-1].id  # exclusive: after the last one read


async def _run(
    where: RedisSettings, url: str, tenant: str, args: argparse.Namespace, out: TextIO
) -> int:
    redis = tool_client(where, url, socket_connect_timeout=5, socket_timeout=60)
    try:
        types = {EventType(t) for t in args.type} if args.type else None
        return await export(redis, tenant, out, args.since, args.until, types)
    finally:
        await redis.aclose()


def main(argv: Sequence[str]) -> int:
    """`frontdesk events export ...` (a tool of the `frontdesk` command)."""
    from frontdesk.router.cli.main import (
        EXIT_CONFIG,
        EXIT_RUNTIME,
        config_option,
        load_or_report,
        redis_url,
    )

    parser = argparse.ArgumentParser(
        prog="frontdesk events", description="The event stream, exported as JSON lines."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("export", help="write events as JSON lines (simulator replay)")
    config_option(cmd, "config file, for the tenant and redis.url or the embedded data_dir")
    cmd.add_argument("--since", type=_time, help="from this time: ISO 8601 (UTC) or ms")
    cmd.add_argument("--until", type=_time, help="to this time, inclusive")
    cmd.add_argument(
        "--type",
        action="append",
        choices=[t.value for t in EventType],
        help="only this event type (repeatable; default: every type)",
    )
    cmd.add_argument("--out", default="-", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.since is not None and args.until is not None and args.since > args.until:
        parser.error("--since is after --until")
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_CONFIG
    url = tool_target(settings.redis, redis_url(settings))
    try:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        count = asyncio.run(_run(settings.redis, url, settings.tenant, args, out))
    except (RedisError, OSError) as exc:
        err = sys.stderr
        print(f"cannot export from Redis at {url}: {exc}", file=sys.stderr)
        if url.startswith("unix://"):
            print("the embedded redis-server runs only while `frontdesk serve` does", file=err)
        return EXIT_RUNTIME
    finally:
        if out is not sys.stdout:
            out.close()
    target = "standard output" if args.out == "-" else args.out
    print(f"{count} event{'s' if count != 1 else ''} written to {target}", file=sys.stderr)
    return 0
