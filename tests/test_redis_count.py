"""The counting connection (router/daemon/redis_count.py) against the real redis-server: one round
trip per command sent alone or per pipeline, every command counted by name, and the counts on
/metrics' registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import BlockingConnectionPool, Redis

from frontdesk.router.daemon.metrics import Metrics
from frontdesk.router.daemon.redis_count import RedisCounts, count_round_trips, counting_class
from frontdesk.router.daemon.redis_server import EmbeddedRedis


@pytest.fixture
async def counted(redis_server: EmbeddedRedis) -> AsyncIterator[tuple[Redis, RedisCounts]]:
    counts = RedisCounts()
    pool = BlockingConnectionPool.from_url(redis_server.url, max_connections=4)
    client = count_round_trips(Redis(connection_pool=pool), counts)
    await client.flushall()
    counts.round_trips.update(command=0, pipeline=0)  # the flush (and HELLO/SETINFO) aside
    counts.commands.clear()
    yield client, counts
    await client.aclose()
    await pool.disconnect()


async def test_a_command_is_one_round_trip(counted: tuple[Redis, RedisCounts]) -> None:
    client, counts = counted
    await client.set("k", "v")
    assert await client.get("k") == b"v"
    assert counts.round_trips == {"command": 2, "pipeline": 0}
    assert counts.commands == {"SET": 1, "GET": 1}


async def test_a_pipeline_of_five_is_one_round_trip_and_five_commands(
    counted: tuple[Redis, RedisCounts],
) -> None:
    client, counts = counted
    async with client.pipeline(transaction=False) as pipe:
        pipe.set("a", 1).incr("a").incr("a").get("a").delete("a")
        answers = await pipe.execute()
    assert answers == [True, 2, 3, b"3", 1]
    assert counts.round_trips == {"command": 0, "pipeline": 1}
    assert counts.commands == {"SET": 1, "INCRBY": 2, "GET": 1, "DEL": 1}
    assert sum(counts.commands.values()) == 5


async def test_a_transaction_counts_multi_and_exec(counted: tuple[Redis, RedisCounts]) -> None:
    client, counts = counted
    async with client.pipeline(transaction=True) as pipe:
        await pipe.incr("t").incr("t").execute()
    assert counts.round_trips["pipeline"] == 1
    assert counts.commands == {"MULTI": 1, "INCRBY": 2, "EXEC": 1}


async def test_a_script_call_is_counted_as_evalsha(counted: tuple[Redis, RedisCounts]) -> None:
    client, counts = counted
    script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script(keys=["s"], args=[5]) == 5
    assert await script(keys=["s"], args=[2]) == 7
    # redis-py loads the script on the first NOSCRIPT: EVALSHA, SCRIPT LOAD, EVALSHA, then one
    assert counts.commands["EVALSHA"] >= 2
    assert counts.commands.get("EVAL", 0) == 0
    assert counts.round_trips["command"] == sum(counts.commands.values())


async def test_the_counts_are_on_the_metrics_registry(redis_server: EmbeddedRedis) -> None:
    metrics = Metrics(CollectorRegistry())
    client = count_round_trips(Redis.from_url(redis_server.url), metrics.redis_counts)
    try:
        await client.ping()
        async with client.pipeline(transaction=False) as pipe:
            await pipe.ping().ping().execute()
    finally:
        await client.aclose()
    text = metrics.render().decode()
    assert 'frontdesk_redis_round_trips_total{kind="pipeline"} 1.0' in text
    commands = metrics.redis_counts.commands
    # a new connection says HELLO/CLIENT SETINFO first, each its own round trip
    assert commands["PING"] == 3
    assert f'frontdesk_redis_commands_total{{command="PING"}} {commands["PING"]}.0' in text
    trips = metrics.redis_counts.round_trips["command"]
    assert trips == sum(commands.values()) - 2  # the two pings of the pipeline: one trip
    assert f'frontdesk_redis_round_trips_total{{kind="command"}} {trips}.0' in text


def test_a_counted_class_recounted_keeps_its_base() -> None:
    from redis.asyncio.connection import UnixDomainSocketConnection

    first, second = RedisCounts(), RedisCounts()
    once = counting_class(UnixDomainSocketConnection, first)
    twice = counting_class(once, second)
    assert twice.__mro__[1:].count(UnixDomainSocketConnection) == 1
    assert twice.counts is second  # type: ignore[attr-defined]


async def test_the_daemon_counts_its_round_trips_on_metrics(daemon_config, daemons) -> None:
    import re

    import aiohttp

    daemon = daemons(daemon_config())
    daemon.wait_ready()

    async def scrape() -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(daemon.url + "/metrics") as r:
            text = await r.text()
        found = re.findall(r'^(frontdesk_redis_\w+_total\{\w+="\w+"\}) (\S+)$', text, re.M)
        return {name: float(n) for name, n in found}

    first = await scrape()
    assert first['frontdesk_redis_round_trips_total{kind="command"}'] > 0
    assert first['frontdesk_redis_commands_total{command="EVALSHA"}'] > 0  # its scripts run
    # the counters only grow: the daemon keeps working (dispatcher, gauges, presence)
    for _ in range(100):
        later = await scrape()
        if sum(later.values()) > sum(first.values()):
            break
        await asyncio.sleep(0.05)
    assert all(later[name] >= n for name, n in first.items())
    assert sum(later.values()) > sum(first.values())


async def test_a_subcommand_is_named_as_redis_names_it(counted: tuple[Redis, RedisCounts]) -> None:
    client, counts = counted
    assert "maxmemory" in await client.config_get("maxmemory")
    assert counts.commands == {"CONFIG|GET": 1}  # no space: a label value scrapers split on
