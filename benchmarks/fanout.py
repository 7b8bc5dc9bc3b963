"""What handing one stream event to the daemon's listeners costs, by the number of agent sockets:
before (every event to every socket's listener, which filters it: issue 12's broadcast loop)
and after (`Fanout.publish`: a dictionary look-up by the event's agent, request and queue). The
event mix is a desk's: per request one enqueued, offered, accepted, two customer messages and a
completed, and a presence change per ten requests. Pure Python, no Redis: the broadcast's extra
cost in Redis (each socket reading its agent's holds on every customer message) comes on top.

Then the positions of N waiting chat sockets after one change of their queue, on an embedded
redis-server: each socket asking on its own (`Standing(record)`: a ZRANK and a TIME each) vs
the queue's board (`Standing(record, shared=True)`: one pipelined read for all of them).

    python benchmarks/fanout.py                      # 10, 100, 1,000 and 5,000 sockets
    python benchmarks/fanout.py --quick --json out.json
    python benchmarks/fanout.py --no-redis           # the fan-out only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.routing.eta import BOARD_EVERY_S, Standing, Throughput
from frontdesk.router.routing.fanout import Fanout

Listener = Callable[[Event], None]
REPEATS = 3  # the best of three runs of each, against a shared machine's noise


def stream(agents: int, count: int, seed: int) -> list[Event]:
    """`count` events of requests served by random agents among `agents`, in a desk's mix."""
    rng = random.Random(seed)
    events: list[Event] = []
    n = 0
    while len(events) < count:
        n += 1
        rid, agent = f"FD-{n}", f"a{rng.randrange(agents)}"
        for kind, who in (
            (EventType.ENQUEUED, ""),
            (EventType.OFFERED, agent),
            (EventType.ACCEPTED, agent),
            (EventType.MESSAGE, agent),
            (EventType.MESSAGE, agent),
            (EventType.COMPLETED, agent),
        ):
            events.append(Event(f"{n}-{len(events)}", kind, rid, who, "chat", 0))
        if n % 10 == 0:
            events.append(Event(f"{n}-p", EventType.PRESENCE, "", agent, "", 0))
    return events[:count]


def socket_listener(agent: str, broadcast: bool) -> Listener:
    """An agent socket's listener as agent_ws.py has it: into the socket's backlog (the
    broadcast one first filters: its agent's events, and every message)."""
    backlog: deque[Event] = deque(maxlen=1000)
    if not broadcast:
        return backlog.append

    def listen(event: Event) -> None:
        if event.agent == agent or event.type is EventType.MESSAGE:
            backlog.append(event)

    return listen


def before(agents: int, events: list[Event]) -> float:
    listeners = {socket_listener(f"a{i}", broadcast=True) for i in range(agents)}
    t0 = time.perf_counter()
    for event in events:
        for listen in list(listeners):
            listen(event)
    return time.perf_counter() - t0


def after(agents: int, events: list[Event]) -> tuple[float, int]:
    fanout = Fanout()
    for i in range(agents):
        fanout.subscribe(socket_listener(f"a{i}", broadcast=False), agent=f"a{i}")
    fanout.subscribe(lambda e: None)  # the few listeners of every event (the chat channel's)
    t0 = time.perf_counter()
    for event in events:
        fanout.publish(event)
    return time.perf_counter() - t0, fanout.calls


def measure(agents: int, count: int, seed: int) -> dict[str, Any]:
    events = stream(agents, count, seed)
    slow = min(before(agents, events) for _ in range(REPEATS))
    fast, calls = min(after(agents, events) for _ in range(REPEATS))
    return {
        "sockets": agents,
        "events": count,
        "before_us_per_event": round(slow / count * 1e6, 2),
        "after_us_per_event": round(fast / count * 1e6, 3),
        "speedup": round(slow / fast, 1),
        "listener_calls_per_event_before": agents,
        "listener_calls_per_event_after": round(calls / count, 2),
    }


async def positions(sizes: list[int]) -> list[dict[str, Any]]:
    """Per size: the time to give every waiting socket its position after one change."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="fdbench") as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        server.start()
        try:
            pool = BlockingConnectionPool.from_url(server.url, max_connections=32)
            redis = Redis(connection_pool=pool)  # waits for a free connection, as the daemon's
            for n in sizes:
                await redis.flushall()
                keys = Keys(f"fanout{n}")
                store = QueueStore(redis, keys)
                standing = Standing(store, AgentStore(redis, keys), Throughput(), lambda q: ())
                records: list[RequestRecord] = []
                for i in range(n):
                    customer = Customer(email=f"c{i}@example.com")
                    made = Request("", Channel.CHAT, "chat", external_id=f"m{i}", body="hi",
                                   customer=customer)  # fmt: skip
                    record = await store.get((await store.enqueue(made)).id)
                    assert record is not None
                    records.append(record)
                t0 = time.perf_counter()
                alone = await asyncio.gather(*(standing(r) for r in records))
                each = time.perf_counter() - t0
                await asyncio.gather(*(standing(r, shared=True) for r in records))  # asked once
                standing.heard(Event("1-0", EventType.ENQUEUED, "FD-x", "", "chat", 0))
                await asyncio.sleep(BOARD_EVERY_S)
                reads = standing.board_reads
                t0 = time.perf_counter()
                shared = await asyncio.gather(*(standing(r, shared=True) for r in records))
                board = time.perf_counter() - t0
                assert shared == alone, "the board tells each socket what it would read alone"
                rows.append({
                    "sockets": n,
                    "per_socket_ms": round(each * 1000, 2),
                    "board_ms": round(board * 1000, 2),
                    "speedup": round(each / board, 1),
                    "round_trips_per_socket": 2,  # ZRANK, TIME (the agents' read is shared)
                    "board_reads": standing.board_reads - reads,
                })  # fmt: skip
            await redis.aclose()
        finally:
            server.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and sizes")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-redis", action="store_true", help="skip the positions part")
    args = parser.parse_args(argv)
    sizes = [10, 100, 1000] if args.quick else [10, 100, 1000, 5000]
    rows = []
    for agents in sizes:
        count = max(200, (20_000 if not args.quick else 4_000) // max(1, agents // 100))
        rows.append(measure(agents, count, args.seed))
    print(f"{'sockets':>8} {'before µs/event':>16} {'after µs/event':>15} {'speedup':>8} "
          f"{'calls/event after':>18}")  # fmt: skip
    for r in rows:
        print(f"{r['sockets']:>8} {r['before_us_per_event']:>16} {r['after_us_per_event']:>15} "
              f"{r['speedup']:>7}x {r['listener_calls_per_event_after']:>18}")  # fmt: skip
    boards: list[dict[str, Any]] = []
    if not args.no_redis:
        boards = asyncio.run(positions([10, 100] if args.quick else [10, 100, 1000]))
        print(f"\n{'waiting':>8} {'each asks ms':>13} {'board ms':>9} {'speedup':>8} "
              f"{'board reads':>12}")  # fmt: skip
        for b in boards:
            print(f"{b['sockets']:>8} {b['per_socket_ms']:>13} {b['board_ms']:>9} "
                  f"{b['speedup']:>7}x {b['board_reads']:>12}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        body = {"benchmark": "fanout", "quick": args.quick, "rows": rows, "positions": boards}
        args.json.write_text(json.dumps(body, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
