"""Counting what the daemon asks Redis: round trips (one per command sent alone, one per
pipeline sent) and commands by name, so that the cost per request stays visible
(`frontdesk_redis_round_trips_total{kind}`, `frontdesk_redis_commands_total{command}`) and a
benchmark can read it before and after a run.

The count is kept by the connection class itself: `count_round_trips(client, counts)` swaps the
pool's connection class for a subclass that adds a dictionary increment when a command is packed
and when one is sent (nothing else changes: the same sockets, the same parser, the same retry). A
pipeline is packed by `pack_commands` and sent with one write: one round trip, each command inside
it counted by name (MULTI/EXEC included when it is a transaction). A script call counts as EVALSHA
(or EVAL), whatever script it runs; a subcommand is named as Redis does (CONFIG|GET).

A Redis Cluster client makes one pool per node, inside the client: it is not counted (the
metrics then stay at zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.typing import EncodableT

KINDS = ("command", "pipeline")


class RedisCounts:
    """Round trips by kind and commands by name, since the daemon started (plain dicts: a
    counter is one dictionary update, read by the metrics at each scrape)."""

    def __init__(self) -> None:
        self.round_trips: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.commands: dict[str, int] = {}

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {"round_trips": dict(self.round_trips), "commands": dict(self.commands)}


class _Counting:
    """Mixed in before a redis.asyncio connection class; `counts` is set per subclass."""

    counts: ClassVar[RedisCounts]
    counted: ClassVar[type[AbstractConnection]]  # the class it counts for

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        name = args[0]
        # "CONFIG GET" (redis-py's one-argument form of a subcommand) as Redis names it: CONFIG|GET
        key = (name.decode() if isinstance(name, bytes) else str(name)).upper().replace(" ", "|")
        commands = self.counts.commands
        commands[key] = commands.get(key, 0) + 1
        return super().pack_command(*args)  # type: ignore[misc, no-any-return]

    def pack_commands(self, commands: Iterable[Iterable[EncodableT]]) -> list[bytes]:
        self.counts.round_trips["pipeline"] += 1
        return super().pack_commands(commands)  # type: ignore[misc, no-any-return]

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        self.counts.round_trips["command"] += 1
        await super().send_command(*args, **kwargs)  # type: ignore[misc]


def counting_class(base: type[AbstractConnection], counts: RedisCounts) -> type[AbstractConnection]:
    """`base` (Connection, UnixDomainSocketConnection, SSLConnection, Sentinel's...) counting
    into `counts`."""
    if issubclass(base, _Counting):
        base = base.counted  # counted already: count into the new `counts` instead
    return type(f"Counting{base.__name__}", (_Counting, base), {"counts": counts, "counted": base})


def count_round_trips(client: Redis, counts: RedisCounts) -> Redis:
    """Make every connection `client`'s pool opens from now on count into `counts` (call it
    before the first command: a connection already open keeps its class). A cluster client is
    returned as it is."""
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, ConnectionPool):
        pool.connection_class = counting_class(pool.connection_class, counts)
    return client
