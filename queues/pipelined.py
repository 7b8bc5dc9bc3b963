"""Many calls in one round trip, for the dispatcher: script calls sent as one pipeline (each its
own atomic call and its own answer) and the few fields of many requests a decision round reads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from .keys import Keys
from .record import ROW_FIELDS
from .scripts import Scripts
from .wire import texts

Call = tuple[str, list[str], list[Any]]  # a script's verb, its keys, its arguments


async def run_scripts(redis: Redis, scripts: Scripts, calls: Sequence[Call]) -> list[Any]:
    """Several script calls in one round trip, each its own atomic call with its answer (or
    error) in its place. On a plain client they are made in one tick, so the group commit of
    queues/batch.py sends them as one pipeline of EVALSHAs (no SCRIPT EXISTS; NOSCRIPT loads
    and sends again); in a Redis Cluster, one cluster pipeline of EVALs (queues/scripts.py
    says why)."""
    if not calls:
        return []
    if isinstance(redis, Redis):
        return list(
            await asyncio.gather(
                *(getattr(scripts, verb)(keys, args) for verb, keys, args in calls),
                return_exceptions=True,
            )
        )
    async with redis.pipeline(transaction=False) as pipe:
        for verb, keys, args in calls:
            await getattr(scripts, verb)(keys, args, pipe)
        return list(await pipe.execute(raise_on_error=False))


async def read_rows(
    redis: Redis, keys: Keys, request_ids: Sequence[str]
) -> list[tuple[list[bytes | None], frozenset[str]]]:
    """For each request, its ROW_FIELDS (HMGET, None where missing) and the agents excluded
    from it, in one round trip."""
    if not request_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for request_id in request_ids:
            pipe.hmget(keys.request(request_id), ROW_FIELDS)
            pipe.smembers(keys.excluded(request_id))
        replies = await pipe.execute()
    return [(replies[i], frozenset(texts(replies[i + 1]))) for i in range(0, len(replies), 2)]
