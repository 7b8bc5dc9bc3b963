"""What the load scenarios share: a world, agents at work, load with faults injected beside it,
and the audit turned into a row."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.router.bench.agents import HandleTime

from ..agents import ChaosAgents
from ..audit import audit
from ..load import Plan, Sent, run_load
from ..report import Fault, Row, recover, server_errors, worst
from ..world import Backend, SingleRedis, World

HANDLE = HandleTime("fixed", 0.2)


@dataclass(frozen=True, slots=True)
class Context:
    """How a scenario is run: short or full, seeded, with a config overlay for the daemons."""

    quick: bool = True
    seed: int = 1
    overlay: dict[str, Any] = field(default_factory=dict)
    keep: Path | None = None  # keep the worlds' directories (logs) here

    def size(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


@contextlib.asynccontextmanager
async def world(
    ctx: Context, daemons: int, agents: int, backend: Callable[[Path], Backend] | None = None
) -> AsyncIterator[World]:
    """A started world in a temporary directory (short: unix sockets need short paths)."""
    with tempfile.TemporaryDirectory(prefix="fdchaos-", dir=ctx.keep) as tmp:
        root = Path(tmp)
        if backend is None:
            single = SingleRedis(root / "redis")
            await asyncio.to_thread(single.start)
            chosen: Backend = single
        else:
            chosen = backend(root)
        w = World(root, chosen, daemons, agents, ctx.overlay)
        try:
            await asyncio.to_thread(w.start)
            yield w
        finally:
            await asyncio.to_thread(w.stop)


Inject = Callable[[World, list[Fault]], Awaitable[None]]


async def under_load(
    w: World,
    plan: Plan,
    inject: Inject | None,
    vanish: frozenset[str] = frozenset(),
) -> tuple[list[Sent], list[Fault], ChaosAgents]:
    """`plan` sent while `inject` injects its faults; the agents are left at work."""
    target = w.target()
    pool = ChaosAgents(target.urls, target.agent_tokens, HANDLE, vanish=vanish)
    try:
        await pool.start()
    except BaseException:
        await pool.stop()
        raise
    faults: list[Fault] = []
    load = asyncio.create_task(run_load(target, w.secrets, plan))
    try:
        if inject is not None:
            await inject(w, faults)
        sent = await load
    except BaseException:
        load.cancel()
        await pool.stop()
        raise
    return sent, faults, pool


async def conclude(
    name: str,
    w: World,
    sent: list[Sent],
    faults: list[Fault],
    pool: ChaosAgents | None,
    drain_s: float,
    threads: list[list[Sent]] | None = None,
) -> Row:
    """Audit Redis (after the drain, with the agents still at work), then the row."""
    row = Row(name)
    redis = w.backend.client()
    try:
        findings, details = await audit(
            redis,
            w.tenant,
            sent,
            pool.live if pool else None,
            drain_s,
            threads,
            pool.heard if pool else None,
            pool.vanished if pool else None,
        )
    finally:
        if pool is not None:
            await pool.stop()
        await redis.aclose()
    row.take(findings)
    row.details["offers_unheard"] = findings.unheard
    row.details["duplicated_deliveries"] = findings.same_delivery
    row.details["split_thread_extra_requests"] = findings.split
    row.details["offers_to_vanished_agents"] = findings.unheard_gone
    row.details.update(details)
    late: list[dict[str, Any]] = []
    row.http_5xx, statuses = server_errors(sent, faults, late)
    row.details["answers"] = statuses
    row.details["server_errors"] = late
    logs = w.log_counts()
    row.tracebacks = logs["tracebacks"]
    row.details["log"] = logs
    if pool is not None:
        recover(faults, sent, pool.offer_times)
        row.details["agents"] = pool.tally.as_dict() | {
            "reconnects": pool.reconnects, "vanished": sorted(pool.vanished)}  # fmt: skip
    if faults:
        row.intake_recovery_s = worst([f.intake_s for f in faults])
        row.routing_recovery_s = worst([f.routing_s for f in faults])
        row.details["faults"] = [
            {
                "kind": f.kind,
                "at_s": round(f.at - faults[0].at, 3),
                "down_s": round(f.back - f.at, 3),
                "ready_s": round(f.ready - f.back, 3) if f.ready else None,
                "intake_recovery_s": f.intake_s,
                "routing_recovery_s": f.routing_s,
            }
            for f in faults
        ]
    return row


def now() -> float:
    return time.monotonic()
