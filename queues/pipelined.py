"""Many calls in one round trip, for the dispatcher: script calls sent as one pipeline (each its
own atomic call and its own answer) and the few fields of many requests a decision round reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import NoScriptError

from .keys import Keys
from .scripts import Scripts
from .wire import texts

Call = tuple[str, list[str], list[Any]]  # a script's verb, its keys, its arguments
ROW_FIELDS = ("data", "queue", "band", "tier", "enqueued_ms", "state", "seq", "score", "messages")


async def run_scripts(
    redis: Redis, scripts: Scripts, calls: Sequence[Call], loaded: set[str]
) -> list[Any]:
    """Several script calls in one pipeline, in order, each answer (or error) in its place:
    EVALSHA with no SCRIPT EXISTS before (redis-py's pipeline asks it for its scripts at every
    execute). A script not in `loaded` (the caller's, kept across calls) is loaded first, once;
    one the server lacks all the same (NOSCRIPT: restarted, flushed) is loaded and its calls
    sent again, in order (a NOSCRIPT call did nothing)."""
    if not calls:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        if isinstance(pipe, ClusterPipeline):  # EVAL there (queues/scripts.py says why)
            for verb, keys, args in calls:
                await getattr(scripts, verb)(keys, args, pipe)
            return list(await pipe.execute(raise_on_error=False))
        for verb in sorted({verb for verb, _, _ in calls} - loaded):
            await redis.script_load(getattr(scripts, verb).script.script)
            loaded.add(verb)
        for verb, keys, args in calls:
            pipe.evalsha(getattr(scripts, verb).script.sha, len(keys), *keys, *args)
        results = list(await pipe.execute(raise_on_error=False))
    again = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
    if again:
        for verb in {calls[i][0] for i in again}:
            await redis.script_load(getattr(scripts, verb).script.script)
        async with redis.pipeline(transaction=False) as pipe:
            for i in again:
                verb, keys, args = calls[i]
                pipe.evalsha(getattr(scripts, verb).script.sha, len(keys), *keys, *args)
            for i, r in zip(again, await pipe.execute(raise_on_error=False), strict=True):
                results[i] = r
    return results


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
