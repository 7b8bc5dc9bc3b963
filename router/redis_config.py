"""The `redis` section of the config: an embedded server, one URL, a Sentinel-watched primary, or a
Redis Cluster; and how many replicas an acknowledgement waits for. Every problem is reported with
its YAML path and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .redis_server import RedisURLError, check_url
from .yamlconf import Checker

APPENDFSYNC = ["everysec", "always", "no"]
REDIS_KEYS = [
    *("url", "sentinel", "cluster", "data_dir", "appendfsync", "binary"),
    *("wait_replicas", "wait_timeout"),
]
_SENTINEL = ["master", "nodes", "password", "sentinel_password", "db"]
_CLUSTER = ["nodes", "password"]
MAX_WAIT_REPLICAS = 16

Node = tuple[str, int]


@dataclass(frozen=True, slots=True)
class SentinelSettings:
    """A primary found through Sentinel: the name the sentinels monitor and where they are."""

    master: str
    nodes: tuple[Node, ...]
    password: str | None = None  # the Redis servers' password
    sentinel_password: str | None = None  # the sentinels' own password
    db: int = 0


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """A Redis Cluster, found from any of its startup nodes."""

    nodes: tuple[Node, ...]
    password: str | None = None


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str | None
    data_dir: Path
    appendfsync: str
    binary: str | None
    sentinel: SentinelSettings | None = None
    cluster: ClusterSettings | None = None
    wait_replicas: int = 0  # an acknowledgement waits until this many replicas have the writes
    wait_timeout_s: float = 1.0

    @property
    def embedded(self) -> bool:
        """True when frontdesk runs its own redis-server (nothing else configured)."""
        return self.url is None and self.sentinel is None and self.cluster is None


def parse_redis(check: Checker, r: dict[str, Any]) -> RedisSettings | None:
    """`redis`, already merged over the defaults and checked for unknown keys."""
    url = r.get("url")
    if url is not None:
        try:
            check_url(str(url))
        except RedisURLError as exc:
            check.error(("redis", "url"), str(exc))
    binary = r.get("binary")
    if binary is not None:
        check.string(("redis", "binary"), binary)
    data_dir = check.string(("redis", "data_dir"), r.get("data_dir"))
    fsync = check.choice(("redis", "appendfsync"), r.get("appendfsync"), APPENDFSYNC)
    sentinel = _sentinel(check, r.get("sentinel"))
    cluster = _cluster(check, r.get("cluster"))
    chosen = [n for n in ("url", "sentinel", "cluster") if r.get(n) is not None]
    if len(chosen) > 1:
        check.error(("redis", chosen[1]), f"set only one of redis.url, redis.sentinel, "
                    f"redis.cluster (also set: redis.{chosen[0]})")  # fmt: skip
    replicas = check.integer(
        ("redis", "wait_replicas"), r.get("wait_replicas"), 0, MAX_WAIT_REPLICAS
    )
    timeout = check.duration(("redis", "wait_timeout"), r.get("wait_timeout"))
    if timeout is not None and not 0.001 <= timeout <= 60:
        check.error(("redis", "wait_timeout"), "must be from 1ms to 60s")
        timeout = None
    if replicas and cluster is not None:
        check.error(("redis", "wait_replicas"), "is not supported with redis.cluster "
                    "(a cluster's replicas are its nodes' own; use 0)")  # fmt: skip
    elif replicas and not chosen:
        check.error(("redis", "wait_replicas"), "needs redis.url or redis.sentinel: the "
                    "embedded redis-server has no replicas")  # fmt: skip
    if data_dir is None or fsync is None or replicas is None or timeout is None:
        return None
    return RedisSettings(url, Path(data_dir), fsync, binary, sentinel, cluster, replicas, timeout)


def _nodes(check: Checker, path: tuple[str, ...], value: object) -> tuple[Node, ...]:
    raw = check.sequence((*path, "nodes"), value)
    if not raw:
        if value is None or isinstance(value, list):
            check.error((*path, "nodes"), 'list at least one node as "host:port"')
        return ()
    nodes = []
    for i, item in enumerate(raw):
        host, _, port = str(item).rpartition(":") if isinstance(item, str) else ("", "", "")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            check.error((*path, "nodes", i), f'must be "host:port", got {item!r}')
            continue
        nodes.append((host.strip("[]"), int(port)))
    return tuple(nodes)


def _secret(check: Checker, path: tuple[str, ...], value: object) -> str | None:
    if value is None:
        return None
    return check.string(path, value)


def _sentinel(check: Checker, value: object) -> SentinelSettings | None:
    if value is None:
        return None
    path = ("redis", "sentinel")
    s = check.mapping(path, value, _SENTINEL)
    if not s and not isinstance(value, dict):
        return None
    master = check.string((*path, "master"), s.get("master"))
    nodes = _nodes(check, path, s.get("nodes"))
    password = _secret(check, (*path, "password"), s.get("password"))
    sentinel_password = _secret(check, (*path, "sentinel_password"), s.get("sentinel_password"))
    db = check.integer((*path, "db"), s.get("db", 0), 0, 15)
    if master is None or not nodes or db is None:
        return None
    return SentinelSettings(master, nodes, password, sentinel_password, db)


def _cluster(check: Checker, value: object) -> ClusterSettings | None:
    if value is None:
        return None
    path = ("redis", "cluster")
    c = check.mapping(path, value, _CLUSTER)
    if not c and not isinstance(value, dict):
        return None
    nodes = _nodes(check, path, c.get("nodes"))
    password = _secret(check, (*path, "password"), c.get("password"))
    return ClusterSettings(nodes, password) if nodes else None
