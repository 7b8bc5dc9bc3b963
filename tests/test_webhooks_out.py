"""Signed CloudEvents webhooks: the document, the signature a subscriber checks, what each HTTP
answer means, the types filter, and the config. Deliveries go over real HTTP to a receiver
server on 127.0.0.1 that verifies every signature the way a subscriber would."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import random
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventLog
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import Checker, ConfigError, load_yaml, render
from frontdesk.router.outbound.outbox import EngineOptions, OutboxEngine, Policy, Target
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable
from frontdesk.router.outbound.webhooks import (
    CLOUDEVENT_TYPES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookEndpoint,
    WebhookSink,
    parse_webhooks,
    retry_after_s,
    sign,
    verify_signature,
)
from frontdesk.skills import Agent, Presence

SECRET = "whsec-test-0123456789abcdef"
CONFIGS = Path(__file__).parent / "configs"
_EXPECT = re.compile(r"^# expect: (\d+) (\S+) (.+)$", re.MULTILINE)

Plan = Callable[[dict[str, Any], int], Awaitable[web.StreamResponse | None]]


class Receiver:
    """A webhook subscriber: checks each delivery's signature and content type as a real one
    would (refusing with 401 what does not verify), then answers as `plan` says (204 when it
    says nothing). `delivered` keeps every accepted CloudEvent in arrival order, duplicates
    included; `tries` counts every verified POST per event id."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.delivered: list[dict[str, Any]] = []
        self.tries: Counter[str] = Counter()
        self.refused = 0
        self.plan: Plan | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        signed = verify_signature(
            self.secret,
            request.headers.get(TIMESTAMP_HEADER),
            body,
            request.headers.get(SIGNATURE_HEADER),
            tolerance_s=60,
        )
        if not signed or request.content_type != "application/cloudevents+json":
            self.refused += 1
            return web.json_response({"error": "signature"}, status=401)
        document = json.loads(body)
        self.tries[document["id"]] += 1
        response = await self.plan(document, self.tries[document["id"]]) if self.plan else None
        response = response or web.Response(status=204)
        if 200 <= response.status < 300:
            self.delivered.append(document)
        return response

    def ids(self) -> list[str]:
        return [d["id"] for d in self.delivered]

    def unique_ids(self) -> list[str]:
        """Delivered ids with duplicates dropped (a receiver's dedup on `id`), first kept."""
        return list(dict.fromkeys(self.ids()))

    def lane(self, subject: str) -> list[str]:
        """The deduplicated ids delivered for one subject, in arrival order."""
        return list(dict.fromkeys(d["id"] for d in self.delivered if d["subject"] == subject))


@asynccontextmanager
async def running_receiver(secret: str = SECRET) -> AsyncIterator[Receiver]:
    receiver = Receiver(secret)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def until(predicate: Callable[[], Any], what: str, tries: int = 1500) -> None:
    """Wait (10 ms steps, at most `tries` of them) until `predicate()` (or its awaitable) holds."""
    for _ in range(tries):
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


FAST = EngineOptions(
    wait_s=0.05, claim_idle_s=30.0, redis_retry_s=0.05, redis_retry_cap_s=0.2, concurrency=4
)


def endpoint(url: str, name: str = "crm", **kw: Any) -> WebhookEndpoint:
    return WebhookEndpoint(name, url, SECRET, **kw)


class Engines:
    """Outbox engines on the test Redis, each running until the test ends (or is cancelled,
    as a crash)."""

    def __init__(self, redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore) -> None:
        self.redis, self.keys = redis, keys
        self.context = DeliveryContext(store, agents)
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = asyncio.Event()

    async def start(
        self,
        endpoints: Sequence[WebhookEndpoint],
        consumer: str | None = None,
        options: EngineOptions = FAST,
        policy: Policy | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> tuple[OutboxEngine, asyncio.Task[None]]:
        policy = policy or Policy(backoff_base_s=0.01, backoff_cap_s=0.05, lease_s=30)
        targets = [
            Target(WebhookSink(e, self.keys.tenant), replace(policy, max_attempts=e.max_attempts))
            for e in endpoints
        ]
        engine = OutboxEngine(
            self.redis,
            self.keys,
            targets,
            self.context,
            consumer=consumer,
            options=options,
            rng=random.Random(7),
            on_outcome=on_outcome,
        )
        await engine.prepare()
        task = asyncio.create_task(engine.run(self.stopping))
        self.tasks.append(task)
        return engine, task

    async def close(self) -> None:
        self.stopping.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


@pytest.fixture
async def engines(redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore):
    running = Engines(redis, keys, store, agents)
    yield running
    await running.close()


async def stream(redis: Redis, keys: Keys) -> list[Event]:
    return await EventLog(redis, keys).range()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


# -- the document and its signature --------------------------------------------------------------
async def test_each_event_arrives_as_a_signed_cloudevent_with_its_stream_id(
    redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore, engines, receiver
) -> None:
    await engines.start([endpoint(receiver.url)])
    await agents.upsert(Agent("ann", "安妮", capacity={"chat": 1}, presence=Presence.AVAILABLE))
    rid = (await store.enqueue(Request("", Channel.CHAT, "chat", subject="我要退款"))).id
    await store.offer(rid, "ann", 30, why={"score": {"total": 1.5}})
    await store.accept(rid, "ann")
    await store.complete(rid, "ann", "solved")
    await agents.set_presence("ann", Presence.AWAY, "lunch")
    events = await stream(redis, keys)
    assert [e.type.value for e in events] == [
        *("agent_created", "enqueued", "offered", "accepted", "completed", "presence"),
    ]

    await until(lambda: len(receiver.unique_ids()) == len(events), "every event delivered")
    assert receiver.refused == 0
    by_id = {d["id"]: d for d in receiver.delivered}
    assert set(by_id) == {e.id for e in events}  # the CloudEvent id is the stream entry id
    assert receiver.lane(rid) == [e.id for e in events if e.request == rid]  # in order
    for event in events:
        doc = by_id[event.id]
        assert doc["specversion"] == "1.0" and doc["source"] == "frontdesk/test"
        assert doc["datacontenttype"] == "application/json"
        assert doc["time"] == _iso(event.ts_ms).replace("+00:00", "Z")
        assert doc["type"] in CLOUDEVENT_TYPES
        assert doc["data"]["queue"] == (event.queue or None)
    offered = by_id[events[2].id]
    assert offered["type"] == "io.frontdesk.request.offered" and offered["subject"] == rid
    assert offered["data"]["agent"] == "ann" and offered["data"]["why"] == {"score": {"total": 1.5}}
    assert isinstance(offered["data"]["deadline"], int)
    summary = offered["data"]["summary"]
    assert (
        summary["id"] == rid and summary["subject"] == "我要退款" and summary["channel"] == "chat"
    )
    assert by_id[events[4].id]["data"]["resolution"] == "solved"
    presence = by_id[events[5].id]
    assert presence["type"] == "io.frontdesk.agent.presence" and presence["subject"] == "ann"
    assert presence["data"]["presence"] == "away" and presence["data"]["reason"] == "lunch"
    assert presence["data"]["summary"]["name"] == "安妮"
    assert by_id[events[0].id]["type"] == "io.frontdesk.agent.created"


async def test_signature_is_hmac_of_timestamp_dot_body(
    redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore, receiver
) -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def capture(request: web.Request) -> web.Response:
        ts, sig = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
        seen.append((ts, sig, await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/raw", capture)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await store.enqueue(Request("", Channel.EMAIL, "general", subject="invoice"))
        (event,) = await stream(redis, keys)
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/raw"
        sink = WebhookSink(endpoint(url), "test", clock=lambda: 1_700_000_000.4)
        await sink.deliver(event, DeliveryContext(store, agents))
        await sink.aclose()
    finally:
        await runner.cleanup()
    ((ts, sig, body),) = seen
    assert ts == "1700000000"
    by_hand = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert sig == f"sha256={by_hand}" == sign(SECRET, ts, body)
    assert json.loads(body)["id"] == event.id
    assert verify_signature(SECRET, ts, body, sig, now=1_700_000_100)


def test_verify_signature_refuses_anything_not_signed_now_with_the_secret() -> None:
    body = b'{"id":"1-0"}'
    ts = "1700000000"
    good = sign(SECRET, ts, body)
    now = 1_700_000_010.0
    assert verify_signature(SECRET, ts, body, good, 300, now)
    assert verify_signature(SECRET.encode(), ts, body, good + "\n", 300, now)
    assert not verify_signature(SECRET, ts, body + b" ", good, 300, now)  # body changed
    assert not verify_signature("another-secret-0123456789", ts, body, good, 300, now)
    assert not verify_signature(SECRET, "1700000001", body, good, 300, now)  # timestamp changed
    assert not verify_signature(SECRET, ts, body, good, 5, now)  # too old
    assert not verify_signature(SECRET, ts, body, good, 300, 1_699_999_000.0)  # from the future
    assert not verify_signature(SECRET, ts, body, good.removeprefix("sha256="), 300, now)
    assert not verify_signature(SECRET, None, body, good, 300, now)
    assert not verify_signature(SECRET, ts, body, None, 300, now)
    assert not verify_signature(SECRET, "-5", body, good, 300, now)


# -- what each answer means ----------------------------------------------------------------------
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "after"),
    [
        (200, {}, None, None),
        (202, {}, None, None),
        (500, {}, RetryLater, None),
        (502, {}, RetryLater, None),
        (503, {"Retry-After": "7"}, RetryLater, 7.0),
        (429, {"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, RetryLater, 30.0),
        (408, {}, RetryLater, None),
        (400, {}, Undeliverable, None),
        (401, {}, Undeliverable, None),
        (404, {}, Undeliverable, None),
        (410, {}, Undeliverable, None),
        (301, {"Location": "https://elsewhere.example/hook"}, Undeliverable, None),
    ],
)
async def test_http_answers_mean_delivered_retry_or_undeliverable(
    redis: Redis,
    keys: Keys,
    store: QueueStore,
    agents: AgentStore,
    receiver: Receiver,
    status: int,
    headers: dict[str, str],
    outcome: type[Exception] | None,
    after: float | None,
) -> None:
    async def answer(doc: dict[str, Any], attempt: int) -> web.Response:
        return web.Response(status=status, headers=headers, text="nope" if status >= 300 else "")

    receiver.plan = answer
    await store.enqueue(Request("", Channel.FORM, "general"))
    (event,) = await stream(redis, keys)
    # the sink's clock signs the delivery, so it must be close to the receiver's real time;
    # the HTTP-date case is checked against a fixed clock with retry_after_s below
    sink = WebhookSink(endpoint(receiver.url), "test")
    try:
        if outcome is None:
            await sink.deliver(event, DeliveryContext(store, agents))
        else:
            with pytest.raises(outcome) as caught:
                await sink.deliver(event, DeliveryContext(store, agents))
            assert f"HTTP {status}" in str(caught.value)
            if status == 301:
                assert "elsewhere.example" in str(caught.value)
            if isinstance(caught.value, RetryLater) and "Retry-After" in headers:
                expected = retry_after_s(headers["Retry-After"], time.time())
                assert caught.value.after_s is not None and expected is not None
                assert abs(caught.value.after_s - expected) <= 2
    finally:
        await sink.aclose()
    assert receiver.tries[event.id] == 1 and receiver.refused == 0


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_s("120", NOW) == 120.0
    assert retry_after_s(email.utils.formatdate(NOW + 30, usegmt=True), NOW) == 30.0
    assert retry_after_s(email.utils.formatdate(NOW - 30, usegmt=True), NOW) == 0.0
    assert retry_after_s("soon", NOW) is None
    assert retry_after_s(None, NOW) is None


async def test_timeouts_and_refused_connections_are_retried(
    redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore, receiver: Receiver
) -> None:
    release = asyncio.Event()

    async def hang(doc: dict[str, Any], attempt: int) -> None:
        await asyncio.wait_for(release.wait(), 5)

    receiver.plan = hang
    await store.enqueue(Request("", Channel.CHAT, "general"))
    (event,) = await stream(redis, keys)
    context = DeliveryContext(store, agents)
    slow = WebhookSink(endpoint(receiver.url, timeout_s=0.2), "test")
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    gone = WebhookSink(endpoint(f"http://127.0.0.1:{closed_port}/hook"), "test")
    try:
        with pytest.raises(RetryLater, match="no answer"):
            await slow.deliver(event, context)
        with pytest.raises(RetryLater, match=str(closed_port)):
            await gone.deliver(event, context)
    finally:
        release.set()
        await slow.aclose()
        await gone.aclose()


async def test_types_filter_sends_only_matching_events_and_acknowledges_the_rest(
    redis: Redis, keys: Keys, store: QueueStore, agents: AgentStore, engines, receiver
) -> None:
    async with running_receiver() as filtered:
        types = ("io.frontdesk.request.enqueued", "io.frontdesk.request.complet*")
        engine, _ = await engines.start(
            [endpoint(receiver.url, "all"), endpoint(filtered.url, "some", types=types)]
        )
        await agents.upsert(Agent("bo", "Bo", capacity={"email": 2}, presence=Presence.AVAILABLE))
        rid = (await store.enqueue(Request("", Channel.EMAIL, "general"))).id
        await store.assign(rid, "bo")
        await store.complete(rid, "bo")
        events = await stream(redis, keys)
        await until(lambda: len(receiver.unique_ids()) == len(events), "all events to 'all'")
        await until(lambda: len(filtered.unique_ids()) == 2, "two events to 'some'")
        assert [d["type"] for d in filtered.delivered] == [
            "io.frontdesk.request.enqueued",
            "io.frontdesk.request.completed",
        ]
        assert await engine.outbox.backlog("some") == 0
        assert await engine.outbox.pending("some") == 0  # the others acknowledged, not sent


# -- config --------------------------------------------------------------------------------------
def _parse(text: str, source: str = "hooks.yaml") -> tuple[WebhookEndpoint, ...]:
    data, lines = load_yaml(text, source)
    check = Checker(lines)
    events = data.get("events") or {}
    found = parse_webhooks(check, events.get("webhooks"), ("events", "webhooks"))
    check.raise_if_any()
    return found


def test_config_with_secret_or_secret_file_types_and_defaults(tmp_path: Path) -> None:
    secret_file = tmp_path / "crm.secret"
    secret_file.write_text("from-a-file-0123456789abcdef\n")
    found = _parse(
        f"""\
events:
  webhooks:
    - name: crm
      url: https://crm.example.com/hooks/frontdesk
      secret: "{SECRET}"
      types: ["io.frontdesk.request.*"]
      timeout: 2s
      max_attempts: 5
    - name: bi
      url: http://10.0.0.7:8080/in
      secret_file: {secret_file}
"""
    )
    crm, bi = found
    assert (crm.name, crm.timeout_s, crm.max_attempts, crm.types) == (
        *("crm", 2.0, 5),
        ("io.frontdesk.request.*",),
    )
    assert crm.wants_type("io.frontdesk.request.offered")
    assert not crm.wants_type("io.frontdesk.agent.presence")
    assert bi.secret == "from-a-file-0123456789abcdef"  # the trailing newline stripped
    assert (bi.timeout_s, bi.max_attempts, bi.types) == (5.0, 12, ())
    assert bi.wants_type("io.frontdesk.customer.linked")
    assert SECRET not in repr(crm)  # secrets stay out of logs


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("webhooks_*.yaml")), ids=lambda p: p.stem)
def test_broken_webhooks_config_reports_each_problem(path: Path) -> None:
    """The same `# expect:` lines that tests/test_config.py checks through the whole config."""
    expected = [(int(n), where, text) for n, where, text in _EXPECT.findall(path.read_text())]
    assert expected
    with pytest.raises(ConfigError) as caught:
        _parse(path.read_text(), str(path))
    found = [(p.line, render(p.path), p.message) for p in caught.value.problems]
    for line, where, text in expected:
        assert any(fl == line and fw == where and text in fm for fl, fw, fm in found), (
            f"missing {line} {where} {text!r} in {found}"
        )
    assert len(found) == len(expected), found
