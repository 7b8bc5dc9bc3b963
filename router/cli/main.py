"""The `frontdesk` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from frontdesk.queues.errors import FrontdeskError
from frontdesk.router import __version__
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.settings import Settings, load_settings
from frontdesk.router.http.auth import Scope, digest, new_token

DEFAULT_CONFIG = "frontdesk.yaml"
EXIT_CONFIG = 2
EXIT_RUNTIME = 1
EXIT_USAGE = 64

# Tools with their own options, each a module with `main(argv: list[str]) -> int`.
_TOOLS = [
    ("simulate", "frontdesk.router.sim.cli", "simulate a contact centre with the real matcher"),
    ("bench", "frontdesk.router.bench.cli", "load tests through the real channels"),
    ("outbox", "frontdesk.router.cli.outbox", "dead letters of the outbox: list, replay, purge"),
    ("events", "frontdesk.router.cli.events", "export the event stream as JSON lines"),
    ("calendar", "frontdesk.router.cli.calendar", "check a business calendar: due times, days"),
    ("report", "frontdesk.router.cli.report", "reports from the figures kept; their rebuild"),
    ("demo", "frontdesk.router.cli.demo", "a desk to play with: every channel on loopback"),
    ("customers", "frontdesk.router.cli.customers", "customers: merge, import, show"),
    ("config-schema", "frontdesk.router.cli.config_schema", "print the config's JSON Schema"),
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description=__doc__)
    parser.add_argument("--version", action="version", version=f"frontdesk {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the daemon")
    config_option(serve, "config file")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    check = commands.add_parser("check-config", help="check a config file and list its problems")
    check.add_argument("path")
    for name, module, text in _TOOLS:
        tool = commands.add_parser(name, help=text, add_help=False)
        tool.add_argument("args", nargs=argparse.REMAINDER)
        tool.set_defaults(tool=module)
    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="make a new API token")
    create.add_argument("--name", required=True, help="who or what the token is for")
    create.add_argument("--scope", required=True, choices=[s.value for s in Scope])
    create.add_argument("--agent", help="the agent an agent-scope token acts as")
    return parser


def config_option(parser: argparse.ArgumentParser, purpose: str) -> None:
    """The `--config` option every command shares."""
    parser.add_argument(
        "--config",
        default=os.environ.get("FRONTDESK_CONFIG", DEFAULT_CONFIG),
        help=f"{purpose} (default: $FRONTDESK_CONFIG, else ./{DEFAULT_CONFIG})",
    )


def load_or_report(path: str) -> Settings | None:
    """The settings in `path`, or None with every problem printed to stderr, each with its line."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return None


def redis_url(settings: Settings) -> str:
    """Where a command-line tool finds the daemon's Redis: `redis.url`, else the embedded
    server's socket under `redis.data_dir` (there while `frontdesk serve` runs)."""
    embedded = f"unix://{(Path(settings.redis.data_dir) / 'redis.sock').absolute()}"
    return settings.redis.url or embedded


def check_config(path: str) -> int:
    settings = load_or_report(path)
    if settings is None:
        return EXIT_CONFIG
    print(f"{path}: ok ({len(settings.queues)} queues, {len(settings.agents)} agents)")
    return 0


CHATTY = ("mail.log",)  # aiosmtpd: a dozen INFO lines per mail ("Available AUTH mechanisms")


def quiet_libraries(level: str) -> None:
    """Libraries' per-message INFO chatter goes to DEBUG: shown only when debugging."""
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def serve(path: str, log_level: str) -> int:
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    quiet_libraries(log_level)
    settings = load_or_report(path)
    if settings is None:
        return EXIT_CONFIG
    from frontdesk.router.daemon.daemon import serve as run

    try:
        asyncio.run(run(settings, path))
    except FrontdeskError as exc:
        logging.getLogger("frontdesk").error("%s", exc)
        return EXIT_RUNTIME
    return 0


def create_token(name: str, scope: str, agent: str | None) -> int:
    if (scope == Scope.AGENT) != (agent is not None):
        print("--agent goes with --scope agent, and only with it", file=sys.stderr)
        return EXIT_USAGE
    token = new_token()
    print(f"token for {name} (shown once; keep it secret): {token}")
    print("add under api.tokens in the config, then reload the daemon (kill -HUP):")
    print(f"  - name: {name}\n    scope: {scope}")
    if agent:
        print(f"    agent: {agent}")
    print(f"    sha256: {digest(token)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    for name, module, _ in _TOOLS:  # a tool parses its own options (argparse's REMAINDER
        if given[:1] == [name]:  # would refuse one that comes first: `simulate --config X`)
            tool: Any = importlib.import_module(module)
            return int(tool.main(given[1:]))
    args = _parser().parse_args(given)
    if args.command == "check-config":
        return check_config(args.path)
    if args.command == "token":
        return create_token(args.name, args.scope, args.agent)
    return serve(args.config, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
