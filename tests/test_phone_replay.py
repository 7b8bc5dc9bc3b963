"""Signed phone callbacks cannot be replayed (issue 10, defect 8): the signature covers a
timestamp, a stale one is refused 401 naming its header, and the same signed body twice (one
without an `id` too, after the first request closed) is one request. `signature: legacy` still
takes what an IVR signed the old way."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from frontdesk.channels.phone import signature, signed_headers
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings

SECRET = "s3cret-shared-with-the-ivr"
NUMBER = "+8613800138000"

CONFIG = """\
tenant: replaytest
redis: {{url: "{url}"}}
http: {{port: 0}}
queues: {{general: {{}}}}
default_queue: general
limits:
  per_sender: {{count: 1000, per: 1m}}
  per_source: {{count: 1000, per: 1m}}
agents:
  - {{id: ann, capacity: {{phone: 1}}, presence: offline}}
channels:
  phone:
    secret: {secret}
{extra}"""


async def _daemon(url: str, extra: str = "") -> Daemon:
    text = CONFIG.format(url=url, secret=SECRET, extra=extra)
    daemon = Daemon(parse_settings(text, "replay.yaml"), "replay.yaml")
    await daemon.start()
    return daemon


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    d = await _daemon(redis_server.url)
    yield d
    await d.stop()


async def _post(daemon: Daemon, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    assert daemon.address is not None
    url = f"http://127.0.0.1:{daemon.address[1]}/v1/callbacks"
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/json", **headers}
        async with http.post(url, data=raw, headers=headers) as response:
            return response.status, await response.json()


def _body(**fields: Any) -> bytes:
    return json.dumps({"number": NUMBER, "reason": "退款", **fields}).encode()


async def test_a_body_signed_the_old_way_is_refused_naming_the_timestamp(daemon) -> None:
    raw = _body()
    status, error = await _post(daemon, raw, {"X-Frontdesk-Signature": signature(SECRET, raw)})
    assert status == 401
    assert error["error"]["field"] == "X-Frontdesk-Timestamp"
    assert await daemon.store.waiting_count("general") == 0


async def test_a_stale_or_future_timestamp_is_refused(daemon) -> None:
    raw = _body()
    for skew in (-301, 301, -86400):
        headers = signed_headers(SECRET, raw, now=time.time() + skew)
        status, error = await _post(daemon, raw, headers)
        assert status == 401, skew
        assert error["error"] == {
            "code": "stale_timestamp",
            "message": "the timestamp is more than 300s from our clock",
            "field": "X-Frontdesk-Timestamp",
        }
    # the timestamp is signed: moving it forward without the secret breaks the signature
    old = signed_headers(SECRET, raw, now=time.time() - 3600)
    forged = {**old, "X-Frontdesk-Timestamp": str(int(time.time()))}
    status, error = await _post(daemon, raw, forged)
    assert status == 401 and error["error"]["field"] == "X-Frontdesk-Signature"
    assert await daemon.store.waiting_count("general") == 0


async def test_a_replayed_body_without_an_id_is_one_request_even_after_it_closed(daemon) -> None:
    raw = _body()
    headers = signed_headers(SECRET, raw)
    status, first = await _post(daemon, raw, headers)
    assert (status, first["outcome"]) == (201, "created")
    status, again = await _post(daemon, raw, headers)
    assert (status, again["outcome"], again["id"]) == (200, "duplicate", first["id"])
    await daemon.store.assign(first["id"], "ann", force=True)
    await daemon.store.complete(first["id"], "ann", "called back")
    status, replay = await _post(daemon, raw, headers)  # the captured delivery, replayed
    assert (status, replay["outcome"], replay["id"]) == (200, "duplicate", first["id"])
    assert await daemon.store.waiting_count("general") == 0
    record = await daemon.store.get(first["id"])
    assert record is not None and record.messages == 0
    # the IVR's genuine new request (signed anew) is a new request
    later = signed_headers(SECRET, raw, now=time.time() + 1)
    status, fresh = await _post(daemon, raw, later)
    assert (status, fresh["outcome"]) == (201, "created") and fresh["id"] != first["id"]


async def test_the_tolerance_is_configurable(redis, redis_server) -> None:
    daemon = await _daemon(redis_server.url, "    tolerance: 10s\n")
    try:
        raw = _body()
        status, _ = await _post(daemon, raw, signed_headers(SECRET, raw, now=time.time() - 30))
        assert status == 401
        status, _ = await _post(daemon, raw, signed_headers(SECRET, raw, now=time.time() - 5))
        assert status == 201
    finally:
        await daemon.stop()


async def test_legacy_takes_the_body_signature_and_the_bare_hex(redis, redis_server) -> None:
    daemon = await _daemon(redis_server.url, "    signature: legacy\n")
    try:
        raw = _body(id="ivr-1")
        status, receipt = await _post(
            daemon, raw, {"X-Frontdesk-Signature": signature(SECRET, raw)}
        )
        assert status == 201, receipt
        bare = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest().upper()
        status, receipt = await _post(daemon, raw, {"X-Frontdesk-Signature": bare})
        assert (status, receipt["outcome"]) == (200, "duplicate")
        status, error = await _post(daemon, raw, signed_headers(SECRET, raw))
        assert status == 401 and error["error"]["field"] == "X-Frontdesk-Signature"
    finally:
        await daemon.stop()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("    signature: hmac\n", "replay.yaml:14: channels.phone.signature: must be one of"),
        ("    tolerance: 2h\n", "replay.yaml:14: channels.phone.tolerance: must be from 1s to 60m"),
    ],
)
def test_a_bad_signature_setting_names_its_line(extra: str, says: str) -> None:
    text = CONFIG.format(url="redis://127.0.0.1:1/0", secret=SECRET, extra=extra)
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "replay.yaml")
    assert any(str(p).startswith(says) for p in caught.value.problems), caught.value.problems


def test_the_timestamped_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    raw = _body()
    headers = signed_headers(SECRET, raw, now=1767225600)
    mac = hmac.new(SECRET.encode(), b"1767225600." + raw, hashlib.sha256).hexdigest()
    assert headers == {
        "X-Frontdesk-Timestamp": "1767225600",
        "X-Frontdesk-Signature": f"sha256={mac}",
    }
