"""The seam between the daemon and a channel: what every channel module provides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from frontdesk.router.front import Front
from frontdesk.router.yamlconf import Checker, Path


class ChannelRuntime(Protocol):
    """A running channel: HTTP routes mounted on the daemon's app, and anything it listens on or
    polls (an SMTP server, IMAP pollers), started after Redis is ready, stopped before it closes."""

    name: str

    def routes(self) -> list[web.RouteDef]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ChannelModule(Protocol):
    """A channel module: parses its own `channels.<name>` config section (every problem with its
    YAML path and line) and makes its runtime."""

    def parse_config(self, check: Checker, raw: object, path: Path, queues: set[str]) -> Any: ...

    def create(self, settings: Any, front: Front) -> ChannelRuntime: ...


Factory = Callable[[Any, Front], ChannelRuntime]
