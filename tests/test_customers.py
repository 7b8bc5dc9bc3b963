"""Customers on a running daemon: a merge through the API and the CLI making the caller view by
phone complete, the care lists following a merge; an address typed into chat or a form kept as
claimed (no VIP priority, no VIP history), a form's email and phone one customer. Real HTTP,
WebSocket and SMTP clients, the real daemon and a real redis-server."""

from __future__ import annotations

import asyncio
import io
import json
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from frontdesk.channels.mail.trust import proven
from frontdesk.channels.phone import signed_headers
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.request import Customer
from frontdesk.queues.states import State
from frontdesk.router.cli import customers as customers_cli
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.skills import Presence

SECRET = "ivr-shared-secret-0001"
TOKENS = {name: new_token() for name in ("ann", "sup")}
SITE = "site-customers-0001"
ORIGIN = "https://www.example.com"
NUMBER = "+8613800138000"
VIP = "boss@bigclient.example"
MX = "mx.example.com"

CONFIG = f"""\
tenant: test
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues:
  general: {{}}
  vip: {{}}
default_queue: general
limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
agents:
  - {{id: ann, name: Ann Lee, capacity: {{phone: 1, email: 2, chat: 1}}, presence: offline}}
customers:
  important: [{VIP}]
rules:
  - name: vip
    when: {{customer: {{important: true}}}}
    then: {{queue: vip, priority: high}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
channels:
  phone:
    secret: {SECRET}
    default_country: "86"
  form:
    default_country: "86"
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}"], entry_point: "form:support"}}
  chat:
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}/"], entry_point: web-chat}}
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    trusted_authserv_id: {MX}
    addresses:
      support@example.com: {{}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    d = Daemon(parse_settings(CONFIG.replace("{url}", redis_server.url), "c.yaml"), "c.yaml")
    await d.start()
    yield d
    await d.stop()


class Desk:
    """The daemon's front doors, as customers and supervisors use them."""

    def __init__(self, daemon: Daemon, http: aiohttp.ClientSession) -> None:
        assert daemon.address is not None
        self.daemon = daemon
        self.base = f"http://127.0.0.1:{daemon.address[1]}"
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = TOKENS["sup"],
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        raw = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        if raw is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.http.request(method, self.base + path, data=raw, headers=sent) as r:
            data = await r.read()
            return r.status, json.loads(data) if r.content_type == "application/json" else data

    async def callback(self, number: str, reason: str) -> str:
        raw = json.dumps({"number": number, "reason": reason}).encode()
        headers = {"Content-Type": "application/json", **signed_headers(SECRET, raw)}
        status, body = await self.call("POST", "/v1/callbacks", raw, None, headers)
        assert status == 201, body
        return str(body["id"])

    async def by_phone(self, number: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/v1/customers/by-phone/{quote(number)}")
        assert status == 200, body
        return dict(body)

    def mail(
        self, sender: str, subject: str, msgid: str, auth: str | None = "",
        envelope: str | None = None,
    ) -> None:  # fmt: skip
        """Mail through the SMTP channel, with our MX's verdict (`auth`; "" a pass for the
        sender, None no header)."""
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, "support@example.com", \
            subject, msgid  # fmt: skip
        if auth is not None:
            m["Authentication-Results"] = auth or (
                f"{MX}; spf=pass smtp.mailfrom={sender}; dkim=pass header.d={sender.split('@')[1]}"
            )
        m.set_content("Please send me a copy of invoice 77.")
        smtp = next(c for c in self.daemon.channels if getattr(c, "name", "") == "smtp")
        with smtplib.SMTP(*smtp.address, timeout=30) as client:  # type: ignore[attr-defined]
            client.ehlo("client.test")
            refused = client.sendmail(envelope or sender, ["support@example.com"], m.as_bytes())
            assert refused == {}, refused

    async def form(self, fields: dict[str, Any], key: str) -> str:
        headers = {"X-Frontdesk-Site": SITE, "Origin": ORIGIN, "Idempotency-Key": key}
        status, body = await self.call("POST", "/v1/requests", fields, None, headers)
        assert status == 201, body
        return str(body["id"])


@pytest.fixture
async def desk(daemon: Daemon) -> AsyncIterator[Desk]:
    async with aiohttp.ClientSession() as http:
        yield Desk(daemon, http)


async def _customer_of(daemon: Daemon, request_id: str) -> str:
    record = await daemon.store.get(request_id)
    assert record is not None and record.request.customer.id
    return record.request.customer.id


async def _email_request(desk: Desk, sender: str, subject: str, msgid: str) -> str:
    await asyncio.to_thread(desk.mail, sender, subject, msgid)
    customer = await desk.daemon.front.customers.find(f"email:{sender.lower()}")
    assert customer is not None
    (listed,) = [r for r in await desk.daemon.front.customers.requests(customer)
                 if r.request.subject == subject]  # fmt: skip
    return listed.request.id


# -- merge ----------------------------------------------------------------------------------------
async def test_a_merge_makes_the_caller_view_by_phone_show_the_email_request(desk: Desk) -> None:
    called = await desk.callback(NUMBER, "my invoice is wrong")
    mailed = await _email_request(desk, "li.na@example.com", "Invoice copy", "<inv1@example.com>")
    phone_customer = await _customer_of(desk.daemon, called)
    mail_customer = await _customer_of(desk.daemon, mailed)
    assert phone_customer != mail_customer  # two channels, two customers
    before = await desk.by_phone(NUMBER)
    assert [r["id"] for r in before["requests"]] == [called]
    await desk.daemon.store.assign(mailed, "ann", force=True)
    await desk.daemon.store.complete(mailed, "ann", "sent the copy")
    redis, keys = desk.daemon.store.redis, desk.daemon.store.keys
    assert await redis.hexists(keys.last_agents, f"{mail_customer}|general")

    status, body = await desk.call(
        "POST", f"/v1/customers/{mail_customer}/merge", {"into": phone_customer}
    )
    assert status == 200, body
    assert body["merged"] == mail_customer and body["addresses_moved"] == 1
    assert set(body["customer"]["addresses"]) == {f"phone:{NUMBER}", "email:li.na@example.com"}

    after = await desk.by_phone(NUMBER)
    assert after["customer"]["id"] == phone_customer
    assert {r["id"] for r in after["requests"]} == {called, mailed}
    # the last agent (sticky routing) follows too
    assert not await redis.hexists(keys.last_agents, f"{mail_customer}|general")
    last = await redis.hget(keys.last_agents, f"{phone_customer}|general")
    assert last is not None and last.startswith(b"ann|")
    assert set(after["customer"]["addresses"]) == {f"phone:{NUMBER}", "email:li.na@example.com"}
    # the next mail from that address is the merged customer's (the daemon's cache learns it)
    assert await desk.daemon.front.customers.find("email:li.na@example.com") == phone_customer
    await asyncio.to_thread(desk.mail, "li.na@example.com", "Refund", "<inv2@example.com>")
    later = await desk.by_phone(NUMBER)
    assert len(later["requests"]) == 3 and later["requests"][0]["subject"] == "Refund"
    events = await EventLog(desk.daemon.store.redis, desk.daemon.store.keys).range()
    merged = [e for e in events if e.type is EventType.CUSTOMER_MERGED]
    assert [(e.data["customer"], e.data["from"]) for e in merged] == [
        (phone_customer, mail_customer)
    ]


async def test_bad_merges_are_refused_by_field_and_change_nothing(desk: Desk) -> None:
    one = await _customer_of(desk.daemon, await desk.callback(NUMBER, "a"))
    two = await _customer_of(desk.daemon, await desk.callback("+8613912345678", "b"))
    path = f"/v1/customers/{one}/merge"
    cases: list[tuple[str, Any, int, str]] = [
        ("/v1/customers/C-999/merge", {"into": two}, 404, "id"),
        (path, {"into": "C-999"}, 404, "into"),
        (path, {"into": one}, 400, "into"),
        (path, {"into": "no spaces please"}, 400, "into"),
        (path, {}, 400, "into"),
        (path, {"into": two, "also": 1}, 400, "also"),
    ]
    for where, body, status, field in cases:
        got, error = await desk.call("POST", where, body)
        assert (got, error["error"]["field"]) == (status, field), (body, error)
    assert (await desk.call("POST", path, {"into": two}, TOKENS["ann"]))[0] == 403
    assert (await desk.call("POST", path, {"into": two}, None))[0] == 401
    assert (await desk.by_phone(NUMBER))["customer"]["id"] == one  # nothing merged
    assert (await desk.call("POST", path, {"into": two}))[0] == 200
    got, error = await desk.call("POST", path, {"into": two})
    assert got == 409 and error["error"]["field"] == "id"  # merged already
    assert (await desk.by_phone(NUMBER))["customer"]["id"] == two


async def test_the_cli_merges_and_the_care_list_follows(desk: Desk, tool: Any) -> None:
    vip_request = await _email_request(desk, VIP, "Contract", "<c1@bigclient.example>")
    vip = await _customer_of(desk.daemon, vip_request)
    record = await desk.daemon.store.get(vip_request)
    assert record is not None and record.request.queue == "vip"  # important by email
    called = await desk.callback(NUMBER, "call me back")
    caller = await _customer_of(desk.daemon, called)
    record = await desk.daemon.store.get(called)
    assert record is not None and record.request.queue == "general"

    code, out, err = await tool(customers_cli.main, "merge", caller, vip)
    assert code == 0, err
    assert f"merged {caller} into {vip}: 1 address moved, 2 requests now" in out
    code, _, err = await tool(customers_cli.main, "merge", caller, vip)
    assert code == 64 and f"{caller} was merged into {vip} already" in err
    code, _, err = await tool(customers_cli.main, "merge", "C-999", vip)
    assert code == 64 and "no customer 'C-999'" in err
    code, out, _ = await tool(customers_cli.main, "show", caller)
    assert code == 0 and f"phone:{NUMBER}" in out and called in out and vip_request in out

    status, entry = await desk.call("GET", f"/v1/customers/{vip}/lists/important")
    assert status == 200 and entry["source"] == "merge"  # the merged customer, by its id
    lists = desk.daemon.front.settings().customers
    for _ in range(250):  # the daemon's copy of the lists follows the customer.listed event
        if lists.lookup(Customer(id=vip)).important:
            break
        await asyncio.sleep(0.02)
    await desk.daemon.store.assign(called, "ann", force=True)
    await desk.daemon.store.complete(called, "ann", "called back")
    redis, keys = desk.daemon.store.redis, desk.daemon.store.keys
    assert await redis.hget(keys.request(called), "customer") == vip.encode()
    assert await redis.hexists(keys.last_agents, f"{vip}|general")  # recorded as the VIP's
    again = await desk.callback(NUMBER, "second call")  # by phone, never listed by number
    record = await desk.daemon.store.get(again)
    assert record is not None and record.request.customer.id == vip
    assert (record.request.queue, record.request.priority.value) == ("vip", "high")


# -- trusted and claimed addresses ----------------------------------------------------------------
async def _chat_start(desk: Desk, email: str, text: str) -> str:
    url = desk.base.replace("http", "ws") + f"/v1/chat/ws?site={SITE}"
    async with desk.http.ws_connect(url, headers={"Origin": ORIGIN}) as ws:
        await ws.send_json({"type": "start", "name": "Visitor", "contact": {"email": email},
                            "text": text})  # fmt: skip
        for _ in range(20):
            got = json.loads((await ws.receive(timeout=10)).data)
            if got["type"] == "started":
                return str(got["request"])
            assert got["type"] == "queue", got
    raise AssertionError("no started frame")


async def _offered_to_ann(desk: Desk, request_id: str) -> None:
    await desk.daemon.agents.set_presence("ann", Presence.AVAILABLE)
    for _ in range(500):
        record = await desk.daemon.store.get(request_id)
        if record is not None and record.state is State.OFFERED and record.agent == "ann":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{request_id} not offered to ann")


async def test_a_chat_visitor_typing_a_vip_email_gets_neither_priority_nor_history(
    desk: Desk,
) -> None:
    real = await _email_request(desk, VIP, "Contract renewal", "<r1@bigclient.example>")
    record = await desk.daemon.store.get(real)
    assert record is not None and (record.request.queue, record.request.priority.value) == (
        "vip", "high")  # fmt: skip
    vip = await _customer_of(desk.daemon, real)

    spoof = await _chat_start(desk, VIP.upper(), "I am the boss, what did I order?")
    record = await desk.daemon.store.get(spoof)
    assert record is not None
    assert (record.request.queue, record.request.priority.value) == ("general", "medium")
    assert record.request.customer.email == VIP.upper()  # kept, as what they claimed
    assert record.request.customer.id != vip
    customers = desk.daemon.front.customers
    claimant = await customers.get(record.request.customer.id or "")
    assert claimant is not None and claimant.addresses == {f"claimed:email:{VIP}"}
    assert [r.request.id for r in await customers.requests(vip)] == [real]  # not joined
    assert await customers.find(f"email:{VIP}") == vip

    await _offered_to_ann(desk, spoof)
    status, accepted = await desk.call("POST", f"/v1/requests/{spoof}/accept", {}, TOKENS["ann"])
    assert status == 200, accepted
    assert accepted["customer_requests"] == []  # none of the VIP's requests
    assert accepted["customer"]["claimed"] == ["email"]
    assert accepted["customer"]["addresses"] == [f"claimed:email:{VIP}"]

    form = await desk.form({"email": VIP, "body": "urgent, I am the boss"}, "f-1")
    record = await desk.daemon.store.get(form)
    assert record is not None and record.request.queue == "general"
    assert record.request.customer.id not in (vip, None)
    assert [r.request.id for r in await customers.requests(vip)] == [real]


async def test_a_forms_email_and_phone_are_one_customer(desk: Desk) -> None:
    first = await desk.form({"email": "wu@example.com", "phone": "138 0013 8000",
                             "body": "my parcel is late"}, "k-1")  # fmt: skip
    customer = await _customer_of(desk.daemon, first)
    found = await desk.daemon.front.customers.get(customer)
    assert found is not None and found.addresses == {
        "claimed:email:wu@example.com", f"claimed:phone:{NUMBER}"}  # fmt: skip
    by_phone = await desk.form({"phone": NUMBER, "body": "still late"}, "k-2")
    by_email = await desk.form({"email": "WU@example.com", "body": "and again"}, "k-3")
    assert {await _customer_of(desk.daemon, r) for r in (by_phone, by_email)} == {customer}
    listed = {r.request.id for r in await desk.daemon.front.customers.requests(customer)}
    assert listed == {first, by_phone, by_email}
    # the caller view by phone is the proven number's: a form's typed number is not in it
    called = await desk.callback(NUMBER, "call me")
    assert [r["id"] for r in (await desk.by_phone(NUMBER))["requests"]] == [called]
    # the desk, having checked on the phone that they are one person, merges them
    caller = await _customer_of(desk.daemon, called)
    status, body = await desk.call("POST", f"/v1/customers/{customer}/merge", {"into": caller})
    assert status == 200 and body["addresses_moved"] == 0, body  # claimed ones do not follow
    view = await desk.by_phone(NUMBER)
    assert {r["id"] for r in view["requests"]} == {called, first, by_phone, by_email}
    assert view["customer"]["addresses"] == [f"phone:{NUMBER}"]
    assert await desk.daemon.front.customers.find("claimed:email:wu@example.com") is None
    later = await desk.form({"email": "wu@example.com", "body": "someone typing it"}, "k-4")
    assert await _customer_of(desk.daemon, later) not in (caller, customer)


async def test_mail_proves_its_sender_only_by_our_mxs_verdict(desk: Desk) -> None:
    customers = desk.daemon.front.customers
    real = await _email_request(desk, VIP, "Proven", "<p1@bigclient.example>")
    vip = await _customer_of(desk.daemon, real)
    record = await desk.daemon.store.get(real)
    assert record is not None and record.request.priority.value == "high"
    spoofs = [  # (Authentication-Results, envelope sender)
        (None, None),  # no verdict at all
        ("evil.example; spf=pass smtp.mailfrom=boss@bigclient.example", None),  # not our MX
        (f"{MX}; spf=fail smtp.mailfrom=boss@bigclient.example; dkim=none", None),
        (f"{MX}; spf=pass smtp.mailfrom=x@evil.example", "x@evil.example"),  # not the From
        (f"{MX}; dkim=pass header.d=evil.example", None),  # someone else's signature
    ]
    for n, (auth, envelope) in enumerate(spoofs):
        mail = (VIP, f"Spoof {n}", f"<s{n}@evil.example>", auth, envelope)
        await asyncio.to_thread(desk.mail, *mail)
    assert [r.request.id for r in await customers.requests(vip)] == [real]
    claimant = await customers.find(f"claimed:email:{VIP}")
    assert claimant is not None and claimant != vip
    spoofed = await customers.requests(claimant)
    assert sorted(r.request.subject for r in spoofed) == [f"Spoof {n}" for n in range(5)]
    assert {(r.request.queue, r.request.priority.value) for r in spoofed} == {
        ("general", "medium")}  # fmt: skip
    assert all(r.request.customer.claimed == ("email",) for r in spoofed)


# -- import ---------------------------------------------------------------------------------------
DIRECTORY_CSV = """\
name,emails,phones,external_id,care
Li Na,li.na@example.com;LN@corp.example,+86 138 0013 8000,CRM-1,important
Wang Wei,wang@example.com,,CRM-2,
Bad Phone,bad@example.com,12,CRM-3,
Multi Line,"ml@example.com;
ml2@example.com",,CRM-4,vip
Nobody,,,,
Bad List,bl@example.com,,CRM-5,gold
"""


async def test_a_csv_directory_is_imported_once_bad_rows_reported_by_line(
    desk: Desk, tool: Any, tmp_path: Any
) -> None:
    customers = desk.daemon.front.customers
    mailed = await _email_request(desk, "wang@example.com", "Hello", "<w1@example.com>")
    wang = await _customer_of(desk.daemon, mailed)
    path = tmp_path / "customers.csv"
    path.write_text(DIRECTORY_CSV)
    code, out, err = await tool(customers_cli.main, "import", str(path))
    assert code == 1 and "2 created, 1 updated, 0 unchanged, 3 refused" in out, (out, err)
    lines = err.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:4", f"{path}:7", f"{path}:8"]  # fmt: skip
    assert [line.split(": ")[1] for line in lines] == ["phones", "emails", "care"]
    assert await customers.find("email:bad@example.com") is None  # nothing of a bad row
    assert await customers.find("ext:CRM-3") is None
    li = await customers.find("email:li.na@example.com")
    assert li is not None and li not in (wang,)
    record = await customers.get(li)
    assert record is not None and record.name == "Li Na"
    assert record.addresses == {"email:li.na@example.com", "email:ln@corp.example",
                                f"phone:{NUMBER}", "ext:CRM-1"}  # fmt: skip
    assert await customers.find("ext:CRM-2") == wang  # the directory's row joined the mail's
    found = await customers.get(wang)
    assert found is not None and found.name == "Wang Wei"
    assert [r.request.id for r in await customers.requests(wang)] == [mailed]
    multi = await customers.get(await customers.find("ext:CRM-4") or "")
    assert multi is not None and multi.name == "Multi Line"
    assert {"email:ml@example.com", "email:ml2@example.com"} <= multi.addresses
    status, entry = await desk.call("GET", f"/v1/customers/{li}/lists/important")
    assert status == 200 and entry["source"] == "import"
    assert (await desk.call("GET", f"/v1/customers/{multi.id}/lists/important"))[0] == 200

    before = await desk.daemon.store.redis.get(desk.daemon.store.keys.customer_ids)
    code, out, _ = await tool(customers_cli.main, "import", str(path), "--format", "csv")
    assert code == 1 and "0 created, 0 updated, 3 unchanged, 3 refused" in out
    assert await desk.daemon.store.redis.get(desk.daemon.store.keys.customer_ids) == before

    lists = desk.daemon.front.settings().customers
    for _ in range(250):
        if lists.lookup(Customer(id=li)).important:
            break
        await asyncio.sleep(0.02)
    called = await desk.callback(NUMBER, "call me")  # by the imported number: the VIP
    record_ = await desk.daemon.store.get(called)
    assert record_ is not None and record_.request.customer.id == li
    assert record_.request.queue == "vip"


async def test_a_json_directory_through_the_cli_and_the_api(
    desk: Desk, tool: Any, tmp_path: Any
) -> None:
    customers = desk.daemon.front.customers
    first = tmp_path / "first.json"
    first.write_text(json.dumps([
        {"name": "Li Na", "email": "li.na@example.com", "external_id": "CRM-1"},
        {"name": "Wang", "emails": ["wang@example.com"], "external_id": "CRM-2"},
        {"name": "Numbered", "phone": "+8613500000000", "external_id": 4711},
    ], indent=2))  # fmt: skip
    code, out, err = await tool(customers_cli.main, "import", str(first))
    assert code == 0 and "3 created, 0 updated, 0 unchanged, 0 refused" in out, err
    assert await customers.find("ext:4711") == await customers.find("phone:+8613500000000")
    body = """{"customers": [
  {"name": "Li Na Chen", "email": ["li.na@example.com"], "external_id": "CRM-1"},
  {"name": "Zhao", "emails": ["zhao@example.com"], "phones": "+8613912345678",
   "care": ["low_satisfaction"]},
  {"name": "Conflict", "emails": ["wang@example.com"], "phone": "+8613700000000",
   "external_id": "CRM-1"},
  {"name": "x", "colour": "red", "email": "c@example.com"},
  "not an object"
]}"""
    status, report = await desk.call(
        "POST", "/v1/customers/import", body.encode(), headers={"Content-Type": "application/json"}
    )
    assert status == 200, report
    assert (report["created"], report["updated"], report["unchanged"]) == (1, 1, 0)
    assert [(r["line"], r["field"]) for r in report["refused"]] == [
        (5, "emails"), (7, "colour"), (8, "(row)")]  # fmt: skip
    assert "CRM-1" in report["refused"][0]["error"] or "C-" in report["refused"][0]["error"]
    assert await customers.find("phone:+8613700000000") is None  # the conflict stored nothing
    li = await customers.get(await customers.find("ext:CRM-1") or "")
    assert li is not None and li.name == "Li Na Chen"
    zhao = await customers.find("email:zhao@example.com")
    assert zhao is not None and await customers.find("phone:+8613912345678") == zhao
    status, _ = await desk.call("GET", f"/v1/customers/{zhao}/lists/low_satisfaction")
    assert status == 200

    for raw, kind, field in [
        (b"[{", "application/json", "(body)"),
        (b'{"people": []}', "application/json", "(body)"),
        (b"name,shoe_size\nx,44\n", "text/csv", "(body)"),
        (b"\xff\xfe", "text/csv", "(body)"),
        (b"x", "text/plain", "Content-Type"),
    ]:
        status, error = await desk.call(
            "POST", "/v1/customers/import", raw, headers={"Content-Type": kind}
        )
        assert status in (400, 415) and error["error"]["field"] == field, (raw, error)
    status, _ = await desk.call("POST", "/v1/customers/import", b"[]", TOKENS["ann"],
                                headers={"Content-Type": "application/json"})  # fmt: skip
    assert status == 403


FOLDED = f"{MX};\r\n\tspf=fail smtp.mailfrom={VIP};\r\n\tdkim=pass header.i=@bigclient.example"


def _raw(*results: str, sender: str = VIP) -> bytes:
    lines = [f"Authentication-Results: {r}" for r in results]
    return ("\r\n".join([*lines, f"From: Boss <{sender}>", "Subject: x", "", "body"])).encode()


@pytest.mark.parametrize(
    ("results", "envelope", "trusted"),
    [
        ([f"{MX}; spf=pass smtp.mailfrom={VIP}"], VIP, True),
        ([f"{MX}; spf=pass smtp.mailfrom=bigclient.example"], VIP, True),  # the domain alone
        ([f"{MX.upper()} 1; dkim=pass (good signature) header.d=BigClient.example"], VIP, True),
        ([FOLDED], VIP, True),  # folded over lines, and DKIM by header.i
        ([f"{MX}; dkim=pass header.d=evil.example"], VIP, False),
        ([f"{MX}; spf=softfail smtp.mailfrom={VIP}; dkim=neutral"], VIP, False),
        ([f"{MX}; none"], VIP, False),
        ([f"mx.evil.example; spf=pass smtp.mailfrom={VIP}"], VIP, False),
        ([f"{MX}; spf=pass smtp.mailfrom={VIP}"], "other@bigclient.example", False),
        ([f"{MX}; spf=pass smtp.mailfrom={VIP}"], "", False),  # a null sender proves nothing
        # the topmost of ours decides: a forged pass below our MX's fail does not count
        (
            [f"{MX}; spf=fail smtp.mailfrom={VIP}", f"{MX}; spf=pass smtp.mailfrom={VIP}"],
            VIP,
            False,
        ),
        ([], VIP, False),
    ],
)
def test_what_proves_a_mails_sender(results: list[str], envelope: str, trusted: bool) -> None:
    assert proven(_raw(*results), MX, envelope, VIP) is trusted


async def test_an_import_body_larger_than_one_read_is_read_whole(desk: Desk) -> None:
    """A directory of about 600 KB arrives in many chunks: every row is imported, not only
    those of the first chunk (a single read of the body would cut it mid-row)."""
    rows = ["name,email"] + [f"{'客户' * 90}{n},bulk{n}@example.com" for n in range(1200)]
    body = ("\n".join(rows) + "\n").encode()
    assert len(body) > 512 * 1024
    status, report = await desk.call(
        "POST", "/v1/customers/import", body, headers={"Content-Type": "text/csv"}
    )
    assert status == 200, report
    assert (report["created"], report["refused"]) == (1200, [])
    assert await desk.daemon.front.customers.find("email:bulk1199@example.com") is not None
    big = b"name,email\n" + b"x,a@example.com\n" * (4 * 1024 * 1024 // 16 + 1)
    headers = {"Content-Type": "text/csv", "Authorization": f"Bearer {TOKENS['sup']}"}
    url = desk.base + "/v1/customers/import"
    async with desk.http.post(url, data=io.BytesIO(big), headers=headers) as answer:
        assert answer.status == 413 and (await answer.json())["error"]["code"] == "too_large"
