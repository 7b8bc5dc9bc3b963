"""When each chat conversation's customer was last heard from (a message, or an open socket), shared
by every daemon in one sorted set (`Keys.chat_heard`, on the Redis clock), for the chat idle
timeout across daemons: a daemon reports what it heard and asks which conversations gone quiet
there have been heard by no daemon either (lua/chat_idle-1.lua)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from .keys import Keys
from .scripts import Scripts
from .wire import texts


class HeardConversations:
    """The last-heard times of one tenant's chat conversations."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts if scripts is not None else Scripts(redis)

    async def sweep(self, idle_ms: int, heard: Sequence[str], quiet: Sequence[str]) -> set[str]:
        """Note every conversation of `heard` as heard now, and return those of `quiet` that no
        daemon has heard for `idle_ms` (one never heard of counts as idle), in one call. Entries
        unheard for ten idle times are dropped."""
        found = await self.scripts.chat_idle(
            [self.keys.chat_heard], [idle_ms, len(heard), *heard, *quiet]
        )
        return set(texts(found))

    async def forget(self, conversation: str) -> None:
        """Drop `conversation` (its request was abandoned, or closed already)."""
        await self.redis.zrem(self.keys.chat_heard, conversation)
