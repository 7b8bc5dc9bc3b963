"""Follow-up calls (回访) through a whole daemon: an important customer's completed request, and
another whose customer scored it low, each get one follow-up task in the follow-ups queue,
linked to the original, with its own service-level target, routed to an agent with phone
capacity; the agent records the outcome once, on both requests, as an event. A follow-up gets
no follow-up of its own, and a redelivered event makes no second one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import test_feedback as fb
from test_webhooks_out import until

from frontdesk.queues.events import EventType
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.feedback.followups import FollowUpSink
from frontdesk.router.outbound.sinks import DeliveryContext

CONFIG = (
    fb.CONFIG.replace(
        "  social: {mode: assign}\n", "  social: {mode: assign}\n  follow-ups: {mode: assign}\n"
    ).replace("capacity: {email: 5, social: 5}", "capacity: {email: 5, social: 5, phone: 2}")
    + """\
follow_ups:
  queue: follow-ups
  within: 2d
  policies:
    - {name: important, when: {customer: {important: true}}}
    - {name: unhappy, when: {score_at_most: 2}}
"""
)


@pytest.fixture
async def daemon(redis, redis_server, relay) -> AsyncIterator[Daemon]:
    async with fb.running(CONFIG, redis_server.url, relay, None) as d:
        yield d


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def follow_up_of(daemon: Daemon, original: str) -> str:
    found: list[str] = []

    async def made() -> bool:
        for e in await daemon.events.range():
            if e.type is EventType.ENQUEUED and e.queue == "follow-ups":
                record = await daemon.store.get(e.request)
                if record is not None and record.request.attributes.get("follow_up_of") == original:
                    found[:] = [e.request]
        return bool(found)

    await until(made, f"the follow-up of {original}")
    return found[0]


async def outcome(http: aiohttp.ClientSession, request_id: str, **body: Any) -> tuple[int, Any]:
    return await fb.call(http, "POST", f"/v1/requests/{request_id}/follow-up", "ann", body)


async def test_an_important_customers_request_is_followed_up_once(daemon: Daemon, http) -> None:
    original = await fb.mail_in(daemon, 1, "Our invoice is wrong", sender="boss@example.net")
    assert original is not None
    await fb.complete(daemon, http, original)
    task = await follow_up_of(daemon, original)
    _, view = await fb.call(http, "GET", f"/v1/requests/{task}", "sup")
    assert view["queue"] == "follow-ups" and view["channel"] == "phone"
    assert view["follow_up_of"] == original
    assert view["sla"]["policy"] == "follow-up:important"
    assert [t["target"] for t in view["sla"]["targets"]] == ["resolution"]
    await fb.assigned(daemon, task)  # ann has phone capacity
    status, body = await outcome(http, task, reached="yes")
    assert status == 400 and body["error"]["field"] == "reached"
    status, body = await outcome(http, original, reached=True)
    assert status == 409 and body["error"]["code"] == "not_a_follow_up"
    status, body = await outcome(http, task, reached=True, verdict="satisfied", note="all good")
    assert status == 200 and body["follow_up"]["verdict"] == "satisfied"
    status, body = await outcome(http, task, reached=False)
    assert status == 409 and body["error"]["code"] == "recorded"
    _, view = await fb.call(http, "GET", f"/v1/requests/{original}", "sup")
    assert view["follow_up"]["reached"] is True and view["follow_up"]["of"] == original
    [event] = [e for e in await daemon.events.range() if e.type is EventType.FOLLOW_UP]
    assert (event.request, event.data["of"], event.data["verdict"]) == (task, original, "satisfied")
    # the follow-up completed gets no follow-up of its own; a redelivered event makes none
    await fb.complete(daemon, http, task)
    sink = FollowUpSink(lambda: daemon.settings.follow_ups, lambda: daemon.settings.customers,
                        daemon.front.create)  # fmt: skip
    completed = [e for e in await daemon.events.range() if e.type is EventType.COMPLETED]
    for event in completed:
        await sink.deliver(event, DeliveryContext(daemon.store, daemon.agents))
    tasks = [e for e in await daemon.events.range()
             if e.type is EventType.ENQUEUED and e.queue == "follow-ups"]  # fmt: skip
    assert len(tasks) == 1


async def test_a_low_score_gets_a_follow_up_and_a_good_one_none(daemon: Daemon, http,
                                                                 relay) -> None:  # fmt: skip
    unhappy = await fb.mail_in(daemon, 1, "Still no refund")
    happy = await fb.mail_in(daemon, 2, "Thanks for the quick fix", subject="Login")
    assert unhappy is not None and happy is not None
    for request_id, score in ((unhappy, "1"), (happy, "5")):
        await fb.complete(daemon, http, request_id)
        _, path = await fb.survey_mail(relay, request_id)
        status, _ = await fb.page(http, "POST", path, {"overall": score})
        assert status == 200
    task = await follow_up_of(daemon, unhappy)
    _, view = await fb.call(http, "GET", f"/v1/requests/{task}", "sup")
    assert view["sla"]["policy"] == "follow-up:unhappy"
    tasks = [e for e in await daemon.events.range()
             if e.type is EventType.ENQUEUED and e.queue == "follow-ups"]  # fmt: skip
    assert [e.request for e in tasks] == [task]  # none for the happy customer
