"""`frontdesk outbox`: the outbox's dead letters from the command line.

    frontdesk outbox dead [--sink NAME]
    frontdesk outbox replay ID|--all [--sink NAME]
    frontdesk outbox purge ID|--all [--older-than 30d] [--sink NAME]

It talks to Redis itself: `redis.url`, or the embedded server's socket while `frontdesk serve`
runs. The same over HTTP: router/api/outbox.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisError

from frontdesk.queues.keys import Keys
from frontdesk.queues.outbox import Outbox
from frontdesk.router.api.outbox import iso_ms
from frontdesk.router.cli.main import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    EXIT_USAGE,
    config_option,
    load_or_report,
    redis_url,
)
from frontdesk.router.conf.yaml import parse_duration
from frontdesk.router.daemon.redis_config import RedisSettings
from frontdesk.router.daemon.redis_connect import tool_client, tool_target


async def _with_outbox(where: RedisSettings, url: str, tenant: str) -> tuple[Redis, Outbox]:
    redis = tool_client(where, url, socket_connect_timeout=5, socket_timeout=30)
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


async def _dead(where: RedisSettings, url: str, tenant: str, sink: str | None, out: TextIO) -> int:
    redis, outbox = await _with_outbox(where, url, tenant)
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
        print(*row, iso_ms(d.dead_ms), d.error, sep="\t", file=out)
    print(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}", file=out)
    return 0


async def _act(
    verb: str,
    where: RedisSettings,
    url: str,
    tenant: str,
    ids: Sequence[str] | None,
    sink: str | None,
    older_than_ms: int | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """replay or purge the dead letters `ids` (None: all of them) of `sink` (None: every sink)."""
    redis, outbox = await _with_outbox(where, url, tenant)
    try:
        known = await outbox.sinks()
        if sink is not None and sink not in known:
            print(f"no sink {sink!r}; known: {', '.join(known) or 'none'}", file=err)
            return EXIT_USAGE
        done: list[tuple[str, str]] = []
        for s in [sink] if sink else known:
            if verb == "replay":
                done += [(s, i) for i in await outbox.replay(s, ids)]
            else:
                done += [(s, i) for i in await outbox.purge(s, ids, older_than_ms)]
    finally:
        await redis.aclose()
    past = "replayed" if verb == "replay" else "purged"
    for s, entry_id in done:
        print(f"{past} {entry_id} {'to' if verb == 'replay' else 'from'} {s}", file=out)
    if ids is not None and not done:
        print(f"no dead letter {', '.join(ids)}", file=err)
        return EXIT_RUNTIME
    then = "; a daemon with the sink configured delivers them" if verb == "replay" else ""
    print(f"{len(done)} {past}{then}", file=out)
    return 0


def _older_than(value: str) -> int:
    seconds = parse_duration(value)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"not a duration such as 30d or 12h: {value!r}")
    return int(seconds * 1000)


def main(argv: Sequence[str]) -> int:
    """`frontdesk outbox dead|replay|purge ...` (a tool of the `frontdesk` command)."""
    parser = argparse.ArgumentParser(
        prog="frontdesk outbox",
        description="The outbox's dead letters: list, replay and purge them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    dead = commands.add_parser("dead", help="list the dead letters")
    replay = commands.add_parser("replay", help="deliver dead letters again")
    purge = commands.add_parser("purge", help="remove dead letters for good")
    for command, what in ((replay, "every dead letter"), (purge, "every dead letter")):
        which = command.add_mutually_exclusive_group(required=True)
        which.add_argument("id", nargs="?", help="a dead letter's id (its event's stream entry id)")
        which.add_argument("--all", action="store_true", help=what)
    purge.add_argument(
        "--older-than", type=_older_than, help="only those dead for longer than this, e.g. 30d"
    )
    for command in (dead, replay, purge):
        command.add_argument("--sink", help="only this sink (default: every sink)")
        config_option(command, "config file, for redis.url or the embedded server's data_dir")
    args = parser.parse_args(argv)
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_CONFIG
    url = tool_target(settings.redis, redis_url(settings))
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "dead":
            return asyncio.run(_dead(settings.redis, url, settings.tenant, args.sink, out))
        ids = None if args.all else [args.id]
        older = getattr(args, "older_than", None)
        act = _act(
            args.command, settings.redis, url, settings.tenant, ids, args.sink, older, out, err
        )
        return asyncio.run(act)
    except (RedisError, OSError) as exc:
        return _unreachable(url, exc, err)
