"""The one place that makes Redis clients from the `redis` settings: a URL (the embedded server's
or `redis.url`), a primary found through Sentinel, or a Redis Cluster. The daemon and every
command-line tool connect through here, so each of them works on all three."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from frontdesk.router.daemon.redis_config import ClusterSettings, RedisSettings, SentinelSettings

CONNECT_TIMEOUT_S = 5.0
POOL_WAIT_S = 10.0  # how long a command waits for a free pooled connection under load
CLUSTER_MIN_CONNECTIONS = 32  # per node; a cluster node's pool refuses, it cannot wait


class SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """The Sentinel pool (it asks the sentinels for the primary before each new connection and
    drops idle ones when the primary moved) with the blocking pool's waiting for a free
    connection: under load a command queues instead of failing with "Too many connections"."""


def describe(settings: RedisSettings, url: str | None = None) -> str:
    """Where the client goes, for logs and error messages (no passwords)."""
    if url is not None or settings.url is not None:
        return _without_password(url or settings.url or "")
    if settings.sentinel is not None:
        nodes = ", ".join(f"{h}:{p}" for h, p in settings.sentinel.nodes)
        return f"sentinel master {settings.sentinel.master!r} via {nodes}"
    if settings.cluster is not None:
        return "cluster " + ", ".join(f"{h}:{p}" for h, p in settings.cluster.nodes)
    return "the embedded redis-server"


def connect(
    settings: RedisSettings,
    url: str | None = None,
    connections: int = 50,
    blocking: bool = True,
    **options: Any,
) -> Redis:
    """A client for `settings` (or for `url`, the embedded server's, when given). `options` are
    connection keyword arguments (socket_timeout, health_check_interval, retry ...) passed to
    every connection whichever the topology. With `blocking`, a pool out of connections makes a
    command wait up to POOL_WAIT_S for one instead of refusing."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    url = url or settings.url
    if url is not None:
        if not blocking:
            return Redis.from_url(url, max_connections=connections, **options)
        pool = BlockingConnectionPool.from_url(
            url, max_connections=connections, timeout=POOL_WAIT_S, **options
        )
        return Redis(connection_pool=pool)
    if settings.sentinel is not None:
        return _sentinel(settings.sentinel, connections, blocking, options)
    if settings.cluster is not None:
        return _cluster(settings.cluster, connections, options)
    raise ValueError("no Redis configured: start the embedded server and pass its url")


def _sentinel(
    s: SentinelSettings, connections: int, blocking: bool, options: dict[str, Any]
) -> Redis:
    own = {k: v for k, v in options.items() if k.startswith("socket_")}
    if s.sentinel_password is not None:
        own["password"] = s.sentinel_password
    sentinel = Sentinel(list(s.nodes), sentinel_kwargs=own)  # type: ignore[no-untyped-call,unused-ignore]
    extra: dict[str, Any] = {"timeout": POOL_WAIT_S} if blocking else {}
    return cast(
        Redis,
        sentinel.master_for(
            s.master,
            connection_pool_class=SentinelBlockingPool if blocking else SentinelConnectionPool,
            password=s.password,
            db=s.db,
            max_connections=connections,
            **extra,
            **options,
        ),
    )


def _cluster(c: ClusterSettings, connections: int, options: dict[str, Any]) -> Redis:
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in c.nodes],
        password=c.password,
        max_connections=max(connections, CLUSTER_MIN_CONNECTIONS),
        **options,
    )
    # The cluster client speaks the same commands for keys of one slot, which is all the stores
    # use (every key of a tenant carries the hash tag {tenant}).
    return cast(Redis, client)


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


async def close(client: Redis) -> None:
    """Close the client and the connections of the pool (or the cluster nodes) it made."""
    if isinstance(client, RedisCluster):
        await client.aclose()
        return
    await client.aclose()
    pool = client.connection_pool
    await pool.disconnect()
    if isinstance(pool, SentinelConnectionPool):  # and the clients it asks the sentinels with
        for sentinel in pool.sentinel_manager.sentinels:
            await sentinel.aclose()
            await sentinel.connection_pool.disconnect()


def _without_password(url: str) -> str:
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"


def tool_target(settings: RedisSettings, embedded_url: str) -> str:
    """What a command-line tool connects to: `redis.url`, the embedded server's socket (there
    while `frontdesk serve` runs), or the description of a sentinel or cluster setup."""
    if settings.embedded:
        return embedded_url
    return settings.url or describe(settings)


def tool_client(settings: RedisSettings, target: str, **options: Any) -> Redis:
    """A command-line tool's client (no pool to wait on: a tool runs one command at a time) on
    `target` from tool_target()."""
    if settings.embedded or settings.url is not None:
        return from_url(target, **options)
    return connect(settings, None, connections=8, blocking=False, **options)


def from_url(url: str, **options: Any) -> Redis:
    """A plain client on one URL (a tool's, a benchmark's), without a waiting pool."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    return Redis.from_url(url, **options)
