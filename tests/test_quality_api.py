"""Quality review through a whole daemon: its task samples the due days on its own, a day's
sample fills the review queue, a `qa` token lists it, reads closed requests and scores them
(every dimension, once: the first review stands, under concurrency too), picks a request that
was not sampled; everything else is refused to it. Real Redis, real HTTP clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from quality_helpers import close_requests, noon_zone_name

from frontdesk.queues.request import Channel, Request
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.quality_task import sampler_of
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.skills import Presence

TOKENS = {name: new_token() for name in ("qa", "sup", "ann")}
SCORES = {
    "response_time": 4, "identity_verification": 5, "understanding": 4, "effectiveness": 3,
    "attitude": 5, "record_completeness": 2, "satisfaction": 4,
}  # fmt: skip
CONFIG = f"""\
tenant: qapi
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues: {{general: {{}}}}
default_queue: general
agents:
  - {{id: ann, name: Ann, capacity: {{chat: 2}}, presence: offline}}
calendars:
  desk: {{timezone: "{{zone}}", hours: {{mon-fri: "08:30-18:00"}}}}
quality: {{sample: 10%, calendar: desk}}
api:
  tokens:
    - {{name: qa, scope: qa, sha256: {digest(TOKENS["qa"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    text = CONFIG.replace("{url}", redis_server.url).replace("{zone}", noon_zone_name())
    d = Daemon(parse_settings(text, "q.yaml"), "q.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def call(http, method: str, path: str, who: str, body=None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    async with http.request(method, path, json=body, headers=headers) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_a_day_sampled_reviewed_once_and_picked(daemon, http, redis) -> None:
    keys = daemon.store.keys
    # the daemon's own task takes the last three due days at start (nothing closed in them)
    for _ in range(100):
        if await redis.hlen(keys.quality_days) == 3:
            break
        await asyncio.sleep(0.05)
    quality = daemon.settings.quality
    sampler = sampler_of(daemon, keys)
    yesterday = str(quality.last_due(await daemon.store.now_ms()))
    status, listed = await call(http, "GET", f"/v1/reviews?day={yesterday}", "qa")
    assert status == 200 and listed["reviews"] == [] and listed["sample"]["size"] == 0

    ids = await close_requests(
        daemon.store, daemon.agents, 60, n_agents=5, seed=9, presence=Presence.OFFLINE
    )
    open_id = (await daemon.store.enqueue(Request("", Channel.CHAT, "general"))).id
    day = quality.day_of(await daemon.store.now_ms())
    taken = await sampler.take(day)
    assert taken is not None and taken.size == 6 and taken.closed == 60

    status, listed = await call(http, "GET", "/v1/reviews", "qa")
    assert status == 200 and listed["status"] == "pending"
    pending = [r["request"] for r in listed["reviews"]]
    assert len(pending) == 6 and set(pending) <= set(ids)
    assert all(r["day"] == str(day) and r["sampled"] and r["channel"] for r in listed["reviews"])
    status, listed = await call(http, "GET", f"/v1/reviews?day={day}", "sup")
    assert listed["sample"]["size"] == 6 and listed["sample"]["closed"] == 60

    # a reviewer sees closed requests, and nothing else
    first, second = pending[0], pending[1]
    assert (await call(http, "GET", f"/v1/requests/{first}", "qa"))[0] == 200
    assert (await call(http, "GET", f"/v1/requests/{open_id}", "qa"))[0] == 404
    assert (await call(http, "GET", f"/v1/requests/{open_id}", "sup"))[0] == 200
    for method, path in (("GET", "/v1/agents"), ("GET", "/v1/queues"),
                         ("POST", f"/v1/requests/{first}/complete")):  # fmt: skip
        assert (await call(http, method, path, "qa", {}))[0] == 403, path
    assert (await call(http, "GET", "/v1/reviews", "ann"))[0] == 403
    assert (await call(http, "POST", f"/v1/requests/{first}/review", "ann", {}))[0] == 403

    # bad scores are refused with the field named
    path = f"/v1/requests/{first}/review"
    for body, field in (
        ({}, "scores"),
        ({"scores": {**SCORES, "colour": 3}}, "scores.colour"),
        ({"scores": {**SCORES, "attitude": 6}}, "scores.attitude"),
        ({"scores": {**SCORES, "attitude": "5"}}, "scores.attitude"),
        ({"scores": {**SCORES, "understanding": True}}, "scores.understanding"),
        ({"scores": {k: v for k, v in SCORES.items() if k != "satisfaction"}},
         "scores.satisfaction"),
        ({"scores": SCORES, "rating": 1}, "rating"),
    ):  # fmt: skip
        status, error = await call(http, "POST", path, "qa", body)
        assert status == 400 and error["error"]["field"] == field, (body, error)
    status, error = await call(
        http, "POST", "/v1/requests/FD-99999/review", "qa", {"scores": SCORES}
    )
    assert status == 404 and error["error"]["code"] == "not_found"
    status, error = await call(http, "POST", f"/v1/requests/{open_id}/review", "qa",
                               {"scores": SCORES})  # fmt: skip
    assert status == 409 and error["error"]["code"] == "not_closed"
    assert (await call(http, "GET", f"/v1/requests/{first}/review", "qa"))[1]["status"] == "pending"

    # one review per request: the first stands
    status, review = await call(http, "POST", path, "qa", {"scores": SCORES, "comment": "ok"})
    assert status == 200 and review["status"] == "done" and review["reviewer"] == "qa"
    assert review["scores"] == SCORES and review["comment"] == "ok" and review["sampled"]
    status, error = await call(http, "POST", path, "sup", {"scores": SCORES})
    assert status == 409 and error["error"]["code"] == "reviewed"
    racing = await asyncio.gather(
        *(call(http, "POST", f"/v1/requests/{second}/review", who, {"scores": SCORES})
          for who in ("qa", "sup", "qa", "sup", "qa"))
    )  # fmt: skip
    assert sorted(s for s, _ in racing) == [200, 409, 409, 409, 409]

    # a closed request that was not sampled may be picked
    picked = next(i for i in ids if i not in pending)
    status, error = await call(http, "GET", f"/v1/requests/{picked}/review", "qa")
    assert status == 404 and error["error"]["code"] == "not_reviewed"
    status, review = await call(http, "POST", f"/v1/requests/{picked}/review", "sup",
                                {"scores": SCORES})  # fmt: skip
    assert status == 200 and review["sampled"] is False and review["day"] == str(day)
    status, listed = await call(http, "GET", f"/v1/reviews?status=done&day={day}", "qa")
    assert {r["request"] for r in listed["reviews"]} == {first, second, picked}
    status, listed = await call(http, "GET", "/v1/reviews?status=done&limit=2", "qa")
    assert len(listed["reviews"]) == 2
    status, listed = await call(http, "GET", "/v1/reviews", "qa")
    assert len(listed["reviews"]) == 4 and first not in {r["request"] for r in listed["reviews"]}
    for query, field in (("status=open", "status"), ("day=2026-13-01", "day"),
                         ("day=yesterday", "day"), ("limit=0", "limit")):  # fmt: skip
        status, error = await call(http, "GET", f"/v1/reviews?{query}", "qa")
        assert status == 400 and error["error"]["field"] == field

    # the review lives as long as its request; each review is one event
    request_ttl = await redis.pttl(keys.request(picked))
    assert 0 < await redis.pttl(keys.review(picked)) <= request_ttl
    events = [e for e in await daemon.events.range() if e.type.value == "review.submitted"]
    assert [e.request for e in events] == [first, second, picked]
    assert events[0].data["reviewer"] == "qa" and events[0].data["sampled"] == "1"
    assert events[2].data["sampled"] == "0" and '"attitude": 5' in events[2].data["scores"]


async def test_three_daemons_take_each_due_day_once(redis, redis_server) -> None:
    text = CONFIG.replace("{url}", redis_server.url).replace("{zone}", noon_zone_name())
    daemons = [Daemon(parse_settings(text, "q.yaml"), "q.yaml") for _ in range(3)]
    await asyncio.gather(*(d.start() for d in daemons))
    try:
        keys = daemons[0].store.keys
        for _ in range(100):
            if await redis.hlen(keys.quality_days) == 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # time for a second take of a day, were there to be one
        events = [e for e in await daemons[0].events.range() if e.type.value == "quality.sampled"]
        days = sorted(k.decode() for k in await redis.hkeys(keys.quality_days))
        assert len(events) == 3 and sorted(e.data["day"] for e in events) == days
    finally:
        await asyncio.gather(*(d.stop() for d in daemons))
