"""Redis memory per request: what the retention costs, for sizing `maxmemory`.

Starts the embedded redis-server (as `frontdesk serve` does) in a temporary directory, sends
`--requests` requests through the real front door (customer identified, classified, enqueued,
thread references kept) with typical bodies (an email-sized subject and text, a name, an address,
a message id, attributes), has an agent take and complete each one, and reads `used_memory`
(INFO memory) before and after. The difference over the count is the bytes one completed request
holds while it is retained: its record and messages, the customer record, the idempotency and
thread keys and its events on the stream (until `events.max_length` trims them).

    python benchmarks/redis_memory.py                   # 5,000 requests
    python benchmarks/redis_memory.py --requests 20000 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.bench.report import machine
from frontdesk.router.daemon.memory import BYTES_PER_REQUEST
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.intake.front import Front, Inbound
from frontdesk.skills import Agent, Presence

CONFIG = """\
tenant: bench
queues: {general: {}}
default_queue: general
skills: [billing]
"""
WORDS = [
    "order",
    "refund",
    "invoice",
    "password",
    "login",
    "account",
    "payment",
    "delivery",
    "parcel",
    "late",
    "broken",
    "screen",
    "订单",
    "退款",
    "发票",
    "密码",
    "登录",
    "账户",
    "支付",
    "快递",
    "延迟",
    "损坏",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def typical(n: int, rng: random.Random) -> Request:
    """A request as email brings one: a subject, some 80 words of text, a named customer."""
    return Request(
        id="",
        channel=Channel.EMAIL,
        queue="",
        external_id=f"<{n}.{rng.getrandbits(48):x}@mail.example.com>",
        entry_point="email:support@example.com",
        customer=Customer(name=f"Customer {n}", email=f"customer{n}@example.com"),
        subject=_text(rng, 6),
        body=_text(rng, 80),
        language="en",
        attributes={"order": f"A-{n}", "impact": "one-user"},
    )


async def used(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def run(requests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    settings = parse_settings(CONFIG, "bench.yaml")
    with tempfile.TemporaryDirectory(prefix="fd-mem-") as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="no")
        server.start()
        redis = Redis.from_url(server.url)
        try:
            keys = Keys(settings.tenant)
            store = QueueStore(redis, keys, settings.store)
            agents = AgentStore(redis, keys)
            await agents.upsert(
                Agent("ann", "Ann", {"billing": 3}, {"email": 1}, presence=Presence.AVAILABLE)
            )
            front = Front(store, CustomerStore(store), lambda: settings)
            await front.start()
            before = await used(redis)
            for n in range(requests):
                request = typical(n, rng)
                ref = f"email:{request.external_id}"
                receipt = await front.receive(Inbound(request, thread_keys=(ref,)))
                await store.assign(receipt.request_id, "ann", force=True)
                await store.complete(receipt.request_id, "ann", "answered")
            after = await used(redis)
            stream = await redis.xlen(keys.events)
        finally:
            await redis.aclose()
            server.stop()
    per = (after - before) / requests
    return {
        "requests": requests,
        "used_before": before,
        "used_after": after,
        "bytes_per_request": round(per),
        "constant_in_router_memory": BYTES_PER_REQUEST,
        "events_in_stream": stream,
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.requests, args.seed))
    m = report["machine"]
    print(f"{report['requests']} completed requests through the front door")
    print(f"used_memory {report['used_before']} -> {report['used_after']} bytes")
    print(f"bytes per request: {report['bytes_per_request']}")
    print(f"(router/daemon/memory.py projects with {report['constant_in_router_memory']})")
    print(f"machine: {m['cpus']} cores, {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
