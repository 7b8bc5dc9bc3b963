"""The outbox: at least once across crashes, in order per request, backoff, dead letters and
their replay, several engines sharing one group, and Redis going away mid-run. Real Redis, real
HTTP to a receiver that verifies every signature (tests/test_webhooks_out.py)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from api_services import api_app
from conftest import Tool
from redis.asyncio import Redis
from test_webhooks_out import (
    FAST,
    SECRET,
    Engines,
    Receiver,
    endpoint,
    running_receiver,
    stream,
    until,
)

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.keys import Keys
from frontdesk.queues.outbox import Admission, Outbox, group_name
from frontdesk.queues.request import Channel, Message, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.cli import outbox as outbox_cli
from frontdesk.router.daemon.metrics import Metrics
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.outbound.outbox import EngineOptions, Policy, backoff_s, lane_of


@pytest.fixture
async def receiver():
    async with running_receiver() as r:
        yield r


@pytest.fixture
async def engines(redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore):
    running = Engines(redis, keys, store, agents)
    yield running
    await running.close()


async def requests_with_messages(store: QueueStore, n: int, messages: int) -> list[str]:
    """`n` requests, then `messages` follow-ups to each, interleaved on the stream."""
    ids = []
    for i in range(n):
        request = Request("", Channel.CHAT, "general", subject=f"request {i}")
        ids.append((await store.enqueue(request)).id)
    for m in range(messages):
        for rid in ids:
            await store.append_message(rid, Message(f"message {m}"))
    return ids


async def lanes(redis: Redis, keys: Keys) -> dict[str, list[str]]:
    """Each request's event ids, in stream order."""
    out: dict[str, list[str]] = defaultdict(list)
    for event in await stream(redis, keys):
        out[lane_of(event)].append(event.id)
    return dict(out)


async def all_delivered(receiver: Receiver, expected: dict[str, list[str]]) -> None:
    total = sum(len(ids) for ids in expected.values())
    await until(lambda: len(receiver.unique_ids()) == total, f"{total} events delivered")
    assert receiver.refused == 0
    for lane, ids in expected.items():
        assert receiver.lane(lane) == ids, f"{lane} out of order"


async def dead_is(engine: Any, n: int) -> bool:
    return await engine.outbox.dead_count("crm") == n


def answer(status: int, **headers: str) -> web.Response:
    return web.Response(status=status, headers=headers)


# -- at least once ---------------------------------------------------------------------------------
async def test_a_delivery_cut_short_is_delivered_again_by_another_engine(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    """Engine A dies between the receiver taking the event and A recording it; engine B (another
    consumer) delivers it again; the receiver sees the id twice and deduplicates."""
    held, release = asyncio.Event(), asyncio.Event()

    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        first_message = doc["type"].endswith(".message") and doc["subject"] == "FD-1"
        if first_message and attempt == 1:
            receiver.delivered.append(doc)  # the receiver processed it...
            held.set()
            await asyncio.wait_for(release.wait(), 10)  # ...but A never hears back
            return answer(500)  # A is gone: this answer reaches nobody
        return None

    receiver.plan = plan
    _, task_a = await engines.start([endpoint(receiver.url)], consumer="daemon-a")
    first, *_ = await requests_with_messages(store, 3, 2)
    assert first == "FD-1"
    await until(held.is_set, "A is delivering the first message")
    task_a.cancel()  # A stops mid-delivery
    await asyncio.gather(task_a, return_exceptions=True)
    release.set()

    # A may have stopped between reading events and taking them in: B reclaims those
    options = EngineOptions(wait_s=0.05, claim_idle_s=0.5, redis_retry_s=0.05)
    await engines.start([endpoint(receiver.url)], consumer="daemon-b", options=options)
    expected = await lanes(redis, keys)
    await all_delivered(receiver, expected)
    again = expected[first][1]
    assert receiver.ids().count(again) == 2 and receiver.tries[again] == 2
    # others in flight when A stopped may come twice too (A's concurrency is 4); none is lost
    assert len(receiver.ids()) - len(receiver.unique_ids()) <= 4


async def test_a_dead_consumers_lease_runs_out_and_another_engine_delivers(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    """A daemon killed mid-delivery leaves a lease; when it runs out the lane is taken over."""
    outbox = Outbox(redis, keys)
    await outbox.ensure_group("crm")
    (rid,) = await requests_with_messages(store, 1, 2)
    fields = {e.id: e for e in await stream(redis, keys)}
    read = await outbox.read("crm", "killed", 10, None)
    assert [e.id for e in read] == list(fields)
    await outbox.admit("crm", [Admission(e.id, rid, e.fields or {}) for e in read])
    taken = await outbox.take("crm", "killed", 1, lease_ms=300)
    assert [(t.lane, t.id) for t in taken.leased] == [(rid, read[0].id)]
    due = await outbox.due_in_ms("crm", rid)
    assert due is not None and 0 < due <= 300  # leased: nobody else may take it until then

    await engines.start([endpoint(receiver.url)], consumer="survivor")
    await all_delivered(receiver, {rid: [e.id for e in read]})
    assert all(n == 1 for n in receiver.tries.values())


async def test_events_read_by_a_dead_consumer_are_reclaimed_and_order_is_kept(
    redis: Redis,
    keys: Keys,
    store: QueueStore,
    engines: Engines,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="frontdesk.outbox")
    outbox = Outbox(redis, keys)
    await outbox.ensure_group("crm")
    first = (await store.enqueue(Request("", Channel.CHAT, "general"))).id
    (stuck,) = await outbox.read("crm", "killed", 1, None)  # read, never admitted
    await requests_with_messages(store, 2, 2)
    await store.append_message(first, Message("later"))
    options = EngineOptions(wait_s=0.05, claim_idle_s=0.5, redis_retry_s=0.05)
    await engines.start([endpoint(receiver.url)], consumer="survivor", options=options)
    expected = await lanes(redis, keys)
    assert expected[first] == [stuck.id, expected[first][1]]
    await all_delivered(receiver, expected)  # the later message never went before `stuck`
    assert any("reclaimed 1 events" in r.getMessage() for r in caplog.records)
    assert await outbox.pending("crm") == 0


async def test_two_engines_sharing_the_group_never_deliver_an_event_twice(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    for name in ("daemon-a", "daemon-b"):
        await engines.start([endpoint(receiver.url)], consumer=name)
    await requests_with_messages(store, 12, 4)
    expected = await lanes(redis, keys)
    await all_delivered(receiver, expected)
    assert len(receiver.ids()) == 60 and set(receiver.tries.values()) == {1}
    consumers = await redis.xinfo_consumers(keys.events, group_name("crm"))
    assert {c["name"] for c in consumers} == {b"daemon-a", b"daemon-b"}


# -- order, retries, backoff -------------------------------------------------------------------
async def test_a_failing_request_holds_its_later_events_while_others_go_on(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        others_done = all(len(receiver.lane(r)) == 3 for r in others)
        if doc["id"] == failing_first and not others_done:
            return answer(503)
        return None

    receiver.plan = plan
    await engines.start([endpoint(receiver.url, max_attempts=1000)])
    failing, *others = await requests_with_messages(store, 3, 2)
    expected = await lanes(redis, keys)
    failing_first = expected[failing][0]
    await all_delivered(receiver, expected)
    assert receiver.tries[failing_first] >= 2
    arrival = receiver.ids()
    first_success = arrival.index(failing_first)
    assert all(arrival.index(i) < first_success for r in others for i in expected[r])
    assert all(arrival.index(i) > first_success for i in expected[failing][1:])


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = Policy(backoff_base_s=1.0, backoff_cap_s=60.0)
    rng = random.Random(1)
    ceilings = [min(60.0, 2.0 ** (n - 1)) for n in range(1, 13)]
    assert ceilings[:7] == [1, 2, 4, 8, 16, 32, 60]
    for n, ceiling in enumerate(ceilings, start=1):
        delays = [backoff_s(n, policy, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert 30 <= backoff_s(10_000, policy, rng) <= 60  # no overflow far past the cap


async def test_retry_after_is_honoured_and_backoff_is_scheduled_in_redis(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    named = asyncio.Event()  # a delivery may arrive before the requests' ids are known here

    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        await asyncio.wait_for(named.wait(), 10)
        if doc["subject"] == told:
            return answer(429, **{"Retry-After": "3600"})
        if doc["subject"] == failing:
            return answer(500)
        return None

    receiver.plan = plan
    policy = Policy(backoff_base_s=100.0, backoff_cap_s=200.0, lease_s=30)
    engine, _ = await engines.start([endpoint(receiver.url)], policy=policy)
    told, failing, fine = await requests_with_messages(store, 3, 1)
    named.set()
    expected = await lanes(redis, keys)
    await all_delivered(receiver, {fine: expected[fine]})
    await until(lambda: receiver.tries[expected[told][0]] == 1, "first try of `told`")
    await until(lambda: receiver.tries[expected[failing][0]] == 1, "first try of `failing`")

    async def scheduled(lane: str, low: int, high: int) -> bool:
        due = await engine.outbox.due_in_ms("crm", lane)
        return due is not None and low <= due <= high

    await until(lambda: scheduled(told, 3_590_000, 3_600_000), "Retry-After 3600 scheduled")
    await until(lambda: scheduled(failing, 49_000, 100_000), "backoff after one failure")
    attempts = await redis.hgetall(keys.outbox_attempts("crm"))
    assert attempts == {expected[told][0].encode(): b"1", expected[failing][0].encode(): b"1"}
    assert receiver.lane(told) == [] and receiver.lane(failing) == []  # later events wait


# -- dead letters ----------------------------------------------------------------------------------
async def test_a_4xx_goes_to_the_dead_letters_at_once_and_the_lane_goes_on(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        return web.Response(status=422, text="unknown queue") if doc["id"] == refused else None

    receiver.plan = plan
    engine, _ = await engines.start([endpoint(receiver.url)])
    (rid,) = await requests_with_messages(store, 1, 2)
    expected = await lanes(redis, keys)
    refused = expected[rid][0]
    await all_delivered(receiver, {rid: expected[rid][1:]})
    assert receiver.tries[refused] == 1
    (dead,) = await engine.outbox.dead_letters("crm")
    assert (dead.id, dead.lane, dead.attempts, dead.fields["type"]) == (refused, rid, 1, "enqueued")
    assert "HTTP 422" in dead.error and "unknown queue" in dead.error
    assert await engine.outbox.backlog("crm") == 0


async def test_max_attempts_then_dead_letter_then_replay_delivers_it(
    redis: Redis, keys: Keys, store: QueueStore, engines: Engines, receiver: Receiver
) -> None:
    healthy = False

    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        first = doc["subject"] == broken and doc["type"].endswith(".enqueued")
        return answer(500) if first and not healthy else None

    receiver.plan = plan
    metrics = Metrics()
    engine, _ = await engines.start(
        [endpoint(receiver.url, max_attempts=3)], on_outcome=metrics.delivery
    )
    broken, fine = await requests_with_messages(store, 2, 1)
    expected = await lanes(redis, keys)
    await all_delivered(receiver, {fine: expected[fine], broken: expected[broken][1:]})
    await until(lambda: engine.outbox.dead_count("crm"), "the first event dead")
    await until(lambda: len(receiver.lane(broken)) == 1, "the message after it")
    dead_id = expected[broken][0]
    assert receiver.tries[dead_id] == 3
    (dead,) = await engine.outbox.dead_letters("crm")
    assert (dead.id, dead.attempts) == (dead_id, 3) and "HTTP 500" in dead.error

    def counted(outcome: str) -> float | None:
        labels = {"sink": "crm", "outcome": outcome}
        return metrics.registry.get_sample_value("frontdesk_outbox_deliveries_total", labels)

    assert (counted("retry"), counted("dead")) == (2, 1)
    await until(lambda: counted("delivered") == len(receiver.unique_ids()), "each one counted")

    healthy = True
    assert await engine.outbox.replay("crm", ["1-0", dead_id, "nonsense"]) == [dead_id]
    await until(lambda: dead_id in receiver.ids(), "the replayed event delivered")
    assert receiver.tries[dead_id] == 4
    await until(lambda: counted("delivered") == len(receiver.unique_ids()), "counted")
    assert await engine.outbox.dead_letters("crm") == []
    assert await engine.outbox.replay("crm") == []


# -- the operator surface --------------------------------------------------------------------------
TOKENS = {name: new_token() for name in ("sup", "ann")}
API_CONFIG = f"""\
tenant: api
redis: {{url: "redis://127.0.0.1:1"}}
queues: {{general: {{}}}}
default_queue: general
agents: [{{id: ann}}]
api:
  tokens:
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
"""


async def _dead_letter(store: QueueStore, engines: Engines, receiver: Receiver) -> tuple[Any, str]:
    """An engine whose first event went to the dead letters (HTTP 410)."""

    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        return answer(410) if attempt == 1 else None

    receiver.plan = plan
    engine, _ = await engines.start([endpoint(receiver.url)])
    rid = (await store.enqueue(Request("", Channel.PHONE, "general"))).id
    await until(lambda: engine.outbox.dead_count("crm"), "a dead letter")
    return engine, rid


async def test_api_lists_and_replays_dead_letters_for_supervisors(
    redis: Redis,
    keys: Keys,
    store: QueueStore,
    agents: AgentStore,
    engines: Engines,
    receiver: Receiver,
    aiohttp_client: Any,
) -> None:
    engine, rid = await _dead_letter(store, engines, receiver)
    await Outbox(redis, keys).ensure_group("retired")  # known in Redis, not configured
    settings = parse_settings(API_CONFIG, "api.yaml")
    http = await aiohttp_client(await api_app(settings, redis, store, agents, outbox=engine))

    async def call(method: str, path: str, token: str | None = TOKENS["sup"]) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.request(method, "/v1/outbox" + path, headers=headers) as response:
            return response.status, await response.json()

    assert (await call("GET", "/dead", None))[0] == 401
    status, body = await call("GET", "/dead", TOKENS["ann"])
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await call("GET", "/dead")
    assert status == 200 and body["total"] == 1
    (letter,) = body["dead"]
    assert (letter["sink"], letter["request"], letter["type"]) == ("crm", rid, "enqueued")
    assert letter["attempts"] == 1 and "HTTP 410" in letter["error"]
    assert letter["dead_at"].endswith("Z") and letter["event"]["req"] == rid
    assert (await call("GET", "/dead?sink=retired"))[1] == {"dead": [], "total": 0}
    assert (await call("GET", "/dead?sink=nope"))[0] == 404
    assert (await call("GET", "/dead?limit=0"))[0] == 400
    assert (await call("GET", "/dead?limit=%C2%B2"))[0] == 400  # "²" is a digit to str.isdigit
    assert (await call("GET", "/dead?limit=" + "9" * 5000))[0] == 400  # too long for int()
    status, body = await call("POST", f"/dead/{letter['id']}/replay?sink=retired")
    assert status == 409 and body["error"]["code"] == "conflict"
    assert (await call("POST", "/dead/1-0/replay"))[0] == 404

    status, body = await call("POST", f"/dead/{letter['id']}/replay")
    assert status == 200 and body == {"replayed": [{"sink": "crm", "id": letter["id"]}]}
    await until(lambda: letter["id"] in receiver.ids(), "delivered after replay")
    status, body = await call("POST", "/dead/replay")
    assert status == 200 and body == {"replayed": []}

    for _ in range(3):
        await store.enqueue(Request("", Channel.PHONE, "general"))
    await until(lambda: dead_is(engine, 3), "three dead letters")
    first, *rest = [d.id for d in await engine.outbox.dead_letters("crm")]
    status, body = await call("DELETE", f"/dead/{first}", TOKENS["ann"])
    assert status == 403
    status, body = await call("DELETE", f"/dead/{first}")
    assert status == 200 and body == {"purged": [{"sink": "crm", "id": first}]}
    assert not await redis.hexists(keys.outbox_events("crm"), first)  # its copy too
    assert (await call("DELETE", f"/dead/{first}"))[0] == 404
    status, body = await call("DELETE", "/dead?older_than=later")
    assert status == 400 and "older_than" in body["error"]["message"]
    assert (await call("DELETE", "/dead?older_than=1h"))[1] == {"purged": []}
    assert (await call("DELETE", "/dead?sink=nope"))[0] == 404
    status, body = await call("DELETE", "/dead?sink=crm")
    assert status == 200 and [p["id"] for p in body["purged"]] == rest
    assert (await call("GET", "/dead"))[1]["total"] == 0


async def test_the_engine_purges_dead_letters_older_than_kept(
    store: QueueStore, engines: Engines, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="frontdesk.outbox")

    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        return answer(410)

    receiver.plan = plan
    engine, _ = await engines.start(
        [endpoint(receiver.url)], options=replace(FAST, dead_letters_kept_s=0.5)
    )
    await store.enqueue(Request("", Channel.PHONE, "general"))
    await until(lambda: engine.outbox.dead_count("crm"), "a dead letter")
    assert (await engine.outbox.dead_letters("crm"))[0].attempts == 1
    await until(lambda: dead_is(engine, 0), "purged after half a second")
    assert "purged 1 dead letters (kept 0.5s)" in caplog.text


async def test_cli_lists_replays_and_purges_dead_letters(
    store: QueueStore, engines: Engines, receiver: Receiver, tmp_path: Path, tool: Tool
) -> None:
    engine, rid = await _dead_letter(store, engines, receiver)
    (dead,) = await engine.outbox.dead_letters("crm")

    def run(*argv: str) -> asyncio.Future[tuple[int, str, str]]:
        return tool(outbox_cli.main, *argv)

    code, out, _ = await run("dead")
    assert code == 0 and f"crm\t{dead.id}\t{rid}\tenqueued\t1\t" in out and "1 dead letter" in out
    code, _, err = await run("replay", dead.id, "--sink", "other")
    assert code == 64 and "no sink 'other'; known: crm" in err
    code, out, _ = await run("replay", dead.id)
    assert code == 0 and f"replayed {dead.id} to crm" in out
    await until(lambda: dead.id in receiver.ids(), "delivered after replay")
    code, out, _ = await run("dead", "--sink", "crm")
    assert code == 0 and "no dead letters" in out
    code, _, err = await run("replay", dead.id)
    assert code == 1 and "no dead letter" in err
    code, out, _ = await run("replay", "--all")
    assert code == 0 and "0 replayed" in out

    more = [(await store.enqueue(Request("", Channel.PHONE, "general"))).id for _ in range(3)]
    await until(lambda: dead_is(engine, 3), "three dead letters")
    first, *rest = [d.id for d in await engine.outbox.dead_letters("crm")]
    code, out, _ = await run("purge", first)
    assert code == 0 and f"purged {first} from crm" in out and "1 purged" in out
    code, _, err = await run("purge", first)
    assert code == 1 and f"no dead letter {first}" in err
    code, out, _ = await run("purge", "--all", "--older-than", "1d")
    assert code == 0 and "0 purged" in out  # all younger than a day
    code, _, err = await run("purge", "--all", "--older-than", "soon")
    assert code == 2 and "not a duration such as 30d or 12h: 'soon'" in err
    code, out, _ = await run("purge", "--all", "--sink", "crm")
    assert code == 0 and "2 purged" in out and all(f"purged {i} from crm" in out for i in rest)
    assert await engine.outbox.dead_count("crm") == 0 and len(more) == 3

    tool.config.write_text(
        f"redis: {{data_dir: {tmp_path / 'd'}}}\nqueues: {{q: {{}}}}\ndefault_queue: q\n"
    )
    code, _, err = await run("dead")  # embedded, and no daemon running
    assert code == 1 and f"unix://{tmp_path / 'd' / 'redis.sock'}" in err
    assert "runs only while `frontdesk serve` does" in err


# -- Redis going away ----------------------------------------------------------------------------
async def test_redis_stopped_mid_run_the_engine_waits_and_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="frontdesk.outbox")
    server = EmbeddedRedis(tmp_path_factory.mktemp("down"), appendfsync="always")
    await asyncio.to_thread(server.start)
    redis = Redis.from_url(server.url)
    keys = Keys("down")
    store, agents = QueueStore(redis, keys), AgentStore(redis, keys)
    running = Engines(redis, keys, store, agents)
    held, release = asyncio.Event(), asyncio.Event()

    async def plan(doc: dict[str, Any], attempt: int) -> web.Response | None:
        if doc["data"].get("author") == "held" and attempt == 1:
            held.set()
            await asyncio.wait_for(release.wait(), 10)  # answered while Redis is down
        return None

    def logged(text: str) -> bool:
        return any(text in r.getMessage() for r in caplog.records)

    try:
        async with running_receiver(SECRET) as receiver:
            receiver.plan = plan
            policy = Policy(backoff_base_s=0.01, backoff_cap_s=0.05, lease_s=0.5)
            await running.start([endpoint(receiver.url)], policy=policy)
            before = await requests_with_messages(store, 3, 1)
            await store.append_message(before[0], Message("held back", author="held"))
            await until(held.is_set, "a delivery in flight")

            await asyncio.to_thread(server.stop)
            release.set()
            await until(lambda: logged("Redis unavailable"), "the engine saw Redis go")
            await until(lambda: logged("could not record the outcome"), "outcome not recorded")
            await asyncio.to_thread(server.start)
            await until(lambda: logged("Redis is back"), "the engine saw Redis come back")

            await requests_with_messages(store, 2, 2)
            expected = await lanes(redis, keys)
            assert sum(map(len, expected.values())) == 3 + 3 + 1 + 2 + 4
            await all_delivered(receiver, expected)
            warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
            assert all(r.levelno == logging.WARNING for r in warnings)
    finally:
        await running.close()
        await redis.aclose()
        await asyncio.to_thread(server.stop)
