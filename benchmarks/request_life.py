"""One request's whole life, from the event export: a customer's email through the SMTP
channel, routing to an agent, its service-level clocks, the agent's reply and completion, the
survey notice through an SMTP relay and the customer's answer on the survey page, then the day's
quality sample and a reviewer's scores. Prints the request's events as `frontdesk events export`
writes them (one JSON object a line).

    python benchmarks/request_life.py            # a daemon on its own embedded Redis

Everything runs on this machine: the daemon (its embedded redis-server in a temporary
directory), a local SMTP relay that takes the notices, and real SMTP and HTTP clients.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import smtplib
import sys
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.smtp import SMTP

from frontdesk.router.cli.events import export
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.quality_task import sampler_of
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.http.auth import digest, new_token

TOKENS = {name: new_token() for name in ("ann", "qa")}
SUPPORT = "support@example.com"
CONFIG = f"""\
tenant: life
redis: {{data_dir: "@DATA@"}}
http: {{port: 0}}
calendars:
  desk:
    timezone: Asia/Shanghai
    hours: {{mon-sun: "00:00-24:00"}}
queues:
  email: {{mode: assign}}
default_queue: email
agents:
  - {{id: ann, name: Ann Lee, capacity: {{email: 5}}, presence: available}}
api:
  tokens:
    - {{name: ann, scope: agent, agent: ann, sha256: {digest(TOKENS["ann"])}}}
    - {{name: qa, scope: qa, sha256: {digest(TOKENS["qa"])}}}
channels:
  smtp:
    host: 127.0.0.1
    port: 0
    hostname: frontdesk.test
    addresses:
      {SUPPORT}: {{}}
notices:
  status_base_url: https://desk.example.com
  events: [enqueued, completed, survey]
  from: "Service Desk <{SUPPORT}>"
  smtp: {{host: 127.0.0.1, port: @RELAY@, security: none, timeout: 5s}}
sla:
  policies:
    - name: email
      when: {{channel: email}}
      targets:
        first_response: {{within: 2h, calendar: desk}}
        resolution: {{within: 1d, calendar: desk}}
surveys:
  accept_for: 7d
quality:
  sample: 100%
  calendar: desk
"""


class Relay:
    """Takes every notice the daemon sends."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(BytesParser(policy=default_policy).parsebytes(envelope.content))
        return "250 OK"


async def until(check: Any, what: str, tries: int = 1000) -> Any:
    for _ in range(tries):
        found = check()
        found = await found if asyncio.iscoroutine(found) else found
        if found:
            return found
        await asyncio.sleep(0.01)
    raise SystemExit(f"never happened: {what}")


async def life(data: Path) -> int:
    relay = Relay()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(relay, hostname="relay.test"), host="127.0.0.1", port=0
    )
    relay_port = server.sockets[0].getsockname()[1]
    text = CONFIG.replace("@DATA@", str(data)).replace("@RELAY@", str(relay_port))
    daemon = Daemon(parse_settings(text, "life.yaml"), "life.yaml")
    await daemon.start()
    try:
        assert daemon.address is not None
        smtp = next(c for c in daemon.channels if c.name == "smtp")
        assert smtp.address is not None
        mail = EmailMessage()
        mail["From"], mail["To"] = "Wang Fang <fang@example.net>", SUPPORT
        mail["Subject"], mail["Message-ID"] = "Cannot log in", "<life-1@mail.example.net>"
        mail.set_content("My password reset link does not work.")
        await asyncio.to_thread(_send, smtp.address[1], mail)  # a real client, off the loop
        request_id = await until(
            lambda: daemon.store.seen(f"email:{SUPPORT}:life-1@mail.example.net"), "intake"
        )

        async def state() -> str | None:
            record = await daemon.store.get(request_id)
            return record.state.value if record is not None else None

        await until(lambda: _is(state(), "assigned"), "the assignment")
        base = f"http://127.0.0.1:{daemon.address[1]}"
        async with aiohttp.ClientSession(base) as http:
            ann = {"Authorization": f"Bearer {TOKENS['ann']}"}
            reply = {"text": "Please try the new link we just sent."}
            async with http.post(f"/v1/requests/{request_id}/messages", json=reply, headers=ann):
                pass
            done = {"resolution": "solved"}
            async with http.post(f"/v1/requests/{request_id}/complete", json=done, headers=ann):
                pass
            survey = await until(lambda: _survey(relay, request_id), "the survey notice")
            async with http.post(survey, data={"overall": "5", "speed": "4"}) as answer:
                assert answer.status == 200, answer.status
            await until(lambda: _answered(daemon, request_id), "the answer")
            sampled = await sampler_of(daemon, daemon.store.keys).take(datetime.now(UTC).date())
            assert sampled is not None and sampled.size == 1, sampled
            scores = {d: 5 for d in daemon.settings.quality.dimensions}
            qa = {"Authorization": f"Bearer {TOKENS['qa']}"}
            async with http.post(f"/v1/requests/{request_id}/review", json={"scores": scores},
                                 headers=qa) as review:  # fmt: skip
                assert review.status == 200, await review.text()
        out = io.StringIO()
        await export(daemon.redis, daemon.store.keys.tenant, out)  # as `frontdesk events export`
        for line in out.getvalue().splitlines():
            row = json.loads(line)
            today = row["type"] == "quality.sampled" and row.get("size") != "0"
            if request_id in (row["req"], row.get("of")) or today:
                print(line)
        return 0
    finally:
        await daemon.stop()
        server.close()


def _send(port: int, mail: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)


async def _is(value: Any, wanted: str) -> bool:
    return await value == wanted


def _survey(relay: Relay, request_id: str) -> str | None:
    for mail in relay.mails:
        if request_id in mail["Subject"] and "How did we do" in mail["Subject"]:
            body = mail.get_body(("plain",)).get_content()
            link = r"https://desk\.example\.com(/v1/requests/\S+/survey\?token=\w+)"
            found = re.search(link, body)
            return found.group(1) if found else None
    return None


async def _answered(daemon: Daemon, request_id: str) -> bool:
    record = await daemon.store.get(request_id)
    return record is not None and record.feedback is not None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="frontdesk-life-") as tmp:
        return asyncio.run(life(Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
