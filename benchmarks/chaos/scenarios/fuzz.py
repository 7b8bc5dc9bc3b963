"""fuzz: a seeded generator's hostile bodies to every intake endpoint (form, generic webhook,
Telegram, WhatsApp, WeChat, phone), hostile chat frames over the WebSocket and hostile SMTP
sessions; each must get a 2xx or a 4xx (SMTP: 2xx or 5xx). Counted as server faults: HTTP 5xx,
an SMTP 451 (local error: the sender retries for days), a chat socket closed with 1011, and no
answer at all."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from collections import Counter
from typing import Any

import aiohttp

from frontdesk.channels.phone import SIGNATURE_HEADER as PHONE_SIGNATURE
from frontdesk.channels.phone import signature as phone_signature
from frontdesk.channels.social.generic import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from frontdesk.channels.social.telegram import SECRET_HEADER as TELEGRAM_SECRET
from frontdesk.router.bench.target import ORIGIN

from .. import fuzzcases as fc
from ..report import Row
from ..world import WECHAT_APP, World
from .base import Context, world

NAME = "fuzz"
HTTP_ENDPOINTS = ("form", "webhook", "telegram", "whatsapp", "wechat", "phone")
CONCURRENCY = 16
CASE_TIMEOUT_S = 15.0


def templates(i: int) -> dict[str, Any]:
    return {
        "form": {"name": "Fuzz", "email": f"f{i}@fuzz.test", "subject": "s", "body": "b"},
        "webhook": {"id": f"fz-{i}", "from": {"id": f"u{i}", "name": "F"}, "text": "hi"},
        "telegram": {"update_id": i, "message": {
            "message_id": i, "from": {"id": 5000 + i, "is_bot": False, "first_name": "F"},
            "chat": {"id": 5000 + i, "type": "private"}, "date": 1767225600, "text": "hi"}},
        "whatsapp": {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1065"},
                "contacts": [{"profile": {"name": "F"}, "wa_id": f"86138{i:08d}"}],
                "messages": [{"from": f"86138{i:08d}", "id": f"wamid.fz{i}",
                              "timestamp": "1749416383", "type": "text",
                              "text": {"body": "hi"}}]}}]}]},
        "phone": {"number": f"+86137{i:08d}", "name": "F", "reason": "call me", "id": f"c{i}"},
    }  # fmt: skip


def wechat_xml(i: int) -> bytes:
    return (f"<xml><ToUserName><![CDATA[{WECHAT_APP}]]></ToUserName><FromUserName><![CDATA["
            f"oFuzz{i}]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA["
            f"text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>{10**15 + i}</MsgId>"
            "</xml>").encode()  # fmt: skip


def http_case(
    w: World, endpoint: str, i: int, rng: random.Random
) -> tuple[str, bytes, dict[str, str], dict[str, str]]:
    """(path, body, headers, query) of case `i`, signed so that it reaches the parser."""
    keys, g = w.secrets, w.generated
    if endpoint == "wechat":
        body = fc.mutate_xml(wechat_xml(i), rng)
        stamp, nonce = str(int(time.time())), str(rng.randrange(10**9))
        mac = hashlib.sha1("".join(sorted([keys.wechat, stamp, nonce])).encode()).hexdigest()
        query = {"signature": mac, "timestamp": stamp, "nonce": nonce}
        return "/v1/webhooks/wechat", body, {"Content-Type": "text/xml"}, query
    body = fc.mutate_json(templates(i)[endpoint], rng)
    headers = {"Content-Type": rng.choice(["application/json"] * 5 + ["text/plain", ""])}
    if endpoint == "form":
        headers |= {"X-Frontdesk-Site": g.form_site, "Origin": ORIGIN,
                    "Idempotency-Key": f"fz-{i}"}  # fmt: skip
        return "/v1/requests", body, headers, {}
    if endpoint == "webhook":
        stamp = str(int(time.time()))
        headers |= {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(g.webhook_secret, stamp, body)}
        return "/v1/webhooks/generic/bench", body, headers, {}
    if endpoint == "telegram":
        return "/v1/webhooks/telegram", body, headers | {TELEGRAM_SECRET: keys.telegram}, {}
    if endpoint == "whatsapp":
        mac = hmac.new(keys.whatsapp.encode(), body, hashlib.sha256).hexdigest()
        return "/v1/webhooks/whatsapp", body, headers | {"X-Hub-Signature-256": f"sha256={mac}"}, {}
    headers |= {TIMESTAMP_HEADER: str(int(time.time())),
                PHONE_SIGNATURE: phone_signature(keys.phone, body)}  # fmt: skip
    return "/v1/callbacks", body, headers, {}


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.ok = 0
        self.faults = 0
        self.by: Counter[str] = Counter()
        self.examples: list[str] = []
        self.fault_kinds: Counter[str] = Counter()

    def add(self, endpoint: str, outcome: str, fault: bool, ok: bool, what: bytes = b"") -> None:
        self.cases += 1
        self.ok += ok
        self.by[f"{endpoint} {outcome}"] += 1
        if fault:
            self.faults += 1
            self.fault_kinds[f"{endpoint} {outcome}"] += 1
            if len(self.examples) < 12:
                self.examples.append(f"{endpoint} {outcome}: {what[:160]!r}")


async def one_http(http: aiohttp.ClientSession, w: World, endpoint: str, i: int,
                   rng: random.Random, t: Tally) -> None:  # fmt: skip
    path, body, headers, query = http_case(w, endpoint, i, rng)
    url = w.daemons[i % len(w.daemons)].url + path
    try:
        async with http.post(url, data=body, headers=headers, params=query) as r:
            await r.read()
        t.add(endpoint, f"http {r.status}", r.status >= 500, r.status < 300, body)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        t.add(endpoint, f"no answer {type(exc).__name__}", True, False, body)


async def one_chat(http: aiohttp.ClientSession, w: World, i: int, rng: random.Random,
                   t: Tally) -> None:  # fmt: skip
    url = f"{w.daemons[i % len(w.daemons)].url}/v1/chat/ws?site={w.generated.chat_site}"
    start = {"type": "start", "text": "hi", "name": "F", "id": f"fz{i:012d}",
             "contact": {"email": f"c{i}@fuzz.test"}}  # fmt: skip
    frames = [fc.mutate_json(start, rng)]
    if rng.random() < 0.4:
        follow = {"type": "message", "text": "more", "id": f"m{i}"}
        frames = [json.dumps(start).encode(), fc.mutate_json(follow, rng)]
    try:
        async with http.ws_connect(url, headers={"Origin": ORIGIN}, max_msg_size=0) as ws:
            outcome = "answered"
            for frame in frames:
                if rng.random() < 0.1:
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(
                        frame.decode("utf-8", "surrogateescape").encode("utf-8", "replace").decode()
                    )
                msg = await ws.receive(timeout=5)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING):  # fmt: skip
                    outcome = f"closed {ws.close_code}"
                    break
                if msg.type is aiohttp.WSMsgType.TEXT:
                    outcome = str(json.loads(msg.data).get("type"))
        code = ws.close_code or 0
        t.add("chat", outcome, code >= 1011 or outcome == "closed None", outcome == "started",
              frames[-1])  # fmt: skip
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        t.add("chat", f"no answer {type(exc).__name__}", True, False, frames[-1])


async def _reply(reader: asyncio.StreamReader) -> int | None:
    for _ in range(50):
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            return None
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]) if line[:3].isdigit() else None
    return None


async def one_smtp(w: World, i: int, rng: random.Random, t: Tally) -> None:
    commands = fc.smtp_case(rng, "support@bench.frontdesk.test")
    port = w.daemons[i % len(w.daemons)].smtp_port
    codes: list[int | None] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            codes.append(await _reply(reader))
            for command in [b"EHLO fuzz.test", *commands]:
                writer.write(command + b"\r\n")
                codes.append(code := await _reply(reader))
                if code is None or code >= 400:
                    break
            writer.write(b"QUIT\r\n")
        finally:
            writer.close()
    except (OSError, TimeoutError) as exc:
        t.add("smtp", f"no answer {type(exc).__name__}", True, False, commands[-1])
        return
    last = codes[-1]
    t.add("smtp", f"smtp {last}", last is None or last == 451, last == 250, b" | ".join(commands))


async def run(ctx: Context) -> Row:
    per = ctx.size(300, 1300)  # cases per endpoint: 8 endpoints
    rng = random.Random(ctx.seed)
    t = Tally()
    async with world(ctx, 2, 0) as w:
        slots = asyncio.Semaphore(CONCURRENCY)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=CASE_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

            async def bounded(case: Any) -> None:
                async with slots:
                    await case

            cases = []
            for i in range(per):
                for endpoint in HTTP_ENDPOINTS:
                    cases.append(one_http(http, w, endpoint, i, random.Random(rng.random()), t))
                cases.append(one_chat(http, w, i, random.Random(rng.random()), t))
                cases.append(one_smtp(w, i, random.Random(rng.random()), t))
            await asyncio.gather(*(bounded(c) for c in cases))
        logs = w.log_counts()
    row = Row(NAME, sent=t.cases, acknowledged=t.ok, http_5xx=t.faults,
              tracebacks=logs["tracebacks"])  # fmt: skip
    row.details = {"outcomes": dict(sorted(t.by.items())), "examples": t.examples, "log": logs,
                   "seed": ctx.seed, "run": secrets.token_hex(2)}  # fmt: skip
    worst = [f"{k} x{n}" for k, n in t.fault_kinds.most_common(4)]
    row.details["faults"] = dict(t.fault_kinds)
    row.note = f"{t.cases:,} cases (seed {ctx.seed}); faults by kind: {', '.join(worst) or 'none'}"
    return row
