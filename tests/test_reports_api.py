"""GET /v1/reports/{name}: a supervisor's (or admin's) reports as JSON, CSV or an HTML page with
its charts; the other scopes refused; every bad parameter a 400 naming it."""

from __future__ import annotations

import pytest
from api_services import services as api_services
from test_reports_figures import DESK, SEQUENCE

from frontdesk.queues.reports import EventAdds, ReportStore
from frontdesk.router.api.app import create_app
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token
from frontdesk.router.reports.figures import Basis, adds

TOKENS = {name: new_token() for name in ("sup", "adm", "ann", "hd", "qa")}
CONFIG = f"""\
tenant: test
redis: {{url: "{{url}}"}}
queues: {{general: {{}}}}
default_queue: general
agents:
  - {{id: ann, name: Ann, capacity: {{chat: 1}}, presence: offline}}
calendars:
  desk:
    timezone: Asia/Shanghai
    hours: {{mon-fri: "08:30-18:00"}}
api:
  tokens:
    - {{name: sup, scope: supervisor, sha256: {digest(TOKENS["sup"])}}}
    - {{name: adm, scope: admin, sha256: {digest(TOKENS["adm"])}}}
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: hd, scope: integration, sha256: {digest(TOKENS["hd"])}}}
    - {{name: qa, scope: qa, sha256: {digest(TOKENS["qa"])}}}
"""
SPAN = "from=2026-03-02&to=2026-03-03"


@pytest.fixture
async def client(aiohttp_client, redis, keys, store, agents, redis_server):
    settings = parse_settings(CONFIG.replace("{url}", redis_server.url), "reports.yaml")
    reports = ReportStore(redis, keys)
    await reports.apply([EventAdds(e.id, adds(e, Basis(DESK))) for e in SEQUENCE], live=False)
    return await aiohttp_client(create_app(await api_services(settings, redis, store, agents)))


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


async def test_a_supervisor_reads_json_csv_and_html(client):
    reply = await client.get(f"/v1/reports/fcr?{SPAN}", headers=auth("sup"))
    assert reply.status == 200
    body = await reply.json()
    assert (body["report"], body["timezone"], body["calendar"]) == ("fcr", "Asia/Shanghai", "desk")
    assert [r["fcr_rate"] for r in body["rows"] if r["period"] == "all"] == [0.5, 0.0]

    reply = await client.get(f"/v1/reports/volume?{SPAN}&by=week&format=csv", headers=auth("adm"))
    assert reply.status == 200 and reply.content_type == "text/csv"
    lines = (await reply.text()).splitlines()
    assert lines[0].startswith("period,channel,requests") and lines[1].startswith(
        "2026-03-02,chat,3"
    )

    reply = await client.get(f"/v1/reports/overview?{SPAN}&format=html", headers=auth("sup"))
    page = await reply.text()
    assert reply.status == 200 and reply.content_type == "text/html"
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.count("<svg") == 4 and "<script" not in page
    for title in ("Requests per hour by channel", "First response time by channel",
                  "Service-level attainment", "Satisfaction by day"):  # fmt: skip
        assert title in page
    assert "too slow" in page  # the low score's comment


@pytest.mark.parametrize("who", ["ann", "hd", "qa"])
async def test_other_scopes_are_refused(client, who):
    reply = await client.get(f"/v1/reports/overview?{SPAN}", headers=auth(who))
    assert reply.status == 403


async def test_no_token_is_401(client):
    reply = await client.get(f"/v1/reports/overview?{SPAN}")
    assert reply.status == 401


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/reports/nope", "name"),
        ("/v1/reports/volume?from=yesterday", "from"),
        ("/v1/reports/volume?from=2026-03-04&to=2026-03-03", "from"),
        ("/v1/reports/volume?to=2026-02-30", "to"),
        ("/v1/reports/volume?by=hour", "by"),
        ("/v1/reports/volume?group=agent", "group"),
        ("/v1/reports/volume?calendar=moon", "calendar"),
        ("/v1/reports/volume?format=pdf", "format"),
        ("/v1/reports/volume?colour=red", "colour"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(client, path, field):
    reply = await client.get(path, headers=auth("sup"))
    assert reply.status == 400
    error = (await reply.json())["error"]
    assert (error["code"], error["field"]) == ("invalid", field)


async def test_the_openapi_document_describes_it(client):
    doc = await (await client.get("/v1/openapi.json")).json()
    op = doc["paths"]["/v1/reports/{name}"]["get"]
    assert {p["name"] for p in op["parameters"]} == {
        "name", "from", "to", "by", "group", "calendar", "format"
    }  # fmt: skip
    assert {"200", "400", "401", "403"} <= set(op["responses"])
