"""soak: steady load for a duration; each daemon's RSS and Redis used_memory sampled once a
second: start, end and slope (least squares) reported."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..load import Plan
from ..report import Row
from ..world import World, rss_kib
from .base import Context, conclude, now, under_load, world

NAME = "soak"


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per minute."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    if var == 0:
        return None
    return 60 * sum((p[0] - mx) * (p[1] - my) for p in points) / var


def summary(points: list[tuple[float, float]]) -> dict[str, Any]:
    slope = slope_per_min(points)
    return {"start": points[0][1] if points else None, "end": points[-1][1] if points else None,
            "slope_per_min": round(slope, 1) if slope is not None else None,
            "samples": len(points)}  # fmt: skip


async def run(ctx: Context) -> Row:
    seconds = ctx.size(12.0, 300.0)
    plan = Plan(rate=ctx.size(25.0, 40.0), duration_s=seconds)
    rss: dict[int, list[tuple[float, float]]] = {}
    memory: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def sampler(w: World) -> None:
        redis = w.backend.client()
        t0 = now()
        try:
            for _ in range(int(seconds) + 120):  # once a second, bounded
                t = now() - t0
                for d in w.daemons:
                    kib = rss_kib(d.proc.proc.pid)
                    if kib is not None:
                        rss.setdefault(d.n, []).append((t, kib))
                with contextlib.suppress(Exception):
                    info = await redis.info("memory")
                    memory.append((t, int(info["used_memory"]) / 1024))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    return
        finally:
            await redis.aclose()

    async with world(ctx, 2, ctx.size(8, 40)) as w:
        sampling = asyncio.create_task(sampler(w))
        try:
            sent, faults, pool = await under_load(w, plan, None)
        finally:
            stop.set()
            await sampling
        row = await conclude(NAME, w, sent, faults, pool, ctx.size(12.0, 60.0))
    row.details["rss_kib"] = {f"daemon{n}": summary(p) for n, p in rss.items()}
    row.details["redis_used_memory_kib"] = summary(memory)
    parts = [f"{n} RSS {s['start']:.0f}->{s['end']:.0f} KiB ({s['slope_per_min']} KiB/min)"
             for n, s in row.details["rss_kib"].items() if s["start"] is not None]  # fmt: skip
    m = row.details["redis_used_memory_kib"]
    if m["start"] is not None:
        parts.append(f"Redis {m['start']:.0f}->{m['end']:.0f} KiB ({m['slope_per_min']} KiB/min)")
    row.note += f"{seconds:g} s at {plan.rate:g}/s; " + "; ".join(parts)
    return row
