"""daemon-kill: SIGKILL a daemon under load across all six channels (form, generic webhook,
phone, chat, SMTP, Telegram) and start it again at once, `kills` times; agents reconnect to the
next daemon, except one, who vanishes with its daemon (its work must not stay stuck)."""

from __future__ import annotations

import asyncio

from ..load import Plan
from ..report import Fault, Row
from ..world import World
from .base import Context, conclude, now, under_load, world

NAME = "daemon-kill"


async def run(ctx: Context) -> Row:
    daemons, agents = ctx.size(2, 3), ctx.size(8, 40)
    kills, seconds = ctx.size(2, 12), ctx.size(9.0, 200.0)
    plan = Plan(rate=ctx.size(40.0, 50.0), duration_s=seconds, requests=ctx.size(360, 10_000))

    async def inject(w: World, faults: list[Fault]) -> None:
        gap = seconds / (kills + 1)
        for k in range(kills):
            await asyncio.sleep(gap)
            n = k % daemons
            at = now()
            w.daemons[n].kill()
            faults.append(Fault(NAME, at, at))
            await asyncio.to_thread(w.restart, n)

    async with world(ctx, daemons, agents) as w:
        vanish = frozenset({"a0"})  # a0 is on daemon 0, the first killed
        sent, faults, pool = await under_load(w, plan, inject, vanish)
        row = await conclude(NAME, w, sent, faults, pool, ctx.size(12.0, 60.0))
    row.note += (
        f"{kills} kills of {daemons} daemons in {seconds:g} s, {agents} agents (a0 vanishes)"
    )
    return row
