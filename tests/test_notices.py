"""Customer notices, end to end: requests come in through the real Front (mail parsed by
channels.mail, social webhooks by their own parsers), the events are read back from the real
event log, and the notices go out to a real aiosmtpd relay on a loopback port and to local
stand-ins of the WhatsApp, Telegram, WeChat and Messenger send APIs (tests/notice_standins.py).
A reply to a notice comes back in through our own SMTP channel."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import smtplib
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FRONT_CONFIG
from notice_standins import (
    MessengerStandIn,
    PlatformStandIn,
    SmtpRelay,
    TelegramStandIn,
    WeChatStandIn,
    WhatsAppStandIn,
)

from frontdesk.channels.mail.parse import parse_email
from frontdesk.channels.mail.smtp import create as create_smtp
from frontdesk.channels.social import meta, telegram, wechat
from frontdesk.queues.agents import AgentStore
from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.notices import ClaimState, NoticeLog
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import Checker, ConfigError, load_yaml
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.intake.front import Front, Inbound
from frontdesk.router.outbound.notices.sink import (
    NoticeSettings,
    NoticeSink,
    notice_target,
    parse_notices,
)
from frontdesk.router.outbound.notices.templates import KINDS, SHIPPED_PATH, guess_language
from frontdesk.router.outbound.outbox import EngineOptions, OutboxEngine
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Undeliverable
from frontdesk.skills import Agent, Presence

SUPPORT = "support@example.com"
BASE = "https://desk.example.com"
SMTP_SECTION = """\
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    addresses:
      support@example.com: {}
"""


# -- settings ---------------------------------------------------------------------------------
def notices_yaml(
    relay: SmtpRelay | None = None,
    extra: str = "",
    **platforms: PlatformStandIn,
) -> str:
    text = f"notices:\n  status_base_url: {BASE}\n  timeout: 2s\n"
    if relay is not None:
        text += (
            f'  from: "Service Desk <{SUPPORT}>"\n'
            f"  smtp: {{host: 127.0.0.1, port: {relay.port}, security: none, timeout: 5s}}\n"
        )
    if (wa := platforms.get("whatsapp")) is not None:
        text += (
            f"  whatsapp: {{access_token: wa-token, phone_number_id: '109876543210', "
            f"api_url: '{wa.url}', numbers: {{'15550002222': '109876543299'}}}}\n"
        )
    if (tg := platforms.get("telegram")) is not None:
        text += f"  telegram: {{bot_token: '{TelegramStandIn().token}', api_url: '{tg.url}'}}\n"
    if (wc := platforms.get("wechat")) is not None:
        text += (
            f"  wechat: {{app_id: wx1234567890abcdef, app_secret: wechat-app-secret, "
            f"api_url: '{wc.url}'}}\n"
        )
    if (ms := platforms.get("messenger")) is not None:
        text += f"  messenger: {{page_token: page-token, api_url: '{ms.url}'}}\n"
    return text + extra


def parse(text: str, source: str = "notices.yaml") -> NoticeSettings:
    data, lines = load_yaml(text, source)
    check = Checker(lines)
    settings = parse_notices(check, data.get("notices"))
    check.raise_if_any()
    assert settings is not None
    return settings


def problems(text: str, source: str = "bad.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, source)
    return [str(p) for p in caught.value.problems]


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def front_settings() -> Settings:
    return parse_settings(FRONT_CONFIG + SMTP_SECTION, "front.yaml")


@pytest.fixture
def context(store: QueueStore, agents: AgentStore) -> DeliveryContext:
    return DeliveryContext(store, agents)


@pytest.fixture
async def sinks() -> AsyncIterator[list[NoticeSink]]:
    made: list[NoticeSink] = []
    yield made
    for sink in made:
        await sink.aclose()


@pytest.fixture
def sink_for(front: Front, sinks: list[NoticeSink]):
    def make(text: str) -> NoticeSink:
        sink = NoticeSink(parse(text), front.status_token)
        sinks.append(sink)
        return sink

    return make


@pytest.fixture
async def standins(aiohttp_server):
    made: list[PlatformStandIn] = []

    async def start(standin: PlatformStandIn) -> PlatformStandIn:
        server = await aiohttp_server(standin.app(), host="127.0.0.1")
        standin.url = str(server.make_url("")).rstrip("/")
        made.append(standin)
        return standin

    yield start
    for standin in made:
        standin.release.set()


# -- requests and their real events -----------------------------------------------------------
def customer_mail(
    subject: str = "Cannot log in",
    body: str = "My password reset link does not work.",
    msgid: str = "<c1@mail.example.net>",
    sender: str = "Wang Fang <fang@example.net>",
    **headers: str,
) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, SUPPORT, subject, msgid
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


async def mailed(front: Front, mail: EmailMessage, envelope_from: str | None = None) -> str:
    inbound = parse_email(bytes(mail), recipient=SUPPORT, envelope_from=envelope_from)
    receipt = await front.receive(inbound)
    assert receipt.created
    return receipt.request_id


async def received(front: Front, inbound: Inbound) -> str:
    receipt = await front.receive(inbound)
    assert receipt.created
    return receipt.request_id


async def event_of(store: QueueStore, request_id: str, kind: EventType) -> Event:
    found = [e for e in await EventLog(store.redis, store.keys).range() if e.request == request_id]
    (event,) = [e for e in found if e.type is kind]
    return event


async def add_agent(agents: AgentStore, agent_id: str, name: str) -> None:
    await agents.upsert(
        Agent(
            id=agent_id,
            name=name,
            capacity={c.value: 5 for c in Channel},
            presence=Presence.AVAILABLE,
        )
    )


async def until(condition, what: str, attempts: int = 200) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def plain(msg: EmailMessage) -> str:
    """The text/plain body with its line ends as Python writes them."""
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def html_of(msg: EmailMessage) -> str:
    body = msg.get_body(("html",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def status_token_of(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["token"]
    return token


def smtp_send(port: int, raw: bytes, sender: str, rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [rcpt], raw)


# -- email: the acknowledgement ---------------------------------------------------------------
async def test_email_acknowledgement_is_threaded_automatic_and_in_english(
    front, store, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    rid = await mailed(front, customer_mail())
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)

    (mail,) = relay.received
    assert mail.mail_from == SUPPORT and mail.rcpt_tos == ["fang@example.net"]
    msg = mail.message
    assert msg["From"] == f"Service Desk <{SUPPORT}>"
    assert msg["To"] == "Wang Fang <fang@example.net>"
    assert msg["Subject"] == f"Re: Cannot log in [#{rid}]"
    assert msg["In-Reply-To"] == "<c1@mail.example.net>"
    assert msg["References"] == "<c1@mail.example.net>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Content-Language"] == "en"
    ours = msg["Message-ID"]
    assert ours.startswith(f"<notice.{rid}.") and ours.endswith("@example.com>")
    text = plain(msg)
    assert "Hello Wang Fang," in text and f"given it the\nnumber {rid}." in text
    link = next(line for line in text.splitlines() if line.startswith(BASE))
    assert link.startswith(f"{BASE}/v1/requests/{rid}/status?token=")
    assert front.check_status_token(rid, status_token_of(link))
    html = html_of(msg)
    assert f"<strong>{rid}</strong>" in html and 'href="https://desk.example.com/v1/' in html


async def test_email_acknowledgement_is_in_chinese_for_a_chinese_request(
    front, store, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    mail = customer_mail(
        "订单没有发货", "我上周下的订单 12345 还没有发货。", sender="李娜 <li@example.cn>"
    )
    rid = await mailed(front, mail)
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)

    msg = relay.received[0].message
    assert msg["Subject"] == f"Re: 订单没有发货 [#{rid}]"
    assert msg["Content-Language"] == "zh"
    assert str(msg["To"]) == "李娜 <li@example.cn>"
    text = plain(msg)
    assert text.startswith("李娜,您好:") and f"我们已收到您的请求,编号为 {rid}。" in text
    assert f"保留主题中的 [#{rid}]" in text


async def test_language_comes_from_the_request_its_text_or_the_default():
    templates = parse(notices_yaml()).templates
    assert templates.choose("zh-CN").code == "zh"
    assert templates.choose("zh_TW").code == "zh"
    assert templates.choose("ZH").code == "zh"
    assert templates.choose("en-GB").code == "en"
    assert templates.choose("ja", "日本語のテキストです").code == "en"  # a tag wins over the text
    assert templates.choose(None, "我的账号无法登录 help").code == "zh"
    assert templates.choose(None, "Cannot log in").code == "en"
    assert templates.choose(None, "我的账号无法登录", guess=False).code == "en"
    assert guess_language("パスワードを忘れました") == "ja"
    chinese_default = parse(notices_yaml(extra="  language: zh\n")).templates
    assert chinese_default.choose("fr").code == "zh"


async def test_a_reply_to_the_acknowledgement_threads_back_through_our_smtp_channel(
    front, store, context, relay, sink_for, front_settings
):
    channel = create_smtp(front_settings.channels["smtp"], front)
    await channel.start()
    try:
        assert channel.address is not None
        port = channel.address[1]
        sink = sink_for(notices_yaml(relay))
        first = customer_mail()
        await asyncio.to_thread(smtp_send, port, bytes(first), "fang@example.net", SUPPORT)
        rid = await store.seen(f"email:{SUPPORT}:c1@mail.example.net")
        assert rid is not None
        await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
        ack = relay.received[0].message

        reply = customer_mail(
            f"Re: {ack['Subject']}",
            "It works again, thanks!",
            msgid="<c2@mail.example.net>",
            In_Reply_To=ack["Message-ID"],
            References=f"<c1@mail.example.net> {ack['Message-ID']}",
        )
        await asyncio.to_thread(smtp_send, port, bytes(reply), "fang@example.net", SUPPORT)
        # a client that kept only our Message-ID (no token in the subject, no first id)
        bare = customer_mail(
            "about my login",
            "One more thing.",
            msgid="<c3@mail.example.net>",
            In_Reply_To=ack["Message-ID"],
        )
        await asyncio.to_thread(smtp_send, port, bytes(bare), "fang@example.net", SUPPORT)
        # and one that kept only the token
        token = customer_mail(f"[#{rid}] still here", "And another.", msgid="<c4@mail.example.net>")
        await asyncio.to_thread(smtp_send, port, bytes(token), "fang@example.net", SUPPORT)
    finally:
        await channel.stop()

    bodies = [m.body for m in await store.messages(rid)]
    assert len(bodies) == 3
    assert "It works again, thanks!" in bodies[0]
    assert "One more thing." in bodies[1] and "And another." in bodies[2]
    customer = await CustomerStore(store).find("email:fang@example.net")
    assert customer is not None and len(await CustomerStore(store).requests(customer)) == 1


@pytest.mark.parametrize(
    ("headers", "envelope_from", "sender"),
    [
        ({"Auto_Submitted": "auto-replied"}, None, "Wang Fang <fang@example.net>"),
        ({"Precedence": "bulk"}, None, "Wang Fang <fang@example.net>"),
        ({"List_Id": "<news.example.net>"}, None, "Wang Fang <fang@example.net>"),
        ({"X_Autoreply": "yes"}, None, "Wang Fang <fang@example.net>"),
        ({}, "<>", "Wang Fang <fang@example.net>"),
        ({}, None, "Mail Delivery System <MAILER-DAEMON@example.net>"),
        ({}, None, "Robot <no-reply@shop.example.net>"),
        ({}, None, "List <news-request@lists.example.net>"),
        ({}, None, f"Ourselves <{SUPPORT}>"),
    ],
    ids=[
        "auto-submitted",
        "bulk",
        "list",
        "x-autoreply",
        "null-sender",
        "mailer-daemon",
        "no-reply",
        "list-request",
        "our-own",
    ],
)
async def test_no_notice_to_automatic_bulk_or_list_mail_or_robots(
    front, store, context, relay, sink_for, headers, envelope_from, sender
):
    sink = sink_for(notices_yaml(relay))
    mail = customer_mail(sender=sender, **headers)
    inbound = parse_email(bytes(mail), recipient=SUPPORT, envelope_from=envelope_from)
    # automatic mail is kept out of the queues (tests/test_auto_replies.py); a request whose
    # attributes still say so (stored before, or made otherwise) gets no notice either
    rid = await received(front, dataclasses.replace(inbound, auto_submitted=False))
    event = await event_of(store, rid, EventType.ENQUEUED)
    await sink.deliver(event, context)
    assert relay.received == []
    assert await NoticeLog(store.redis, store.keys, 60).state(rid, event.id) is None


async def test_no_notice_to_mail_without_an_address_or_a_known_auto_submitted_flag(
    front, store, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    nowhere = Request("", Channel.EMAIL, "", external_id="x1", attributes={"auto_submitted": "no"})
    rid = await received(front, Inbound(nowhere))
    # wanted, but with nowhere to go: a dead letter with its reason (never only a log line)
    with pytest.raises(Undeliverable, match="the request has no email address"):
        await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
    unknown = Request("", Channel.EMAIL, "", external_id="x2", customer=Customer(email="a@b.ex"))
    rid = await received(front, Inbound(unknown))
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)  # left out
    assert relay.received == []


async def test_the_notice_goes_to_reply_to_when_the_mail_has_one(
    front, store, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    rid = await mailed(front, customer_mail(Reply_To="Fang at home <fang@home.example.net>"))
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
    assert relay.received[0].rcpt_tos == ["fang@home.example.net"]


# -- never twice --------------------------------------------------------------------------------
async def test_the_same_event_delivered_twice_sends_once(front, store, context, relay, sink_for):
    sink = sink_for(notices_yaml(relay))
    rid = await mailed(front, customer_mail())
    event = await event_of(store, rid, EventType.ENQUEUED)
    await sink.deliver(event, context)
    await sink.deliver(event, context)
    # two deliveries at once (a lease ran out): one sends, the other is told to come back
    other = await mailed(front, customer_mail(msgid="<c9@mail.example.net>"))
    second = await event_of(store, other, EventType.ENQUEUED)
    outcomes = await asyncio.gather(
        sink.deliver(second, context), sink.deliver(second, context), return_exceptions=True
    )
    assert sum(isinstance(o, RetryLater) for o in outcomes) == 1
    await sink.deliver(second, context)
    assert [m.message["X-Frontdesk-Request"] for m in relay.received] == [rid, other]
    log = NoticeLog(store.redis, store.keys, 60)
    assert await log.state(rid, event.id) is ClaimState.SENT


async def test_a_daemon_that_died_mid_send_costs_at_most_one_duplicate(
    front, store, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    rid = await mailed(front, customer_mail())
    event = await event_of(store, rid, EventType.ENQUEUED)
    await sink.deliver(event, context)  # sent, and then the daemon "dies" before the record:
    log = NoticeLog(store.redis, store.keys, 60)
    await store.redis.delete(store.keys.notice(rid, event.id))
    dead = await log.claim(rid, event.id, hold_s=0.2)  # the dead daemon's claim, still held
    assert dead.state is ClaimState.NEW
    with pytest.raises(RetryLater) as caught:
        await sink.deliver(event, context)
    assert caught.value.after_s is not None and caught.value.after_s <= 1.2
    for _ in range(100):  # the claim runs out
        if await log.state(rid, event.id) is None:
            break
        await asyncio.sleep(0.02)
    await sink.deliver(event, context)
    await sink.deliver(event, context)
    first, again = (m.message for m in relay.received)  # exactly one duplicate...
    assert first["Message-ID"] == again["Message-ID"]  # ...that mail clients show once


async def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_undeliverable(
    front, store, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    relay.handler.refuse["fang@example.net"] = "451 4.3.0 Try again later"
    relay.handler.refuse["gone@example.net"] = "550 5.1.1 <gone@example.net>: no such user"
    rid = await mailed(front, customer_mail())
    event = await event_of(store, rid, EventType.ENQUEUED)
    with pytest.raises(RetryLater, match="451"):
        await sink.deliver(event, context)
    assert await NoticeLog(store.redis, store.keys, 60).state(rid, event.id) is None  # released
    del relay.handler.refuse["fang@example.net"]
    await sink.deliver(event, context)
    assert len(relay.received) == 1

    gone = await mailed(front, customer_mail(sender="gone@example.net", msgid="<g@x.example>"))
    with pytest.raises(Undeliverable, match=r"550 5\.1\.1"):
        await sink.deliver(await event_of(store, gone, EventType.ENQUEUED), context)


async def test_a_relay_that_is_down_is_retried(front, store, context, sink_for):
    relay = SmtpRelay()
    await relay.start()
    await relay.stop()  # nobody listens on its port any more
    sink = sink_for(notices_yaml(relay))
    rid = await mailed(front, customer_mail())
    with pytest.raises(RetryLater, match=r"SMTP relay 127\.0\.0\.1"):
        await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)


async def test_relay_credentials_are_used_and_refused_ones_are_undeliverable(
    front, store, context, sink_for
):
    relay = SmtpRelay(credentials=("desk", "s3cret"))
    await relay.start()
    try:
        auth = "  smtp: {{host: 127.0.0.1, port: {}, security: none, user: desk, password: {}}}\n"
        good = notices_yaml() + f'  from: "Desk <{SUPPORT}>"\n' + auth.format(relay.port, "s3cret")
        rid = await mailed(front, customer_mail())
        event = await event_of(store, rid, EventType.ENQUEUED)
        await sink_for(good).deliver(event, context)
        assert relay.handler.logins == [("desk", "s3cret")] and len(relay.received) == 1

        bad = good.replace("s3cret", "wrong")
        other = await mailed(front, customer_mail(msgid="<c5@mail.example.net>"))
        with pytest.raises(Undeliverable, match="refused the credentials"):
            await sink_for(bad).deliver(await event_of(store, other, EventType.ENQUEUED), context)
        starttls = good.replace("security: none", "security: starttls")
        with pytest.raises(Undeliverable, match="STARTTLS"):
            await sink_for(starttls).deliver(
                await event_of(store, other, EventType.ENQUEUED), context
            )
    finally:
        await relay.stop()


# -- assignment, completion, abandonment ------------------------------------------------------
async def test_assignment_and_completion_notices(front, store, agents, context, relay, sink_for):
    sink = sink_for(notices_yaml(relay))
    await add_agent(agents, "li.na", "Li Na")
    rid = await mailed(front, customer_mail())
    await store.assign(rid, "li.na")
    await sink.deliver(await event_of(store, rid, EventType.ASSIGNED), context)
    await store.complete(rid, "li.na", "Solved")
    await sink.deliver(await event_of(store, rid, EventType.COMPLETED), context)

    assigned, completed = (m.message for m in relay.received)
    assert assigned["Subject"] == completed["Subject"] == f"Re: Cannot log in [#{rid}]"
    assert assigned["In-Reply-To"] == completed["In-Reply-To"] == "<c1@mail.example.net>"
    assert assigned["Message-ID"] != completed["Message-ID"]
    assert f"Li Na is now working on your request {rid}" in " ".join(plain(assigned).split())
    text = plain(completed)
    assert f"Your request {rid} is complete. Your issue has been solved." in text


async def test_an_accepted_offer_names_the_agent_and_an_unknown_resolution_says_the_default(
    front, store, agents, context, sink_for
):
    sink = sink_for(notices_yaml())
    await add_agent(agents, "wang.wei", "王伟")
    chat = Request(
        "",
        Channel.CHAT,
        "",
        external_id="conv1:m1",
        entry_point="web-chat",
        customer=Customer(name="访客"),
        body="你好,我想退款",
        language="zh-CN",
    )
    rid = await received(front, Inbound(chat, thread_keys=("chat:conv1",)))
    await store.offer(rid, "wang.wei", 60)
    await store.accept(rid, "wang.wei")
    await sink.deliver(await event_of(store, rid, EventType.ACCEPTED), context)
    (message,) = await store.messages(rid)
    assert (message.author, message.body) == ("system", f"王伟 正在处理您的请求 {rid}。")

    templates = parse(notices_yaml()).templates
    zh = templates.languages["zh"]
    assert zh.resolution("fixed it myself") == "希望我们的服务对您有所帮助。"
    assert zh.resolution("No-Response") == "由于未收到您的回复,我们已关闭该请求。"


async def test_an_assignment_delivered_after_the_request_moved_on_sends_nothing(
    front, store, agents, context, relay, sink_for
):
    sink = sink_for(notices_yaml(relay))
    await add_agent(agents, "li.na", "Li Na")
    rid = await mailed(front, customer_mail())
    await store.assign(rid, "li.na")
    await store.complete(rid, "li.na", "solved")
    await sink.deliver(await event_of(store, rid, EventType.ASSIGNED), context)
    assert relay.received == []


async def test_abandoned_is_told_only_when_configured(front, store, context, relay, sink_for):
    rid = await mailed(front, customer_mail())
    await store.abandon(rid, "spam")
    event = await event_of(store, rid, EventType.ABANDONED)
    default = sink_for(notices_yaml(relay))
    assert not default.wants(event)
    await default.deliver(event, context)
    assert relay.received == []

    told = sink_for(notices_yaml(relay, "  events: [enqueued, assigned, completed, abandoned]\n"))
    assert told.wants(event)
    await told.deliver(event, context)
    text = plain(relay.received[0].message)
    assert f"Your request {rid} has been closed." in " ".join(text.split())


# -- chat, phone, form ------------------------------------------------------------------------
async def test_a_chat_request_gets_a_system_message_once(front, store, agents, context, sink_for):
    sink = sink_for(notices_yaml())
    chat = Request(
        "",
        Channel.CHAT,
        "",
        external_id="conv2:m1",
        entry_point="web-chat",
        customer=Customer(name="Visitor"),
        body="Hello, my invoice is wrong",
    )
    rid = await received(front, Inbound(chat, thread_keys=("chat:conv2",)))
    event = await event_of(store, rid, EventType.ENQUEUED)
    await sink.deliver(event, context)
    await sink.deliver(event, context)
    (message,) = await store.messages(rid)
    assert message.author == "system"
    assert message.body.startswith(f"We have received your request {rid}. See where it stands: ")
    assert front.check_status_token(rid, status_token_of(message.body.rsplit(" ", 1)[1]))
    system = [e for e in await EventLog(store.redis, store.keys).range() if e.request == rid]
    assert [e.data.get("author") for e in system if e.type is EventType.MESSAGE] == ["system"]

    await add_agent(agents, "li.na", "Li Na")
    await store.assign(rid, "li.na")
    await store.complete(rid, "li.na", "solved", summary="Invoice 42 corrected")
    completed = await event_of(store, rid, EventType.COMPLETED)
    # a closed chat takes its closing notice into its thread; with no socket to show it and no
    # email address, the notice is a dead letter saying so
    with pytest.raises(Undeliverable, match="the chat had closed"):
        await sink.deliver(completed, context)
    await sink.deliver(completed, context)  # delivered again (a replay): nothing twice
    _opening, closing = await store.messages(rid)
    assert closing.author == "system"
    assert closing.body == (
        f"Your request {rid} is complete. Your issue has been solved. Summary: Invoice 42 corrected"
    )


async def test_phone_and_form_requests_get_no_automatic_message(front, store, context, sink_for):
    sink = sink_for(notices_yaml())
    for channel in (Channel.PHONE, Channel.FORM):
        request = Request(
            "",
            channel,
            "",
            external_id=f"{channel.value}-1",
            customer=Customer(name="Zhao", phone="+8613900139000"),
            body="call me",
        )
        rid = await received(front, Inbound(request))
        event = await event_of(store, rid, EventType.ENQUEUED)
        assert not sink.wants(event)
        await sink.deliver(event, context)
        assert await store.messages(rid) == []


# -- social -------------------------------------------------------------------------------------
def whatsapp_webhook(display: str, wa_id: str, text: str = "My order has not arrived") -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display, "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Chen Jie"}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": f"wamid.IN{display}{wa_id}",
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    entry = {"id": "WABA1", "changes": [{"field": "messages", "value": value}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


async def whatsapp_request(
    front: Front, display: str = "15550001111", wa_id: str = "8613800138000"
) -> str:
    raw = whatsapp_webhook(display, wa_id)
    (inbound,) = meta.parse("whatsapp", raw, "whatsapp", time.time())
    return await received(front, inbound)


async def test_whatsapp_notice_has_the_documented_payload(
    front, store, context, standins, sink_for
):
    wa = await standins(
        WhatsAppStandIn(
            numbers=("109876543210", "109876543299"), window=("8613800138000", "8613800138001")
        )
    )
    sink = sink_for(notices_yaml(whatsapp=wa))
    rid = await whatsapp_request(front)
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)

    (call,) = wa.posts()
    assert call.path == "/v21.0/109876543210/messages"
    assert call.headers["Authorization"] == "Bearer wa-token"
    assert call.headers["Content-Type"].startswith("application/json")
    body = call.body
    status_url = body["text"]["body"].rsplit(" ", 1)[1]
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "8613800138000",
        "type": "text",
        "text": {
            "preview_url": False,
            "body": f"We have received your request {rid}. See where it stands: {status_url}",
        },
    }
    assert front.check_status_token(rid, status_token_of(status_url))
    # a message to the business's other number is answered from that number
    other = await whatsapp_request(front, "15550002222", "8613800138001")
    await sink.deliver(await event_of(store, other, EventType.ENQUEUED), context)
    assert wa.posts()[-1].path == "/v21.0/109876543299/messages"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, 130429, RetryLater),
        (429, 80007, RetryLater),
        (500, 131000, RetryLater),
        (503, None, RetryLater),
        (401, 190, Undeliverable),
        (403, 10, Undeliverable),
        (400, 100, Undeliverable),
    ],
)
async def test_whatsapp_errors_map_to_retry_or_dead_letter(
    front, store, context, standins, sink_for, status, code, expected
):
    wa = await standins(WhatsAppStandIn())
    sink = sink_for(notices_yaml(whatsapp=wa))
    rid = await whatsapp_request(front)
    event = await event_of(store, rid, EventType.ENQUEUED)
    body = (
        {
            "error": {
                "message": f"(#{code}) failure",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": "stand-in"},
                "fbtrace_id": "A1",
            }
        }
        if code is not None
        else "Service Unavailable"
    )
    wa.fail(status, body, headers={"Retry-After": "30"} if status == 429 else None)
    with pytest.raises(expected) as caught:
        await sink.deliver(event, context)
    if status == 429:
        assert caught.value.after_s == 30
    if expected is RetryLater:  # the claim was given back: the retry sends
        await sink.deliver(event, context)
        assert len(wa.sent) == 1


async def test_whatsapp_refusals_from_the_api_itself(front, store, context, standins, sink_for):
    wa = await standins(WhatsAppStandIn(token="another-token", window=()))
    sink = sink_for(notices_yaml(whatsapp=wa))
    rid = await whatsapp_request(front)
    with pytest.raises(Undeliverable, match=r"error 190.*invalid or expired"):
        await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
    wa.token = "wa-token"  # right token, but the customer wrote more than 24 hours ago
    with pytest.raises(Undeliverable, match=r"131047.*24 hours"):
        await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)


TELEGRAM_IDS = itertools.count(7)


def telegram_update(
    chat: int = 5550001, text: str = "我的订单还没到", language: str = "zh-hans"
) -> bytes:
    person = {
        "id": chat,
        "is_bot": False,
        "first_name": "Li",
        "last_name": "Na",
        "language_code": language,
    }
    message = {
        "message_id": next(TELEGRAM_IDS),
        "from": person,
        "chat": {"id": chat, "type": "private"},
        "date": 1700000000,
        "text": text,
    }
    return json.dumps({"update_id": 1, "message": message}).encode()


async def test_telegram_notice_has_the_documented_payload_in_the_customers_language(
    front, store, context, standins, sink_for
):
    tg = await standins(TelegramStandIn())
    sink = sink_for(notices_yaml(telegram=tg))
    (inbound,) = telegram.parse(telegram_update(), "desk_bot", time.time())
    rid = await received(front, inbound)
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)

    (call,) = tg.posts()
    assert call.path == f"/bot{tg.token}/sendMessage"
    assert call.body["chat_id"] == 5550001 and set(call.body) == {"chat_id", "text"}
    assert call.body["text"].startswith(f"我们已收到您的请求,编号 {rid}。查看处理进度:{BASE}/")


async def test_telegram_errors_map_to_retry_or_dead_letter(
    front, store, context, standins, sink_for
):
    tg = await standins(TelegramStandIn(blocked=(5550002,), migrated={5550003: -1005550003}))
    tg.chats.add(-1005550003)
    sink = sink_for(notices_yaml(telegram=tg))

    async def request(chat: int) -> Event:
        (inbound,) = telegram.parse(telegram_update(chat, "hello", "en"), "desk_bot", time.time())
        return await event_of(store, await received(front, inbound), EventType.ENQUEUED)

    first = await request(5550001)
    tg.fail(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    with pytest.raises(RetryLater) as caught:
        await sink.deliver(first, context)
    assert caught.value.after_s == 7
    tg.fail(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    with pytest.raises(RetryLater, match="502"):
        await sink.deliver(first, context)
    await sink.deliver(first, context)
    with pytest.raises(Undeliverable, match="403: Forbidden: bot was blocked by the user"):
        await sink.deliver(await request(5550002), context)
    await sink.deliver(await request(5550003), context)  # the group moved: sent to its new id
    assert [chat for chat, _ in tg.sent] == [5550001, -1005550003]

    tg.token = "654321:SomeoneElsesTokenAAAAAAAAAAA"  # the bot's token was revoked
    tg.chats.add(5550004)
    with pytest.raises(Undeliverable, match="401: Unauthorized") as caught:
        await sink.deliver(await request(5550004), context)
    assert "check notices.telegram.bot_token" in str(caught.value)


async def test_a_platform_that_does_not_answer_in_time_is_retried(
    front, store, context, standins, sink_for
):
    tg = await standins(TelegramStandIn())
    sink = sink_for(notices_yaml(telegram=tg).replace("timeout: 2s", "timeout: 300ms"))
    (inbound,) = telegram.parse(telegram_update(), "desk_bot", time.time())
    rid = await received(front, inbound)
    tg.hang()
    with pytest.raises(RetryLater, match=r"no answer within 0\.3s") as caught:
        await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
    assert tg.token not in str(caught.value)  # a Telegram URL holds the token: never shown


def wechat_xml(openid: str = "oUser123", text: str = "你好,我的账号无法登录") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>1700000000</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{abs(hash(openid + text)) % 10**16}</MsgId></xml>"
    ).encode()


async def wechat_request(front: Front, openid: str = "oUser123", text: str = "你好") -> str:
    (inbound,) = wechat.parse(wechat_xml(openid, text), "wx1234567890abcdef", time.time())
    return await received(front, inbound)


async def test_wechat_notice_has_the_documented_payload_and_reuses_its_token(
    front, store, context, standins, sink_for
):
    wc = await standins(WeChatStandIn(followers=("oUser123", "oUser456", "oUser789")))
    sink = sink_for(notices_yaml(wechat=wc))
    rid = await wechat_request(front, text="你好,我的账号无法登录")
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
    token_call, send = wc.posts()
    assert token_call.path == "/cgi-bin/stable_token"
    assert token_call.body == {
        "grant_type": "client_credential",
        "appid": "wx1234567890abcdef",
        "secret": "wechat-app-secret",
        "force_refresh": False,
    }
    assert send.path == "/cgi-bin/message/custom/send"
    assert send.query == {"access_token": wc.token}
    content = f"我们已收到您的请求,编号 {rid}。"
    assert send.body["touser"] == "oUser123" and send.body["msgtype"] == "text"
    assert send.body["text"]["content"].startswith(content)
    assert content.encode() in send.raw  # UTF-8 as it is, not \u escapes

    second = await wechat_request(front, "oUser456", "我要退款")
    await sink.deliver(await event_of(store, second, EventType.ENQUEUED), context)
    wc.expire_token()  # refreshed elsewhere: the next send is refused once, then fetches again
    third = await wechat_request(front, "oUser789", "还有一个问题")
    await sink.deliver(await event_of(store, third, EventType.ENQUEUED), context)
    assert wc.tokens_issued == 2 and len(wc.sent) == 3


async def test_wechat_errors_map_to_retry_or_dead_letter(front, store, context, standins, sink_for):
    wc = await standins(WeChatStandIn(followers=("oUser123", "oLapsed"), lapsed=("oLapsed",)))
    sink = sink_for(notices_yaml(wechat=wc))
    with pytest.raises(Undeliverable, match="45015"):
        await sink.deliver(
            await event_of(store, await wechat_request(front, "oLapsed"), EventType.ENQUEUED),
            context,
        )
    with pytest.raises(Undeliverable, match=r"40003.*not a follower"):
        await sink.deliver(
            await event_of(store, await wechat_request(front, "oStranger"), EventType.ENQUEUED),
            context,
        )
    event = await event_of(
        store, await wechat_request(front, "oUser123", "在吗"), EventType.ENQUEUED
    )
    wc.fail(200, {"errcode": -1, "errmsg": "system error"}, path="/cgi-bin/message/custom/send")
    with pytest.raises(RetryLater, match="errcode -1"):
        await sink.deliver(event, context)
    wc.fail(503, "busy", path="/cgi-bin/message/custom/send")
    with pytest.raises(RetryLater, match="HTTP 503"):
        await sink.deliver(event, context)
    await sink.deliver(event, context)
    assert [to for to, _ in wc.sent] == ["oUser123"]

    wrong = await standins(WeChatStandIn(secret="another-secret"))
    bad = sink_for(notices_yaml(wechat=wrong))
    with pytest.raises(Undeliverable, match=r"40125.*app_secret"):
        await bad.deliver(
            await event_of(
                store, await wechat_request(front, "oUser999", "喂"), EventType.ENQUEUED
            ),
            context,
        )


async def test_messenger_notice_and_its_24_hour_window(front, store, context, standins, sink_for):
    ms = await standins(
        MessengerStandIn(
            users=("2400000000000001", "2400000000000002"), lapsed=("2400000000000002",)
        )
    )
    sink = sink_for(notices_yaml(messenger=ms))

    async def request(psid: str) -> Event:
        entry = {
            "id": "PAGE1",
            "time": 1700000000,
            "messaging": [
                {
                    "sender": {"id": psid},
                    "recipient": {"id": "PAGE1"},
                    "timestamp": 1700000000,
                    "message": {"mid": f"m_{psid}", "text": "Where is my refund?"},
                }
            ],
        }
        raw = json.dumps({"object": "page", "entry": [entry]}).encode()
        (inbound,) = meta.parse("messenger", raw, "messenger", time.time())
        return await event_of(store, await received(front, inbound), EventType.ENQUEUED)

    first = await request("2400000000000001")
    await sink.deliver(first, context)
    (call,) = ms.posts()
    assert call.path == "/v21.0/me/messages" and call.query == {"access_token": "page-token"}
    assert call.body["recipient"] == {"id": "2400000000000001"}
    assert call.body["messaging_type"] == "RESPONSE"
    assert call.body["message"]["text"].startswith(f"We have received your request {first.request}")
    with pytest.raises(Undeliverable, match="outside of allowed window"):
        await sink.deliver(await request("2400000000000002"), context)


async def test_a_platform_without_a_connector_gets_nothing(front, store, context, sink_for):
    sink = sink_for(notices_yaml())  # no platform configured
    (inbound,) = telegram.parse(telegram_update(), "desk_bot", time.time())
    rid = await received(front, inbound)
    event = await event_of(store, rid, EventType.ENQUEUED)
    await sink.deliver(event, context)
    assert await NoticeLog(store.redis, store.keys, 60).state(rid, event.id) is None


# -- through the outbox engine ----------------------------------------------------------------
async def test_the_outbox_engine_drives_the_sink(
    front, store, agents, context, relay, redis, keys: Keys
):
    settings = parse(notices_yaml(relay))
    target = notice_target(settings, front.status_token)
    assert target.policy.lease_s >= 5 * 7
    options = EngineOptions(wait_s=0.05, claim_idle_s=1.0)
    engine = OutboxEngine(redis, keys, [target], context, options=options)
    await engine.prepare()
    stopping = asyncio.Event()
    task = asyncio.create_task(engine.run(stopping))
    try:
        await add_agent(agents, "li.na", "Li Na")
        rid = await mailed(front, customer_mail())
        await store.assign(rid, "li.na")
        await until(lambda: len(relay.received) == 2, "acknowledgement and assignment sent")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
    first, second = (m.message for m in relay.received)
    assert "We have received your request" in plain(first)
    assert "Li Na is now working" in plain(second)


# -- templates and config ---------------------------------------------------------------------
def test_the_shipped_templates_are_complete_in_both_languages():
    settings = parse(notices_yaml(extra="  events: [enqueued, assigned, completed, abandoned]\n"))
    assert set(settings.templates.languages) == {"en", "zh"}
    for language in settings.templates.languages.values():
        assert set(language.notices) == set(KINDS)
        assert all(t.html is not None for t in language.notices.values())
    assert settings.templates.default == "en"
    assert settings.events == {"enqueued", "assigned", "completed", "abandoned"}
    assert settings.channels == {"chat"}  # nothing else configured
    assert SHIPPED_PATH.name == "notices.yaml" and SHIPPED_PATH.parent.name == "config"


async def test_template_overrides_replace_only_what_they_give(
    front, store, context, relay, sink_for
):
    extra = """\
  templates:
    en:
      enqueued:
        subject: "Thanks, {customer_name}!"
        text: "Number {request_id}, queue {queue}. {{literally braced}}\\n"
      resolutions:
        solved: "All fixed."
"""
    settings = parse(notices_yaml(relay, extra))
    en = settings.templates.languages["en"]
    assert en.notices["enqueued"].html is not None  # the shipped html stays
    assert en.resolution("solved") == "All fixed." and en.resolution("duplicate").startswith("It")
    assert settings.templates.languages["zh"].notices["enqueued"].subject.startswith("Re:")
    sink = sink_for(notices_yaml(relay, extra))
    rid = await mailed(front, customer_mail())
    await sink.deliver(await event_of(store, rid, EventType.ENQUEUED), context)
    msg = relay.received[0].message
    assert msg["Subject"] == f"Thanks, Wang Fang! [#{rid}]"  # the token is added
    assert plain(msg) == f"Number {rid}, queue email. {{literally braced}}\n"


def test_an_unknown_placeholder_is_a_config_error_with_its_line():
    text = notices_yaml(
        extra="""\
  templates:
    zh:
      assigned:
        message: "{agent} 正在处理 {request_id},预计 {eta} 分钟"
"""
    )
    (problem,) = problems(text, "desk.yaml")
    assert problem.startswith("desk.yaml:7: notices.templates.zh.assigned.message: ")
    assert "unknown placeholder {eta}" in problem and "{agent}" in problem


def test_template_problems_are_each_reported_with_their_line():
    text = notices_yaml(
        extra="""\
  templates:
    en:
      enqueued:
        message: "{agent} got {request_id}"
        text: "{request_id!r} is {status_url:>20}"
      completed:
        subject: "Done {request_id"
        html: 42
      favourite: blue
    fr:
      enqueued: {subject: "Reçu", text: "Reçu {request_id}", message: "Reçu"}
"""
    )
    found = problems(text)
    assert any(
        p.startswith(
            "bad.yaml:7: notices.templates.en.enqueued.message: {agent} has no "
            "value in a enqueued notice"
        )
        for p in found
    )
    assert any(
        p.startswith("bad.yaml:8: notices.templates.en.enqueued.text: not a template")
        for p in found
    )
    assert any(
        p.startswith("bad.yaml:10: notices.templates.en.completed.subject: not a template")
        for p in found
    )
    assert any(
        p.startswith("bad.yaml:11: notices.templates.en.completed.html: must be a non-empty")
        for p in found
    )
    assert any(
        p.startswith("bad.yaml:12: notices.templates.en.favourite: unknown key") for p in found
    )
    assert any(p.startswith("bad.yaml:13: notices.templates.fr: no assigned notice") for p in found)
    assert any("notices.templates.fr.resolutions: give a `default` text" in p for p in found)
    assert any(
        p.startswith("bad.yaml:13: notices.templates.fr: needs customer_fallback") for p in found
    )


def test_config_errors_name_their_path_and_line(tmp_path: Path):
    text = """\
notices:
  from: not an address
  smtp: {host: mail.example.com, security: none, user: desk, password: pw}
  events: [enqueued, escalated]
  channels: [email, social, fax]
  language: fr
  telegram: {bot_token: "12:short"}
  wechat: {app_id: wx1}
  whatsapp: {access_token_file: missing.txt, phone_number_id: abc}
  timeout: 0s
"""
    found = problems(text)
    expected = [
        "bad.yaml:2: notices.from: must be an address",
        "bad.yaml:3: notices.smtp.security: would send the password unencrypted",
        "bad.yaml:4: notices.events[1]: must be one of enqueued, assigned, completed, abandoned",
        "bad.yaml:5: notices.channels[2]: must be one of email, chat, social",
        "bad.yaml:6: notices.language: no templates for 'fr'",
        "bad.yaml:7: notices.telegram.bot_token: is not a bot token",
        "bad.yaml:8: notices.wechat: needs app_secret",
        "bad.yaml:9: notices.whatsapp.access_token_file: cannot read",
        "bad.yaml:9: notices.whatsapp.phone_number_id: 'abc' does not match",
        "bad.yaml:10: notices.timeout: must be above 0",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in found), (start, found)

    missing = problems("notices:\n  from: desk@example.com\n  channels: [social]\n")
    assert any("email notices need both from and smtp; smtp is missing" in p for p in missing)
    assert any("social notices need one of whatsapp" in p for p in missing)
    assert any("notices.status_base_url: needed" in p for p in missing)


def test_secrets_can_come_from_files_next_to_the_config(tmp_path: Path):
    (tmp_path / "wa.token").write_text("  file-token\n")
    (tmp_path / "smtp.pw").write_text("pw-from-file\n")
    config = tmp_path / "frontdesk.yaml"
    text = f"""\
notices:
  status_base_url: {BASE}
  from: desk@example.com
  smtp: {{host: smtp.example.com, user: desk, password_file: smtp.pw}}
  whatsapp: {{access_token_file: wa.token, phone_number_id: 123}}
"""
    settings = parse(text, str(config))
    assert settings.whatsapp is not None and settings.whatsapp.access_token == "file-token"
    assert settings.whatsapp.phone_number_id == "123"
    assert settings.mail is not None and settings.mail.relay.password == "pw-from-file"
    assert (settings.mail.relay.port, settings.mail.relay.security) == (587, "starttls")
    assert "pw-from-file" not in repr(settings) and "file-token" not in repr(settings)
    assert settings.channels == {"email", "chat", "social"}


def test_the_daemon_config_accepts_no_notices_section():
    assert parse_notices(Checker(load_yaml("{}", "x.yaml")[1]), None) is None
