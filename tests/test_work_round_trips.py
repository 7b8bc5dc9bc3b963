"""The agent's verbs through the HTTP API cost the Redis round trips they should (issue 12, "no
re-reads"): accept at most 2 (its script, then the customer's other requests in one pipelined
read), reject, complete, transfer and escalate 1, each counted on the connection the API's store
uses (a real redis-server, a real HTTP client). The replies are what they were: the record
after the change, and for accept the thread, the customer and the customer's other requests, as
the reads they replace give them. A cache that is wrong (another daemon moved the request) costs
one call more, never a wrong move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from api_services import api_app
from queue_ops_helpers import add_agent
from redis.asyncio import Redis
from redis_counting import Counted

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.scripts import sources
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.http.views import describe, thread_view

TOKENS = {name: new_token() for name in ("ann", "bob", "sup")}
CONFIG = f"""\
tenant: trips
redis: {{url: "redis://unused"}}
skills: [billing]
queues:
  chat: {{offer_timeout: 30s, escalate_to: l2}}
  l2: {{tier: 2}}
  billing: {{}}
default_queue: chat
agents:
  - {{id: ann, capacity: {{chat: 5}}}}
  - {{id: bob, capacity: {{chat: 5}}}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: bob, scope: agent, agent: bob, sha256: {digest(TOKENS["bob"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
"""


@pytest.fixture
async def counted(redis: Redis, redis_server: Any) -> AsyncIterator[Counted]:
    """A client on the test server (flushed by `redis`) whose round trips are counted, with
    every script loaded already (as a running daemon has them)."""
    counted = Counted(redis_server.url)
    for _, text in sources().values():
        await counted.client.script_load(text)
    yield counted
    await counted.client.aclose()


class Desk:
    """The API on a counted client, and the stores it acts through."""

    def __init__(self, store: QueueStore, agents: AgentStore, http: Any, wire: Counted) -> None:
        self.store, self.agents, self.http, self.wire = store, agents, http, wire
        self.customers = CustomerStore(store)

    async def call(self, who: str, rid: str, action: str, body: dict | None = None) -> tuple:
        """(status, reply, the round trips the API made for it)."""
        self.wire.mark()
        headers = {"Authorization": f"Bearer {TOKENS[who]}"}
        url = f"/v1/requests/{rid}/{action}"
        async with self.http.post(url, json=body or {}, headers=headers) as response:
            status, reply = response.status, await response.json()
        return status, reply, self.wire.since()

    async def request(self, customer: str = "", subject: str = "", queue: str = "chat") -> str:
        who = Customer(id=customer or None, name="Zhao", email="zhao@example.com")
        request = Request("", Channel.CHAT, queue, subject=subject, body="退款", customer=who)
        return (await self.store.enqueue(request)).id

    async def offered(self, agent: str, customer: str = "", subject: str = "") -> str:
        rid = await self.request(customer, subject)
        await self.store.offer(rid, agent, 30, "chat")
        return rid

    async def assigned(self, agent: str, customer: str = "") -> str:
        rid = await self.offered(agent, customer)
        await self.store.accept(rid, agent)
        return rid


@pytest.fixture
async def desk(counted: Counted, aiohttp_client: Any) -> Desk:
    settings = parse_settings(CONFIG, "trips.yaml")
    client = counted.client
    store, agents = QueueStore(client, Keys("trips")), AgentStore(client, Keys("trips"))
    app = await api_app(settings, client, store, agents)
    d = Desk(store, agents, await aiohttp_client(app), counted)
    for agent in ("ann", "bob"):
        await add_agent(agents, agent, capacity={"chat": 5})
    return d


async def _old_accept_reply(desk: Desk, record: RequestRecord) -> dict[str, Any]:
    """The accept reply as the reads it replaces built it (router/api/work.py before; the
    thread as views.thread_view shows it)."""
    rid, customer_id = record.request.id, record.request.customer.id
    thread: list[Message] = await desk.store.messages(rid)
    customer = await desk.customers.get(customer_id) if customer_id else None
    history = await desk.customers.requests(customer_id) if customer_id else []
    described = describe(record)
    known = {"addresses": sorted(customer.addresses)} if customer else {}
    more = {
        "customer": described["customer"] | known,
        "customer_requests": [
            {"id": r.request.id, "state": r.state.value, "subject": r.request.subject}
            for r in history
            if r.request.id != rid
        ],
    }
    return described | thread_view(record, thread) | more


async def test_accept_costs_two_round_trips_with_thread_customer_and_history(desk: Desk) -> None:
    cid = await desk.customers.identify(Customer(name="Zhao", email="zhao@example.com"))
    older = await desk.request(cid, "发票")
    await desk.store.complete(await desk.assigned("bob", cid), "bob", "done")
    rid = await desk.offered("ann", cid, "退款")
    await desk.store.append_message(rid, Message("还在吗", "customer"))
    status, reply, trips = await desk.call("ann", rid, "accept")
    assert status == 200 and reply["state"] == "assigned" and reply["agent"] == "ann"
    assert trips.n == 2, trips  # the script; the other requests' records, pipelined
    assert trips.commands["EVALSHA"] == 1 and set(trips.commands) == {"EVALSHA", "HMGET"}
    assert reply["customer"]["addresses"] == ["email:zhao@example.com"]
    assert [m["body"] for m in reply["thread"]] == ["还在吗"]
    assert reply["customer_requests"][0]["id"] == older  # open ones first
    assert len(reply["customer_requests"]) == 2
    assert reply == await _old_accept_reply(desk, await _get(desk, rid))


async def test_accept_of_a_lone_request_costs_one_round_trip(desk: Desk) -> None:
    rid = await desk.offered("ann")  # no customer: nothing else to show
    status, reply, trips = await desk.call("ann", rid, "accept")
    assert status == 200 and trips.n == 1, trips
    assert reply == await _old_accept_reply(desk, await _get(desk, rid))
    assert reply["customer_requests"] == [] and "addresses" not in reply["customer"]


async def test_reject_complete_transfer_escalate_cost_one_round_trip_each(desk: Desk) -> None:
    offered = await desk.offered("ann")
    status, reply, trips = await desk.call("ann", offered, "reject", {"reason": "busy"})
    assert (status, trips.n) == (200, 1), trips
    assert reply == describe(await _get(desk, offered)) and reply["state"] == "waiting"
    assert await desk.store.excluded(offered) == {"ann"}

    held = await desk.assigned("ann")
    status, reply, trips = await desk.call("ann", held, "complete", {"resolution": "refunded"})
    assert (status, trips.n) == (200, 1), trips
    assert reply["state"] == "completed" and reply["resolution"] == "refunded"
    assert reply == describe(await _get(desk, held))

    held = await desk.assigned("ann")
    status, reply, trips = await desk.call("ann", held, "escalate", {"note": "L2 please"})
    assert (status, trips.n) == (200, 1), trips
    assert (reply["queue"], reply["tier"], reply["state"]) == ("l2", 2, "waiting")
    assert reply == describe(await _get(desk, held))
    assert (await desk.agents.get("ann")).load == {}  # type: ignore[union-attr]

    held = await desk.assigned("bob")
    body = {"agent": "bob", "queue": "billing", "reason": "wrong desk"}
    status, reply, trips = await desk.call("sup", held, "transfer", body)
    assert (status, trips.n) == (200, 1), trips
    assert (reply["queue"], reply["state"], reply["agent"]) == ("billing", "waiting", None)
    assert reply == describe(await _get(desk, held))
    assert await desk.store.position(held, "billing") == 1


async def test_a_wrong_cache_costs_one_call_more_never_a_wrong_move(
    desk: Desk, counted: Redis
) -> None:
    elsewhere = QueueStore(counted.client, Keys("trips"))  # another daemon's store
    rid = await desk.offered("ann")
    await elsewhere.transfer(rid, "billing", "moved there")  # desk's cache still says chat
    await elsewhere.offer(rid, "ann", 30, "billing")
    status, reply, trips = await desk.call("ann", rid, "reject")
    assert status == 200 and trips.n == 2, trips  # stale answer, then the call with its facts
    assert reply["queue"] == "billing" and reply["state"] == "waiting"
    assert await desk.store.position(rid, "billing") == 1
    assert await desk.store.position(rid, "chat") is None

    # a request this daemon never saw: one call to learn where it is, one to act
    other = await elsewhere.enqueue(Request("", Channel.CHAT, "chat", body="x"))
    await elsewhere.offer(other.id, "bob", 30, "chat")
    await elsewhere.accept(other.id, "bob")
    status, reply, trips = await desk.call("bob", other.id, "escalate")
    assert status == 200 and trips.n == 2, trips
    assert (reply["queue"], reply["tier"]) == ("l2", 2)


async def test_an_agent_token_acts_only_on_what_its_agent_holds(desk: Desk) -> None:
    rid = await desk.assigned("bob")
    for action in ("complete", "reject", "escalate", "transfer"):
        body = {"queue": "billing"} if action == "transfer" else {}
        status, reply, trips = await desk.call("ann", rid, action, body)
        assert status == 403 and reply["error"]["code"] == "not_your_request", action
        assert trips.n <= 2, trips
    record = await _get(desk, rid)
    assert (record.state.value, record.agent, record.request.queue) == ("assigned", "bob", "chat")
    status, reply, _ = await desk.call("ann", "FD-404", "complete")
    assert status == 404 and reply["error"]["code"] == "not_found"
    status, reply, _ = await desk.call("bob", rid, "transfer", {"to_agent": "ann"})
    assert status == 200 and reply["agent"] == "ann" and reply["state"] == "assigned"


async def _get(desk: Desk, rid: str) -> RequestRecord:
    record = await desk.store.get(rid)
    assert record is not None
    return record


async def test_facts_followed_from_the_event_stream_spare_the_extra_call(
    desk: Desk, counted: Redis
) -> None:
    """What another daemon did reaches this one's cache through the events (when the daemon
    hands them to `facts.follow`): the verb then needs its one call only."""
    elsewhere = QueueStore(counted.client, Keys("trips"))
    log = EventLog(counted.client, Keys("trips"))
    rid = (await elsewhere.enqueue(Request("", Channel.CHAT, "chat", body="x"))).id
    await elsewhere.offer(rid, "ann", 30, "chat")
    await elsewhere.reject(rid, "ann")
    await elsewhere.transfer(rid, "billing")
    await elsewhere.offer(rid, "bob", 30, "billing")
    for event in await log.range():
        desk.store.facts.follow(event)
    facts = desk.store.facts.get(rid)
    assert facts is not None and (facts.queue, facts.agent) == ("billing", "bob")
    status, reply, trips = await desk.call("bob", rid, "reject")
    assert status == 200 and trips.n == 1, trips
    assert reply["queue"] == "billing" and reply["state"] == "waiting"
    await elsewhere.abandon(rid, "left")
    for event in await log.range():
        desk.store.facts.follow(event)
    assert desk.store.facts.get(rid) is None  # closed: forgotten


async def test_accept_after_the_customer_was_merged_shows_the_merged_history(desk: Desk) -> None:
    """The cache knew the customer unmerged; linked since into another (with its own request),
    the accept follows the merge and shows what CustomerStore shows, in a few calls more."""
    first = await desk.customers.identify(Customer(name="Zhao", email="zhao@example.com"))
    other = await desk.customers.identify(Customer(name="Zhao", phone="+8613800138000"))
    by_phone = await desk.request(other, "电话")
    rid = await desk.offered("ann", first, "退款")
    await desk.customers.link(other, first)
    status, reply, trips = await desk.call("ann", rid, "accept")
    assert status == 200 and trips.n == 4, trips  # + the merge followed, the customer read
    assert [r["id"] for r in reply["customer_requests"]] == [by_phone]
    assert reply == await _old_accept_reply(desk, await _get(desk, rid))
    later = await desk.offered("bob", first, "又来了")  # the merge is known now: two calls
    status, reply, trips = await desk.call("bob", later, "accept")
    assert status == 200 and trips.n == 2, trips
    assert reply == await _old_accept_reply(desk, await _get(desk, later))
    assert {r["id"] for r in reply["customer_requests"]} == {by_phone, rid}
