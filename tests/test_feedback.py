"""Satisfaction surveys and care lists through a whole daemon and its real channels: a request
comes in by SMTP, an agent completes it through the API, the survey notice goes out through a
real SMTP relay with its signed link; the survey page (a real HTTP client, no JavaScript) takes
the answer once; a low score puts the customer on low_satisfaction, and their next request is
routed with the raised priority; a reply by SMTP that is only a digit answers the next survey and
takes them off again; a Telegram reply does the same on its channel; forged and expired links
get a clear page; the care lists' API; one answer under concurrency."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from notice_standins import SmtpRelay, TelegramStandIn
from test_notices import BASE, SUPPORT, customer_mail, smtp_send
from test_social_parsers import telegram_update
from test_webhooks_out import until

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Customer
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.rules import CustomerLists

TOKENS = {name: new_token() for name in ("ann", "sup")}
TG_SECRET = "tg_Secret-" + "b2" * 8
CONFIG = f"""\
tenant: feedback
redis: {{url: "@URL@"}}
http: {{port: 0}}
queues:
  email: {{mode: assign}}
  social: {{mode: assign}}
default_queue: email
agents:
  - {{id: ann, name: Ann, capacity: {{email: 5, social: 5}}, presence: available}}
customers:
  important: [boss@example.net]
rules:
  - name: social
    when: {{channel: social}}
    then: {{queue: social, continue: true}}
  - name: unhappy-first
    when: {{customer: {{low_satisfaction: true}}}}
    then: {{priority: high}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    addresses:
      {SUPPORT}: {{}}
  social:
    telegram: {{secret_token: "{TG_SECRET}", bot: support_bot}}
notices:
  status_base_url: {BASE}
  timeout: 2s
  events: [survey]
  from: "Service Desk <{SUPPORT}>"
  smtp: {{host: 127.0.0.1, port: @RELAY@, security: none, timeout: 5s}}
  telegram: {{bot_token: "@TG_TOKEN@", api_url: "@TG_URL@"}}
surveys:
  accept_for: 7d
  low_score: {{at_most: 2, list_for: 30d}}
  good_score: {{at_least: 4}}
"""


@pytest.fixture
async def telegram(aiohttp_server) -> AsyncIterator[TelegramStandIn]:
    standin = TelegramStandIn(chats=(5550001,))
    server = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.url = str(server.make_url("")).rstrip("/")
    yield standin
    standin.release.set()


@asynccontextmanager
async def running(config: str, redis_url: str, relay: SmtpRelay, telegram: TelegramStandIn | None
                  ) -> AsyncIterator[Daemon]:  # fmt: skip
    """A daemon on `config` (this file's, or one built from it), its notices to `relay`."""
    text = (
        config.replace("@URL@", redis_url).replace("@RELAY@", str(relay.port))
        .replace("@TG_TOKEN@", telegram.token if telegram else TelegramStandIn().token)
        .replace("@TG_URL@", telegram.url if telegram else "http://127.0.0.1:9")
    )  # fmt: skip
    d = Daemon(parse_settings(text, "feedback.yaml"), "feedback.yaml")
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
async def daemon(redis, redis_server, relay, telegram) -> AsyncIterator[Daemon]:
    async with running(CONFIG, redis_server.url, relay, telegram) as d:
        yield d


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    assert daemon.address is not None
    async with aiohttp.ClientSession(f"http://127.0.0.1:{daemon.address[1]}") as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, who: str,
               body: Any = None) -> tuple[int, Any]:  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    async with http.request(method, path, json=body, headers=headers) as response:
        answer = await response.json() if response.content_type == "application/json" else None
        return response.status, answer


def smtp_port(daemon: Daemon) -> int:
    smtp = next(c for c in daemon.channels if c.name == "smtp")
    assert smtp.address is not None
    return int(smtp.address[1])


async def mail_in(daemon: Daemon, n: int, body: str, subject: str = "Cannot log in",
                  sender: str = "fang@example.net") -> str | None:  # fmt: skip
    """A customer's mail through our SMTP channel; the request it became or joined."""
    mail = customer_mail(subject, body, msgid=f"<m{n}@mail.example.net>",
                         sender=f"Wang Fang <{sender}>")  # fmt: skip
    await asyncio.to_thread(smtp_send, smtp_port(daemon), bytes(mail), sender, SUPPORT)
    return await daemon.store.seen(f"email:{SUPPORT}:m{n}@mail.example.net")


async def assigned(daemon: Daemon, request_id: str) -> None:
    async def held() -> bool:
        record = await daemon.store.get(request_id)
        return record is not None and record.state.value == "assigned"

    await until(held, f"{request_id} assigned to ann")


async def complete(daemon: Daemon, http: aiohttp.ClientSession, request_id: str) -> None:
    await assigned(daemon, request_id)
    status, _ = await call(http, "POST", f"/v1/requests/{request_id}/complete", "ann",
                           {"resolution": "solved"})  # fmt: skip
    assert status == 200


async def survey_mail(relay: SmtpRelay, request_id: str) -> tuple[str, str]:
    """The survey notice for `request_id`: its subject and the path of its link."""

    def found() -> Any:
        for m in relay.received:
            msg = m.message
            if request_id in msg["Subject"] and "How did we do" in msg["Subject"]:
                return msg
        return None

    await until(found, f"the survey mail of {request_id}")
    msg = found()
    text = msg.get_body(("plain",)).get_content()
    url = re.search(rf"{re.escape(BASE)}(/v1/requests/{request_id}/survey\?token=\w+)", text)
    assert url is not None, text
    assert "single number from 1" in text
    return msg["Subject"], url.group(1)


async def page(http: aiohttp.ClientSession, method: str, path: str,
               form: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    headers = {"Accept": "text/html", "Accept-Language": "en"}
    async with http.request(method, path, data=form, headers=headers) as response:
        assert response.content_type == "text/html"
        assert "script" not in response.headers["Content-Security-Policy"]
        return response.status, await response.text()


async def test_the_whole_loop_by_email(daemon: Daemon, http, relay) -> None:
    first = await mail_in(daemon, 1, "My password reset link does not work.")
    assert first is not None
    await complete(daemon, http, first)
    subject, path = await survey_mail(relay, first)
    status, form = await page(http, "GET", path)
    assert status == 200 and 'name="overall"' in form and 'name="speed"' in form
    assert "<script" not in form
    forged = path[:-4] + ("0000" if not path.endswith("0000") else "1111")
    status, text = await page(http, "GET", forged)
    assert status == 403 and "not valid" in text
    status, text = await page(http, "POST", path, {"overall": "2", "speed": "1",
                                                    "comment": "slow"})  # fmt: skip
    assert status == 200 and "Thank you" in text
    status, text = await page(http, "POST", path, {"overall": "5"})
    assert status == 409 and "answered this survey already" in text
    _, view = await call(http, "GET", f"/v1/requests/{first}", "sup")
    assert view["feedback"]["score"] == 2 and view["feedback"]["via"] == "page"
    assert view["feedback"]["dimensions"] == {"speed": 1, "overall": 2}
    assert view["feedback"]["comment"] == "slow"
    customer = view["customer"]["id"]
    status, entry = await call(http, "GET", f"/v1/customers/{customer}/lists/low_satisfaction",
                               "sup")  # fmt: skip
    assert status == 200 and entry["source"] == "survey"
    assert entry["until"] is not None
    events = [e for e in await daemon.events.range() if e.request == first]
    [answer] = [e for e in events if e.type is EventType.FEEDBACK]
    assert answer.data["score"] == "2" and answer.data["via"] == "page"

    # their next request is routed raised: the rules read the live list
    second = await mail_in(daemon, 2, "Still broken", subject="Login again")
    assert second is not None and second != first
    _, view = await call(http, "GET", f"/v1/requests/{second}", "sup")
    assert view["priority"] == "high"
    await complete(daemon, http, second)
    subject, _ = await survey_mail(relay, second)
    # a reply that is only a digit answers the survey: no new request, the list entry goes
    people = CustomerStore(daemon.store)
    fang = await people.find("email:fang@example.net")
    assert fang is not None
    before = len(await people.requests(fang))
    reply = await mail_in(daemon, 3, "5\n\nOn Tue, Service Desk wrote:\n> How did we do?",
                          subject=f"Re: {subject}")  # fmt: skip
    assert reply is None  # not a request, nor a follow-up
    assert len(await people.requests(fang)) == before
    _, view = await call(http, "GET", f"/v1/requests/{second}", "sup")
    assert view["feedback"]["score"] == 5 and view["feedback"]["via"] == "email"
    status, _ = await call(http, "GET", f"/v1/customers/{customer}/lists/low_satisfaction",
                           "sup")  # fmt: skip
    assert status == 404
    third = await mail_in(daemon, 4, "One more question", subject="Invoices")
    assert third is not None
    _, view = await call(http, "GET", f"/v1/requests/{third}", "sup")
    assert view["priority"] == "medium"


async def test_a_telegram_reply_answers_the_survey(daemon: Daemon, http, telegram) -> None:
    def update(n: int, text: str) -> bytes:
        return json.dumps(telegram_update(700 + n, 5550001, n, text)).encode()

    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    async with http.post("/v1/webhooks/telegram", data=update(1, "my parcel is lost"),
                         headers=headers) as r:  # fmt: skip
        assert r.status == 200
    ids: list[str] = []

    async def made() -> bool:
        ids[:] = [e.request for e in await daemon.events.range() if e.type is EventType.ENQUEUED]
        return bool(ids)

    await until(made, "the Telegram request")
    request_id = ids[0]
    await complete(daemon, http, request_id)

    def asked() -> bool:
        return any(f"{request_id}/survey?token=" in text and "请回复 1" in text  # in Chinese
                   for _, text in telegram.sent)  # fmt: skip

    await until(asked, "the survey on Telegram")
    async with http.post("/v1/webhooks/telegram", data=update(2, "4"), headers=headers) as r:
        assert r.status == 200
    _, view = await call(http, "GET", f"/v1/requests/{request_id}", "sup")
    assert view["feedback"]["score"] == 4 and view["feedback"]["via"] == "social"
    enqueued = [e for e in await daemon.events.range() if e.type is EventType.ENQUEUED]
    assert len(enqueued) == 1  # the "4" became no request


async def test_one_answer_under_concurrency_and_clear_refusals(daemon: Daemon, http, relay,
                                                               redis) -> None:  # fmt: skip
    request_id = await mail_in(daemon, 1, "Order 1001 never came")
    assert request_id is not None
    # before it is resolved there is nothing to answer
    path = daemon.surveys.path(request_id)
    status, text = await page(http, "GET", path)
    assert status == 409 and "not resolved yet" in text
    await complete(daemon, http, request_id)
    _, path = await survey_mail(relay, request_id)

    async def answer(score: int) -> int:
        async with http.post(path, json={"overall": score}) as r:
            return r.status

    statuses = await asyncio.gather(*(answer(1 + n % 5) for n in range(20)))
    assert sorted(statuses) == [200] + [409] * 19
    _, view = await call(http, "GET", f"/v1/requests/{request_id}", "sup")
    assert view["feedback"]["score"] in range(1, 6)
    async with http.post(path, json={"speed": 3}) as r:
        assert r.status in (400, 409)
    # a survey whose time is over: the record closed eight days ago
    other = await mail_in(daemon, 2, "Where is my refund?", subject="Refund")
    assert other is not None
    await complete(daemon, http, other)
    _, late_path = await survey_mail(relay, other)
    async with http.post(late_path, json={"speed": 3}) as r:
        body = await r.json()
        assert r.status == 400 and body["error"]["field"] == "overall"
    week = int((time.time() - 8 * 86400) * 1000)
    await redis.hset(daemon.store.keys.request(other), "closed_ms", week)
    status, text = await page(http, "POST", late_path, {"overall": "4"})
    assert status == 410 and "time to answer" in text


async def test_the_care_lists_api(daemon: Daemon, http) -> None:
    base = "/v1/customers/{}/lists/{}"
    status, body = await call(http, "GET", "/v1/care-lists/important", "sup")
    assert status == 200 and [e["customer"] for e in body["entries"]] == ["boss@example.net"]
    assert body["entries"][0]["source"] == "config"
    status, body = await call(http, "GET", "/v1/care-lists/important", "ann")
    assert status == 403
    status, body = await call(http, "PUT", base.format("vip@example.net", "important"), "sup",
                              {"reason": "key account"})  # fmt: skip
    assert status == 201 and body["created"] and body["until"] is None
    status, body = await call(http, "PUT", base.format("+8613800138000", "low_satisfaction"),
                              "sup", {"for": "1s"})  # fmt: skip
    assert status == 201 and body["until"] is not None
    for bad, field in (({"for": "soon"}, "for"), ({"until": "2020-01-01T00:00:00Z"}, "until"),
                       ({"for": "1d", "until": "2030-01-01T00:00:00Z"}, "until"),
                       ({"colour": "red"}, "colour")):  # fmt: skip
        status, body = await call(http, "PUT", base.format("a@b.cn", "important"), "sup", bad)
        assert status == 400 and body["error"]["field"] == field
    status, body = await call(http, "PUT", base.format("a@b.cn", "favourites"), "sup", {})
    assert status == 404 and body["error"]["code"] == "no_such_list"

    # every daemon's intake reads the change: here, this daemon's copy of the lists
    def flags(**customer: str) -> Any:
        return daemon.settings.customers.lookup(Customer(**customer))

    await until(lambda: flags(email="VIP@example.net").important, "the important entry heard")
    await until(lambda: flags(phone="+8613800138000").low_satisfaction, "the low entry heard")
    await asyncio.sleep(1.1)  # the low entry was for one second
    assert not flags(phone="+8613800138000").low_satisfaction
    status, _ = await call(http, "GET", base.format("+8613800138000", "low_satisfaction"), "sup")
    assert status == 404
    # a config entry removed by API stays removed when the config is read again
    status, _ = await call(http, "DELETE", base.format("boss@example.net", "important"), "sup")
    assert status == 204
    status, _ = await call(http, "DELETE", base.format("boss@example.net", "important"), "sup")
    assert status == 404
    lists = await daemon.care.seed(CustomerLists.of(["boss@example.net"]))  # as at a reload
    assert not lists.lookup(Customer(email="boss@example.net")).important
    assert lists.lookup(Customer(email="vip@example.net")).important


async def test_an_important_customers_request_is_kept_twice_as_long(daemon: Daemon, http,
                                                                    redis) -> None:  # fmt: skip
    """Retention by class (defaults: normal 90 days, important 180): the class comes from the
    live care list at intake and is fixed when the request closes."""
    normal = await mail_in(daemon, 1, "Where is my parcel?")
    important = await mail_in(daemon, 2, "Our invoice is wrong", sender="boss@example.net")
    assert normal is not None and important is not None
    for request_id in (normal, important):
        await complete(daemon, http, request_id)
    day_ms = 86_400_000
    kept = {r: await redis.pttl(daemon.store.keys.request(r)) for r in (normal, important)}
    assert 89 * day_ms < kept[normal] <= 90 * day_ms
    assert 179 * day_ms < kept[important] <= 180 * day_ms
    assert await redis.hget(daemon.store.keys.request(important), "retention") == b"important"


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5), ("\uff15", 5), ("4 分", 4), ("3!", 3), ("  2  ", 2), ("5 stars", 5),
        ("\n\n4\n", 4),
        ("5\n\nOn Tue, Service Desk wrote:\n> How did we do?", 5),
        ("1\n在2026年12月3日写道：\n> 请评价", 1),  # noqa: RUF001
        ("6", None), ("55", None), ("5 but slow", None), ("thanks\n5", None), ("", None),
        ("> 5", None),
    ],
)  # fmt: skip
def test_a_bare_score_is_read_and_anything_more_is_a_message(text: str, score: int | None):
    from frontdesk.router.feedback.survey import lone_score

    assert lone_score(text) == score
