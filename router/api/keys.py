"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from frontdesk.router.daemon.daemon import Daemon

DAEMON: web.AppKey[Daemon] = web.AppKey("daemon")
