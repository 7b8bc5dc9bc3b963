"""Ids taken from a Redis counter in blocks, so that most ids cost no round trip."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis


class IdBlock:
    """`<prefix><n>` ids from counter `key`, `size` at a time. Ids are unique across daemons; a
    stopped daemon leaves a gap, never a repeat. The waiters of one refill share one future (not
    a lock), so they all resume in the same tick."""

    def __init__(self, redis: Redis, key: str, prefix: str, size: int) -> None:
        self.redis = redis
        self.key = key
        self.prefix = prefix
        self.size = size
        self._next = self._end = 0
        self._refill: asyncio.Future[None] | None = None  # the block being taken, if any

    async def take(self) -> str:
        while self._next >= self._end:
            if self._refill is None:  # the first to find the block empty takes the next one
                self._refill = asyncio.ensure_future(self._take_block())
            await asyncio.shield(self._refill)
        n, self._next = self._next, self._next + 1
        return f"{self.prefix}{n}"

    def give_back(self, taken: str) -> None:
        """`taken` was not used: the next take returns it again if nothing was taken since."""
        if taken == f"{self.prefix}{self._next - 1}" and self._next > self._end - self.size:
            self._next -= 1

    async def _take_block(self) -> None:
        try:
            end = int(await self.redis.incrby(self.key, self.size))
            self._next, self._end = end - self.size + 1, end + 1
        finally:
            self._refill = None
