"""What the API tests share: a daemon started in this process on the test Redis, an HTTP client
on its port, bearer calls, and the agent WebSocket's next frame of a kind (a bounded wait)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings


@asynccontextmanager
async def running(config: str, url: str, name: str) -> AsyncIterator[Daemon]:
    """A daemon on `config` (its `{url}` the test Redis's), started and stopped around the block."""
    daemon = Daemon(parse_settings(config.replace("{url}", url), name), name)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


@asynccontextmanager
async def client(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose relative paths go to the daemon's API."""
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    """One API call with a bearer token: its status and JSON answer."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def frame(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout_s: float = 10.0) -> dict:
    """The next frame of `kind` (others are skipped), within a bounded wait."""
    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.receive_json()
            if msg["type"] == kind:
                return msg
