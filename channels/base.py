"""The seam between the daemon and a channel: what every channel module provides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.intake.front import Front


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
S = TypeVar("S")


class RoutesOnly(Generic[S]):
    """A channel that is routes on the daemon's HTTP listener and nothing else: no server of
    its own to start or stop. Subclasses name themselves and list their routes."""

    name: str

    def __init__(self, settings: S, front: Front) -> None:
        self.settings = settings
        self.front = front

    async def start(self) -> None:
        """Nothing to start: the daemon's HTTP listener serves the routes."""

    async def stop(self) -> None:
        """Nothing to stop."""
