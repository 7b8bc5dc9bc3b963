"""Helpdesk connectors against local stand-ins of Zammad, Chatwoot and Zendesk (real HTTP, real
Redis): the events come from the real queue store and are read back from the real event log."""

from __future__ import annotations

import asyncio
import base64
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from helpdesk_standins import ChatwootStandIn, StandIn, ZammadStandIn, ZendeskStandIn

from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.feedback import Scoring
from frontdesk.queues.request import Attachment, Channel, Customer, Priority, Request
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.conf.yaml import Checker, ConfigError, load_yaml, render
from frontdesk.router.outbound.helpdesks.base import (
    HelpdeskSettings,
    HelpdeskSink,
    ticket_body,
    ticket_tags,
)
from frontdesk.router.outbound.helpdesks.config import create_sink, parse_helpdesks
from frontdesk.router.outbound.remote import error_text, retry_after_s
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable
from frontdesk.skills import Agent, Presence

# -- configs and fixtures -------------------------------------------------------------------------

CONFIGS = {
    "zammad": """\
helpdesks:
  - name: zammad
    kind: zammad
    url: {url}
    token: {token}
    group: Users
    agents: {{ann: 12, bob: 15, dan: 999}}
    timeout: {timeout}
    states: {{completed: closed}}
""",
    "chatwoot": """\
helpdesks:
  - name: chatwoot
    kind: chatwoot
    url: {url}
    token: {token}
    account_id: 3
    inbox_id: 7
    agents: {{ann: 21, bob: 22, dan: 999}}
    timeout: {timeout}
    states: {{completed: resolved}}
""",
    "zendesk": """\
helpdesks:
  - name: zendesk
    kind: zendesk
    url: {url}
    email: api@example.com
    token: {token}
    agents: {{ann: 901, bob: 902, dan: 999}}
    timeout: {timeout}
    states: {{completed: solved}}
""",
}
TOKENS = {"zammad": "zammad-token", "chatwoot": "cw-token", "zendesk": "zd-token"}
CREATE_PATHS = {
    "zammad": "/api/v1/tickets",
    "chatwoot": "/api/v1/accounts/3/conversations",
    "zendesk": "/api/v2/tickets.json",
}
STATES = {"zammad": "closed", "chatwoot": "resolved", "zendesk": "solved"}


def parse(text: str, source: str = "hd.yaml", **extra) -> tuple[HelpdeskSettings, ...]:
    data, lines = load_yaml(text, source)
    check = Checker(lines)
    settings = parse_helpdesks(check, data.get("helpdesks"), **extra)
    check.raise_if_any()
    return settings


@dataclass
class Desk:
    """One helpdesk's stand-in and a connector pointed at it."""

    kind: str
    standin: StandIn
    opened: list[HelpdeskSink]
    sink: HelpdeskSink | None = None

    def connector(self, url: str | None = None, token: str | None = None, timeout: str = "5s",
                  extra: str = "") -> HelpdeskSink:  # fmt: skip
        """A connector for this stand-in (closed when the test ends)."""
        text = CONFIGS[self.kind].format(
            url=url or self.standin.url, token=token or TOKENS[self.kind], timeout=timeout
        )
        sink = create_sink(parse(text + extra)[0])
        assert isinstance(sink, HelpdeskSink)
        self.opened.append(sink)
        return sink


STANDINS = {"zammad": ZammadStandIn, "chatwoot": ChatwootStandIn, "zendesk": ZendeskStandIn}


@pytest.fixture
async def opened():
    """Stand-ins and connectors made by a test: hangs released, HTTP clients closed."""
    made: list = []
    yield made
    for thing in made:
        if isinstance(thing, StandIn):
            thing.release.set()
        else:
            await thing.aclose()


async def start(aiohttp_server, opened, kind: str, **kwargs) -> StandIn:
    standin = STANDINS[kind](**kwargs)
    server = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.url = str(server.make_url("")).rstrip("/")
    opened.append(standin)
    return standin


async def desk_of(kind: str, aiohttp_server, opened, **kwargs) -> Desk:
    d = Desk(kind, await start(aiohttp_server, opened, kind, **kwargs), opened)
    d.sink = d.connector()
    return d


@pytest.fixture(params=["zammad", "chatwoot", "zendesk"])
async def desk(request, aiohttp_server, opened) -> Desk:
    return await desk_of(request.param, aiohttp_server, opened)


@pytest.fixture
def context(store, agents) -> DeliveryContext:
    return DeliveryContext(store, agents)


# -- building real events -------------------------------------------------------------------------

FANG = Customer(id="C-7", name="Wang Fang", email="fang@example.com")


async def new_request(store, customer: Customer = FANG, **fields) -> str:
    request = Request(
        id="",
        channel=fields.pop("channel", Channel.EMAIL),
        queue="general",
        customer=customer,
        subject=fields.pop("subject", "Refund for order 1234"),
        body=fields.pop("body", "I was charged twice for order 1234."),
        category=fields.pop("category", "orders"),
        priority=fields.pop("priority", Priority.HIGH),
        **fields,
    )
    result = await store.enqueue(request)
    assert result.created
    return result.id


async def add_agent(agents, agent_id: str) -> None:
    await agents.upsert(
        Agent(id=agent_id, name=agent_id.title(), capacity={"email": 5, "chat": 5, "phone": 5},
              presence=Presence.AVAILABLE)
    )  # fmt: skip


async def events_of(redis, keys, request_id: str, kind: EventType) -> list[Event]:
    every = await EventLog(redis, keys).range()
    return [e for e in every if e.request == request_id and e.type is kind]


async def event(redis, keys, request_id: str, kind: EventType) -> Event:
    (found,) = await events_of(redis, keys, request_id, kind)
    return found


async def accepted_by(store, agents, redis, keys, request_id: str, agent: str) -> Event:
    await add_agent(agents, agent)
    await store.offer(request_id, agent, 60)
    await store.accept(request_id, agent)
    return await event(redis, keys, request_id, EventType.ACCEPTED)


async def created(desk: Desk, store, redis, keys, context, **fields) -> tuple[str, str]:
    """A new request delivered: its id and its ticket's id."""
    rid = await new_request(store, **fields)
    await desk.sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)
    ticket = await TicketMap(redis, keys, desk.kind).ticket(rid)
    assert ticket is not None
    return rid, ticket


# -- create: the documented payloads --------------------------------------------------------------


async def test_zammad_creates_one_ticket_with_the_documented_payload(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("zammad", aiohttp_server, opened)
    rid, ticket = await created(desk, store, redis, keys, context)

    zammad = desk.standin
    assert isinstance(zammad, ZammadStandIn)
    (call,) = zammad.calls("POST", "/api/v1/tickets")
    assert call.headers["Authorization"] == "Token token=zammad-token"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.body == {
        "title": "Refund for order 1234",
        "group": "Users",
        "priority": "3 high",
        "customer_id": "guess:fang@example.com",
        "article": {
            "subject": "Refund for order 1234",
            "body": "I was charged twice for order 1234.",
            "content_type": "text/plain",
            "type": "web",
            "sender": "Customer",
            "internal": False,
            "from": "Wang Fang <fang@example.com>",
        },
        "tags": f"frontdesk,frontdesk-email,orders,frontdesk-{rid.lower()}",
    }
    assert zammad.ticket_ids() == [ticket]
    stored = zammad.tickets[int(ticket)]
    assert (stored["group_id"], stored["priority_id"], stored["owner_id"]) == (1, 3, 1)
    assert zammad.users[stored["customer_id"]]["email"] == "fang@example.com"


async def test_zammad_customer_without_email_is_found_again_by_login(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("zammad", aiohttp_server, opened)
    caller = Customer(id="C-9", name="Li Lei", phone="+8613800138000")
    _, first = await created(desk, store, redis, keys, context, customer=caller,
                             channel=Channel.PHONE)  # fmt: skip
    _, second = await created(desk, store, redis, keys, context, customer=caller,
                              channel=Channel.PHONE)  # fmt: skip

    zammad = desk.standin
    assert isinstance(zammad, ZammadStandIn)
    call = zammad.calls("POST", "/api/v1/tickets")[0]
    assert call.body["customer"] == {
        "login": "frontdesk-c-9",
        "firstname": "Li Lei",
        "phone": "+8613800138000",
    }
    assert call.body["article"]["type"] == "phone"
    assert "from" not in call.body["article"]
    customers = {zammad.tickets[int(t)]["customer_id"] for t in (first, second)}
    assert len(customers) == 1 and first != second


async def test_chatwoot_creates_contact_conversation_message_priority_and_labels(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("chatwoot", aiohttp_server, opened)
    rid, ticket = await created(desk, store, redis, keys, context)

    cw = desk.standin
    assert isinstance(cw, ChatwootStandIn)
    base = "/api/v1/accounts/3"
    assert [(c.method, c.path) for c in cw.received] == [
        ("GET", f"{base}/contacts/search"),
        ("POST", f"{base}/contacts"),
        ("POST", f"{base}/conversations"),
        ("POST", f"{base}/conversations/{ticket}/messages"),
        ("POST", f"{base}/conversations/{ticket}/toggle_priority"),
        ("POST", f"{base}/conversations/{ticket}/labels"),
    ]
    assert all(c.headers["api_access_token"] == "cw-token" for c in cw.received)
    assert cw.received[0].query == {"q": "fang@example.com"}
    assert cw.received[1].body == {
        "inbox_id": 7,
        "name": "Wang Fang",
        "identifier": "frontdesk:C-7",
        "email": "fang@example.com",
    }
    (contact,) = cw.contacts.values()
    (link,) = cw.contact_inboxes
    assert cw.received[2].body == {
        "source_id": link["source_id"],
        "inbox_id": 7,
        "contact_id": contact["id"],
        "status": "open",
        "additional_attributes": {
            "frontdesk_request": rid,
            "channel": "email",
            "subject": "Refund for order 1234",
        },
    }
    conversation = cw.conversations[int(ticket)]
    (message,) = cw.messages[int(ticket)]
    assert message["content"] == "Refund for order 1234\n\nI was charged twice for order 1234."
    assert (message["message_type"], message["private"]) == (0, False)  # incoming, public
    assert conversation["priority"] == "high"
    assert conversation["labels"] == ["frontdesk", "frontdesk-email", "orders"]


async def test_chatwoot_remembers_the_contact_for_the_next_request(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("chatwoot", aiohttp_server, opened)
    await created(desk, store, redis, keys, context)
    before = len(desk.standin.received)
    await created(desk, store, redis, keys, context, subject="Another question")

    cw = desk.standin
    assert isinstance(cw, ChatwootStandIn)
    assert len(cw.contacts) == 1 and len(cw.conversations) == 2
    later = [c.path.rsplit("/", 1)[-1] for c in cw.received[before:]]
    assert later == ["conversations", "messages", "toggle_priority", "labels"]


async def test_chatwoot_finds_a_contact_made_elsewhere_and_links_it_to_the_inbox(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("chatwoot", aiohttp_server, opened)
    cw = desk.standin
    assert isinstance(cw, ChatwootStandIn)
    cw.contacts[500] = {"id": 500, "name": "Fang", "email": "FANG@example.com",
                        "phone_number": None, "identifier": None}  # fmt: skip
    cw.contact_inboxes.append({"contact_id": 500, "inbox_id": 8, "source_id": "widget-1"})

    _, ticket = await created(desk, store, redis, keys, context)

    assert len(cw.contacts) == 1
    assert cw.conversations[int(ticket)]["contact_id"] == 500
    (link,) = cw.calls("POST", "/api/v1/accounts/3/contacts/500/contact_inboxes")
    assert link.body == {"inbox_id": 7}


async def test_zendesk_creates_one_ticket_with_the_documented_payload(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("zendesk", aiohttp_server, opened)
    rid, ticket = await created(desk, store, redis, keys, context)

    zd = desk.standin
    assert isinstance(zd, ZendeskStandIn)
    (call,) = zd.calls("POST", "/api/v2/tickets.json")
    pair = base64.b64encode(b"api@example.com/token:zd-token").decode()
    assert call.headers["Authorization"] == f"Basic {pair}"
    assert call.headers["Idempotency-Key"] == f"frontdesk-test-{rid}"
    assert call.body == {
        "ticket": {
            "subject": "Refund for order 1234",
            "comment": {"body": "I was charged twice for order 1234.", "public": True},
            "requester": {"name": "Wang Fang", "email": "fang@example.com"},
            "priority": "high",
            "tags": ["frontdesk", "frontdesk-email", "orders"],
            "external_id": rid,
        }
    }
    assert zd.ticket_ids() == [ticket]
    assert zd.lookups == ["miss"]


async def test_zendesk_oauth_token_group_and_type(
    aiohttp_server, opened, store, redis, keys, context
):
    zd = await start(aiohttp_server, opened, "zendesk", oauth="oauth-secret")
    text = f"""\
helpdesks:
  - {{name: zd, kind: zendesk, url: "{zd.url}", token: oauth-secret, group_id: 360001,
      ticket_type: incident, priorities: {{high: urgent}}, tags: [vip desk]}}
"""
    sink = create_sink(parse(text)[0])
    opened.append(sink)
    rid = await new_request(store)
    await sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)

    (call,) = zd.calls("POST", "/api/v2/tickets.json")
    assert call.headers["Authorization"] == "Bearer oauth-secret"
    sent = call.body["ticket"]
    assert (sent["group_id"], sent["type"], sent["priority"]) == (360001, "incident", "urgent")
    assert sent["tags"] == ["frontdesk", "frontdesk-email", "orders", "vip_desk"]


async def test_zendesk_answers_a_repeated_create_with_the_first_ticket(
    aiohttp_server, opened, store, redis, keys, context
):
    """The Idempotency-Key stands even when frontdesk's own mapping would not (a create of
    unknown outcome retried within the key's lifetime)."""
    desk = await desk_of("zendesk", aiohttp_server, opened)
    rid = await new_request(store)
    request = (await store.get(rid)).request
    tickets = TicketMap(redis, keys, "zendesk")

    first = await desk.sink.helpdesk.create_ticket(request, tickets)
    second = await desk.sink.helpdesk.create_ticket(request, tickets)

    zd = desk.standin
    assert isinstance(zd, ZendeskStandIn)
    assert first == second and zd.ticket_ids() == [first]
    assert zd.lookups == ["miss", "hit"]


# -- idempotency ----------------------------------------------------------------------------------


async def test_delivering_the_same_event_twice_creates_no_second_ticket(
    desk, store, redis, keys, context
):
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)

    await desk.sink.deliver(enqueued, context)
    calls = len(desk.standin.received)
    await desk.sink.deliver(enqueued, context)

    assert len(desk.standin.ticket_ids()) == 1
    assert len(desk.standin.received) == calls  # the mapping answered; nothing was sent
    assert await TicketMap(redis, keys, desk.kind).ticket(rid) == desk.standin.ticket_ids()[0]
    assert await redis.ttl(keys.helpdesk_ticket(desk.kind, rid)) > 0


async def test_two_deliveries_at_once_create_one_ticket(desk, store, redis, keys, context):
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)

    results = await asyncio.gather(
        desk.sink.deliver(enqueued, context),
        desk.sink.deliver(enqueued, context),
        return_exceptions=True,
    )

    assert len(desk.standin.ticket_ids()) == 1
    assert all(r is None or isinstance(r, RetryLater) for r in results), results
    assert results.count(None) >= 1


async def test_while_another_daemon_creates_the_ticket_delivery_waits(
    desk, store, redis, keys, context
):
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)
    other = TicketMap(redis, keys, desk.kind).lock(rid, 30)
    assert await other.acquire(blocking=False)

    with pytest.raises(RetryLater, match=f"another delivery is creating the ticket of {rid}"):
        await desk.sink.deliver(enqueued, context)
    assert desk.standin.received == []

    await other.release()
    await desk.sink.deliver(enqueued, context)
    assert len(desk.standin.ticket_ids()) == 1


async def test_a_create_that_timed_out_after_the_helpdesk_took_it_is_not_repeated(
    desk, store, redis, keys, context
):
    sink = desk.connector(timeout="500ms")
    desk.standin.hang(method="POST", path=CREATE_PATHS[desk.kind], after=True)
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)

    with pytest.raises(RetryLater, match=r"timed out after 0\.5s") as first:
        await sink.deliver(enqueued, context)
    assert first.value.after_s is None
    assert len(desk.standin.ticket_ids()) == 1  # the helpdesk did create it

    await sink.deliver(enqueued, context)

    assert len(desk.standin.ticket_ids()) == 1
    assert len(desk.standin.calls("POST", CREATE_PATHS[desk.kind])) == 1
    assert await TicketMap(redis, keys, desk.kind).ticket(rid) == desk.standin.ticket_ids()[0]


async def test_chatwoot_follow_ups_run_once_each_across_retries(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("chatwoot", aiohttp_server, opened)
    cw = desk.standin
    assert isinstance(cw, ChatwootStandIn)
    cw.fail(502, method="POST", path=r"/api/v1/accounts/3/conversations/\d+/toggle_priority")
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)

    with pytest.raises(RetryLater, match="502"):
        await desk.sink.deliver(enqueued, context)
    await desk.sink.deliver(enqueued, context)

    (ticket,) = cw.ticket_ids()
    assert len(cw.messages[int(ticket)]) == 1
    assert cw.conversations[int(ticket)]["priority"] == "high"
    assert cw.conversations[int(ticket)]["labels"] == ["frontdesk", "frontdesk-email", "orders"]
    assert len(cw.calls("POST", CREATE_PATHS["chatwoot"])) == 1


# -- assignment and states ------------------------------------------------------------------------

ASSIGNEES = {"zammad": 12, "chatwoot": 21, "zendesk": 901}


async def test_acceptance_sets_the_mapped_assignee(desk, store, agents, redis, keys, context):
    rid, ticket = await created(desk, store, redis, keys, context)
    accepted = await accepted_by(store, agents, redis, keys, rid, "ann")

    assert desk.sink.wants(accepted)
    await desk.sink.deliver(accepted, context)

    assert desk.standin.assignee(ticket) == ASSIGNEES[desk.kind]


async def test_direct_assignment_of_a_request_without_ticket_creates_it_first(
    desk, store, agents, redis, keys, context
):
    rid = await new_request(store)
    await add_agent(agents, "bob")
    await store.assign(rid, "bob")
    assigned = await event(redis, keys, rid, EventType.ASSIGNED)

    await desk.sink.deliver(assigned, context)

    (ticket,) = desk.standin.ticket_ids()
    bob = {"zammad": 15, "chatwoot": 22, "zendesk": 902}[desk.kind]
    assert desk.standin.assignee(ticket) == bob


async def test_an_agent_with_no_mapping_is_undeliverable_and_sends_nothing(
    desk, store, agents, redis, keys, context
):
    rid, ticket = await created(desk, store, redis, keys, context)
    accepted = await accepted_by(store, agents, redis, keys, rid, "cy")
    calls = len(desk.standin.received)

    with pytest.raises(Undeliverable, match=r"agent 'cy' has no user id under helpdesks\["):
        await desk.sink.deliver(accepted, context)

    assert len(desk.standin.received) == calls
    assert desk.standin.assignee(ticket) is None


async def test_unmapped_agent_skip_acknowledges_without_sending(
    desk, store, agents, redis, keys, context
):
    sink = desk.connector(extra="    unmapped_agent: skip\n")
    rid = await new_request(store)
    await sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)
    accepted = await accepted_by(store, agents, redis, keys, rid, "cy")
    calls = len(desk.standin.received)

    await sink.deliver(accepted, context)

    assert len(desk.standin.received) == calls


UNKNOWN_USER = {
    "zammad": r"422: Invalid value for param 'owner_id': 999",
    "chatwoot": r"has no agent with id 999 \(the assignment answered null\)",
    "zendesk": r"422: RecordInvalid; Record validation errors; .*Assignee: is not an agent",
}


async def test_a_mapped_user_the_helpdesk_does_not_know_is_undeliverable(
    desk, store, agents, redis, keys, context
):
    rid, _ = await created(desk, store, redis, keys, context)
    accepted = await accepted_by(store, agents, redis, keys, rid, "dan")

    with pytest.raises(Undeliverable, match=UNKNOWN_USER[desk.kind]):
        await desk.sink.deliver(accepted, context)


async def test_assignment_of_a_ticket_deleted_in_the_helpdesk_is_undeliverable(
    desk, store, agents, redis, keys, context
):
    rid, ticket = await created(desk, store, redis, keys, context)
    desk.standin.delete(ticket)
    accepted = await accepted_by(store, agents, redis, keys, rid, "ann")

    with pytest.raises(Undeliverable, match="answered 404"):
        await desk.sink.deliver(accepted, context)


async def test_completion_sets_the_configured_state(desk, store, agents, redis, keys, context):
    rid, ticket = await created(desk, store, redis, keys, context)
    await accepted_by(store, agents, redis, keys, rid, "ann")
    await store.complete(rid, "ann", "refunded")
    completed = await event(redis, keys, rid, EventType.COMPLETED)

    await desk.sink.deliver(completed, context)

    assert desk.standin.state(ticket) == STATES[desk.kind]


async def test_a_survey_score_goes_on_the_ticket(desk, store, agents, redis, keys, context):
    """feedback.received: a tag (Zendesk) and an internal note (Zammad article, Zendesk comment,
    Chatwoot private message) carrying the score, the dimensions and the comment."""
    rid, ticket = await created(desk, store, redis, keys, context)
    await accepted_by(store, agents, redis, keys, rid, "ann")
    await store.complete(rid, "ann", "refunded")
    await store.feedback.answer(rid, 2, {"speed": 1}, "took days", "page",
                                Scoring(86400, 0, 60, 6), None)  # fmt: skip
    answered = await event(redis, keys, rid, EventType.FEEDBACK)
    assert desk.sink.wants(answered)

    await desk.sink.deliver(answered, context)

    standin: Any = desk.standin
    if desk.kind == "zammad":
        notes = [a for a in standin.articles[int(ticket)] if a.get("internal")]
    elif desk.kind == "zendesk":
        assert "csat-2" in standin.tickets[int(ticket)]["tags"]
        notes = [c for c in standin.comments[int(ticket)] if c["public"] is False]
    else:
        notes = [m for m in standin.messages[int(ticket)] if m["private"]]
    [note] = notes
    text = note.get("body") or note.get("content")
    assert "Customer satisfaction: 2/5" in text and "took days" in text and "speed" in text


async def test_without_states_endings_and_offers_are_not_wanted(
    aiohttp_server, opened, store, agents, redis, keys
):
    zammad = await start(aiohttp_server, opened, "zammad")
    text = f"""\
helpdesks:
  - {{name: z, kind: zammad, url: "{zammad.url}", token: t, group: Users}}
"""
    sink = create_sink(parse(text)[0])
    rid = await new_request(store)
    await add_agent(agents, "ann")
    await store.offer(rid, "ann", 60)
    await store.abandon(rid, "customer left")
    wanted = {
        e.type: sink.wants(e) for e in await EventLog(redis, keys).range() if e.request == rid
    }

    assert wanted == {
        EventType.ENQUEUED: True,
        EventType.OFFERED: False,
        EventType.ABANDONED: False,
    }


async def test_a_request_gone_from_frontdesk_is_undeliverable(desk, store, redis, keys, context):
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)
    await redis.delete(keys.request(rid))

    with pytest.raises(Undeliverable, match=f"request {rid} is no longer in frontdesk"):
        await desk.sink.deliver(enqueued, context)
    assert desk.standin.received == []


# -- failures -------------------------------------------------------------------------------------


async def test_refused_credentials_are_undeliverable(desk, store, redis, keys, context):
    sink = desk.connector(token="wrong")
    rid = await new_request(store)

    with pytest.raises(Undeliverable, match=r"answered 401, the credentials were refused"):
        await sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)

    assert desk.standin.ticket_ids() == []


RATE_LIMITS = {"zammad": ("30", 30.0), "chatwoot": (None, None), "zendesk": ("7", 7.0)}


async def test_rate_limiting_is_retry_later_after_the_far_ends_delay(
    desk, store, redis, keys, context
):
    header, expected = RATE_LIMITS[desk.kind]
    standin = desk.standin
    if isinstance(standin, ChatwootStandIn):
        standin.rate_limited()  # rack-attack's answer: no Retry-After
    elif isinstance(standin, ZendeskStandIn):
        standin.rate_limited(7)
    else:
        standin.fail(429, body={"error": "Too Many Requests"}, headers={"Retry-After": header})
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)

    with pytest.raises(RetryLater, match="answered 429") as caught:
        await desk.sink.deliver(enqueued, context)
    assert caught.value.after_s == expected

    await desk.sink.deliver(enqueued, context)
    assert len(desk.standin.ticket_ids()) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retry_later_and_the_retry_creates_one_ticket(
    desk, store, redis, keys, context, status
):
    headers = {"Retry-After": "120"} if status == 503 else {}
    desk.standin.fail(status, method="POST", path=CREATE_PATHS[desk.kind], headers=headers)
    rid = await new_request(store)
    enqueued = await event(redis, keys, rid, EventType.ENQUEUED)

    with pytest.raises(RetryLater, match=f"answered {status}") as caught:
        await desk.sink.deliver(enqueued, context)
    assert caught.value.after_s == (120.0 if status == 503 else None)
    assert desk.standin.ticket_ids() == []

    await desk.sink.deliver(enqueued, context)
    assert len(desk.standin.ticket_ids()) == 1


REFUSED_EMAIL = {
    "zammad": "422: Invalid email 'not-an-email' of customer",
    "chatwoot": "422: Email Invalid email",
    "zendesk": "422: RecordInvalid; Record validation errors; .*Requester: Email not-an-email",
}


async def test_a_payload_the_helpdesk_refuses_is_undeliverable(desk, store, redis, keys, context):
    rid = await new_request(store, customer=Customer(name="X", email="not-an-email"))

    with pytest.raises(Undeliverable, match=REFUSED_EMAIL[desk.kind]):
        await desk.sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)

    assert desk.standin.ticket_ids() == []


async def test_zammad_refuses_a_priority_it_does_not_define(
    aiohttp_server, opened, store, redis, keys, context
):
    desk = await desk_of("zammad", aiohttp_server, opened)
    sink = desk.connector(extra="    priorities: {high: urgent}\n")
    rid = await new_request(store)

    with pytest.raises(Undeliverable, match="""No lookup value found for 'priority': "urgent\""""):
        await sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)
    await desk.sink.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_is_retry_later(desk, store, redis, keys, context):
    sink = desk.connector(url=f"http://127.0.0.1:{free_port()}")
    rid = await new_request(store)

    with pytest.raises(RetryLater, match=r"cannot connect to http://127\.0\.0\.1:") as caught:
        await sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)

    assert caught.value.after_s is None


async def test_a_redirect_is_undeliverable_naming_the_url(desk, store, redis, keys, context):
    desk.standin.fail(301, headers={"Location": "https://elsewhere.example.com/"}, body="")
    rid = await new_request(store)

    with pytest.raises(Undeliverable, match=r"redirect to https://elsewhere.example.com/: check"):
        await desk.sink.deliver(await event(redis, keys, rid, EventType.ENQUEUED), context)


def test_retry_after_takes_seconds_or_a_date():
    assert retry_after_s("7") == 7.0
    assert retry_after_s(" 0 ") == 0.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 0 < (retry_after_s(later) or 0) <= 90
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=90), usegmt=True)
    assert retry_after_s(earlier) == 0.0


def test_error_text_keeps_what_each_helpdesk_says():
    assert error_text(b'{"error": "x", "error_human": "Y"}') == "Y; x"
    zendesk = b'{"error": "RecordInvalid", "description": "d", "details": {"a": [1]}}'
    assert error_text(zendesk) == 'RecordInvalid; d; {"a": [1]}'
    assert error_text(b'{"message": "Email is invalid", "attributes": ["email"]}') == (
        "Email is invalid"
    )
    assert error_text(b"Retry later\n") == "Retry later"
    assert error_text(b"") == "(no body)"


def test_tags_carry_no_spaces_or_commas():
    request = Request(id="FD-1", channel=Channel.CHAT, queue="q", category="account security")
    assert ticket_tags(request, ["a, b", "frontdesk"]) == [
        "frontdesk",
        "frontdesk-chat",
        "account_security",
        "a_b",
    ]


def test_the_ticket_text_names_the_attachments():
    files = (
        Attachment("发票.pdf", "application/pdf", 3 * 2**20 // 2),
        Attachment("a.txt", "text/plain", 12),
    )
    request = Request(id="FD-2", channel=Channel.EMAIL, queue="q", body="见附件", attachments=files)
    assert ticket_body(request) == "见附件\n\n[attachments: 发票.pdf (1.5 MB), a.txt (12 B)]"
    bare = Request(id="FD-3", channel=Channel.FORM, queue="q", subject="Parcel")
    assert ticket_body(bare) == "Parcel"


# -- config ---------------------------------------------------------------------------------------


def test_config_for_each_kind_with_defaults():
    text = """\
helpdesks:
  - name: zammad
    kind: zammad
    url: https://helpdesk.example.com/
    token: "zt"
    group: Users
    agents: {li.na: 12, wang.wei: 15}
    timeout: 10s
  - name: cw
    kind: chatwoot
    url: https://chat.example.com
    token: ct
    account_id: 1
    inbox_id: 4
    states: {completed: resolved, abandoned: resolved}
    priorities: {high: urgent}
  - name: zd
    kind: zendesk
    url: https://acme.zendesk.com
    email: bot@acme.com
    token: zdt
    unmapped_agent: skip
    tags: [desk-a]
"""
    zammad, cw, zd = parse(text, agent_ids={"li.na", "wang.wei"})
    assert (zammad.url, zammad.token) == ("https://helpdesk.example.com", "zt")
    assert zammad.timeout_s == 10
    assert zammad.agents == {"li.na": 12, "wang.wei": 15}
    assert zammad.priorities == {"high": "3 high", "medium": "2 normal", "low": "1 low"}
    assert zammad.states == {} and zammad.unmapped_agent == "dead_letter"
    assert cw.priorities == {"high": "urgent", "medium": "medium", "low": "low"}
    assert cw.states == {"completed": "resolved", "abandoned": "resolved"}
    assert (cw.options.account_id, cw.options.inbox_id) == (1, 4)
    assert zd.priorities == {"high": "high", "medium": "normal", "low": "low"}
    assert zd.options.email == "bot@acme.com"
    assert (zd.unmapped_agent, zd.tags) == ("skip", ("desk-a",))
    assert "zdt" not in repr(zd)


def test_token_file_is_read_relative_to_the_config(tmp_path: Path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "zammad.token").write_text("s3cret\n")
    text = """\
helpdesks:
  - {name: z, kind: zammad, url: "https://z.example.com", token_file: secrets/zammad.token,
     group: Users}
"""
    (settings,) = parse(text, source=str(tmp_path / "frontdesk.yaml"))
    assert settings.token == "s3cret"


BROKEN = """\
helpdesks:
  - name: zammad
    kind: zammad
    url: ftp://helpdesk.example.com
    token: t
    token_file: t.txt
    agents: {li.na: twelve, nobody: 3}
    timeout: soon
  - name: zammad
    kind: chatwoot
    url: https://chat.example.com
    token: t
    account_id: 0
    states: {completed: closed}
    colour: blue
  - name: zd
    kind: zendesk
    url: https://acme.zendesk.com
    token_file: missing.token
    priorities: {high: "3 high", urgent: high}
    ticket_type: bug
  - name: x
    kind: osticket
    url: https://x.example.com
  - just text
"""


def test_a_broken_helpdesks_section_reports_every_problem_with_path_and_line(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        parse(BROKEN, source=str(tmp_path / "fd.yaml"), agent_ids={"li.na"})
    found = [(p.line, render(p.path), p.message) for p in caught.value.problems]
    expected = [
        (2, "helpdesks[0].group", "must be a non-empty string, got nothing"),
        (4, "helpdesks[0].url", "must be an http:// or https:// address"),
        (5, "helpdesks[0].token", "give either token or token_file"),
        (7, "helpdesks[0].agents.li.na", "must be a whole number"),
        (7, "helpdesks[0].agents.nobody", "names no agent defined under agents"),
        (8, "helpdesks[0].timeout", "must be a duration"),
        (9, "helpdesks[1].name", "'zammad' is already helpdesks[0]"),
        (13, "helpdesks[1].account_id", "must be a whole number of at least 1, got 0"),
        (9, "helpdesks[1].inbox_id", "must be a whole number"),
        (14, "helpdesks[1].states.completed", "must be one of open, resolved, pending, snoozed"),
        (15, "helpdesks[1].colour", "unknown key; expected one of"),
        (19, "helpdesks[2].token_file", "cannot read"),
        (20, "helpdesks[2].priorities.high", "must be one of urgent, high, normal, low"),
        (20, "helpdesks[2].priorities.urgent", "unknown key; expected one of: high, low, medium"),
        (21, "helpdesks[2].ticket_type", "must be one of question, incident, problem, task"),
        (22, "helpdesks[3].token", "give either token or token_file"),
        (
            23,
            "helpdesks[3].kind",
            "must be one of zammad, chatwoot, zendesk, freshdesk, glpi, got 'osticket'",
        ),
        (25, "helpdesks[4]", "must be a mapping"),
    ]
    for line, where, text in expected:
        assert any(pl == line and pw == where and text in pm for pl, pw, pm in found), (
            f"missing {line} {where} {text!r} in {found}"
        )
    assert len(found) == len(expected), found
