"""Care lists in Redis (important, low_satisfaction): seeded from the config, changed by the API
and by survey scores, each change an event (`customer.listed`, `customer.unlisted`) that every
daemon's copy of the lists follows (router/intake/care.py). An entry may hold until an instant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from .keys import Keys
from .scripts import Scripts
from .wire import text

LISTS = ("important", "low_satisfaction")


@dataclass(frozen=True, slots=True)
class Entry:
    """One customer on one list."""

    key: str  # kind:value (email:a@b.cn, phone:+8613800138000, id:C-1)
    entry: str  # as written
    until_ms: int  # 0: for ever
    source: str  # config, api, survey
    reason: str = ""
    at_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry, "key": self.key, "until_ms": self.until_ms or None,
            "source": self.source, "reason": self.reason, "since_ms": self.at_ms,
        }  # fmt: skip


def _entries(flat: Sequence[Any]) -> list[Entry]:
    out = []
    for key, raw in zip(flat[::2], flat[1::2], strict=True):
        doc = json.loads(text(raw))
        out.append(Entry(text(key), doc["e"], int(doc["u"]), doc["s"], doc.get("r", ""),
                         int(doc.get("at", 0))))  # fmt: skip
    return out


class CareStore:
    """One tenant's care lists."""

    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int) -> None:
        self.redis, self.keys, self.stream_maxlen = redis, keys, stream_maxlen
        self.scripts = Scripts(redis)

    async def seed(self, name: str, entries: Sequence[tuple[str, str]]) -> list[Entry]:
        """The config's (key, entry) pairs of list `name`; the whole list after."""
        k = self.keys
        flat = [v for pair in entries for v in pair]
        found = await self.scripts.care_seed([k.care_list(name), k.care_removed(name)], flat)
        return _entries(found)

    async def get(self, name: str, key: str) -> Entry | None:
        raw = await self.redis.hget(self.keys.care_list(name), key)
        return _entries([key, raw])[0] if raw is not None else None

    async def all(self, name: str) -> list[Entry]:
        return _entries(
            [v for kv in (await self.redis.hgetall(self.keys.care_list(name))).items() for v in kv]
        )

    async def put(
        self, name: str, key: str, entry: str, until_ms: int, source: str, reason: str = ""
    ) -> bool:
        """On the list (until `until_ms`, 0 for ever); True when the entry is new there."""
        k = self.keys
        new = await self.scripts.care_put(
            [k.care_list(name), k.events, k.care_removed(name)],
            [name, key, entry, until_ms, source, self.stream_maxlen, reason],
        )
        return bool(new)

    async def remove(self, name: str, key: str, source: str, only_from: str = "") -> bool:
        """Off the list (`only_from`: only if that source put it there); True if it was on."""
        k = self.keys
        gone = await self.scripts.care_remove(
            [k.care_list(name), k.care_removed(name), k.events],
            [name, key, self.stream_maxlen, source, "1" if only_from else "0", only_from],
        )
        return bool(gone)
