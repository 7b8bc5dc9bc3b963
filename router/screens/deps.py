"""What the screens are built on: the stores and the fan-out the API hands `mount`, under one
typed app key, so that this room never holds the API or the daemon."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.sessions import SessionStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.http.auth import ApiToken
from frontdesk.router.routing.fanout import Fanout


class ScreenSettings(Protocol):
    """The settings the screens read, each time (a reload applies at once)."""

    @property
    def api_tokens(self) -> tuple[ApiToken, ...]: ...

    @property
    def queues(self) -> Mapping[str, object]: ...


@dataclass(frozen=True, slots=True)
class Screens:
    settings: Callable[[], ScreenSettings]
    sessions: SessionStore
    store: QueueStore
    agents: AgentStore
    fanout: Fanout


SCREENS = web.AppKey("screens", Screens)
STOPPING = web.AppKey("screens_stopping", asyncio.Event)  # set at shutdown: live feeds end
