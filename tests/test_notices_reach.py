"""Notices that reach the customer on every channel that can, on a real daemon: a chat customer
sees the resolution (with the agent's own summary) in the conversation before its socket
closes, or gets it by email when the chat had closed; a caller who gave an email gets it by
email; a resolution code turns into canned text (zh/en), an unknown one is refused; progress
notices on escalation, transfer and a long wait, rate-limited per request; and a notice that
cannot reach anyone is a dead letter in the outbox with its reason. Real WebSocket and HTTP
clients, a real aiosmtpd relay (tests/notice_standins.py)."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from notice_standins import Relayed, SmtpRelay
from test_chat import ORIGIN, SITE, frame, ws_url

from frontdesk.channels.phone import signed_headers
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.notices import ClaimState, NoticeLog
from frontdesk.router.conf.yaml import Checker, load_yaml
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.outbound.notices.config import parse_notices

TOKENS = {name: new_token() for name in ("ann", "sup")}
SECRET = "ivr-shared-secret-for-notices"
FORM_SITE = "shop-site-key-notices"
SUMMARY = "Reset the password and unlocked the account"
WU = {"type": "start", "name": "Wu Lei", "contact": {"email": "wu@example.com"}}

CONFIG = f"""\
tenant: reach
redis: {{url: "@URL@"}}
http: {{port: 0}}
queues:
  web: {{mode: assign}}
  calls: {{mode: assign, escalate_to: calls-l2}}
  calls-l2: {{mode: assign, tier: 2}}
  backlog: {{}}
default_queue: web
rules:
  - name: waiting-room
    when: {{channel: phone, keywords: [backlog]}}
    then: {{queue: backlog}}
  - name: calls
    when: {{channel: phone}}
    then: {{queue: calls}}
agents:
  - {{id: ann, name: Ann Lee, capacity: {{chat: 1, phone: 1, form: 1}}, presence: available}}
  - {{id: bo, name: Bo Chen, tier: 2, capacity: {{phone: 1}}, presence: available}}
limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
channels:
  form:
    sites:
      - {{key: {FORM_SITE}, origins: ["{ORIGIN}"], entry_point: "form:support"}}
  chat:
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}/"], entry_point: web-chat}}
  phone:
    secret: {SECRET}
    default_country: "86"
    working_hours: {{timezone: Asia/Shanghai, days: mon-sun, hours: "00:00-23:00"}}
notices:
  status_base_url: https://desk.example.com
  from: "Service Desk <support@example.com>"
  smtp: {{host: 127.0.0.1, port: @SMTP@, security: none, timeout: 5s}}
  events: [enqueued, assigned, completed]
  resolutions:
    password_reset:
      en: "We have reset your password."
      zh: "我们已为您重置密码。"
  progress:
    on: [escalated, transferred, long_wait]
    long_wait_after: 1s
    at_most_every: 1h
"""


@pytest.fixture
async def relay() -> AsyncIterator[SmtpRelay]:
    server = SmtpRelay()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def daemon(redis, redis_server, relay: SmtpRelay) -> AsyncIterator[Daemon]:
    text = CONFIG.replace("@URL@", redis_server.url).replace("@SMTP@", str(relay.port))
    d = Daemon(parse_settings(text, "reach.yaml"), "reach.yaml")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def base(d: Daemon) -> str:
    assert d.address is not None
    return f"http://127.0.0.1:{d.address[1]}"


async def api(http: aiohttp.ClientSession, d: Daemon, method: str, path: str,
              body: Any = None, who: str = "ann") -> tuple[int, Any]:  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    async with http.request(method, base(d) + path, json=body, headers=headers) as r:
        return r.status, await r.json()


async def callback(http: aiohttp.ClientSession, d: Daemon, **fields: Any) -> str:
    raw = json.dumps({"number": "138 0013 8000", **fields}).encode()
    headers = {"Content-Type": "application/json"} | signed_headers(SECRET, raw)
    async with http.post(base(d) + "/v1/callbacks", data=raw, headers=headers) as r:
        answer = await r.json()
        assert r.status == 201, answer
        return str(answer["id"])


async def until(check: Callable[[], Any], what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def relayed(relay: SmtpRelay, words: str) -> list[tuple[str, Relayed]]:
    """The plain text (its lines joined) of each relayed mail that holds `words`, and the mail."""
    found = []
    for one in relay.received:
        body = one.message.get_body(("plain",))
        assert body is not None
        text = " ".join(str(body.get_content()).split())
        if words in text:
            found.append((text, one))
    return found


def mails(relay: SmtpRelay, words: str) -> list[str]:
    return [text for text, _ in relayed(relay, words)]


async def assigned(d: Daemon, request_id: str) -> str:
    """The agent who holds the request, once one does."""

    async def held() -> str | None:
        record = await d.store.get(request_id)
        return record.agent if record is not None and record.state.value == "assigned" else None

    return str(await until(held, f"{request_id} assigned"))


async def complete(http: aiohttp.ClientSession, d: Daemon, request_id: str,
                   **body: Any) -> tuple[int, Any]:  # fmt: skip
    """Complete as a supervisor for the agent who holds it."""
    holder = await assigned(d, request_id)
    path = f"/v1/requests/{request_id}/complete"
    return await api(http, d, "POST", path, {"agent": holder, **body}, who="sup")


async def completed_notice_state(d: Daemon, request_id: str) -> ClaimState | None:
    events = [e for e in await EventLog(d.store.redis, d.store.keys).range()
              if e.request == request_id and e.type is EventType.COMPLETED]  # fmt: skip
    if not events:
        return None
    return await NoticeLog.of(d.store).state(request_id, events[-1].id)


# -- chat -------------------------------------------------------------------------------------
async def test_a_chat_customer_reads_the_resolution_with_the_summary_before_the_socket_closes(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    async with http.ws_connect(ws_url(daemon), headers={"Origin": ORIGIN}) as ws:
        await ws.send_json(WU | {"text": "I cannot log in"})
        seen = [await frame(ws)]
        while seen[-1]["type"] != "assigned":
            seen.append(await frame(ws))
        request_id = seen[0]["request"]
        status, done = await api(http, daemon, "POST", f"/v1/requests/{request_id}/complete",
                                 {"resolution": "Password-Reset", "summary": SUMMARY})  # fmt: skip
        assert status == 200 and done["state"] == "completed"
        after: list[dict[str, Any]] = []
        while not after or after[-1]["type"] != "closed":
            after.append(await frame(ws))
        end = await ws.receive(timeout=10)
        assert end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    notices = [f["text"] for f in after if f["type"] == "message" and "complete" in f["text"]]
    assert notices == [
        f"Your request {request_id} is complete. We have reset your password. Summary: {SUMMARY}"
    ]
    kinds = [f["type"] if "complete" not in f.get("text", "") else "notice" for f in after]
    assert kinds.index("notice") < kinds.index("closed") == len(kinds) - 1
    assert after[-1] == {"type": "closed", "state": "completed"}
    # shown in the chat: no email copy, though the customer gave an address
    assert await until(lambda: completed_notice_state(daemon, request_id), "the notice done")
    assert mails(relay, "is complete") == []


async def test_a_chat_that_had_closed_gets_the_resolution_by_email(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    async with http.ws_connect(ws_url(daemon), headers={"Origin": ORIGIN}) as ws:
        await ws.send_json(WU | {"text": "My invoice is wrong"})
        started = await frame(ws)
        request_id = started["request"]
    await assigned(daemon, request_id)  # the customer has gone (tab closed)
    said = {"resolution": "solved", "summary": "Invoice 1001 corrected"}
    status, _ = await api(http, daemon, "POST", f"/v1/requests/{request_id}/complete", said)
    assert status == 200
    (text,) = await until(lambda: mails(relay, "is complete"), "the resolution mail")
    assert f"Your request {request_id} is complete. Your issue has been solved." in text
    assert "Summary: Invoice 1001 corrected" in text
    assert [m.rcpt_tos for _, m in relayed(relay, "is complete")] == [["wu@example.com"]]
    # and in the conversation's thread, for a customer who comes back to it
    thread = await daemon.store.messages(request_id)
    assert thread[-1].author == "system" and "Invoice 1001 corrected" in thread[-1].body


async def test_a_notice_that_reaches_nobody_is_a_dead_letter_with_its_reason(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    async with http.ws_connect(ws_url(daemon), headers={"Origin": ORIGIN}) as ws:
        await ws.send_json({"type": "start", "name": "Anonymous", "text": "hello?"})
        request_id = (await frame(ws))["request"]
    await assigned(daemon, request_id)
    status, _ = await api(http, daemon, "POST", f"/v1/requests/{request_id}/complete",
                          {"resolution": "solved"})  # fmt: skip
    assert status == 200

    async def dead() -> list[dict[str, Any]]:
        status, letters = await api(http, daemon, "GET", "/v1/outbox/dead?sink=notices", who="sup")
        assert status == 200
        return [x for x in letters["dead"] if x["request"] == request_id]

    (letter,) = await until(dead, "the dead letter")
    assert letter["type"] == "completed"
    assert "the chat had closed" in letter["error"] and "no email" in letter["error"]


# -- resolution codes -------------------------------------------------------------------------
async def test_an_unknown_resolution_code_is_refused_naming_the_field(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    request_id = await callback(http, daemon, reason="please call", id="call-unknown-code")
    status, refused = await complete(http, daemon, request_id, resolution="fixed_by_magic")
    assert status == 400 and refused["error"]["field"] == "resolution", refused
    assert "password_reset" in refused["error"]["message"]
    status, refused = await complete(http, daemon, request_id, summary="x" * 1001)
    assert status == 400 and refused["error"]["field"] == "summary", refused
    record = await daemon.store.get(request_id)
    assert record is not None and record.state.value == "assigned"  # nothing half-done


# -- phone ------------------------------------------------------------------------------------
async def test_a_caller_who_gave_an_email_gets_the_resolution_by_email_in_chinese(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    request_id = await callback(http, daemon, name="李娜", reason="我的账号无法登录",
                                language="zh-CN", email="li.na@example.cn",
                                id="call-zh-1")  # fmt: skip
    status, _ = await complete(http, daemon, request_id, resolution="password_reset",
                               summary="已重置密码")  # fmt: skip
    assert status == 200
    ((text, mail),) = await until(lambda: relayed(relay, "已处理完毕"), "the resolution mail")
    assert f"您的请求 {request_id} 已处理完毕。我们已为您重置密码。 处理说明:已重置密码" in text
    assert mail.rcpt_tos == ["li.na@example.cn"]
    assert f"[#{request_id}]" in mail.message["Subject"]


async def test_a_form_customer_with_an_email_gets_the_resolution_by_email(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    form = {"name": "Li Na", "email": "li.na@example.com", "phone": "+8613900139000",
            "subject": "Cannot download my invoice", "body": "The link says expired."}  # fmt: skip
    headers = {"X-Frontdesk-Site": FORM_SITE, "Origin": ORIGIN, "Idempotency-Key": "form-1"}
    async with http.post(base(daemon) + "/v1/requests", json=form, headers=headers) as r:
        receipt = await r.json()
        assert r.status == 201, receipt
    request_id = receipt["id"]
    status, _ = await complete(http, daemon, request_id, resolution="information",
                               summary="A new invoice link is in your account page")  # fmt: skip
    assert status == 200
    ((text, mail),) = await until(lambda: relayed(relay, "is complete"), "the resolution mail")
    assert "We have sent you the information you asked for." in text
    assert "Summary: A new invoice link is in your account page" in text
    assert mail.rcpt_tos == ["li.na@example.com"]
    assert mail.message["Subject"] == f"Re: Cannot download my invoice [#{request_id}]"


# -- progress ---------------------------------------------------------------------------------
async def test_escalation_and_transfer_tell_the_customer_at_most_once_an_hour(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    request_id = await callback(http, daemon, reason="the app crashes", email="wu@example.com",
                                id="call-escalated")  # fmt: skip
    assert await assigned(daemon, request_id) == "ann"
    status, raised = await api(http, daemon, "POST", f"/v1/requests/{request_id}/escalate",
                               {"note": "needs L2"})  # fmt: skip
    assert status == 200 and raised["queue"] == "calls-l2", raised
    (text,) = await until(lambda: mails(relay, "An update on your request"), "the progress mail")
    assert "It has been passed to a senior colleague, who will contact you." in text
    assert await assigned(daemon, request_id) == "bo"
    status, _ = await api(http, daemon, "POST", f"/v1/requests/{request_id}/transfer",
                          {"agent": "bo", "queue": "calls", "reason": "wrong team"},
                          who="sup")  # fmt: skip
    assert status == 200
    status, _ = await complete(http, daemon, request_id)
    assert status == 200
    # the notices of one request go in order: once the completion is mailed, the transfer was
    # handled before it, and its progress notice was held back by the hour's limit
    await until(lambda: mails(relay, "is complete"), "the resolution mail")
    assert len(mails(relay, "An update on your request")) == 1


async def test_a_transfer_tells_the_customer_in_their_language(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    request_id = await callback(http, daemon, reason="发票开错了", language="zh",
                                email="wang@example.cn", id="call-transferred")  # fmt: skip
    holder = await assigned(daemon, request_id)
    status, _ = await api(http, daemon, "POST", f"/v1/requests/{request_id}/transfer",
                          {"agent": holder, "queue": "calls-l2", "reason": "billing team"},
                          who="sup")  # fmt: skip
    assert status == 200
    ((text, mail),) = await until(lambda: relayed(relay, "有新进展"), "the progress mail")
    assert f"您的请求 {request_id} 有新进展:已转交最合适的团队为您处理。" in text
    assert mail.rcpt_tos == ["wang@example.cn"]


async def test_a_long_wait_tells_the_customer_once_per_period_from_a_due_set(
    daemon: Daemon, http: aiohttp.ClientSession, relay: SmtpRelay
) -> None:
    for agent in ("ann", "bo"):
        path = f"/v1/agents/{agent}/presence"
        status, _ = await api(http, daemon, "POST", path, {"presence": "offline"}, who="sup")
        assert status == 200
    request_id = await callback(http, daemon, reason="backlog: call me", email="wu@example.com",
                                id="call-waiting")  # fmt: skip
    record = await daemon.store.get(request_id)
    assert record is not None and record.request.queue == "backlog"
    (text,) = await until(lambda: mails(relay, "An update on your request"), "the long-wait mail")
    assert "It is still in the queue: thank you for your patience" in text
    events = await EventLog(daemon.store.redis, daemon.store.keys).range()
    (long_wait,) = [e for e in events if e.type is EventType.LONG_WAIT and e.request == request_id]
    assert long_wait.queue == "backlog" and int(long_wait.data["waited_ms"]) >= 1000
    # due again in an hour (at_most_every), not at every tick
    due = await daemon.store.redis.zscore(daemon.store.keys.wait_due, request_id)
    assert due is not None and due > time.time() * 1000 + 3500 * 1000
    record = await daemon.store.get(request_id)
    assert record is not None and record.state.value == "waiting"


# -- config -----------------------------------------------------------------------------------
def test_resolutions_and_progress_config_problems_name_their_path_and_line() -> None:
    text = """\
notices:
  status_base_url: https://desk.example.com
  resolutions:
    refund_issued: {zh: "退款已发起。"}
    password_reset: {en: "Reset.", fr: "Réinitialisé."}
  progress:
    "on": [escalated, lost]
    long_wait_after: soon
"""
    data, lines = load_yaml(text, "bad.yaml")
    check = Checker(lines)
    parse_notices(check, data["notices"])
    found = sorted(str(p) for p in check.problems)
    assert any("bad.yaml:4" in p and "needs the text in en" in p for p in found), found
    assert any("bad.yaml:5" in p and "no templates for 'fr'" in p for p in found), found
    assert any("bad.yaml:7" in p and "progress.on[1]" in p for p in found), found
    assert any("bad.yaml:8" in p and "long_wait_after" in p for p in found), found


def test_the_example_notices_block_parses_and_a_summary_is_templated() -> None:
    example = (Path(__file__).parent.parent / "config" / "frontdesk.example.yaml").read_text()
    block = example.split("# notices:\n", 1)[1]
    text = "notices:\n" + "".join(
        line[2:] + "\n" for line in block.splitlines() if line.startswith("#  ")
    )
    text = text.replace("password_file: smtp-password", "password: secret")
    data, lines = load_yaml(text, "example.yaml")
    check = Checker(lines)
    settings = parse_notices(check, data["notices"])
    check.raise_if_any()
    assert settings is not None and settings.progress is not None
    assert settings.progress.on == {"escalated", "transferred", "long_wait"}
    assert settings.resolution_codes is not None and "refund_issued" in settings.resolution_codes
    zh = settings.templates.languages["zh"]
    assert zh.resolution("refund-issued") == "退款已发起,请留意到账。"
    assert zh.summary_text("  已退款 \n 200 元 ") == " 处理说明:已退款 200 元"
    assert zh.summary_text("") == ""
