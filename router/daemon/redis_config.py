"""The `redis` and `metrics` sections of the config: an embedded server, one URL, a
Sentinel-watched primary, or a Redis Cluster; how many replicas an acknowledgement waits for; the
memory figures the start-up check uses; and who may read /metrics. Every problem is reported with
its YAML path and line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frontdesk.router.conf.yaml import Checker
from frontdesk.router.daemon.redis_server import RedisURLError, check_url

APPENDFSYNC = ["everysec", "always", "no"]
REDIS_KEYS = [
    *("url", "sentinel", "cluster", "data_dir", "appendfsync", "binary"),
    *("wait_replicas", "wait_timeout", "maxmemory", "expected_rate"),
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
class MetricsSettings:
    """Who may read /metrics: anyone with the bearer token whose sha256 is `token_sha256`;
    without one, loopback clients only (not through a proxy)."""

    token_sha256: str | None = None


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
    maxmemory: int | None = None  # the embedded server's memory limit in bytes; None: unset
    expected_rate: float | None = None  # requests per day, for the memory projection

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
    maxmemory = _maxmemory(check, r.get("maxmemory"), embedded=not chosen)
    rate = r.get("expected_rate")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1e9
    ):
        check.error(
            ("redis", "expected_rate"), f"must be requests per day such as 5000, got {rate!r}"
        )
        rate = None
    if data_dir is None or fsync is None or replicas is None or timeout is None:
        return None
    return RedisSettings(
        url, Path(data_dir), fsync, binary, sentinel, cluster, replicas, timeout, maxmemory, rate
    )


def _maxmemory(check: Checker, value: object, embedded: bool) -> int | None:
    if value is None:
        return None
    maxmemory = _memory_size(value)
    if maxmemory is None or maxmemory < 1 << 20:
        check.error(("redis", "maxmemory"), f"must be a size such as 4GB, got {value!r}")
        return None
    if not embedded:
        check.error(("redis", "maxmemory"), "sets the embedded server's limit; with an external "
                    "Redis, set maxmemory on that Redis")  # fmt: skip
    return maxmemory


def _nodes(check: Checker, path: tuple[str, ...], value: object) -> tuple[Node, ...]:
    raw = check.sequence((*path, "nodes"), value)
    if not raw:
        if value is None or isinstance(value, list):
            check.error((*path, "nodes"), 'list at least one node as "host:port"')
        return ()
    nodes = []
    for i, item in enumerate(raw):
        host, _, port = str(item).rpartition(":") if isinstance(item, str) else ("", "", "")
        if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
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


_MEMORY = re.compile(r"\s*(\d+)\s*(mb|gb|tb)?\s*", re.IGNORECASE)
_MEMORY_UNITS = {None: 1, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


def _memory_size(value: object) -> int | None:
    """Bytes in `4GB`, `512MB`, or a number of bytes; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    m = _MEMORY.fullmatch(value) if isinstance(value, str) else None
    return int(m[1]) * _MEMORY_UNITS[m[2].lower() if m[2] else None] if m else None


def parse_metrics(check: Checker, value: object) -> MetricsSettings:
    """`metrics.token_sha256`: the sha256 (hex) of the bearer token /metrics needs."""
    metrics = check.mapping(("metrics",), value, ["token_sha256"])
    token = metrics.get("token_sha256")
    if token is not None:
        token = check.string(("metrics", "token_sha256"), token, r"[0-9a-f]{64}")
    return MetricsSettings(token)
