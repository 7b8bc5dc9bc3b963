"""The OpenAPI document stays true: schemathesis generates calls for every documented operation
against a running daemon (a real process) and checks every answer against the document."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from redis.asyncio import Redis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.http.auth import digest, new_token

TOKEN = new_token()
CONFIG = f"""\
tenant: api
redis:
  data_dir: {{data}}
http: {{port: 0}}
skills: [billing]
queues:
  chat: {{offer_timeout: 30s, escalate_to: l2}}
  l2: {{tier: 2}}
default_queue: chat
agents:
  - {{id: ann, skills: {{billing: 3}}, capacity: {{chat: 2}}, presence: available}}
api:
  tokens:
    - {{name: sup, scope: supervisor, sha256: {digest(TOKEN)}}}
channels:
  chat:
    sites: [{{key: site-openapi-0001}}]
  social:
    generic:
      partner: {{secret: 0123456789abcdef0123456789abcdef}}
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    from daemon_proc import DaemonProcess

    tmp = tmp_path_factory.mktemp("openapi")
    config = tmp / "api.yaml"
    config.write_text(CONFIG.replace("{data}", str(tmp / "data")))
    daemon = DaemonProcess(config, tmp)
    daemon.wait_ready()
    asyncio.run(_seed(tmp / "data" / "redis.sock"))
    yield daemon
    daemon.kill()


async def _seed(socket: Path) -> None:
    """Requests for the generated calls to find (they all use these ids)."""
    redis = Redis.from_url(f"unix://{socket}")
    store = QueueStore(redis, Keys("api"))
    for i in range(3):
        await store.enqueue(Request("", Channel.CHAT, "chat", external_id=f"seed-{i}", subject="?"))
    await redis.aclose()


@pytest.fixture(scope="module")
def api_schema(running):
    return schemathesis.openapi.from_url(f"{running.url}/v1/openapi.json")


# The wall's feed never ends (server-sent events): each generated call would read it until a
# timeout; tests/test_screens_http.py reads its snapshot and events.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/v1/wall/stream")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, running: object) -> None:
    parameters = case.path_parameters or {}
    if "id" in parameters:
        parameters["id"] = "FD-1"
    if "agent" in parameters:
        parameters["agent"] = "ann"
    case.call_and_validate(
        base_url=running.url,  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_the_document_lists_every_route(running, repo_root: Path) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{running.url}/v1/openapi.json") as answer:
        document = json.load(answer)
    assert document["openapi"] == "3.1.0"
    paths = set(document["paths"])
    for path in ("/v1/requests/{id}", "/v1/requests/{id}/accept", "/v1/agents/{agent}/presence",
                 "/v1/queues", "/v1/webhooks/generic/{name}"):  # fmt: skip
        assert path in paths
