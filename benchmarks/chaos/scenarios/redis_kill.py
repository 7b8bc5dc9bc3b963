"""redis-kill: SIGKILL redis-server mid-load and start it again on the same AOF after a pause;
every acknowledged request must still be there, and intake and routing must come back."""

from __future__ import annotations

import asyncio

from ..load import Plan
from ..report import Fault, Row
from ..world import SingleRedis, World
from .base import Context, conclude, now, under_load, world

NAME = "redis-kill"
DOWN_S = 2.0


async def run(ctx: Context) -> Row:
    daemons, agents = ctx.size(2, 3), ctx.size(8, 40)
    kills, seconds = ctx.size(1, 3), ctx.size(10.0, 90.0)
    plan = Plan(rate=ctx.size(30.0, 50.0), duration_s=seconds, retry_for_s=30.0)

    async def inject(w: World, faults: list[Fault]) -> None:
        backend = w.backend
        assert isinstance(backend, SingleRedis)
        gap = seconds / (kills + 1)
        for _ in range(kills):
            await asyncio.sleep(gap - DOWN_S / 2)
            at = now()
            backend.kill()
            await asyncio.sleep(DOWN_S)
            await asyncio.to_thread(backend.start)
            fault = Fault(NAME, at, now())
            faults.append(fault)
            fault.ready = await w.wait_ready()

    async with world(ctx, daemons, agents) as w:
        sent, faults, pool = await under_load(w, plan, inject)
        row = await conclude(NAME, w, sent, faults, pool, ctx.size(15.0, 60.0))
    row.note += f"{kills} kill(s), {DOWN_S:g} s down each, {daemons} daemons, {agents} agents"
    return row
