"""Phone callback requests on a running daemon: the signed webhook (JSON, our own form fields and
Twilio's), numbers normalized to E.164, a second callback joining the open one, the caller
recognized by number with open requests first, every refusal naming its field, Redis down; and
the pure eligibility functions (windows across midnight, weekends, timezones)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.channels.callback import callback_fields, parse_window
from frontdesk.channels.fields import PhoneNumberError, normalize_e164
from frontdesk.channels.phone import PhoneSettings, signature, signed_headers
from frontdesk.queues.request import CALLBACK, FROM, UNTIL, Channel, Customer, Request
from frontdesk.router.conf.hours import working_hours
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.intake.front import Inbound
from frontdesk.router.routing.callbacks import (
    eligible_at,
    eligible_since,
    hold_until,
    next_eligible,
)

SECRET = "s3cret-shared-with-the-ivr"
TOKENS = {name: new_token() for name in ("ann", "sup", "hd")}
SHANGHAI = ZoneInfo("Asia/Shanghai")
NUMBER = "+8613800138000"
FULL_WIDTH = {c: c + 0xFEE0 for c in b"+0123456789"}  # as a Chinese keyboard types them

CONFIG = f"""\
tenant: phonetest
redis: {{url: "{{url}}"}}
http: {{port: 0}}
queues:
  general: {{}}
  phone-callback: {{}}
default_queue: general
limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
agents:
  - {{id: ann, name: Ann Lee, capacity: {{phone: 1, email: 2}}, presence: offline}}
rules:
  - name: callbacks
    when: {{channel: phone}}
    then: {{queue: phone-callback}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: hd, scope: integration, sha256: {digest(TOKENS["hd"])}}}
channels:
  form: {{}}
  phone:
    secret: {SECRET}
    default_country: "86"
    # every day but 23:00-24:00, so that tests through HTTP do not depend on the day they run
    working_hours: {{timezone: Asia/Shanghai, days: mon-sun, hours: "00:00-23:00"}}
    max_body: 8KB
"""


def _settings(url: str):
    return parse_settings(CONFIG.replace("{url}", url), "phone.yaml")


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    d = Daemon(_settings(redis_server.url), "phone.yaml")
    await d.start()
    yield d
    await d.stop()


class Client:
    def __init__(self, daemon: Daemon, http: aiohttp.ClientSession) -> None:
        assert daemon.address is not None
        self.base = f"http://127.0.0.1:{daemon.address[1]}"
        self.http = http

    async def call(
        self, method: str, path: str, data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        async with self.http.request(
            method, self.base + path, data=data, headers=headers or {}
        ) as response:
            body = await response.read()
            ok = response.content_type == "application/json"
            return response.status, (json.loads(body) if ok else body)

    async def callback(
        self, body: dict[str, Any] | list[tuple[str, str]] | bytes, secret: str | None = SECRET,
        content_type: str | None = None, sig: str | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        if isinstance(body, dict):
            raw, kind = json.dumps(body).encode(), "application/json"
        elif isinstance(body, list):
            raw, kind = urlencode(body).encode(), "application/x-www-form-urlencoded"
        else:
            raw, kind = body, "application/json"
        headers = {"Content-Type": content_type or kind}
        if secret is not None:
            headers |= signed_headers(secret, raw)
        if sig is not None:
            headers["X-Frontdesk-Signature"] = sig
        return await self.call("POST", "/v1/callbacks", raw, headers)

    async def lookup(self, number: str, token: str | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.call("GET", f"/v1/customers/by-phone/{quote(number)}", headers=headers)


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(daemon, http)


def _tomorrow_at(hour: int) -> datetime:
    today = datetime.now(SHANGHAI).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), SHANGHAI).replace(
        hour=hour
    )


async def _waiting(daemon: Daemon) -> list[str]:
    return await daemon.store.peek("phone-callback", 100)


async def test_a_signed_json_callback_is_normalized_and_queued(client, daemon) -> None:
    start, end = _tomorrow_at(14), _tomorrow_at(16)
    body = {
        "number": "138 0013 8000",  # national: the default country code 86 goes in front
        "name": "李娜",
        "reason": "我要退款\nOrder 1001 was charged twice",
        "language": "zh-CN",
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "id": "ivr-call-1",
        "to": "400 800 1234",
        "attributes": {"impact": "many-users"},
    }
    status, receipt = await client.callback(body)
    assert status == 201, receipt
    assert receipt["outcome"] == "created"
    record = await daemon.store.get(receipt["id"])
    assert record is not None
    r = record.request
    assert (r.channel, r.queue, r.entry_point) == (
        Channel.PHONE,
        "phone-callback",
        "phone:+864008001234",
    )
    assert (r.customer.phone, r.customer.name, r.language) == (NUMBER, "李娜", "zh-CN")
    assert (r.subject, r.body) == ("我要退款", "Order 1001 was charged twice")
    assert r.attributes[CALLBACK] is True and r.attributes["impact"] == "many-users"
    assert r.attributes[FROM] == int(start.timestamp())
    assert r.attributes[UNTIL] == int(end.timestamp())
    assert r.external_id == "ivr-call-1"

    status, again = await client.callback(body)
    assert status == 200 and again["outcome"] == "duplicate" and again["id"] == receipt["id"]
    status, seen = await client.call("GET", receipt["status_url"])
    assert status == 200 and seen["state"] == "waiting" and seen["position"] == 1


async def test_form_encoded_callbacks_ours_and_twilios(client, daemon) -> None:
    local = datetime.now(SHANGHAI)
    span = f"{(local - timedelta(minutes=30)):%H:%M}-{(local + timedelta(hours=3)):%H:%M}"
    ours = [
        ("number", "+86 139 1234 5678"),
        ("name", "王伟"),
        ("reason", "Cannot log in"),
        ("window", span),
        ("attributes[impact]", "one-user"),
    ]
    status, receipt = await client.callback(ours)
    assert status == 201, receipt
    r = (await daemon.store.get(receipt["id"])).request
    assert r.customer.phone == "+8613912345678" and r.attributes["impact"] == "one-user"
    assert r.attributes[UNTIL] - r.attributes[FROM] == int(3.5 * 3600)
    assert r.attributes[FROM] <= datetime.now(UTC).timestamp() < r.attributes[UNTIL]
    assert r.entry_point == "phone:callback" and r.external_id.startswith("signed:")

    twilio = [
        ("AccountSid", "AC0123"),
        ("CallSid", "CA9f1c"),
        ("From", "+14155552671"),
        ("To", "+14155550000"),
        ("CallerName", "Jane Doe"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    status, receipt = await client.callback(twilio)
    assert status == 201, receipt
    r = (await daemon.store.get(receipt["id"])).request
    assert (r.customer.phone, r.customer.name) == ("+14155552671", "Jane Doe")
    assert (r.external_id, r.entry_point) == ("CA9f1c", "phone:+14155550000")
    assert CALLBACK in r.attributes and FROM not in r.attributes
    status, again = await client.callback(twilio)
    assert (status, again["outcome"], again["id"]) == (200, "duplicate", receipt["id"])

    ranged = [("number", "13912345678"), ("window_from", _tomorrow_at(9).isoformat())]
    status, joined = await client.callback(ranged)
    assert status == 200 and joined["outcome"] == "joined"


async def test_every_spelling_of_a_number_is_one_caller_joining_one_request(client, daemon) -> None:
    spellings = [
        "+86 138-0013-8000",
        "0086 138 0013 8000",
        "13800138000",
        "(+86) 138.0013.8000",
        "+86 138 0013 8000".translate(FULL_WIDTH),
        "tel:+8613800138000",
    ]
    outcomes = []
    for n, number in enumerate(spellings):
        status, receipt = await client.callback({"number": number, "id": f"c{n}"})
        assert status in (200, 201), receipt
        outcomes.append((receipt["outcome"], receipt["id"]))
    first = outcomes[0][1]
    assert outcomes == [("created", first)] + [("joined", first)] * (len(spellings) - 1)
    record = await daemon.store.get(first)
    assert record is not None and record.messages == len(spellings) - 1
    status, caller = await client.lookup(NUMBER, TOKENS["sup"])
    assert status == 200 and caller["customer"]["addresses"] == [f"phone:{NUMBER}"]
    assert await _waiting(daemon) == [first]


async def test_a_callback_after_the_first_was_completed_opens_a_new_one(client, daemon) -> None:
    status, first = await client.callback({"number": NUMBER, "reason": "first"})
    assert status == 201
    status, joined = await client.callback({"number": NUMBER, "reason": "again"})
    assert (status, joined["outcome"], joined["id"]) == (200, "joined", first["id"])
    await daemon.store.assign(first["id"], "ann", force=True)
    await daemon.store.complete(first["id"], "ann", "called back")
    status, second = await client.callback({"number": NUMBER, "reason": "new problem"})
    assert (status, second["outcome"]) == (201, "created")
    assert second["id"] != first["id"]


@pytest.mark.parametrize(
    "sig",
    [
        None,
        "",
        "sha256=" + "0" * 64,
        "sha256=not-hex",
        signature("another-secret-entirely", b"{}"),
        "sha1=" + "0" * 40,
    ],
)
async def test_a_bad_signature_is_refused_and_nothing_is_stored(client, daemon, sig) -> None:
    body = json.dumps({"number": NUMBER, "reason": "let me in"}).encode()
    headers = {"Content-Type": "application/json", "X-Frontdesk-Timestamp": str(int(time.time()))}
    if sig is not None:
        headers["X-Frontdesk-Signature"] = sig
    status, error = await client.call("POST", "/v1/callbacks", body, headers)
    assert status == 401 and error["error"]["field"] == "X-Frontdesk-Signature"
    # a signature of other bytes (a tampered body) is refused as well
    signed_other = signature(SECRET, body + b" ")
    status, error = await client.callback(body, sig=signed_other)
    assert status == 401
    assert await _waiting(daemon) == []
    assert (await client.lookup(NUMBER, TOKENS["sup"]))[0] == 404  # no customer either


async def test_the_caller_is_recognized_with_open_requests_first(client, daemon) -> None:
    status, done = await client.callback({"number": NUMBER, "name": "李娜", "reason": "old"})
    assert status == 201
    await daemon.store.assign(done["id"], "ann", force=True)
    await daemon.store.complete(done["id"], "ann", "solved")
    mail = Request(
        "", Channel.EMAIL, "", external_id="<m1@example.com>", subject="Invoice copy",
        customer=Customer(email="li.na@example.com", phone=NUMBER),
    )  # fmt: skip
    emailed = await daemon.front.receive(Inbound(mail))
    status, open_call = await client.callback({"number": NUMBER, "reason": "call me"})
    assert status == 201

    for spelling in (NUMBER, "138 0013 8000"):
        status, found = await client.lookup(spelling, TOKENS["ann"])
        assert status == 200, found
        assert found["customer"]["name"] == "李娜"
        assert set(found["customer"]["addresses"]) == {
            f"phone:{NUMBER}",
            "email:li.na@example.com",
        }
        listed = [(r["id"], r["open"], r["channel"]) for r in found["requests"]]
        assert listed == [
            (open_call["id"], True, "phone"),
            (emailed.request_id, True, "email"),
            (done["id"], False, "phone"),
        ]
        assert found["requests"][2]["state"] == "completed"
        assert found["requests"][2]["agent"] == "ann"

    assert (await client.lookup(NUMBER, TOKENS["sup"]))[0] == 200
    assert (await client.lookup(NUMBER, TOKENS["hd"]))[0] == 200
    status, error = await client.lookup("+8613912345678", TOKENS["sup"])
    assert status == 404 and error["error"]["field"] == "number"
    status, error = await client.lookup("12", TOKENS["sup"])
    assert status == 400 and error["error"]["field"] == "number"
    assert (await client.lookup(NUMBER, None))[0] == 401


def _sunday_at(hour: int, minute: int = 0) -> datetime:
    today = datetime.now(SHANGHAI).date()
    ahead = (6 - today.weekday()) % 7 or 7
    return datetime.combine(today + timedelta(days=ahead), datetime.min.time(), SHANGHAI).replace(
        hour=hour, minute=minute
    )


REFUSALS: list[tuple[dict[str, Any] | list[tuple[str, str]], str, str]] = [
    ({"name": "no number"}, "number", "missing"),
    ({"number": "12"}, "number", "invalid"),
    ({"number": 8613800138000}, "number", "invalid"),
    ({"number": "+999 1234 5678"}, "number", "invalid"),
    ({"number": NUMBER, "to": "operator"}, "to", "invalid"),
    ({"number": NUMBER, "name": "n" * 201}, "name", "invalid"),
    ({"number": NUMBER, "reason": "r" * 2001}, "reason", "invalid"),
    ({"number": NUMBER, "language": "Mandarin please"}, "language", "invalid"),
    ({"number": NUMBER, "id": "has spaces"}, "id", "invalid"),
    ({"number": NUMBER, "colour": "red"}, "colour", "unknown_field"),
    ({"number": NUMBER, "attributes": {"callback_from": 1}}, "attributes.callback_from", "invalid"),
    ({"number": NUMBER, "window": "25:00-26:00"}, "window", "invalid"),
    ({"number": NUMBER, "window": "soon"}, "window", "invalid"),
    ({"number": NUMBER, "window": 1400}, "window", "invalid"),
    ({"number": NUMBER, "window": {"start": "2030-01-01T10:00"}}, "window", "invalid"),
    ({"number": NUMBER, "window": {"from": "tomorrow"}}, "window", "invalid"),
    ({"number": NUMBER, "window": {"to": "2020-01-01T10:00+08:00"}}, "window", "invalid"),
    ({"number": NUMBER, "window": {"from": "2999-01-01T10:00"}}, "window", "invalid"),
    ({"number": NUMBER, "window": "23:10-23:50"}, "window", "invalid"),  # outside working hours
    ([("number", NUMBER), ("window", "10:00-11:00"), ("window_to", "x")], "window", "invalid"),
    ([("From", "+1 415 CALL NOW"), ("CallSid", "CA1")], "From", "invalid"),
]


async def test_each_bad_field_is_refused_by_name(client, daemon) -> None:
    sunday = {"from": _sunday_at(23, 10).isoformat(), "to": _sunday_at(23, 50).isoformat()}
    cases = [*REFUSALS, ({"number": NUMBER, "window": sunday}, "window", "invalid")]
    for body, field, code in cases:
        status, error = await client.callback(body)
        assert status == 400, (body, error)
        assert (error["error"]["code"], error["error"]["field"]) == (code, field), (body, error)
    for raw, kind, status in [
        (b"{oops", "application/json", 400),
        (b"[]", "application/json", 400),
        (b"number=1", "text/plain", 415),
        (b"x" * 9000, "application/json", 413),
    ]:
        got, error = await client.callback(raw, content_type=kind)
        assert got == status, (raw[:10], error)
    assert await _waiting(daemon) == []


async def test_redis_down_is_503_with_retry_after(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="no")
    server.start()
    daemon = Daemon(_settings(server.url), "phone.yaml")
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(daemon, http)
            assert (await client.callback({"number": NUMBER}))[0] == 201
            server.stop()
            status, error = await client.callback({"number": "+8613912345678"})
            assert status == 503 and error["error"]["code"] == "unavailable"
            raw = json.dumps({"number": NUMBER}).encode()
            headers = {"Content-Type": "application/json", **signed_headers(SECRET, raw)}
            async with http.post(client.base + "/v1/callbacks", data=raw, headers=headers) as got:
                assert got.status == 503 and got.headers["Retry-After"] == "5"
            status, _ = await client.lookup(NUMBER, TOKENS["sup"])
            assert status == 503
    finally:
        await daemon.stop()
        server.stop()


async def test_the_api_document_describes_both_channels(client) -> None:
    status, document = await client.call("GET", "/v1/openapi.json")
    assert status == 200
    paths = document["paths"]
    for path in ("/v1/callbacks", "/v1/customers/by-phone/{number}", "/v1/requests"):
        assert path in paths, path
    signed = paths["/v1/callbacks"]["post"]["parameters"][0]
    assert signed["name"] == "X-Frontdesk-Signature" and signed["required"] is True
    assert "token" in [p["name"] for p in paths["/v1/requests/{id}/status"]["get"]["parameters"]]


# -- fuzzing through the endpoint ------------------------------------------------------------------
_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
_NAMES = st.sampled_from(
    ["number", "name", "reason", "window", "id", "to", "language", "attributes", "From",
     "CallSid", "window_from", "window_to", "attributes[x]"]
) | _TEXT  # fmt: skip
_WINDOWS = st.sampled_from(
    ["09:00-11:00", "22:00-06:00", "24:00-01:00", "00:00-00:00"]
) | st.fixed_dictionaries(
    {}, optional={"from": _TEXT | st.datetimes().map(str), "to": _TEXT | st.integers()}
)
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=50),
    st.sampled_from([NUMBER, "138 0013 8000", "+1 (415) 555-2671", "00"]), _WINDOWS,
    st.dictionaries(_TEXT, st.integers() | _TEXT, max_size=3),
)  # fmt: skip


def _ok(status: int, body: Any) -> bool:
    if status in (200, 201):
        return body["outcome"] in ("created", "joined", "duplicate")
    return status in (400, 413) and set(body["error"]) == {"code", "message", "field"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.dictionaries(_NAMES, _VALUES, max_size=6))
async def test_fuzzed_json_callbacks_never_fail_the_server(client, fields) -> None:
    status, body = await client.callback(fields)
    assert _ok(status, body), (status, body)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=st.lists(st.tuples(_NAMES, _TEXT), max_size=8), raw=st.binary(max_size=200))
async def test_fuzzed_form_callbacks_never_fail_the_server(client, pairs, raw) -> None:
    status, body = await client.callback(pairs)
    assert _ok(status, body), (status, body)
    status, body = await client.callback(raw, content_type="application/x-www-form-urlencoded")
    assert _ok(status, body), (status, body)


# -- phone numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "country", "e164"),
    [
        ("+86 138-0013-8000", None, "+8613800138000"),
        ("0086 138 0013 8000", None, "+8613800138000"),
        ("13800138000", "86", "+8613800138000"),
        ("010 8888 8888", "86", "+861088888888"),  # the trunk 0 goes
        ("(415) 555-2671", "1", "+14155552671"),
        ("1 415 555 2671", "1", "+14155552671"),  # so does NANP's trunk 1
        ("011 44 20 7946 0000", "1", "+442079460000"),  # NANP's international prefix
        ("+44 (0)20 7946 0000", None, "+442079460000"),
        ("06 6982 0000", "39", "+390669820000"),  # Italy keeps its leading 0
        ("8 495 123-45-67", "7", "+74951234567"),  # Russia's trunk is 8
        ("+86\u3000138 0013 8000".translate(FULL_WIDTH), None, "+8613800138000"),
        ("tel:+1-415-555-2671", None, "+14155552671"),
        ("+852 2123 4567", "86", "+85221234567"),
    ],
)
def test_numbers_are_normalized_to_e164(text: str, country: str | None, e164: str) -> None:
    assert normalize_e164(text, country) == e164


@pytest.mark.parametrize(
    ("text", "country", "says"),
    [
        ("13800138000", None, "country code"),
        ("+999 1234 5678", None, "no known country calling code"),
        ("+86 12", None, "too short"),
        ("+86 1380013800012345", None, "15 digits"),
        ("+1 415 555 2671 ext. 12", None, "letters or extensions"),
        ("+86 138*0013", None, "digits, spaces"),
        ("", "86", "no digits"),
        ("+" + "1" * 60, None, "longer than"),
    ],
)
def test_what_is_not_a_number_says_why(text: str, country: str | None, says: str) -> None:
    with pytest.raises(PhoneNumberError, match=says):
        normalize_e164(text, country)


# -- eligibility: pure -----------------------------------------------------------------------------
WEEKDAY_HOURS = working_hours(SHANGHAI)  # mon-fri 08:30-18:00
PHONE = PhoneSettings(SECRET, "86", WEEKDAY_HOURS)
TUESDAY = date(2026, 11, 24)


def cst(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SHANGHAI)


def callback(start: datetime | None = None, until: datetime | None = None) -> Request:
    attributes: dict[str, Any] = {CALLBACK: True}
    if start is not None:
        attributes[FROM] = int(start.timestamp())
    if until is not None:
        attributes[UNTIL] = int(until.timestamp())
    return Request("FD-1", Channel.PHONE, "phone-callback", attributes=attributes)


def test_working_hours_on_weekdays() -> None:
    r = callback()
    assert eligible_at(r, cst(TUESDAY, 12), WEEKDAY_HOURS)
    assert not eligible_at(r, cst(TUESDAY, 8, 29, 59), WEEKDAY_HOURS)
    assert eligible_at(r, cst(TUESDAY, 8, 30), WEEKDAY_HOURS)
    assert eligible_at(r, cst(TUESDAY, 17, 59, 59), WEEKDAY_HOURS)
    assert not eligible_at(r, cst(TUESDAY, 18), WEEKDAY_HOURS)
    assert next_eligible(r, cst(TUESDAY, 7), WEEKDAY_HOURS) == cst(TUESDAY, 8, 30)
    assert next_eligible(r, cst(TUESDAY, 12), WEEKDAY_HOURS) == cst(TUESDAY, 12)
    assert next_eligible(r, cst(TUESDAY, 18), WEEKDAY_HOURS) == cst(TUESDAY + timedelta(1), 8, 30)


def test_the_weekend_waits_for_monday() -> None:
    r = callback()
    friday, saturday, monday = (TUESDAY + timedelta(days=n) for n in (3, 4, 6))
    assert not eligible_at(r, cst(saturday, 12), WEEKDAY_HOURS)
    assert next_eligible(r, cst(friday, 18, 30), WEEKDAY_HOURS) == cst(monday, 8, 30)
    assert next_eligible(r, cst(saturday, 12), WEEKDAY_HOURS) == cst(monday, 8, 30)
    assert hold_until(r, cst(saturday, 12), WEEKDAY_HOURS) == cst(monday, 8, 30)
    assert hold_until(r, cst(monday, 9), WEEKDAY_HOURS) is None


def test_hours_across_midnight_belong_to_the_day_they_open() -> None:
    nights = working_hours(SHANGHAI, frozenset({4}), ((22 * 3600, 6 * 3600),))  # fri 22:00-06:00
    r = callback()
    friday, saturday = TUESDAY + timedelta(days=3), TUESDAY + timedelta(days=4)
    assert not eligible_at(r, cst(friday, 21, 59), nights)
    assert eligible_at(r, cst(friday, 22), nights)
    assert eligible_at(r, cst(saturday, 2), nights)
    assert not eligible_at(r, cst(saturday, 6), nights)
    assert not eligible_at(r, cst(saturday, 22), nights)
    assert next_eligible(r, cst(saturday, 6), nights) == cst(friday + timedelta(days=7), 22)
    assert eligible_since(r, cst(saturday, 2), nights) == cst(friday, 22)


def test_the_window_inside_working_hours() -> None:
    r = callback(cst(TUESDAY, 17), cst(TUESDAY, 20))  # 17:00-20:00, hours end at 18:00
    assert not eligible_at(r, cst(TUESDAY, 10), WEEKDAY_HOURS)
    assert next_eligible(r, cst(TUESDAY, 10), WEEKDAY_HOURS) == cst(TUESDAY, 17)
    assert hold_until(r, cst(TUESDAY, 10), WEEKDAY_HOURS) == cst(TUESDAY, 17)
    assert eligible_at(r, cst(TUESDAY, 17, 30), WEEKDAY_HOURS)
    assert eligible_since(r, cst(TUESDAY, 17, 30), WEEKDAY_HOURS) == cst(TUESDAY, 17)
    assert not eligible_at(r, cst(TUESDAY, 18, 30), WEEKDAY_HOURS)
    assert eligible_since(r, cst(TUESDAY, 18, 30), WEEKDAY_HOURS) is None
    # the window is over before working hours open again: never eligible ...
    assert next_eligible(r, cst(TUESDAY, 18, 30), WEEKDAY_HOURS) is None
    # ... but a missed callback is not held for ever: the next working hours, late beats never
    wednesday = TUESDAY + timedelta(days=1)
    assert hold_until(r, cst(TUESDAY, 18, 30), WEEKDAY_HOURS) == cst(wednesday, 8, 30)
    assert hold_until(r, cst(wednesday, 9), WEEKDAY_HOURS) is None


def test_a_window_over_the_weekend_and_across_midnight() -> None:
    friday, monday = TUESDAY + timedelta(days=3), TUESDAY + timedelta(days=6)
    r = callback(cst(friday, 17), cst(monday, 9))
    assert eligible_at(r, cst(friday, 17, 30), WEEKDAY_HOURS)
    assert next_eligible(r, cst(friday, 18), WEEKDAY_HOURS) == cst(monday, 8, 30)
    assert eligible_at(r, cst(monday, 8, 59), WEEKDAY_HOURS)
    assert next_eligible(r, cst(monday, 9), WEEKDAY_HOURS) is None
    late = callback(cst(TUESDAY, 23), cst(TUESDAY + timedelta(days=1), 1))  # no working hours
    assert eligible_at(late, cst(TUESDAY + timedelta(days=1), 0, 30))
    assert not eligible_at(late, cst(TUESDAY + timedelta(days=1), 1))
    assert next_eligible(late, cst(TUESDAY, 12)) == cst(TUESDAY, 23)
    assert next_eligible(late, cst(TUESDAY + timedelta(days=1), 2)) is None
    assert hold_until(late, cst(TUESDAY + timedelta(days=1), 2)) is None  # missed: route it now


def test_a_long_reason_keeps_its_first_line_as_the_subject() -> None:
    found = callback_fields(
        {"number": NUMBER, "reason": "Refund\nOrder 1001\ncharged twice"}, PHONE, NOW
    )
    assert (found.subject, found.body) == ("Refund", "Order 1001\ncharged twice")
    long_line = "x" * 150 + "\nsecond"
    found = callback_fields({"number": NUMBER, "reason": long_line}, PHONE, NOW)
    assert (found.subject, found.body) == ("x" * 100, long_line)


def test_timezones_compare_as_instants() -> None:
    r = callback()
    new_york = ZoneInfo("America/New_York")
    # Monday 19:30 in New York is Tuesday 08:30 in Shanghai
    monday_evening = datetime(2026, 11, 23, 19, 30, tzinfo=new_york)
    assert eligible_at(r, monday_evening, WEEKDAY_HOURS)
    assert not eligible_at(r, monday_evening - timedelta(seconds=1), WEEKDAY_HOURS)
    assert next_eligible(r, monday_evening - timedelta(hours=1), WEEKDAY_HOURS) == monday_evening
    # hours in a zone with daylight saving: 08:00 Berlin is 07:00 UTC in winter, 06:00 in summer
    berlin = working_hours(ZoneInfo("Europe/Berlin"), hours=((8 * 3600, 17 * 3600),))
    saturday = datetime(2026, 3, 28, 12, tzinfo=UTC)  # the clocks go forward on Sunday the 29th
    assert next_eligible(r, saturday, berlin) == datetime(2026, 3, 30, 6, tzinfo=UTC)
    assert next_eligible(r, saturday - timedelta(days=7), berlin) == datetime(
        2026, 3, 23, 7, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        eligible_at(r, datetime(2026, 11, 24, 12), WEEKDAY_HOURS)


def test_only_callbacks_are_held() -> None:
    chat = Request("FD-2", Channel.CHAT, "chat")
    live_call = Request("FD-3", Channel.PHONE, "phone")  # no callback marker
    sunday_night = cst(TUESDAY + timedelta(days=5), 23)
    for r in (chat, live_call):
        assert eligible_at(r, sunday_night, WEEKDAY_HOURS)
        assert next_eligible(r, sunday_night, WEEKDAY_HOURS) == sunday_night
        assert hold_until(r, sunday_night, WEEKDAY_HOURS) is None
    split = working_hours(SHANGHAI, hours=((30600, 43200), (43200, 64800)))  # 08:30-12, 12-18
    assert eligible_since(callback(), cst(TUESDAY, 15), split) == cst(TUESDAY, 8, 30)


_ZONES = st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"])
_SPANS = st.lists(
    st.tuples(st.integers(0, 95), st.integers(1, 96)).map(lambda t: (t[0] * 900, t[1] * 900)),
    min_size=1, max_size=2,
).filter(lambda spans: all(s != e % 86400 for s, e in spans))  # fmt: skip
_INSTANTS = st.integers(
    int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()),
)


@settings(max_examples=300, deadline=None)
@given(
    zone=_ZONES,
    days=st.frozensets(st.integers(0, 6), min_size=1),
    spans=_SPANS,
    now=_INSTANTS,
    window=st.tuples(st.integers(-3 * 86400, 3 * 86400), st.integers(0, 4 * 86400)) | st.none(),
)
def test_next_eligible_is_the_first_eligible_instant(zone, days, spans, now, window) -> None:
    hours = working_hours(ZoneInfo(zone), days, tuple(spans))
    at = datetime.fromtimestamp(now, UTC)
    r = callback() if window is None else callback(
        at + timedelta(seconds=window[0]), at + timedelta(seconds=window[0] + window[1])
    )  # fmt: skip
    found = next_eligible(r, at, hours)
    assert eligible_at(r, at, hours) == (found == at)
    if found is not None:
        assert found >= at and eligible_at(r, found, hours)
        gap = (found - at).total_seconds()
        for k in range(1, 24 if gap else 1):  # nothing eligible in between
            assert not eligible_at(r, at + timedelta(seconds=gap * k / 24), hours)
    held = hold_until(r, at, hours)
    assert held is None or held > at
    if eligible_at(r, at, hours):
        assert held is None and eligible_since(r, at, hours) is not None


# -- the window a caller asks for ------------------------------------------------------------------
NOW = cst(TUESDAY, 10)


@pytest.mark.parametrize(
    ("text", "now", "start", "end"),
    [
        ("14:00-16:00", NOW, cst(TUESDAY, 14), cst(TUESDAY, 16)),
        ("09:00-11:00", NOW, cst(TUESDAY, 9), cst(TUESDAY, 11)),  # under way
        ("08:00-09:00", NOW, cst(TUESDAY + timedelta(1), 8), cst(TUESDAY + timedelta(1), 9)),
        ("22:00-06:00", NOW, cst(TUESDAY, 22), cst(TUESDAY + timedelta(1), 6)),
        ("22:00-06:00", cst(TUESDAY, 2), cst(TUESDAY - timedelta(1), 22), cst(TUESDAY, 6)),
        ("9:30 - 24:00", NOW, cst(TUESDAY, 9, 30), cst(TUESDAY + timedelta(1), 0)),
    ],
)
def test_a_time_of_day_window_is_the_next_one_not_over(text, now, start, end) -> None:
    assert parse_window(text, now, SHANGHAI) == (start, end)


def test_an_iso_window() -> None:
    window = {"from": "2026-11-25T14:00", "to": "2026-11-25T08:00Z"}  # no offset: Shanghai time
    assert parse_window(window, NOW, SHANGHAI) == (
        cst(TUESDAY + timedelta(1), 14),
        cst(TUESDAY + timedelta(1), 16),
    )
    assert parse_window({"to": "2026-11-24T12:00+08:00"}, NOW, SHANGHAI) == (NOW, cst(TUESDAY, 12))
    assert parse_window({"from": "2026-11-26T09:00+08:00"}, NOW, SHANGHAI)[1] is None


@pytest.mark.parametrize(
    ("window", "says"),
    [
        ("10:00-10:00", "not a time window"),
        ("8am-9am", "not a time window"),
        ({"from": "2026-11-24T12:00", "to": "2026-11-24T11:00"}, "to must be after from"),
        ({"to": "2026-11-24T09:00"}, "has already ended"),
        ({"from": "2027-01-01T09:00"}, "30 days ahead"),
        ({"from": "noon"}, "ISO 8601"),
        ({"from": 5}, "ISO 8601"),
        ({"since": "2026-11-24T12:00"}, "not a key"),
        (["14:00", "16:00"], "HH:MM-HH:MM"),
    ],
)
def test_what_is_not_a_window_says_why(window: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_window(window, NOW, SHANGHAI)


def test_the_signature_is_the_hmac_of_the_body() -> None:
    body = b'{"number": "+8613800138000"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature(SECRET, body) == f"sha256={expected}"


def test_a_time_of_day_window_sent_on_a_closed_day_is_the_next_working_days() -> None:
    saturday = cst(TUESDAY + timedelta(4), 10)
    monday = TUESDAY + timedelta(6)
    fits = lambda a, b: WEEKDAY_HOURS.meets(a, b, saturday)  # noqa: E731
    assert parse_window("14:00-16:00", saturday, SHANGHAI, fits) == (
        cst(monday, 14),
        cst(monday, 16),
    )
    assert parse_window("14:00-16:00", saturday, SHANGHAI) == (  # no hours: today's
        cst(saturday.date(), 14),
        cst(saturday.date(), 16),
    )
    assert monday.weekday() == 0
    # a window the desk never works in is the next one, and the channel refuses it (REFUSALS)
    night = parse_window("23:10-23:50", saturday, SHANGHAI, fits)
    assert night == (cst(saturday.date(), 23, 10), cst(saturday.date(), 23, 50))
