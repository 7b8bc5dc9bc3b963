"""Auto-replies and list mail never become work: through our real SMTP channel (Python's
smtplib against aiosmtpd on a loopback port), the real Front and a real Redis. One that answers
a request is attached to it as a message marked auto (it resumes nothing, reopens nothing, is
not the customer speaking); one that answers nothing is acknowledged (250), kept out of every
queue and recorded as the event auto_reply.dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from conftest import FRONT_CONFIG
from smtp_front import SMTP_SECTION, mail, send, smtp_channel

from frontdesk.channels.mail.smtp import SmtpChannel
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.request import Channel
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.intake.front import Front
from frontdesk.skills import Agent, Presence

NOTICE_ID = "<notice.1@frontdesk.test>"  # the Message-ID of a notice we sent for the request


@pytest.fixture
def front_settings() -> Settings:
    return parse_settings(FRONT_CONFIG + SMTP_SECTION, "front.yaml")


@pytest.fixture
async def smtp(front: Front, front_settings: Settings) -> AsyncIterator[SmtpChannel]:
    async with smtp_channel(front_settings, front) as channel:
        yield channel


async def _events(store: QueueStore) -> list[Event]:
    return await EventLog(store.redis, store.keys).range()


async def _first_request(smtp: SmtpChannel, front: Front) -> str:
    (rid,) = await send(smtp, mail("Cannot log in", "The reset link fails.", "<c1@example.com>"))
    await front.customers.remember((f"email:{NOTICE_ID.strip('<>')}",), rid)  # our notice
    return rid


async def test_an_auto_reply_to_our_notice_attaches_and_resumes_nothing(
    smtp: SmtpChannel, front: Front, store: QueueStore, agents: AgentStore
) -> None:
    rid = await _first_request(smtp, front)
    await agents.upsert(
        Agent(id="ann", name="Ann", capacity={c.value: 5 for c in Channel},
              presence=Presence.AVAILABLE)
    )  # fmt: skip
    await store.assign(rid, "ann")
    await store.sla.pend(rid, "ann", False, "which account?", True)  # waits on the customer
    ooo = mail(
        "自动回复: Re: Cannot log in", "我正在休假,1 月 3 日回来。", "<ooo-1@example.com>",
        Auto_Submitted="auto-replied", In_Reply_To=NOTICE_ID,
    )  # fmt: skip
    assert await send(smtp, ooo) == [rid]  # attached to the request it answers

    (message,) = await store.messages(rid)
    assert message.auto == "auto-replied" and "休假" in message.body
    record = await store.get(rid)
    assert record is not None and record.state is State.PENDING_CUSTOMER  # not the customer
    assert record.agent == "ann"
    kinds = [e.type for e in await _events(store) if e.request == rid]
    assert EventType.RESUMED not in kinds
    (event,) = [e for e in await _events(store) if e.type is EventType.MESSAGE]
    assert event.data["auto"] == "auto-replied"
    # and a real answer from the customer still resumes it
    human = mail("Re: Cannot log in", "The account is li@example.com.", "<c2@example.com>",
                  In_Reply_To=NOTICE_ID)  # fmt: skip
    assert await send(smtp, human) == [rid]
    record = await store.get(rid)
    assert record is not None and record.state is State.ASSIGNED
    assert [m.auto for m in await store.messages(rid)] == ["auto-replied", None]


async def test_an_auto_reply_to_a_waiting_request_makes_no_new_work(
    smtp: SmtpChannel, front: Front, store: QueueStore
) -> None:
    rid = await _first_request(smtp, front)
    ooo = mail("Out of Office", "Back Monday.", "<ooo-2@example.com>", X_Autoreply="yes",
                References=f"<c1@example.com> {NOTICE_ID}")  # fmt: skip
    assert await send(smtp, ooo) == [rid]
    assert await store.peek("email", 10) == [rid]  # nothing new for any agent to be offered
    assert [m.auto for m in await store.messages(rid)] == ["auto-replied"]
    enqueued = [e for e in await _events(store) if e.type is EventType.ENQUEUED]
    assert [e.request for e in enqueued] == [rid]


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "li@example.com", "auto-replied"),
        ({"Auto_Submitted": "auto-generated"}, "li@example.com", "auto-generated"),
        ({"X_Autorespond": "yes"}, "li@example.com", "auto-replied"),
        ({"X_Auto_Response_Suppress": "OOF"}, "li@example.com", "auto-replied"),
        ({"Precedence": "bulk"}, "li@example.com", "bulk"),
        ({"Precedence": "auto_reply"}, "li@example.com", "auto_reply"),
        ({"List_Id": "<news.example.com>"}, "li@example.com", "list"),
        ({"List_Unsubscribe": "<mailto:leave@example.com>"}, "li@example.com", "list"),
        ({}, "", "null-sender"),  # MAIL FROM:<>
    ],
    ids=[
        "auto-replied",
        "auto-generated",
        "x-autorespond",
        "suppress",
        "bulk",
        "auto_reply",
        "list-id",
        "list-unsubscribe",
        "null-sender",
    ],
)
async def test_an_auto_reply_answering_nothing_is_acknowledged_and_kept_out(
    smtp: SmtpChannel,
    front: Front,
    store: QueueStore,
    headers: dict[str, str],
    sender: str,
    reason: str,
) -> None:
    away = mail("Out of Office", "I am away.", "<away@example.com>",
                In_Reply_To="<unknown@elsewhere.example>", **headers)  # fmt: skip
    assert await send(smtp, away, sender) == []  # 250, and no request
    assert await store.peek("email", 10) == [] and await store.peek("general", 10) == []
    events = await _events(store)
    assert EventType.ENQUEUED not in [e.type for e in events]
    (dropped,) = [e for e in events if e.type is EventType.AUTO_REPLY_DROPPED]
    assert dropped.data["reason"] == reason and dropped.data["channel"] == "email"
    assert dropped.data["from"] == "email:li@example.com"
    assert await CustomerStore(store).find("email:li@example.com") is None  # nothing half-made
