"""The daily sample against a real Redis: 5% of a day of 2,000 closed requests with every agent
in it, the same sample twice for the same day, and one sample however many daemons race."""

from __future__ import annotations

import asyncio

from quality_helpers import close_requests, settings_now
from redis.asyncio import Redis

from frontdesk.queues.events import EventLog
from frontdesk.queues.reviews import ReviewStore
from frontdesk.queues.store import QueueStore, StoreSettings
from frontdesk.router.quality.sampler import Sampler

RECORD_TTL_S = 90 * 86400


def sampler_on(redis: Redis, keys, settings) -> Sampler:
    reviews = ReviewStore(redis, keys, 100_000, RECORD_TTL_S)
    return Sampler(reviews, EventLog(redis, keys), lambda: settings)


async def sampled_events(redis: Redis, keys) -> list:
    return [e for e in await EventLog(redis, keys).range() if e.type.value == "quality.sampled"]


async def test_five_percent_of_a_day_of_two_thousand_with_every_agent(redis, keys, agents):
    store = QueueStore(redis, keys, StoreSettings(record_ttl_s=RECORD_TTL_S))
    ids = await close_requests(store, agents, 2000, n_agents=40)
    settings = settings_now()
    sampler = sampler_on(redis, keys, settings)
    day = settings.day_of(await sampler.reviews.now_ms())
    rows = await sampler.rows(day)
    assert sorted(r.id for r in rows) == sorted(ids)
    taken = await sampler.take(day)
    assert taken is not None and taken.closed == 2000 and not taken.partial
    assert 0.04 <= taken.size / 2000 <= 0.06
    members = [m.decode() for m in await redis.zrange(keys.review_day(str(day)), 0, -1)]
    assert len(members) == taken.size == await redis.zcard(keys.reviews_pending)
    held = {r.agent for r in rows if r.agent}
    assert len(held) == 40
    sampled = await asyncio.gather(*(sampler.reviews.get(m) for m in members))
    assert {r.agent for r in sampled if r} >= held
    assert all(r is not None and r.status == "pending" and r.sampled for r in sampled)
    # the review lives as long as its request
    request_ttl = await redis.pttl(keys.request(members[0]))
    review_ttl = await redis.pttl(keys.review(members[0]))
    assert 0 < review_ttl <= request_ttl <= RECORD_TTL_S * 1000
    assert await redis.pttl(keys.review_day(str(day))) > 0
    (event,) = await sampled_events(redis, keys)
    assert event.data["day"] == str(day) and event.data["size"] == str(taken.size)
    assert event.data["closed"] == "2000"
    summary = (await sampler.reviews.sampled_days([str(day)]))[str(day)]
    assert summary is not None and summary["size"] == taken.size and summary["agents"] == 40


async def test_the_same_day_gives_the_same_sample_twice(redis, keys, agents, redis_server):
    store = QueueStore(redis, keys)
    await close_requests(store, agents, 600, n_agents=12, seed=2)
    settings = settings_now()
    first = sampler_on(redis, keys, settings)
    day = settings.day_of(await first.reviews.now_ms())
    other = Redis.from_url(redis_server.url)
    try:
        second = sampler_on(other, keys, settings)  # another daemon, its own connection
        drawn = await first.draw(day)
        assert drawn == await second.draw(day) == await first.draw(day)
        assert len(drawn) == 30
        taken = await second.take(day)
        assert taken is not None and taken.size == 30
        stored = {m.decode() for m in await redis.zrange(keys.review_day(str(day)), 0, -1)}
        assert stored == {r.id for r in drawn}
        assert await first.take(day) is None  # taken already: nothing changes
        assert len(await sampled_events(redis, keys)) == 1
        assert await first.draw(day) == drawn  # still the same, after the fact
    finally:
        await other.aclose()


async def test_three_daemons_racing_take_the_day_once(redis, keys, agents, redis_server):
    store = QueueStore(redis, keys)
    await close_requests(store, agents, 400, n_agents=8, seed=3)
    settings = settings_now()
    clients = [Redis.from_url(redis_server.url) for _ in range(3)]
    try:
        samplers = [sampler_on(c, keys, settings) for c in clients]
        day = settings.day_of(await samplers[0].reviews.now_ms())
        taken = await asyncio.gather(*(s.take(day) for s in samplers))
        assert len([t for t in taken if t is not None]) == 1
        assert await redis.zcard(keys.review_day(str(day))) == 20
        assert len(await sampled_events(redis, keys)) == 1
        # the three step through the due days (the last three, empty here) at once: each once
        stepped = await asyncio.gather(*(s.step() for s in samplers))
        days = [t.day for found in stepped for t in found]
        assert len(days) == len(set(days)) == 3
        assert all(t.size == 0 and t.closed == 0 for found in stepped for t in found)
        assert len(await sampled_events(redis, keys)) == 4
        assert await asyncio.gather(*(s.step() for s in samplers)) == [[], [], []]
    finally:
        for client in clients:
            await client.aclose()


async def test_a_lease_lost_mid_draw_still_stores_the_day_once(redis, keys, agents):
    """A daemon slower than its lease (the claim expired, a second daemon claimed the day): both
    draw the same sample, and the day's summary lets only the first store it."""
    store = QueueStore(redis, keys)
    await close_requests(store, agents, 100, n_agents=3, seed=4)
    settings = settings_now()
    slow, fast = sampler_on(redis, keys, settings), sampler_on(redis, keys, settings)
    day = settings.day_of(await slow.reviews.now_ms())
    assert await slow.reviews.claim(str(day), slow.token, 60_000) == 1
    assert await fast.reviews.claim(str(day), fast.token, 60_000) == -1
    await redis.delete(keys.quality_claim(str(day)))  # the lease ran out
    assert await fast.take(day) is not None
    sample = await slow.draw(day)
    assert await slow.reviews.store_sample(str(day), slow.token, [], {"closed": 0}) is None
    assert await redis.zcard(keys.review_day(str(day))) == len(sample) == 5
    assert await slow.reviews.claim(str(day), slow.token, 60_000) == 0
