"""`frontdesk report`: the reports from the figures kept in Redis, and their rebuild.

    frontdesk report NAME [--from DATE] [--to DATE] [--by day|week|month] [--group G]
                          [--calendar NAME] [--format table|csv|json|html] [--out FILE]
                          [--config PATH]
    frontdesk report rebuild --from-export FILE [--config PATH]

NAME is one of overview, volume, response, sla, escalation, fcr, satisfaction, quality, agents.
Dates are local days of the calendar (`desk`, else the first configured, else UTC), both
included; without --to, today; without --from, the 7 days up to --to. `rebuild` empties the
hours that an export of the event stream (`frontdesk events export`) reaches and counts its
events again, as the daemon's follower would have.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from redis.exceptions import RedisError

from frontdesk.queues.keys import Keys
from frontdesk.queues.reports import ReportStore
from frontdesk.router.daemon.redis_connect import tool_client, tool_target
from frontdesk.router.daemon.reports import basis_of
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.reports.page import output
from frontdesk.router.reports.query import BY, FORMATS, NAMES, ReportError, parse_query
from frontdesk.router.reports.rebuild import ExportError, rebuild
from frontdesk.router.reports.tables import run


def _parser() -> argparse.ArgumentParser:
    from frontdesk.router.cli.main import config_option

    parser = argparse.ArgumentParser(prog="frontdesk report", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=[*NAMES, "rebuild"], help="the report, or rebuild")
    config_option(parser, "config file, for the tenant, calendars and Redis")
    parser.add_argument("--from", dest="start", help="first local day, 2026-03-02")
    parser.add_argument("--to", dest="end", help="last local day, included")
    parser.add_argument("--by", choices=BY, default="day", help="periods (default: day)")
    parser.add_argument("--group", help="channel, queue, category, agent, ... (the report's)")
    parser.add_argument("--calendar", help="whose timezone (default: desk, else the first)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--out", default="-", help="file to write (default: standard output)")
    parser.add_argument("--from-export", dest="export", help="rebuild: the JSON-lines export")
    return parser


async def _report(settings: Settings, url: str, args: argparse.Namespace) -> str:
    params = {"from": args.start, "to": args.end, "by": args.by, "group": args.group,
              "calendar": args.calendar}  # fmt: skip
    query = parse_query(args.name, params, settings.calendars)
    redis = tool_client(settings.redis, url, socket_connect_timeout=5, socket_timeout=60)
    try:
        table = await run(ReportStore(redis, Keys(settings.tenant)), query)
    finally:
        await redis.aclose()
    return output(table, args.format)


async def _rebuild(settings: Settings, url: str, source: TextIO) -> str:
    redis = tool_client(settings.redis, url, socket_connect_timeout=5, socket_timeout=60)
    try:
        done = await rebuild(ReportStore(redis, Keys(settings.tenant)), source, basis_of(settings))
    finally:
        await redis.aclose()
    return f"{done.events} events read, {done.added} counted, {done.hours} hours rebuilt\n"


def main(argv: Sequence[str]) -> int:
    """`frontdesk report ...` (a tool of the `frontdesk` command)."""
    from frontdesk.router.cli.main import EXIT_CONFIG, EXIT_RUNTIME, load_or_report, redis_url

    parser = _parser()
    args = parser.parse_args(argv)
    if args.name == "rebuild" and not args.export:
        parser.error("rebuild needs --from-export FILE")
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_CONFIG
    url = tool_target(settings.redis, redis_url(settings))
    try:
        if args.name == "rebuild":
            try:
                source = open(args.export, encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                print(f"cannot read {args.export}: {exc.strerror}", file=sys.stderr)
                return EXIT_RUNTIME
            with source:
                sys.stderr.write(asyncio.run(_rebuild(settings, url, source)))
            return 0
        text = asyncio.run(_report(settings, url, args))
    except ReportError as exc:
        parser.error(str(exc))
    except ExportError as exc:
        print(f"{args.export}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except (RedisError, OSError) as exc:
        print(f"cannot read the figures from Redis at {url}: {exc}", file=sys.stderr)
        if url.startswith("unix://"):
            print("the embedded redis-server runs only while `frontdesk serve` does",
                  file=sys.stderr)  # fmt: skip
        return EXIT_RUNTIME
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        print(f"cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"{args.name} report written to {args.out}", file=sys.stderr)
    return 0
