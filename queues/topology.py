"""What the store needs to know of the Redis topology it runs on: whose clock is "now" on a
Redis Cluster, and waiting for replicas (WAIT) before an acknowledgement."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from .keys import Keys


class ReplicasBehind(RedisError):
    """Fewer replicas than configured confirmed the writes in time. A RedisError, so that every
    channel refuses temporarily (HTTP 503, SMTP 451) as when Redis is down: what was written
    stays, and the sender's retry is deduplicated."""


async def server_time_ms(redis: Redis, keys: Keys) -> int:
    """The clock of the server holding the tenant's keys, the one its scripts read (on a Redis
    Cluster TIME would otherwise go to any node, whose clock may differ)."""
    options: dict[str, Any] = {}
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # the slots' owners are known once it has connected
        options["target_nodes"] = redis.get_node_from_key(keys.prefix)
    seconds, micros = await redis.time(**options)
    return int(seconds) * 1000 + int(micros) // 1000


async def wait_for_replicas(redis: Redis, keys: Keys, replicas: int, timeout_ms: int) -> None:
    """Return once `replicas` replicas have every write made so far by any connection: one tiny
    write and WAIT on the same connection (a pipeline), since WAIT counts the writes of its own
    connection, and the replication offset of this write is past every earlier one. Raises
    ReplicasBehind when fewer confirmed within `timeout_ms`."""
    if replicas <= 0:
        return
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(keys.durable)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        _, confirmed = await pipe.execute()
    if int(confirmed) < replicas:
        raise ReplicasBehind(
            f"only {int(confirmed)} of {replicas} replicas confirmed the writes "
            f"within {timeout_ms} ms"
        )
