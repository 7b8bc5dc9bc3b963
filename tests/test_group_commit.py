"""Group commit (queues/batch.py) against the real redis-server: the script calls of one tick go
in one pipeline, each with its own answer; a server that lost its scripts is recovered from with
every call run exactly once; a lost connection fails every call of the batch."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from queue_ops_helpers import new_request
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, ResponseError

from frontdesk.queues.batch import batcher
from frontdesk.queues.events import EventType
from frontdesk.queues.store import ID_BLOCK, QueueStore, StoreSettings
from frontdesk.router.daemon.redis_retry import SafeRetry


async def _warm(store: QueueStore) -> None:
    """One enqueue first: its id block taken, its script loaded."""
    await store.enqueue(new_request(queue="warm"))


async def test_fifty_concurrent_enqueues_are_one_flush_each_with_its_own_answer(store, redis, keys):
    await _warm(store)
    gc = batcher(redis)
    flushes, calls = gc.flushes, gc.calls
    requests = [new_request(external_id=f"m{i}") for i in range(49)]
    requests.append(new_request(external_id="m7", subject="the same message again"))

    results = await asyncio.gather(*(store.enqueue(r) for r in requests))

    assert (gc.flushes - flushes, gc.calls - calls) == (1, 50)
    created = [r for r in results if r.created]
    assert len(created) == 49 and len({r.id for r in created}) == 49
    assert results[-1].created is False and results[-1].id == results[7].id
    assert await redis.zcard(keys.queue("general")) == 49
    for r in created[:5]:
        assert (await store.get(r.id)).request.external_id is not None


async def test_a_script_error_fails_only_its_own_call(store, redis, keys):
    await _warm(store)
    assert await store.scripts.rate_hits([keys.rate("sender", "y")], [60_000, 5]) == 0  # loaded
    gc = batcher(redis)
    flushes = gc.flushes
    good = [store.enqueue(new_request(external_id=f"g{i}")) for i in range(3)]
    bad = store.scripts.rate_hits([keys.rate("sender", "x")], ["not a number", "1"])

    results = await asyncio.gather(*good, bad, return_exceptions=True)

    assert gc.flushes - flushes == 1
    assert all(not isinstance(r, Exception) and r.created for r in results[:3])
    assert isinstance(results[3], ResponseError)
    assert await redis.zcard(keys.queue("general")) == 3


async def test_script_flush_between_calls_is_recovered_each_call_run_exactly_once(
    store, redis, keys, events
):
    await _warm(store)
    await events.new()
    await redis.script_flush()
    gc = batcher(redis)
    flushes, calls = gc.flushes, gc.calls

    results = await asyncio.gather(
        *(store.enqueue(new_request(external_id=f"f{i}")) for i in range(20))
    )

    assert (gc.flushes - flushes, gc.calls - calls) == (2, 40)  # NOSCRIPT, then loaded + resent
    assert all(r.created for r in results) and len({r.id for r in results}) == 20
    assert await redis.zcard(keys.queue("general")) == 20
    assert int(await redis.get(keys.seq)) == 21  # the warm-up and each of the 20, once
    assert await events.types() == [EventType.ENQUEUED] * 20
    again = await store.enqueue(new_request(external_id="f3"))  # loaded now: straight through
    assert (again.created, again.id) == (False, results[3].id)
    assert gc.flushes - flushes == 3


async def _connections_named(admin: Redis, name: str) -> list[str]:
    return [str(c["id"]) for c in await admin.client_list() if c.get("name") == name]


@pytest.mark.parametrize("retry", ["safe", "none"])
async def test_a_lost_connection_fails_every_call_of_the_batch(redis_server, redis, keys, retry):
    """Calls sent, then the connection killed before Redis ran them (CLIENT PAUSE holds them):
    every caller gets the error and nothing is stored, so nothing was acknowledged unstored."""
    policy = SafeRetry(NoBackoff(), 1) if retry == "safe" else Retry(NoBackoff(), 0)
    client = Redis.from_url(redis_server.url, client_name="gc-lost", retry=policy)
    try:
        store = QueueStore(client, keys, StoreSettings())
        await _warm(store)
        await redis.execute_command("CLIENT PAUSE", 10_000, "WRITE")
        try:
            calls = asyncio.gather(
                *(store.enqueue(new_request(external_id=f"k{i}"))
                  for i in range(10)),
                return_exceptions=True,
            )  # fmt: skip
            for _ in range(100):  # until the pipeline is written and waits for its answers
                await asyncio.sleep(0.02)
                if any(
                    c.get("name") == "gc-lost" and c.get("cmd") in ("evalsha", "EVALSHA")
                    for c in await redis.client_list()
                ) or any(
                    c.get("name") == "gc-lost" and "b" in str(c.get("flags"))
                    for c in await redis.client_list()
                ):
                    break
            for cid in await _connections_named(redis, "gc-lost"):
                await redis.execute_command("CLIENT KILL", "ID", cid)
            results = await asyncio.wait_for(calls, 5)
        finally:
            await redis.execute_command("CLIENT UNPAUSE")
        assert len(results) == 10
        assert all(isinstance(r, ConnectionError) for r in results), results
        assert await redis.zcard(keys.queue("general")) == 0
        assert int(await redis.get(keys.seq)) == 1  # only the warm-up ran
    finally:
        await client.aclose()


async def test_an_explicit_pipeline_still_goes_its_own_way(store, redis, keys):
    gc = batcher(redis)
    flushes = gc.flushes
    async with redis.pipeline(transaction=False) as pipe:
        await store.scripts.rate_hits([keys.rate("sender", "a")], [60_000, 5], pipe)
        await store.scripts.rate_hits([keys.rate("sender", "a")], [60_000, 5], pipe)
        assert await pipe.execute() == [0, 0]
    assert gc.flushes == flushes
    assert int(await redis.get(keys.rate("sender", "a"))) == 2


async def test_waiters_of_one_id_refill_share_it_and_resume_in_one_tick(store, redis, keys):
    """No id block yet: the 50 enqueues wait for one INCRBY together, then their scripts go in
    one flush; 150 ids at once take two blocks, every id once."""
    await store.enqueue(dataclasses.replace(new_request(queue="warm"), id="FD-warm"))  # loaded
    gc = batcher(redis)
    flushes = gc.flushes

    results = await asyncio.gather(
        *(store.enqueue(new_request(external_id=f"c{i}")) for i in range(50))
    )

    assert gc.flushes - flushes == 1
    assert sorted(int(r.id.removeprefix("FD-")) for r in results) == list(range(1, 51))
    assert int(await redis.get(keys.request_ids)) == ID_BLOCK
    ids = await asyncio.gather(*(store.new_request_id() for _ in range(150)))
    assert len(set(ids)) == 150 and int(await redis.get(keys.request_ids)) == 2 * ID_BLOCK


async def test_a_failed_id_refill_fails_its_waiters_and_the_next_call_tries_again(
    redis_server, keys
):
    client = Redis.from_url(redis_server.url, retry=Retry(NoBackoff(), 0))
    store = QueueStore(client, keys, StoreSettings())
    await client.set(keys.request_ids, "not a number")
    results = await asyncio.gather(
        *(store.new_request_id() for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ResponseError) for r in results)
    await client.delete(keys.request_ids)
    assert await store.new_request_id() == "FD-1"
    await client.aclose()


async def test_the_record_reads_of_one_tick_are_one_round_trip(store, redis):
    made = [await store.enqueue(new_request(external_id=f"r{i}")) for i in range(20)]
    reads = store._hash_reads
    flushes = reads.flushes
    ids = [m.id for m in made] + [made[3].id, "FD-nope"]  # one twice, one unknown

    records = await asyncio.gather(*(store.get(i) for i in ids))

    assert reads.flushes - flushes == 1
    assert [r.request.id for r in records[:21]] == ids[:21]
    assert records[3].request.external_id == "r3" and records[-1] is None
    alone = await store.get(made[0].id)  # a read alone: a plain HGETALL, its own flush
    assert alone is not None and reads.flushes - flushes == 2


async def test_a_lost_connection_fails_every_record_read_of_the_tick(store, redis):
    made = [await store.enqueue(new_request(external_id=f"k{i}")) for i in range(3)]
    broken = Redis(unix_socket_path="/nonexistent/redis.sock", retry_on_error=[])
    store._hash_reads.redis = broken
    try:
        results = await asyncio.gather(*(store.get(m.id) for m in made), return_exceptions=True)
    finally:
        store._hash_reads.redis = redis
        await broken.aclose()
    assert all(isinstance(r, ConnectionError) for r in results)
    assert (await store.get(made[0].id)) is not None  # the next tick reads again
