"""One module per scenario; each has `NAME` and `async def run(ctx) -> Row`."""

from __future__ import annotations

from . import daemon_kill, duplicates, fuzz, redis_kill, sentinel, slow_bodies, soak

SCENARIOS = {
    m.NAME: m for m in (daemon_kill, redis_kill, sentinel, duplicates, fuzz, slow_bodies, soak)
}
