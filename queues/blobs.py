"""Attachment contents in Redis, by content: the same file twice is stored once. A reference is
`sha256:<hex digest>`; `Attachment.ref` carries it, so an attachment's metadata leads to its
content for as long as the retention keeps it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from redis.asyncio import Redis

from .keys import Keys
from .wire import as_bytes

PREFIX = "sha256:"


def reference(data: bytes) -> str:
    """The reference of `data`: what `Attachment.ref` holds once the content is stored."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def is_reference(value: str) -> bool:
    digest = value.removeprefix(PREFIX)
    return (
        value.startswith(PREFIX)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    )


class BlobStore:
    """Contents by reference, each kept `ttl_s` from its last arrival (0: for ever)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def put_many(self, contents: Mapping[str, bytes], ttl_s: int) -> None:
        """Store each content under its reference (checked), in one round trip."""
        if not contents:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for ref, data in contents.items():
                if ref != reference(data):
                    raise ValueError(f"{ref} is not the reference of its content")
                pipe.set(self.keys.blob(ref), data, ex=ttl_s if ttl_s > 0 else None)
            await pipe.execute()

    async def get(self, ref: str) -> bytes | None:
        if not is_reference(ref):
            return None
        found = await self.redis.get(self.keys.blob(ref))
        return as_bytes(found) if found is not None else None
