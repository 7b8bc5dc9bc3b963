"""The chat widget's rating: when an agent completes a chat whose survey policy asks, the
customer's socket gets a `survey` frame before it closes, answers with a `rate` frame (once),
hears `rated`, then `closed`. A real daemon, a real WebSocket client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from test_chat import ORIGIN, SITE, expect, frame, start, ws_url

from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token

TOKEN = new_token()
CONFIG = f"""\
tenant: chatrating
redis: {{url: "@URL@"}}
http: {{port: 0}}
queues:
  web: {{mode: assign}}
default_queue: web
agents:
  - {{id: ann, name: Ann Lee, capacity: {{chat: 1}}, presence: available}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKEN)}}}
channels:
  chat:
    sites:
      - {{key: {SITE}, origins: ["{ORIGIN}/"], entry_point: web-chat}}
surveys:
  when: {{channel: chat}}
"""


@pytest.fixture
async def daemon(redis, redis_server) -> AsyncIterator[Daemon]:
    d = Daemon(parse_settings(CONFIG.replace("@URL@", redis_server.url), "c.yaml"), "c.yaml")
    await d.start()
    yield d
    await d.stop()


async def api(http: aiohttp.ClientSession, d: Daemon, method: str, path: str,
              body: Any = None) -> tuple[int, Any]:  # fmt: skip
    assert d.address is not None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with http.request(method, f"http://127.0.0.1:{d.address[1]}{path}", json=body,
                            headers=headers) as r:  # fmt: skip
        return r.status, await r.json()


async def test_a_completed_chat_is_rated_in_the_widget_before_it_closes(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(daemon), headers={"Origin": ORIGIN}) as ws:
            started = await start(ws)
            request_id = started["request"]
            await ws.send_json({"type": "rate", "score": 5})  # nothing asked yet
            refused = await expect(ws, "error")
            assert refused["code"] == "invalid" and refused["field"] == "type"
            await expect(ws, "assigned")
            status, _ = await api(http, daemon, "POST", f"/v1/requests/{request_id}/complete",
                                  {"resolution": "solved"})  # fmt: skip
            assert status == 200
            asked = await expect(ws, "survey")
            assert asked["dimensions"] == ["speed", "attitude", "effectiveness", "overall"]
            await ws.send_json({"type": "rate", "score": 9})
            bad = await frame(ws)
            assert bad["type"] == "error" and bad["field"] == "score"
            await ws.send_json({"type": "rate", "score": 4, "dimensions": {"speed": 5},
                                "comment": "quick and kind"})  # fmt: skip
            rated = await frame(ws)
            assert rated == {"type": "rated", "accepted": True, "score": 4}
            closed = await frame(ws)
            assert closed == {"type": "closed", "state": "completed"}
            end = await ws.receive(timeout=10)
            assert end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        status, view = await api(http, daemon, "GET", f"/v1/requests/{request_id}")
        assert status == 200
        assert view["feedback"]["score"] == 4 and view["feedback"]["via"] == "chat"
        assert view["feedback"]["dimensions"] == {"speed": 5, "overall": 4}
        assert view["feedback"]["comment"] == "quick and kind"
