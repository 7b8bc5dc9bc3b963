"""`frontdesk customers`: customers from the command line.

    frontdesk customers merge FROM INTO       FROM becomes part of INTO (as POST
                                              /v1/customers/FROM/merge {"into": INTO})
    frontdesk customers import FILE [--format csv|json]
                                              a customer directory and its care lists
                                              (router/intake/directory.py: columns, rules)
    frontdesk customers show ID               a customer's addresses and requests

It talks to Redis itself: `redis.url`, or the embedded server's socket while `frontdesk serve`
runs. The same over HTTP: router/api/customers.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from redis.exceptions import RedisError

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.errors import QueueError
from frontdesk.queues.keys import Keys
from frontdesk.queues.store import QueueStore
from frontdesk.router.cli.main import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    EXIT_USAGE,
    config_option,
    load_or_report,
    redis_url,
)
from frontdesk.router.cli.outbox import _unreachable
from frontdesk.router.daemon.redis_connect import tool_client, tool_target
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.intake.directory import DirectoryError, Refused, Row, import_rows, parse

Action = Callable[[CustomerStore, TextIO, TextIO], Awaitable[int]]


async def _with_customers(settings: Settings, url: str, action: Action, out: TextIO,
                          err: TextIO) -> int:  # fmt: skip
    redis = tool_client(settings.redis, url, socket_connect_timeout=5, socket_timeout=30)
    try:
        await redis.ping()
        store = QueueStore(redis, Keys(settings.tenant), settings.store)
        return await action(CustomerStore(store), out, err)
    finally:
        await redis.aclose()


def merge_action(other: str, into: str) -> Action:
    async def run(customers: CustomerStore, out: TextIO, err: TextIO) -> int:
        found = await customers.get(other)
        if found is None:
            print(f"no customer {other!r}", file=err)
            return EXIT_USAGE
        if found.merged_into:
            print(f"{other} was merged into {await customers.resolve(other)} already", file=err)
            return EXIT_USAGE
        if await customers.get(into) is None:
            print(f"no customer {into!r}", file=err)
            return EXIT_USAGE
        final = await customers.resolve(into)
        if final == other:
            print(f"{into} is {other} itself (or was merged into it)", file=err)
            return EXIT_USAGE
        try:
            moved = await customers.merge(other, final)
        except QueueError as exc:
            print(f"not merged: {exc}", file=err)
            return EXIT_RUNTIME
        requests = await customers.requests(final)
        print(f"merged {other} into {final}: {moved} address{'es' if moved != 1 else ''} "
              f"moved, {len(requests)} request{'s' if len(requests) != 1 else ''} now",
              file=out)  # fmt: skip
        return 0

    return run


def import_action(rows: Sequence[Row | Refused], name: str) -> Action:
    async def run(customers: CustomerStore, out: TextIO, err: TextIO) -> int:
        report = await import_rows(customers, rows)
        for r in report.refused:
            print(f"{name}:{r.line}: {r.field}: {r.error}", file=err)
        print(f"{len(report.created)} created, {len(report.updated)} updated, "
              f"{len(report.unchanged)} unchanged, {len(report.refused)} refused",
              file=out)  # fmt: skip
        return EXIT_RUNTIME if report.refused else 0

    return run


def show_action(customer_id: str) -> Action:
    async def run(customers: CustomerStore, out: TextIO, err: TextIO) -> int:
        final = await customers.resolve(customer_id)
        record = await customers.get(final)
        if record is None:
            print(f"no customer {customer_id!r}", file=err)
            return EXIT_USAGE
        print(f"{record.id}\t{record.name or '-'}", file=out)
        for address in sorted(record.addresses):
            print(f"  {address}", file=out)
        for r in await customers.requests(final):
            print(f"  {r.request.id}\t{r.state.value}\t{r.request.channel.value}", file=out)
        return 0

    return run


def main(argv: Sequence[str]) -> int:
    """`frontdesk customers merge|show ...` (a tool of the `frontdesk` command)."""
    parser = argparse.ArgumentParser(prog="frontdesk customers", description="Customers.")
    commands = parser.add_subparsers(dest="command", required=True)
    merge = commands.add_parser("merge", help="merge customer FROM into customer INTO")
    merge.add_argument("source", metavar="FROM", help="the customer merged away (C-12)")
    merge.add_argument("into", metavar="INTO", help="the customer it becomes part of")
    load = commands.add_parser("import", help="import a customer directory (CSV or JSON)")
    load.add_argument("file")
    load.add_argument(
        "--format", choices=["csv", "json"], help="default: .json is JSON, anything else CSV"
    )
    show = commands.add_parser("show", help="a customer's addresses and requests")
    show.add_argument("id")
    for command in (merge, load, show):
        config_option(command, "config file, for redis.url or the embedded server's data_dir")
    args = parser.parse_args(argv)
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_CONFIG
    if args.command == "import":
        kind = args.format or ("json" if args.file.lower().endswith(".json") else "csv")
        try:
            text = Path(args.file).read_text(encoding="utf-8-sig")
            rows = parse(text, kind)
        except (OSError, UnicodeDecodeError, DirectoryError) as exc:
            print(f"{args.file}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        action = import_action(rows, args.file)
    elif args.command == "merge":
        action = merge_action(args.source, args.into)
    else:
        action = show_action(args.id)
    url = tool_target(settings.redis, redis_url(settings))
    try:
        return asyncio.run(_with_customers(settings, url, action, sys.stdout, sys.stderr))
    except (RedisError, OSError) as exc:
        return _unreachable(url, exc, sys.stderr)
