"""The load side of `frontdesk bench load`: one driver per channel, against a target (target.py:
a running daemon described by its config, or daemons started on a generated config):

    form     POST /v1/requests with the site key                  (201 {id})
    webhook  POST /v1/webhooks/generic/<name>, HMAC-signed         (200 {request_id})
    smtp     one SMTP session per mail, EHLO .. DATA .. QUIT       (250 queued as FD-n)
    chat     GET /v1/chat/ws, a `start` frame                      (`started` {request})

Each driver returns the request id and the acknowledgement latency: from the last byte of the
message written to the acknowledgement read (the SMTP 250 after DATA's final dot, the HTTP
response, the `started` frame); connection set-up is not counted. Every target is on loopback
(127.0.0.1 or localhost): anything else is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

import aiohttp

from frontdesk.channels.social.generic import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from frontdesk.queues.errors import FrontdeskError
from frontdesk.router.bench.report import Outcome, Progress
from frontdesk.router.bench.target import CHANNELS, ORIGIN, Target

MAX_REQUESTS = 10_000_000  # hard bounds of one run, whatever the options say
MAX_DURATION_S = 3600.0
_TEXTS = [
    ("我的订单还没有发货", "你好, 订单 {i} 还没有发货, 请帮忙查一下。"),
    ("Refund for order {i}", "I was charged twice for order {i}; please refund one payment."),
    ("忘记密码", "我无法登录账号, 忘记了密码, 绑定的手机号也换了。"),
    ("VPN down", "The VPN client fails with error 809 since this morning, whole team affected."),
    ("发票开错了", "发票抬头开错了, 需要重新开具, 订单号 {i}。"),
    ("How do I export reports?", "Where is the export button for the monthly report?"),
]


class LoadError(FrontdeskError):
    """A request the target did not acknowledge (the bench's own record of a refusal it saw, not
    one frontdesk answers with); the message is the kind of error reported."""


# -- the drivers ----------------------------------------------------------------------------------
def _text(i: int) -> tuple[str, str]:
    subject, body = _TEXTS[i % len(_TEXTS)]
    return subject.format(i=i), body.format(i=i)


def _http_error(status: int, body: bytes) -> LoadError:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = ""
    return LoadError(f"http {status} {code}".strip())


class Drivers:
    """One request through a channel; each returns (request id, acknowledgement seconds)."""

    def __init__(
        self, target: Target, http: aiohttp.ClientSession, run: str, chat_hold_s: float
    ) -> None:
        self.t = target
        self.http = http
        self.run = run  # in every message id: a second run is never taken for a retry
        self.chat_hold_s = chat_hold_s
        self.holding: set[asyncio.Task[None]] = set()

    def url(self, i: int) -> str:
        return self.t.urls[i % len(self.t.urls)]

    async def form(self, i: int) -> tuple[str, float]:
        subject, text = _text(i)
        body = json.dumps(
            {
                "name": f"Customer {i}",
                "email": f"c{self.run}-{i}@load.test",
                "subject": subject,
                "body": text,
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Frontdesk-Site": self.t.form_site or "",
            "Origin": self.t.form_origin or ORIGIN,
            "Idempotency-Key": f"bench-{self.run}-{i}",
        }
        t0 = time.perf_counter()
        async with self.http.post(self.url(i) + "/v1/requests", data=body, headers=headers) as r:
            answer = await r.read()
        latency = time.perf_counter() - t0
        if r.status != 201:
            raise _http_error(r.status, answer)
        return str(json.loads(answer)["id"]), latency

    async def webhook(self, i: int) -> tuple[str, float]:
        subject, text = _text(i)
        sender = {"id": f"p{self.run}-{i}", "name": f"Partner customer {i}"}
        body = json.dumps(
            {"id": f"bench-{self.run}-{i}", "from": sender, "subject": subject, "text": text}
        ).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self.t.webhook_secret or "", stamp, body),
        }
        path = f"/v1/webhooks/generic/{self.t.webhook}"
        t0 = time.perf_counter()
        async with self.http.post(self.url(i) + path, data=body, headers=headers) as r:
            answer = await r.read()
        latency = time.perf_counter() - t0
        if r.status != 200:
            raise _http_error(r.status, answer)
        return str(json.loads(answer)["request_id"]), latency

    async def smtp(self, i: int) -> tuple[str, float]:
        host, port = self.t.smtp[i % len(self.t.smtp)]
        subject, text = _text(i)
        sender = f"m{self.run}-{i}@load.test"
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = f"Customer {i} <{sender}>", self.t.smtp_to, subject
        m["Message-ID"] = f"<bench-{self.run}-{i}@load.test>"
        m.set_content(text)
        return await send_mail(host, port, sender, self.t.smtp_to or "", m.as_bytes(policy=SMTP))

    async def chat(self, i: int) -> tuple[str, float]:
        subject, text = _text(i)
        url = f"{self.url(i)}/v1/chat/ws?site={self.t.chat_site}"
        ws = await self.http.ws_connect(url, headers={"Origin": self.t.chat_origin or ORIGIN})
        try:
            start = {
                "type": "start",
                "text": text,
                "topic": subject,
                "name": f"Visitor {i}",
                "contact": {"email": f"v{self.run}-{i}@load.test"},
                "id": f"bench{self.run}{i:010d}",
            }
            raw = json.dumps(start)
            t0 = time.perf_counter()
            await ws.send_str(raw)
            while True:  # bounded by the request timeout around this call
                frame = json.loads((await ws.receive()).data or "null") or {"type": "closed"}
                if frame["type"] == "started":
                    latency = time.perf_counter() - t0
                    break
                if frame["type"] in ("error", "closed"):
                    raise LoadError(f"chat {frame.get('code', 'closed')}")
        except BaseException:
            await ws.close()
            raise
        task = asyncio.create_task(self._hold(ws))  # the customer waits for an agent
        self.holding.add(task)
        task.add_done_callback(self.holding.discard)
        return str(frame["request"]), latency

    async def _hold(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Keep the customer's socket open until an agent is assigned or `chat_hold_s` passes."""
        with contextlib.suppress(TimeoutError, aiohttp.ClientError, ValueError):
            async with asyncio.timeout(self.chat_hold_s):
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] in (
                        "assigned",
                        "closed",
                    ):
                        break
        await ws.close()


async def _reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """One SMTP reply, multi-line ones whole: its code and text."""
    lines = []
    for _ in range(100):
        line = (await reader.readline()).decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            raise LoadError("smtp connection closed")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            break
    return int(lines[-1][:3]), "\n".join(lines)


async def send_mail(host: str, port: int, sender: str, to: str, data: bytes) -> tuple[str, float]:
    """One SMTP session delivering `data`; the request id from `250 ... queued as FD-n` and the
    seconds from DATA's final dot to that reply."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        code, _ = await _reply(reader)
        steps = [
            (b"EHLO bench.frontdesk.test", 250),
            (f"MAIL FROM:<{sender}>".encode(), 250),
            (f"RCPT TO:<{to}>".encode(), 250),
            (b"DATA", 354),
        ]
        if code != 220:
            raise LoadError(f"smtp {code}")
        for command, expected in steps:
            writer.write(command + b"\r\n")
            code, _ = await _reply(reader)
            if code != expected:
                raise LoadError(f"smtp {code}")
        stuffed = re.sub(rb"(?m)^\.", b"..", data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
        writer.write(stuffed.rstrip(b"\r\n") + b"\r\n.\r\n")
        t0 = time.perf_counter()
        code, text = await _reply(reader)
        latency = time.perf_counter() - t0
        if code != 250 or "queued as " not in text:
            raise LoadError(f"smtp {code}")
        writer.write(b"QUIT\r\n")
        with contextlib.suppress(LoadError, OSError):
            await _reply(reader)
        return text.split("queued as ", 1)[1].split()[0], latency
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# -- the run --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Plan:
    """How much to send: a mix of channels (weights), a rate (None: as fast as it goes, with
    `concurrency` requests in flight), bounded by `requests` and `duration_s`, whichever ends
    first."""

    mix: dict[str, float]
    rate: float | None = None
    duration_s: float = 10.0
    requests: int | None = None
    concurrency: int = 64
    timeout_s: float = 30.0
    chat_hold_s: float = 30.0
    seed: int = 1

    @property
    def limit(self) -> int:
        by_rate = int(self.rate * self.duration_s) if self.rate else MAX_REQUESTS
        return min(self.requests or MAX_REQUESTS, by_rate, MAX_REQUESTS)


def parse_mix(text: str) -> dict[str, float]:
    """`form=3,webhook=3,smtp=2,chat=2` -> weights; a channel may appear once."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in CHANNELS or name in mix:
            raise ValueError(
                f"unknown or repeated channel {name!r}; channels: {', '.join(CHANNELS)}"
            )
        mix[name] = float(weight or 1)
        if mix[name] < 0:
            raise ValueError(f"{name}: a weight is 0 or more")
    if not any(mix.values()):
        raise ValueError("give at least one channel a weight above 0")
    return mix


def interleave(mix: dict[str, float]) -> Iterator[str]:
    """Channels in proportion to their weights, spread evenly (smooth weighted round robin):
    form=3,webhook=3,smtp=2,chat=2 gives exactly 3, 3, 2 and 2 of every 10."""
    weights = {c: w for c, w in mix.items() if w > 0}
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0.0)
    while True:
        for c, w in weights.items():
            current[c] += w
        best = max(current, key=lambda c: current[c])
        current[best] -= total
        yield best


async def drive(plan: Plan, target: Target, progress: Progress) -> tuple[list[Outcome], float]:
    """Send `plan` to `target`; every outcome, and the seconds from the first send to the last
    acknowledgement. Bounded by the plan's count and duration, then by `timeout_s` per request."""
    missing = set(plan.mix) - set(target.channels)
    if missing:
        raise SystemExit(f"the target has no {', '.join(sorted(missing))} channel configured")
    pick = interleave(plan.mix)
    slots = asyncio.Semaphore(plan.concurrency)
    outcomes: list[Outcome] = []
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=0)  # `slots` bounds what is in flight
    timeout = aiohttp.ClientTimeout(total=plan.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        drivers = Drivers(target, http, secrets.token_hex(4), plan.chat_hold_s)
        send: dict[str, Callable[[int], Awaitable[tuple[str, float]]]] = {
            "form": drivers.form,
            "webhook": drivers.webhook,
            "smtp": drivers.smtp,
            "chat": drivers.chat,
        }
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def one(i: int, channel: str) -> None:
            outcome = Outcome(channel, loop.time() - t0)
            try:
                async with asyncio.timeout(plan.timeout_s):
                    outcome.request, outcome.latency_s = await send[channel](i)
            except LoadError as exc:
                outcome.error = str(exc)
            except TimeoutError:
                outcome.error = "timeout"
            except (aiohttp.ClientError, OSError) as exc:
                outcome.error = f"connection {type(exc).__name__}"
            finally:
                slots.release()
            outcomes.append(outcome)

        limit = plan.limit
        i = 0
        while i < limit:
            elapsed = loop.time() - t0
            if elapsed >= min(plan.duration_s, MAX_DURATION_S):
                break
            if plan.rate:
                delay = i / plan.rate - elapsed
                if delay > 0:
                    await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(i, next(pick)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
            if i % 50 == 0 or i == limit:
                done = max(i / limit, (loop.time() - t0) / plan.duration_s)
                ok = sum(1 for o in outcomes if o.error is None)
                progress.show(
                    done,
                    f"sent {i:,} acked {ok:,} errors {len(outcomes) - ok:,} "
                    f"{loop.time() - t0:5.1f} s",
                )
        if tasks:
            await asyncio.wait(list(tasks), timeout=plan.timeout_s + 5)
        intake_s = max((o.sent_s + (o.latency_s or 0) for o in outcomes), default=0.0)
        ok = sum(1 for o in outcomes if o.error is None)
        progress.show(
            1.0,
            f"sent {i:,} acked {ok:,} errors {len(outcomes) - ok:,} {intake_s:5.1f} s",
            final=True,
        )
        if drivers.holding:  # chat customers waiting for an agent, each for chat_hold_s at most
            await asyncio.wait(list(drivers.holding), timeout=plan.chat_hold_s + 1)
        for held in list(drivers.holding):
            held.cancel()
        if drivers.holding:
            await asyncio.wait(list(drivers.holding), timeout=10)
    return outcomes, intake_s
