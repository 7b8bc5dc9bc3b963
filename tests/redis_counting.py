"""Test clients whose Redis round trips are counted by the daemon's own counter
(router/daemon/redis_count.py: one per command sent alone, one per pipeline, commands by name)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from frontdesk.router.daemon.redis_count import RedisCounts, count_round_trips


@dataclass(frozen=True, slots=True)
class Trips:
    """What was sent between two marks: round trips by kind, and commands by name."""

    kinds: dict[str, int]
    commands: dict[str, int]

    @property
    def n(self) -> int:
        return sum(self.kinds.values())


class Counted:
    """A client on `url` counting every round trip; `since()` tells what went since `mark()`."""

    def __init__(self, url: str) -> None:
        self.counts = RedisCounts()
        self.client = count_round_trips(Redis.from_url(url), self.counts)
        self._at = self.counts.snapshot()

    def mark(self) -> None:
        self._at = self.counts.snapshot()

    def since(self) -> Trips:
        now = self.counts.snapshot()

        def delta(kind: str) -> dict[str, int]:
            return {k: v - self._at[kind].get(k, 0)
                    for k, v in now[kind].items() if v != self._at[kind].get(k, 0)}  # fmt: skip

        return Trips(delta("round_trips"), delta("commands"))
