"""The `redis` and `metrics` sections of the config: where Redis is (or how the embedded one
runs), the memory figures the start-up check uses, and who may read /metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .redis_server import RedisURLError, check_url
from .yamlconf import Checker

APPENDFSYNC = ["everysec", "always", "no"]


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str | None
    data_dir: Path
    appendfsync: str
    binary: str | None
    maxmemory: int | None = None  # the embedded server's memory limit in bytes; None: unset
    expected_rate: float | None = None  # requests per day, for the memory projection


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Who may read /metrics: anyone with the bearer token whose sha256 is `token_sha256`;
    without one, loopback clients only (not through a proxy)."""

    token_sha256: str | None = None


def parse_redis(check: Checker, r: dict[str, Any]) -> RedisSettings | None:
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
    maxmemory = None
    if r.get("maxmemory") is not None:
        maxmemory = _memory_size(r["maxmemory"])
        if maxmemory is None or maxmemory < 1 << 20:
            check.error(
                ("redis", "maxmemory"), f"must be a size such as 4GB, got {r['maxmemory']!r}"
            )
            maxmemory = None
        elif url is not None:
            check.error(("redis", "maxmemory"), "sets the embedded server's limit; with redis.url, "
                        "set maxmemory on that Redis")  # fmt: skip
    rate = r.get("expected_rate")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1e9
    ):
        check.error(
            ("redis", "expected_rate"), f"must be requests per day such as 5000, got {rate!r}"
        )
        rate = None
    if data_dir is None or fsync is None:
        return None
    return RedisSettings(url, Path(data_dir), fsync, binary, maxmemory, rate)


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
