"""Reopen: a customer's reply to a completed request, through our real SMTP channel (smtplib
against aiosmtpd on a loopback port) or in its chat conversation, with the real Front and a real
Redis. Within the channel's `reopen_within` the same request waits again, its last agent
preferred, with the event `reopened`; later, a new request linked to the old one. A reopened
request is not a first-contact resolution, in the completed event and in the reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from conftest import FRONT_CONFIG
from smtp_front import SMTP_SECTION as SMTP_FRONT
from smtp_front import mail, send, smtp_channel

from frontdesk.channels.base import Inbound
from frontdesk.channels.mail.smtp import SmtpChannel
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import ConfigError, render
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.intake.front import Front
from frontdesk.router.reports.figures import Basis, adds
from frontdesk.router.reports.tables import REPORTS
from frontdesk.router.routing.dispatcher import Dispatcher
from frontdesk.skills import Agent, Presence

SMTP_SECTION = SMTP_FRONT + "reopen_within: {email: 7d, chat: 30m}\n"


@pytest.fixture
def front_settings() -> Settings:
    return parse_settings(FRONT_CONFIG + SMTP_SECTION, "front.yaml")


@pytest.fixture
async def smtp(front: Front, front_settings: Settings) -> AsyncIterator[SmtpChannel]:
    async with smtp_channel(front_settings, front) as channel:
        yield channel


async def _events(store: QueueStore, kind: EventType) -> list[Event]:
    return [e for e in await EventLog(store.redis, store.keys).range() if e.type is kind]


async def _ann(agents: AgentStore) -> None:
    await agents.upsert(
        Agent(id="ann", name="Ann", capacity={c.value: 5 for c in Channel},
              presence=Presence.AVAILABLE)
    )  # fmt: skip


async def _completed_mail_request(smtp: SmtpChannel, store: QueueStore, agents: AgentStore) -> str:
    await _ann(agents)
    (rid,) = await send(smtp, mail("Cannot log in", "The reset link fails.", "<c1@example.com>"))
    await store.assign(rid, "ann")
    await store.complete(rid, "ann", "password_reset")
    (done,) = await _events(store, EventType.COMPLETED)
    assert done.data["fcr"] == "1"  # as it stands: solved by the first agent
    return rid


async def test_a_reply_within_the_window_reopens_the_request_for_its_last_agent(
    smtp: SmtpChannel, store: QueueStore, agents: AgentStore, front_settings: Settings
) -> None:
    rid = await _completed_mail_request(smtp, store, agents)
    reply = mail("Re: Cannot log in", "It broke again.", "<c2@example.com>",
                  In_Reply_To="<c1@example.com>")  # fmt: skip
    assert await send(smtp, reply) == [rid]  # the same request, not a new one

    record = await store.get(rid)
    assert record is not None and record.state is State.WAITING and record.agent is None
    assert record.request.preferred_agent == "ann"  # its last agent first
    assert await store.peek("email", 10) == [rid]
    assert "It broke again." in (await store.messages(rid))[-1].body
    (reopened,) = await _events(store, EventType.REOPENED)
    assert reopened.request == rid and reopened.agent == "ann" and reopened.queue == "email"
    assert int(reopened.data["since_ms"]) >= 0 and reopened.data["fcr"] == "1"
    assert await _events(store, EventType.ENQUEUED) != [] and all(
        e.request == rid for e in await _events(store, EventType.ENQUEUED)
    )
    # routed to its last agent first, though bob is as good and idle far longer
    await agents.upsert(Agent(id="bob", name="Bob", capacity={c.value: 5 for c in Channel},
                              presence=Presence.AVAILABLE))  # fmt: skip
    an_hour_ago = await store.now_ms() - 3_600_000
    await store.redis.hset(store.keys.agent("bob"), "available_since_ms", an_hour_ago)
    await Dispatcher(store, agents, lambda: front_settings).round()
    record = await store.get(rid)
    assert record is not None and record.state is State.ASSIGNED and record.agent == "ann"
    # its second completion is not a first-contact resolution
    await store.complete(rid, "ann", "password_reset")
    assert [e.data["fcr"] for e in await _events(store, EventType.COMPLETED)] == ["1", "0"]


async def test_the_reports_count_a_reopen_and_take_back_its_first_contact(
    smtp: SmtpChannel, store: QueueStore, agents: AgentStore
) -> None:
    rid = await _completed_mail_request(smtp, store, agents)
    reply = mail("Re: Cannot log in", "Still broken.", "<c3@example.com>",
                  In_Reply_To="<c1@example.com>")  # fmt: skip
    assert await send(smtp, reply) == [rid]
    total: Counter[str] = Counter()  # the figures the real events add (router/reports)
    for event in await EventLog(store.redis, store.keys).range():
        for add in adds(event, Basis()):
            if add.target == "h" and isinstance(add.value, int):
                total[add.field] += add.value
    (overview,) = REPORTS["overview"](total, "all")
    assert overview["completed"] == 1 and overview["reopened"] == 1
    assert overview["fcr_rate"] == 0  # the one completion was reopened: not first contact
    (row,) = REPORTS["fcr"](total, "agent")
    assert row == {"agent": "ann", "completed": 1, "first_contact": 0, "fcr_rate": 0,
                   "reopened": 1}  # fmt: skip


async def test_a_reply_after_the_window_opens_a_new_request_linked_to_the_old(
    smtp: SmtpChannel, store: QueueStore, agents: AgentStore
) -> None:
    rid = await _completed_mail_request(smtp, store, agents)
    eight_days_ago = await store.now_ms() - 8 * 86_400_000
    await store.redis.hset(store.keys.request(rid), "closed_ms", eight_days_ago)
    reply = mail("Re: Cannot log in", "Same problem, new phone.", "<c4@example.com>",
                  In_Reply_To="<c1@example.com>")  # fmt: skip
    (new,) = await send(smtp, reply)
    assert new != rid
    old = await store.get(rid)
    assert old is not None and old.state is State.COMPLETED
    assert await store.redis.hget(store.keys.request(new), "previous") == rid.encode()
    (enqueued,) = [e for e in await _events(store, EventType.ENQUEUED) if e.request == new]
    assert enqueued.data["previous"] == rid
    assert await _events(store, EventType.REOPENED) == []


async def test_an_auto_reply_never_reopens(
    smtp: SmtpChannel, store: QueueStore, agents: AgentStore
) -> None:
    rid = await _completed_mail_request(smtp, store, agents)
    ooo = mail("Out of Office", "Away.", "<ooo@example.com>", In_Reply_To="<c1@example.com>",
                Auto_Submitted="auto-replied")  # fmt: skip
    assert await send(smtp, ooo) == []
    record = await store.get(rid)
    assert record is not None and record.state is State.COMPLETED
    assert await _events(store, EventType.REOPENED) == []
    assert len(await _events(store, EventType.AUTO_REPLY_DROPPED)) == 1


async def test_a_chat_message_in_the_conversation_of_a_completed_request_reopens_it(
    front: Front, store: QueueStore, agents: AgentStore
) -> None:
    await _ann(agents)
    start = Request("", Channel.CHAT, "", external_id="conv1:start", body="Where is my order?",
                    customer=Customer(email="li@example.com"))  # fmt: skip
    receipt = await front.receive(Inbound(start, thread_keys=("chat:conv1",)))
    rid = receipt.request_id
    await store.assign(rid, "ann")
    await store.complete(rid, "ann", "answered")
    again = Request("", Channel.CHAT, "", external_id="conv1:m2", body="One more question",
                    customer=Customer(id=receipt.customer_id))  # fmt: skip
    # as the chat channel sends a conversation's message (channels/chat/conversations.py)
    reply = await front.receive(Inbound(again, thread_refs=("chat:conv1",), join_only=True))
    assert not reply.closed and reply.request_id == rid
    record = await store.get(rid)
    assert record is not None and record.state is State.WAITING
    assert record.request.preferred_agent == "ann"
    (reopened,) = await _events(store, EventType.REOPENED)
    assert reopened.request == rid and reopened.data["channel"] == "chat"


def test_reopen_within_is_checked_with_its_path_and_line() -> None:
    text = FRONT_CONFIG + "reopen_within:\n  email: soon\n  chat: 400d\n  fax: 1h\n"
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "bad.yaml")
    found = {(render(p.path), p.line) for p in caught.value.problems}
    first = text.count("\n", 0, text.index("reopen_within:")) + 1
    assert found == {
        ("reopen_within.email", first + 1),
        ("reopen_within.chat", first + 2),
        ("reopen_within.fax", first + 3),
    }
    defaults = parse_settings(FRONT_CONFIG, "ok.yaml").reopen_within
    assert defaults == {"email": 259200.0, "chat": 1800.0, "phone": 0.0, "social": 259200.0,
                        "form": 259200.0}  # fmt: skip
