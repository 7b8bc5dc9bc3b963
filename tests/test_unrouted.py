"""A path no route takes answers before any token is asked for: a channel's path while that
channel (or that platform) is not configured says which config key serves it (404); any other
path is aiohttp's 404 or 405; a real route still needs its token (401). A real daemon and a real
HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings

CONFIG = """\
tenant: unrouted
redis: {url: "@URL@"}
http: {port: 0}
queues: {general: {}}
default_queue: general
channels:
  social:
    telegram: {secret_token: "tg_Secret-aaaaaaaaaaaaaaaa", bot: support_bot}
"""


@pytest.fixture
async def base(redis, redis_server) -> AsyncIterator[str]:
    d = Daemon(parse_settings(CONFIG.replace("@URL@", redis_server.url), "u.yaml"), "u.yaml")
    await d.start()
    assert d.address is not None
    yield f"http://127.0.0.1:{d.address[1]}"
    await d.stop()


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/v1/callbacks", "channels.phone"),
        ("GET", "/v1/customers/by-phone/+8613800138000", "channels.phone"),
        ("POST", "/v1/requests", "channels.form"),
        ("GET", "/v1/chat/ws", "channels.chat"),
        ("POST", "/v1/webhooks/whatsapp", "/v1/webhooks/whatsapp"),  # the channel's own 404
    ],
)
async def test_a_channel_that_is_not_configured_is_named(base, method, path, key) -> None:
    async with aiohttp.ClientSession() as http, http.request(method, base + path) as r:
        assert r.status == 404
        body = await r.json()
        assert key in body["error"]["message"] and "configured" in body["error"]["message"]


async def test_other_paths_are_404_or_405_and_routes_still_need_a_token(base) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/v1/nothing-here") as r:
            assert r.status == 404
        async with http.get(base + "/v1/webhooks/telegram") as r:  # configured: POST only
            assert r.status == 405
        async with http.get(base + "/v1/requests/FD-1") as r:
            assert r.status == 401 and "bearer token" in (await r.json())["error"]["message"]


def test_aiosmtpd_chatter_is_debug_only() -> None:
    import logging

    from frontdesk.router.cli.main import quiet_libraries

    quiet_libraries("INFO")
    chatty = logging.getLogger("mail.log")
    assert not chatty.isEnabledFor(logging.INFO) and chatty.isEnabledFor(logging.WARNING)
    quiet_libraries("DEBUG")
    assert chatty.isEnabledFor(logging.DEBUG)
    quiet_libraries("INFO")
