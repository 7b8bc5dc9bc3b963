"""The Freshdesk and GLPI connectors against local stand-ins of their documented APIs
(tests/helpdesk_standins.py), with real HTTP and the events of the real queue store."""

from __future__ import annotations

import base64

import pytest
from helpdesk_standins import FreshdeskStandIn, GlpiStandIn
from test_helpdesks import accepted_by, event, new_request, parse

from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.request import Channel, Customer, Message
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.conf.yaml import ConfigError, render
from frontdesk.router.outbound.helpdesks.base import HelpdeskSink
from frontdesk.router.outbound.helpdesks.config import create_sink
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable

FRESHDESK = """\
helpdesks:
  - name: freshdesk
    kind: freshdesk
    url: {url}
    token: {token}
    group_id: 33
    agents: {{ann: 7001, bob: 7002}}
    states: {{completed: resolved}}
    timeout: {timeout}
"""
GLPI = """\
helpdesks:
  - name: glpi
    kind: glpi
    url: {url}
    token: {token}
    app_token: glpi-app
    ticket_type: request
    category_id: 5
    agents: {{ann: 41, bob: 42}}
    states: {{completed: solved}}
    timeout: {timeout}
"""


@pytest.fixture
def context(store, agents) -> DeliveryContext:
    return DeliveryContext(store, agents)


@pytest.fixture
async def made():
    things: list = []
    yield things
    for thing in things:
        if isinstance(thing, HelpdeskSink):
            await thing.aclose()
        else:
            thing.release.set()


async def connect(aiohttp_server, made, kind: str, token: str, timeout: str = "5s"):
    standin = FreshdeskStandIn() if kind == "freshdesk" else GlpiStandIn()
    server = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.url = str(server.make_url("")).rstrip("/")
    made.append(standin)
    text = (FRESHDESK if kind == "freshdesk" else GLPI).format(
        url=standin.url, token=token, timeout=timeout
    )
    sink = create_sink(parse(text)[0])
    assert isinstance(sink, HelpdeskSink)
    made.append(sink)
    return standin, sink


async def deliver_all(sink, context, request_id: str) -> None:
    log = EventLog(context.store.redis, context.store.keys)
    for e in await log.range():
        if e.request == request_id:
            await sink.deliver(e, context)


# -- Freshdesk -----------------------------------------------------------------------------------


async def test_freshdesk_creates_assigns_notes_and_resolves_as_documented(
    aiohttp_server, made, store, agents, redis, keys, context
):
    fd, sink = await connect(aiohttp_server, made, "freshdesk", "fd-key")
    rid = await new_request(store, body="Charged twice <again>\nsee order 1234")
    await accepted_by(store, agents, redis, keys, rid, "ann")
    await store.append_message(rid, Message("Any news?", "customer"))
    await store.escalate(rid, "general", "supervisor please")
    await deliver_all(sink, context, rid)
    await deliver_all(sink, context, rid)  # again: nothing twice

    (create,) = fd.calls("POST", "/api/v2/tickets")
    assert create.headers["Authorization"] == "Basic " + base64.b64encode(b"fd-key:X").decode()
    assert create.body == {
        "subject": "Refund for order 1234",
        "description": "Charged twice &lt;again&gt;<br>see order 1234",
        "priority": 3,
        "status": 2,
        "source": 1,
        "tags": ["frontdesk", "frontdesk-email", "orders", f"frontdesk-{rid.lower()}"],
        "name": "Wang Fang",
        "email": "fang@example.com",
        "group_id": 33,
    }
    (ticket,) = fd.ticket_ids()
    assert await TicketMap(redis, keys, "freshdesk").ticket(rid) == ticket
    assert fd.assignee(ticket) == 7001
    notes = fd.notes[int(ticket)]
    assert [(n["body"], n["private"], n.get("incoming")) for n in notes[:1]] == [
        ("Any news?", False, True)
    ]
    assert notes[1]["private"] is True and "supervisor please" in notes[1]["body"]
    assert len(notes) == 2

    await store.offer(rid, "ann", 60)  # the escalated request, taken again
    await store.accept(rid, "ann")
    await store.complete(rid, "ann")
    await sink.deliver(await event(redis, keys, rid, EventType.COMPLETED), context)
    assert fd.state(ticket) == "resolved"


async def test_freshdesk_customer_by_phone_and_a_create_of_unknown_outcome(
    aiohttp_server, made, store, redis, keys, context
):
    fd, sink = await connect(aiohttp_server, made, "freshdesk", "fd-key", timeout="500ms")
    fd.hang(method="POST", path="/api/v2/tickets", after=True)
    caller = Customer(id="C-9", name="Li Na", phone="+8613800138000")
    rid = await new_request(store, customer=caller, channel=Channel.PHONE)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)
    with pytest.raises(RetryLater):
        await sink.deliver(enqueued, context)
    await sink.deliver(enqueued, context)  # finds it by its tag: no second ticket
    assert len(fd.ticket_ids()) == 1
    assert len(fd.calls("POST", "/api/v2/tickets")) == 1
    (create,) = fd.calls("POST", "/api/v2/tickets")
    assert create.body["phone"] == "+8613800138000" and create.body["source"] == 3
    assert "email" not in create.body


async def test_freshdesk_refused_key_and_unknown_agent_are_undeliverable(
    aiohttp_server, made, store, agents, redis, keys, context
):
    _, bad = await connect(aiohttp_server, made, "freshdesk", "wrong-key")
    rid = await new_request(store)
    with pytest.raises(Undeliverable, match="credentials were refused"):
        await bad.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)
    fd, sink = await connect(aiohttp_server, made, "freshdesk", "fd-key")
    fd.agents.discard(7002)
    await accepted_by(store, agents, redis, keys, rid, "bob")
    with pytest.raises(Undeliverable, match="responder_id"):
        await deliver_all(sink, context, rid)


# -- GLPI ----------------------------------------------------------------------------------------


async def test_glpi_session_ticket_assignment_followups_and_solution(
    aiohttp_server, made, store, agents, redis, keys, context
):
    glpi, sink = await connect(aiohttp_server, made, "glpi", "glpi-user")
    rid = await new_request(store)
    await accepted_by(store, agents, redis, keys, rid, "ann")
    await store.append_message(rid, Message("Any news?", "customer"))
    await store.append_message(rid, Message("Refund sent.", "agent"))
    await deliver_all(sink, context, rid)

    (init, *_) = glpi.received
    assert init.path == "/apirest.php/initSession"
    assert init.headers["Authorization"] == "user_token glpi-user"
    assert init.headers["App-Token"] == "glpi-app"
    (create,) = glpi.calls("POST", "/apirest.php/Ticket")
    assert create.headers["Session-Token"] in glpi.sessions
    fields = create.body["input"]
    assert (fields["name"], fields["priority"], fields["urgency"], fields["type"]) == (
        "Refund for order 1234", 4, 4, 2)  # fmt: skip
    assert fields["itilcategories_id"] == 5
    assert fields["content"].startswith("I was charged twice for order 1234.")
    assert fields["content"].endswith(f"[frontdesk {rid}]")
    (ticket,) = glpi.ticket_ids()
    assert glpi.assignee(ticket) == 41 and glpi.state(ticket) == "assigned"
    followups = glpi.followups[int(ticket)]
    assert [(f["content"], f["is_private"]) for f in followups] == [
        ("Any news?", 0), ("Refund sent.", 0)]  # fmt: skip

    glpi.expire_sessions()  # GLPI forgot the session: opened again, once
    await store.complete(rid, "ann")
    await sink.deliver(await event(redis, keys, rid, EventType.COMPLETED), context)
    assert glpi.state(ticket) == "solved"
    assert len(glpi.calls("GET", "/apirest.php/initSession")) == 2

    session = sink.helpdesk.session
    await sink.aclose()
    assert glpi.killed == [session]


async def test_glpi_refused_user_token_is_undeliverable(
    aiohttp_server, made, store, redis, keys, context
):
    glpi, sink = await connect(aiohttp_server, made, "glpi", "not-the-token")
    rid = await new_request(store)
    with pytest.raises(Undeliverable, match="credentials were refused"):
        await sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)
    assert glpi.tickets == {}


async def test_glpi_a_create_of_unknown_outcome_is_found_by_its_marker(
    aiohttp_server, made, store, redis, keys, context
):
    glpi, sink = await connect(aiohttp_server, made, "glpi", "glpi-user", timeout="500ms")
    glpi.hang(method="POST", path="/apirest.php/Ticket", after=True)
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)
    with pytest.raises(RetryLater):
        await sink.deliver(enqueued, context)
    await sink.deliver(enqueued, context)
    assert len(glpi.ticket_ids()) == 1
    assert await TicketMap(redis, keys, "glpi").ticket(rid) == glpi.ticket_ids()[0]


# -- config ----------------------------------------------------------------------------------------


def test_freshdesk_and_glpi_config_problems_are_named():
    broken = """\
helpdesks:
  - name: fd
    kind: freshdesk
    url: https://acme.freshdesk.com
    token: k
    states: {completed: done}
    group_id: 0
    webhook_secret: s
  - name: glpi
    kind: glpi
    url: https://glpi.example.com
    token: t
    ticket_type: problem
"""
    with pytest.raises(ConfigError) as caught:
        parse(broken)
    found = {render(p.path): p.message for p in caught.value.problems}
    assert (
        "must be one of open, pending, resolved, closed" in found["helpdesks[0].states.completed"]
    )
    assert "at least 1" in found["helpdesks[0].group_id"]
    assert "sends no signed webhooks" in found["helpdesks[0].webhook_secret"]
    assert "non-empty string" in found["helpdesks[1].app_token"]
    assert "must be one of incident, request" in found["helpdesks[1].ticket_type"]
    assert len(found) == 5
