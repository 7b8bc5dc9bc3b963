"""Redis Cluster: a real three-node cluster (tests/redis_topology.py); the queue store's whole life
cycle for three tenants whose hash tags land on three different nodes, through redis-py's
cluster client, every script and pipeline legal there; and a daemon on `redis.cluster` that takes
a web form and offers it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.cluster import key_slot
from redis_topology import Cluster, cluster

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.notices import ClaimState, NoticeLog
from frontdesk.queues.outbox import Admission, Outbox
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import HandOver, QueueStore, StoreSettings
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_connect import close, connect
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.skills import Agent, Presence


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c


def cluster_settings(nodes: Cluster, extra: str = "") -> str:
    listed = ", ".join(f'"{a}"' for a in nodes.addresses)
    return f"redis:\n  cluster:\n    nodes: [{listed}]\n{extra}"


@pytest.fixture
async def client(three_nodes: Cluster) -> AsyncIterator[Redis]:
    settings = parse_settings(
        cluster_settings(three_nodes) + "queues: {general: {}}\ndefault_queue: general\n", "t.yaml"
    )
    redis = connect(settings.redis)
    yield redis
    await close(redis)


def tenants_on_every_node(nodes: Cluster) -> list[str]:
    """One tenant name per node: its keys' hash tag {tenant} hashes to a slot that node owns."""
    found: dict[int, str] = {}
    for n in range(1000):
        name = f"desk{n}"
        found.setdefault(nodes.port_of_slot(key_slot(f"{{{name}}}".encode())), name)
        if len(found) == len(nodes.nodes):
            return sorted(found.values())
    raise AssertionError("no tenant name for some node")


async def life_cycle(redis: Redis, tenant: str) -> None:
    keys = Keys(tenant)
    store = QueueStore(redis, keys, StoreSettings(max_missed_offers=5))
    agents = AgentStore(redis, keys)
    customers = CustomerStore(store)
    events = EventLog(redis, keys)
    outbox = Outbox(redis, keys)
    assert await outbox.ensure_group("crm", "0")

    ann = Agent("ann", "Ann", {}, {"chat": 2, "email": 2}, 1, (), Presence.AVAILABLE)
    bob = Agent("bob", "Bob", {}, {"chat": 2}, 2, (), Presence.AVAILABLE)
    for agent in (ann, bob):
        await agents.upsert(agent)
    assert {a.id for a in await agents.all()} == {"ann", "bob"}
    assert await agents.set_presence("ann", Presence.AVAILABLE) is Presence.AVAILABLE

    customer = await customers.identify(Customer(email=f"c@{tenant}.test", name="C"))
    assert await customers.find(f"email:c@{tenant}.test") == customer
    assert await customers.hit([("sender", "c", 2, 60)]) is None
    assert await customers.hit([("sender", "c", 2, 60)]) is None
    assert (await customers.hit([("sender", "c", 2, 60)]) or 0) > 0  # the third is refused

    def request(n: int, queue: str = "l1") -> Request:
        return Request("", Channel.CHAT, queue, external_id=f"m{n}", customer=Customer(id=customer))

    first = await store.enqueue(request(1))
    again = await store.enqueue(request(1))
    assert first.created and again == type(first)(first.id, False)  # idempotent
    second = (await store.enqueue(request(2))).id
    third = (await store.enqueue(request(3))).id
    assert await store.waiting_count("l1") == 3
    await customers.remember(("chat:conv-1",), first.id)
    assert await customers.thread("chat:conv-1") == first.id
    assert await store.append_message(first.id, Message(body="more"), "m1b") == 1

    # a round of the dispatcher: several scripts in one (cluster) pipeline
    outcome = await store.hand_over(
        [HandOver(first.id, "ann", "l1", None, 30), HandOver(second, "ann", "l1", None, 30)]
    )
    assert outcome == [None, None]
    await store.accept(first.id, "ann")
    await store.complete(first.id, "ann", "solved")
    await store.reject(second, "ann", "busy")
    assert "ann" in await store.excluded(second)
    assert await store.escalate(second, "l2", "too hard") == 2
    await store.offer(second, "bob", 0.05, "l2")
    await asyncio.sleep(0.1)
    assert [r for r, _ in await store.expire_overdue()] == [second]
    await store.abandon(third, "gone")
    records = await store.get_many([first.id, second, third])
    states = [r.state if r else None for r in records]
    assert states == [State.COMPLETED, State.WAITING, State.ABANDONED]
    assert [r.request.id for r in await customers.requests(customer)] != []
    assert abs(await store.now_ms() - time.time() * 1000) < 5000  # TIME, on some node

    stream = await events.range("-", "+", count=100)
    types = [e.type for e in stream]
    for kind in (EventType.ENQUEUED, EventType.OFFERED, EventType.ACCEPTED, EventType.COMPLETED):
        assert kind in types
    followed = await events.follow("0-0", count=500, block_ms=100)  # XREAD BLOCK on the slot
    assert [e.id for e in followed] == [e.id for e in stream]

    read = await outbox.read("crm", "me", 100, None)
    assert len(read) == len(stream)
    await outbox.admit("crm", [Admission(e.id, first.id, e.fields or {}) for e in read])
    taken = await outbox.take("crm", "me", 1, lease_ms=5000)
    lease = taken.leased[0]
    assert await outbox.done("crm", lease.lane, lease.id, "me")

    tickets = TicketMap(redis, keys, "zammad")
    await tickets.save(first.id, "T-1")  # a MULTI/EXEC on the tenant's slot
    await tickets.mark_done(first.id, "tags")
    assert await tickets.ticket(first.id) == "T-1"
    lock = tickets.lock(first.id, 5)
    assert await lock.acquire(blocking=False)
    await lock.release()

    notices = NoticeLog(redis, keys, 60)
    claim = await notices.claim(first.id, "1-0", 5)
    assert claim.state is ClaimState.NEW
    assert await notices.release(first.id, "1-0", claim.token)  # WATCH/MULTI on the slot
    assert await notices.state(first.id, "1-0") is None


async def test_every_store_operation_runs_on_a_three_node_cluster(
    three_nodes: Cluster, client: Redis
) -> None:
    tenants = tenants_on_every_node(three_nodes)
    assert len({three_nodes.port_of_slot(key_slot(f"{{{t}}}".encode())) for t in tenants}) == 3
    await asyncio.gather(*(life_cycle(client, t) for t in tenants))
    for tenant in tenants:  # each tenant's keys live on its own node, none elsewhere
        port = three_nodes.port_of_slot(key_slot(f"{{{tenant}}}".encode()))
        for node in three_nodes.nodes:
            with node.client() as c:
                held = c.keys(f"fd:v1:{{{tenant}}}:*")
            assert bool(held) == (node.port == port), (tenant, node.port)


async def test_a_daemon_on_redis_cluster_takes_a_form_and_offers_it(
    three_nodes: Cluster, tmp_path: Path
) -> None:
    text = cluster_settings(three_nodes) + FORM_CONFIG
    (tmp_path / "frontdesk.yaml").write_text(text)
    daemon = Daemon(parse_settings(text, "frontdesk.yaml"), tmp_path / "frontdesk.yaml")
    await daemon.start()
    try:
        assert daemon.address is not None
        url = f"http://127.0.0.1:{daemon.address[1]}/v1/requests"
        form = {"name": "Li", "email": "li@example.test", "body": "my invoice is wrong"}
        headers = {"Origin": ORIGIN, "X-Frontdesk-Site": "site-0001", "Idempotency-Key": "k-1"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json=form, headers=headers) as response,
        ):
            assert response.status == 201, await response.text()
            request_id = (await response.json())["id"]
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            record = await daemon.store.get(request_id)
            if record is not None and record.state is State.OFFERED:
                break
            assert asyncio.get_running_loop().time() < deadline, record
            await asyncio.sleep(0.05)
        assert record.agent == "ann"
    finally:
        await daemon.stop()


ORIGIN = "https://shop.example.test"
FORM_CONFIG = f"""\
tenant: clustered
http: {{port: 0}}
queues:
  general: {{}}
default_queue: general
agents:
  - id: ann
    capacity: {{form: 2}}
    presence: available
channels:
  form:
    sites:
      - key: site-0001
        origins: ["{ORIGIN}"]
"""
