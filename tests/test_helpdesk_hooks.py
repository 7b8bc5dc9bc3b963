"""Two-way helpdesk sync: the helpdesks' own webhooks (a Zendesk trigger, a Zammad trigger, a
Chatwoot webhook) POSTed signed by a real HTTP client to the running API apply back to the
request, and the connector never writes what it caused back to the ticket (no loop); and every
follow-up message, agent reply, escalation and transfer reaches the ticket. Real Redis, real
HTTP, the helpdesks as local stand-ins (tests/helpdesk_standins.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from api_services import services
from helpdesk_standins import ChatwootStandIn, ZammadStandIn, ZendeskStandIn
from test_helpdesks import accepted_by, add_agent, event, new_request

from frontdesk.channels.base import Inbound
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.request import Channel, Customer, Message, Request
from frontdesk.queues.states import State
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.api.app import create_app
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.outbound.helpdesks.base import HelpdeskSink
from frontdesk.router.outbound.helpdesks.config import create_sink
from frontdesk.router.outbound.helpdesks.notes import note_text, origin_of
from frontdesk.router.outbound.sinks import DeliveryContext

SECRET = "hook-secret-1"
CONFIG = """\
tenant: test
skills: [billing]
queues:
  general: {{escalate_to: tier2}}
  tier2: {{tier: 2}}
default_queue: general
agents:
  - {{id: ann, skills: {{billing: 3}}, capacity: {{email: 5}}, presence: available}}
  - {{id: bob, skills: {{billing: 3}}, capacity: {{email: 5}}, presence: available}}
helpdesks:
  - name: zendesk
    kind: zendesk
    url: {zendesk}
    email: api@example.com
    token: zd-token
    agents: {{ann: 901, bob: 902}}
    states: {{completed: solved}}
    webhook_secret: {secret}
  - name: zammad
    kind: zammad
    url: {zammad}
    token: zammad-token
    group: Users
    agents: {{ann: 12, bob: 15}}
    states: {{completed: closed}}
    webhook_secret: {secret}
  - name: chatwoot
    kind: chatwoot
    url: {chatwoot}
    token: cw-token
    account_id: 3
    inbox_id: 7
    agents: {{ann: 21, bob: 22}}
    states: {{completed: resolved}}
    webhook_secret: {secret}
"""
KINDS = {"zendesk": ZendeskStandIn, "zammad": ZammadStandIn, "chatwoot": ChatwootStandIn}


@pytest.fixture
async def world(aiohttp_server, aiohttp_client, redis, store, agents):
    """The three stand-ins, the API app configured for them (its HTTP client), and one
    connector (sink) per helpdesk."""
    standins = {}
    for name, kind in KINDS.items():
        standin = kind()
        server = await aiohttp_server(standin.app(), host="127.0.0.1")
        standin.url = str(server.make_url("")).rstrip("/")
        standins[name] = standin
    text = CONFIG.format(secret=SECRET, **{n: s.url for n, s in standins.items()})
    settings = parse_settings(text, "hooks.yaml")
    client = await aiohttp_client(create_app(await services(settings, redis, store, agents)))
    sinks = {h.name: create_sink(h) for h in settings.helpdesks}
    yield World(client, standins, sinks, DeliveryContext(store, agents))
    for standin in standins.values():
        standin.release.set()
    for sink in sinks.values():
        await sink.aclose()


class World:
    def __init__(self, client, standins, sinks, context) -> None:
        self.client = client
        self.standins = standins
        self.sinks: dict[str, HelpdeskSink] = sinks
        self.context = context

    async def deliver_all(self, name: str, request_id: str, after: str = "-") -> None:
        """Every event of the request (after stream id `after`) through connector `name`."""
        log = EventLog(self.context.store.redis, self.context.store.keys)
        for e in await log.range(after):
            if e.request == request_id and e.id != after:
                await self.sinks[name].deliver(e, self.context)


def zendesk_headers(body: bytes, secret: str = SECRET, at: datetime | None = None) -> dict:
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def zammad_headers(body: bytes, secret: str = SECRET) -> dict:
    mac = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={mac}", "Content-Type": "application/json"}


def chatwoot_headers(body: bytes, secret: str = SECRET) -> dict:
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Chatwoot-Signature": f"sha256={mac}", "X-Chatwoot-Timestamp": stamp,
            "Content-Type": "application/json"}  # fmt: skip


async def held_with_ticket(world: World, name: str, store, agents, redis, keys) -> tuple[str, str]:
    """A request accepted by ann, its ticket created and assigned in helpdesk `name`."""
    rid = await new_request(store)
    await accepted_by(store, agents, redis, keys, rid, "ann")
    await world.deliver_all(name, rid)
    ticket = await TicketMap(redis, keys, name).ticket(rid)
    assert ticket is not None
    return rid, ticket


# -- inbound: closing, reassigning, refusing ------------------------------------------------


async def test_a_zendesk_trigger_solving_the_ticket_completes_the_request_without_a_loop(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "zendesk", store, agents, redis, keys)
    zendesk = world.standins["zendesk"]
    assert zendesk.assignee(ticket) == 901
    zendesk.tickets[int(ticket)]["status"] = "solved"  # an agent solved it in Zendesk
    before = len(zendesk.received)
    body = json.dumps({"ticket_id": ticket, "status": "Solved", "assignee_id": "901"}).encode()

    reply = await world.client.post(
        "/v1/helpdesks/zendesk/webhook", data=body, headers=zendesk_headers(body)
    )

    assert reply.status == 200, await reply.text()
    assert await reply.json() == {"request": rid, "applied": "completed", "agent": "ann"}
    record = await store.get(rid)
    assert record.state is State.COMPLETED
    completed = await event(redis, keys, rid, EventType.COMPLETED)
    assert completed.agent == "ann" and completed.data["origin"] == "helpdesk:zendesk"
    # the connector sees the completion and does not PUT the ticket again (no loop) ...
    await world.sinks["zendesk"].deliver(completed, world.context)
    assert zendesk.received[before:] == []
    assert zendesk.state(ticket) == "solved"
    # ... while another helpdesk's connector still writes it (it did not cause it)
    assert world.sinks["zammad"].wants(completed)
    # the same trigger again changes nothing
    again = await world.client.post(
        "/v1/helpdesks/zendesk/webhook", data=body, headers=zendesk_headers(body)
    )
    assert (await again.json())["applied"] == "nothing"
    assert len([e for e in await EventLog(redis, keys).range()
                if e.type is EventType.COMPLETED]) == 1  # fmt: skip


async def test_an_agents_own_completion_is_still_written_to_zendesk(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "zendesk", store, agents, redis, keys)
    await store.complete(rid, "ann")
    completed = await event(redis, keys, rid, EventType.COMPLETED)
    assert "origin" not in completed.data
    await world.sinks["zendesk"].deliver(completed, world.context)
    assert world.standins["zendesk"].state(ticket) == "solved"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Zendesk-Webhook-Signature": "AAAA", "X-Zendesk-Webhook-Signature-Timestamp": "x"},
        "wrong-secret",
        "stale",
    ],
)
async def test_a_zendesk_webhook_with_a_bad_signature_is_401_and_changes_nothing(
    world, store, agents, redis, keys, headers
):
    rid, ticket = await held_with_ticket(world, "zendesk", store, agents, redis, keys)
    body = json.dumps({"ticket_id": ticket, "status": "solved"}).encode()
    if headers == "wrong-secret":
        headers = zendesk_headers(body, secret="not-it")
    elif headers == "stale":
        headers = zendesk_headers(body, at=datetime.now(UTC) - timedelta(hours=1))
    reply = await world.client.post("/v1/helpdesks/zendesk/webhook", data=body, headers=headers)
    assert reply.status == 401
    error = (await reply.json())["error"]
    assert error["code"] == "bad_signature"
    assert error["field"].startswith("X-Zendesk-Webhook-Signature")
    assert (await store.get(rid)).state is State.ASSIGNED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1]", "body"),
        (b'{"status": "solved"}', "ticket_id"),
        (b'{"ticket_id": "1", "status": 5}', "status"),
        (b'{"ticket_id": "1", "assignee_id": "bob"}', "assignee_id"),
        (b'{"detail": {"status": "SOLVED"}}', "detail.id"),
    ],
)
async def test_a_malformed_zendesk_body_is_400_naming_the_field(world, body, field):
    reply = await world.client.post(
        "/v1/helpdesks/zendesk/webhook", data=body, headers=zendesk_headers(body)
    )
    assert reply.status == 400
    assert (await reply.json())["error"]["field"] == field


async def test_a_ticket_that_is_no_request_of_ours_is_202_ignored(world):
    body = json.dumps({"ticket_id": "424242", "status": "solved"}).encode()
    reply = await world.client.post(
        "/v1/helpdesks/zendesk/webhook", data=body, headers=zendesk_headers(body)
    )
    assert reply.status == 202
    assert await reply.json() == {"ignored": "unknown_ticket", "ticket": "424242"}


async def test_an_unknown_helpdesk_is_404(world):
    reply = await world.client.post("/v1/helpdesks/nope/webhook", data=b"{}")
    assert reply.status == 404
    assert (await reply.json())["error"]["field"] == "name"


async def test_a_zendesk_event_subscription_reassigning_moves_the_request(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "zendesk", store, agents, redis, keys)
    await add_agent(agents, "bob")
    body = json.dumps(
        {
            "type": "zen:event-type:ticket.agent_assignment_changed",
            "detail": {"id": ticket, "status": "OPEN", "assignee_id": "902"},
        }
    ).encode()
    sent_before = len(world.standins["zendesk"].received)
    reply = await world.client.post(
        "/v1/helpdesks/zendesk/webhook", data=body, headers=zendesk_headers(body)
    )
    assert reply.status == 200, await reply.text()
    assert await reply.json() == {"request": rid, "applied": "moved", "agent": "bob"}
    record = await store.get(rid)
    assert record.agent == "bob" and record.state is State.ASSIGNED
    moved = await event(redis, keys, rid, EventType.TRANSFERRED)
    assert moved.data["origin"] == "helpdesk:zendesk"
    assigned = await event(redis, keys, rid, EventType.ASSIGNED)
    # neither the transfer nor the new assignment goes back to Zendesk
    for e in (moved, assigned):
        await world.sinks["zendesk"].deliver(e, world.context)
    assert world.standins["zendesk"].received[sent_before:] == []


async def test_a_zammad_trigger_closing_the_ticket_completes_the_request(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "zammad", store, agents, redis, keys)
    body = json.dumps({"ticket": {"id": int(ticket), "state": "closed", "owner_id": 12},
                       "article": {}}).encode()  # fmt: skip
    bad = await world.client.post(
        "/v1/helpdesks/zammad/webhook", data=body, headers=zammad_headers(body, "x")
    )
    assert bad.status == 401 and (await bad.json())["error"]["field"] == "X-Hub-Signature"
    reply = await world.client.post(
        "/v1/helpdesks/zammad/webhook", data=body, headers=zammad_headers(body)
    )
    assert reply.status == 200, await reply.text()
    assert (await store.get(rid)).state is State.COMPLETED
    completed = await event(redis, keys, rid, EventType.COMPLETED)
    assert not world.sinks["zammad"].wants(completed)


async def test_a_chatwoot_webhook_resolving_completes_and_other_events_are_ignored(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "chatwoot", store, agents, redis, keys)
    created = json.dumps({"event": "message_created", "id": 5}).encode()
    reply = await world.client.post(
        "/v1/helpdesks/chatwoot/webhook", data=created, headers=chatwoot_headers(created)
    )
    assert reply.status == 202 and (await reply.json())["ignored"] == "event"
    body = json.dumps(
        {
            "event": "conversation_status_changed",
            "id": int(ticket),
            "status": "resolved",
            "meta": {"assignee": {"id": 21}},
        }
    ).encode()
    reply = await world.client.post(
        "/v1/helpdesks/chatwoot/webhook", data=body, headers=chatwoot_headers(body)
    )
    assert reply.status == 200, await reply.text()
    assert (await store.get(rid)).state is State.COMPLETED


# -- outbound: the conversation on the ticket ------------------------------------------------


async def test_messages_replies_and_escalations_reach_every_ticket(
    world, store, agents, redis, keys
):
    rid = await new_request(store)
    await accepted_by(store, agents, redis, keys, rid, "ann")
    await store.append_message(rid, Message("It happened again today.", "customer"))
    await store.append_message(rid, Message("Refund sent, sorry about that.", "agent"))
    await store.transfer(rid, None, "wrong desk")
    await store.escalate(rid, "tier2", "needs a supervisor")
    for name in KINDS:
        await world.deliver_all(name, rid)
        await world.deliver_all(name, rid)  # a repeated delivery posts nothing twice
    zendesk = world.standins["zendesk"]
    (zd_ticket,) = zendesk.tickets
    comments = zendesk.comments[zd_ticket]
    assert [(c["body"], c["public"]) for c in comments[:2]] == [
        ("It happened again today.", True),
        ("Refund sent, sorry about that.", True),
    ]
    assert comments[0]["author_id"] == zendesk.tickets[zd_ticket]["requester_id"]
    assert "author_id" not in comments[1]
    assert comments[2] == {"body": "frontdesk: transferred by ann from general to general\n"
                                   "Reason: wrong desk", "public": False}  # fmt: skip
    assert comments[3]["public"] is False and "tier2" in comments[3]["body"]
    assert "needs a supervisor" in comments[3]["body"]
    assert len(comments) == 4

    zammad = world.standins["zammad"]
    (zm_ticket,) = zammad.tickets
    articles = zammad.articles[zm_ticket][1:]  # after the first one, made with the ticket
    assert [(a["body"], a["sender"], a["internal"]) for a in articles[:2]] == [
        ("It happened again today.", "Customer", False),
        ("Refund sent, sorry about that.", "Agent", False),
    ]
    assert articles[2]["internal"] is True and "wrong desk" in articles[2]["body"]
    assert articles[3]["internal"] is True and "needs a supervisor" in articles[3]["body"]
    assert len(articles) == 4

    chatwoot = world.standins["chatwoot"]
    (cw_ticket,) = chatwoot.conversations
    messages = chatwoot.messages[cw_ticket][1:]  # after the customer's first words
    assert [(m["content"], m["message_type"], m["private"]) for m in messages[:2]] == [
        ("It happened again today.", 0, False),
        ("Refund sent, sorry about that.", 1, False),
    ]
    assert messages[2]["private"] is True and "wrong desk" in messages[2]["content"]
    assert messages[3]["private"] is True and "needs a supervisor" in messages[3]["content"]
    assert len(messages) == 4


async def test_a_chatwoot_reassignment_moves_the_request_to_the_mapped_agent(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "chatwoot", store, agents, redis, keys)
    await add_agent(agents, "bob")
    body = json.dumps({"event": "conversation_updated", "id": int(ticket), "status": "open",
                       "meta": {"assignee": {"id": 22}}}).encode()  # fmt: skip
    reply = await world.client.post(
        "/v1/helpdesks/chatwoot/webhook", data=body, headers=chatwoot_headers(body)
    )
    assert await reply.json() == {"request": rid, "applied": "moved", "agent": "bob"}
    assert (await store.get(rid)).agent == "bob"
    nobody = {"assignee": {"id": 99}}
    unmapped = json.dumps({"event": "conversation_updated", "id": int(ticket), "status": "open",
                           "meta": nobody}).encode()  # fmt: skip
    reply = await world.client.post(
        "/v1/helpdesks/chatwoot/webhook", data=unmapped, headers=chatwoot_headers(unmapped)
    )
    assert reply.status == 202
    assert await reply.json() == {"ignored": "unmapped_assignee", "assignee": 99}
    assert (await store.get(rid)).agent == "bob"


def test_sla_notes_and_the_origin_of_an_assignment():
    due = {"policy": "email", "target": "first_response", "due": "1767225600000"}
    warning = Event("1-0", EventType.SLA_WARNING, "FD-1", "ann", "general", 0, due)
    assert note_text(warning) == (
        "frontdesk: SLA warning: first_response of policy email, due 2026-01-01 00:00:00 UTC"
    )
    assigned = Event("2-0", EventType.ASSIGNED, "FD-1", "bob", "general", 0,
                     {"why": json.dumps({"origin": "helpdesk:zendesk"})})  # fmt: skip
    assert origin_of(assigned) == "helpdesk:zendesk"
    assert origin_of(Event("3-0", EventType.ASSIGNED, "FD-1", "bob", "general", 0,
                           {"why": "{not json"})) == ""  # fmt: skip


async def test_the_webhook_is_described_in_the_openapi_document(world):
    reply = await world.client.get("/v1/openapi.json")
    post = (await reply.json())["paths"]["/v1/helpdesks/{name}/webhook"]["post"]
    assert post["operationId"] == "helpdeskWebhook" and "security" not in post
    assert {"200", "400", "401", "404"} <= set(post["responses"])


async def test_closing_the_ticket_of_a_waiting_request_is_202_not_held(world, store, redis, keys):
    rid = await new_request(store)
    await world.deliver_all("zammad", rid)
    ticket = await TicketMap(redis, keys, "zammad").ticket(rid)
    body = json.dumps({"ticket": {"id": int(ticket), "state": "closed"}}).encode()
    reply = await world.client.post(
        "/v1/helpdesks/zammad/webhook", data=body, headers=zammad_headers(body)
    )
    assert reply.status == 202
    assert await reply.json() == {"ignored": "not_held", "request": rid, "state": "waiting"}
    assert (await store.get(rid)).state is State.WAITING
    malformed = json.dumps({"ticket": {"state": "closed"}}).encode()
    reply = await world.client.post(
        "/v1/helpdesks/zammad/webhook", data=malformed, headers=zammad_headers(malformed)
    )
    assert reply.status == 400 and (await reply.json())["error"]["field"] == "ticket.id"


async def test_a_reopening_message_goes_on_the_ticket_after_the_reopen_note(
    world, front, store, agents
):
    await add_agent(agents, "ann")
    start = Request("", Channel.CHAT, "", external_id="conv1:start", body="Where is my order?",
                    customer=Customer(email="li@example.com"))  # fmt: skip
    receipt = await front.receive(Inbound(start, thread_keys=("chat:conv1",)))
    rid = receipt.request_id
    await store.assign(rid, "ann")
    await store.complete(rid, "ann", "answered")
    await world.deliver_all("zendesk", rid)
    again = Request("", Channel.CHAT, "", external_id="conv1:m2", body="One more question",
                    customer=Customer(id=receipt.customer_id))  # fmt: skip
    await front.receive(Inbound(again, thread_refs=("chat:conv1",), join_only=True))
    await world.deliver_all("zendesk", rid)
    zendesk = world.standins["zendesk"]
    (ticket,) = zendesk.tickets
    note, message = zendesk.comments[ticket]
    assert note["public"] is False and note["body"].startswith("frontdesk: reopened")
    assert (message["body"], message["public"]) == ("One more question", True)


async def test_a_chatwoot_webhook_with_a_wrong_or_stale_signature_is_401(
    world, store, agents, redis, keys
):
    rid, ticket = await held_with_ticket(world, "chatwoot", store, agents, redis, keys)
    body = json.dumps({"event": "conversation_status_changed", "id": int(ticket),
                       "status": "resolved"}).encode()  # fmt: skip
    wrong = chatwoot_headers(body, secret="not-it")
    stamp = str(int(time.time()) - 3600)
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    stale = {"X-Chatwoot-Signature": f"sha256={mac}", "X-Chatwoot-Timestamp": stamp}
    for headers, header in ((wrong, "X-Chatwoot-Signature"), (stale, "X-Chatwoot-Timestamp")):
        reply = await world.client.post(
            "/v1/helpdesks/chatwoot/webhook", data=body, headers=headers
        )
        assert reply.status == 401
        assert (await reply.json())["error"]["field"] == header
    assert (await store.get(rid)).state is State.ASSIGNED
