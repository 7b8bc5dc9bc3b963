"""The load side of the chaos suite: frontdesk's bench drivers (router/bench/load.py) for form,
generic webhook, SMTP and chat, plus phone callbacks and Telegram; every message retried the way
its sender would (a dead daemon's connection, a 503, an SMTP 4xx: again, on the next daemon, with
the same external id) until a bound, and every answer recorded for the audit."""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import aiohttp

from frontdesk.channels.phone import signed_headers
from frontdesk.channels.social.generic import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from frontdesk.channels.social.telegram import SECRET_HEADER as TELEGRAM_SECRET
from frontdesk.router.bench.load import Drivers, LoadError, _http_error, _text, interleave
from frontdesk.router.bench.load import send_mail as bench_send_mail
from frontdesk.router.bench.target import ORIGIN, Target

CHANNELS = ("form", "webhook", "smtp", "chat", "phone", "telegram")
MIX = dict.fromkeys(CHANNELS, 1.0)
_STATUS = re.compile(r"^(http|smtp) (\d{3})")
RETRYABLE_4XX = {408, 409, 425, 429}


@dataclass(slots=True)
class Answer:
    """One attempt: when it was sent and answered (monotonic), and the status (`http 201`,
    `smtp 250`, `chat started`, `connection`, `timeout`)."""

    sent: float
    answered: float
    status: str
    code: int | None = None


@dataclass(slots=True)
class Sent:
    """One message and its fate: acknowledged with `request` (or found by `key`), or `error`."""

    channel: str
    i: int
    key: str | None = None
    request: str | None = None
    acked: bool = False
    error: str | None = None
    answers: list[Answer] = field(default_factory=list)


class ChaosDrivers(Drivers):
    """The bench drivers, with phone and Telegram, each attempt of a message on the next daemon
    (`shift` moves the first one: copies of one delivery on different daemons)."""

    def __init__(
        self,
        target: Target,
        http: aiohttp.ClientSession,
        run: str,
        chat_hold_s: float,
        phone_secret: str,
        telegram_secret: str,
        shift: int = 0,
    ) -> None:
        super().__init__(target, http, run, chat_hold_s)
        self.phone_secret = phone_secret
        self.telegram_secret = telegram_secret
        self.shift = shift
        self.attempts: dict[int, int] = {}
        self.base = int(run, 16) % 100_000

    def url(self, i: int) -> str:
        return self.t.urls[(i + self.shift + self.attempts.get(i, 0)) % len(self.t.urls)]

    def key(self, channel: str, i: int) -> str | None:
        """The idempotency key (channel:external id) a message becomes, where we know it."""
        if channel == "telegram":
            return f"social:telegram:{self.chat_id(i)}:{i}"
        if channel == "webhook":
            return f"social:{self.t.webhook}:bench-{self.run}-{i}"
        if channel == "smtp":
            return f"email:bench-{self.run}-{i}@load.test"
        return None

    def chat_id(self, i: int, sender: int | None = None) -> int:
        return 7_000_000_000_000 + self.base * 10_000_000 + (i if sender is None else sender)

    async def smtp(self, i: int) -> tuple[str, float]:
        n = i + self.shift + self.attempts.get(i, 0)
        host, port = self.t.smtp[n % len(self.t.smtp)]
        subject, text = _text(i)
        sender = f"m{self.run}-{i}@load.test"
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = f"Customer {i} <{sender}>", self.t.smtp_to, subject
        m["Message-ID"] = f"<bench-{self.run}-{i}@load.test>"
        m.set_content(text)
        return await bench_send_mail(
            host, port, sender, self.t.smtp_to or "", m.as_bytes(policy=SMTP)
        )

    async def form(self, i: int) -> tuple[str, float]:
        """The bench's form post; a resent one answers 200 with the same id."""
        subject, text = _text(i)
        body = json.dumps({"name": f"Customer {i}", "email": f"c{self.run}-{i}@load.test",
                           "subject": subject, "body": text}).encode()  # fmt: skip
        headers = {"Content-Type": "application/json", "X-Frontdesk-Site": self.t.form_site or "",
                   "Origin": self.t.form_origin or ORIGIN,
                   "Idempotency-Key": f"bench-{self.run}-{i}"}  # fmt: skip
        return await self._post(self.url(i) + "/v1/requests", body, headers, (200, 201), "id")

    async def webhook(self, i: int, sender: int | None = None) -> tuple[str, float]:
        """Message `i` of the generic webhook from customer `sender` (default: its own)."""
        subject, text = _text(i)
        who = f"p{self.run}-{i if sender is None else sender}"
        body = json.dumps(
            {
                "id": f"bench-{self.run}-{i}",
                "from": {"id": who, "name": f"Partner {who}"},
                "subject": subject,
                "text": text,
            }
        ).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                   SIGNATURE_HEADER: sign(self.t.webhook_secret or "", stamp, body)}  # fmt: skip
        url = self.url(i) + f"/v1/webhooks/generic/{self.t.webhook}"
        return await self._post(url, body, headers, 200, "request_id")

    async def phone(self, i: int, sender: int | None = None) -> tuple[str, float]:
        """Callback request `i` from number `sender` (default: its own)."""
        number = f"+86139{(self.base * 1000 + (i if sender is None else sender)) % 10**8:08d}"
        body = json.dumps(
            {
                "number": number,
                "name": f"Caller {i}",
                "reason": _text(i)[1],
                "id": f"call-{self.run}-{i}",
            }
        ).encode()
        headers = {"Content-Type": "application/json", **signed_headers(self.phone_secret, body)}
        return await self._post(self.url(i) + "/v1/callbacks", body, headers, (200, 201), "id")

    async def telegram(self, i: int, sender: int | None = None) -> tuple[str, float]:
        """Telegram message `i` in the chat of `sender` (default: its own); Telegram's answer
        names no request: the audit finds it by its key."""
        chat = self.chat_id(i, sender)
        update = {
            "update_id": i,
            "message": {
                "message_id": i,
                "from": {"id": chat, "is_bot": False, "first_name": "Wei", "language_code": "zh"},
                "chat": {"id": chat, "type": "private", "first_name": "Wei"},
                "date": int(time.time()),
                "text": _text(i)[1],
            },
        }
        body = json.dumps(update, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", TELEGRAM_SECRET: self.telegram_secret}
        await self._post(self.url(i) + "/v1/webhooks/telegram", body, headers, 200, None)
        return "", 0.0

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], ok: int | tuple[int, ...],
        field: str | None,
    ) -> tuple[str, float]:  # fmt: skip
        t0 = time.perf_counter()
        async with self.http.post(url, data=body, headers=headers) as r:
            answer = await r.read()
        latency = time.perf_counter() - t0
        if r.status not in (ok if isinstance(ok, tuple) else (ok,)):
            raise _http_error(r.status, answer)
        return (str(json.loads(answer)[field]) if field else ""), latency

    def send(self, channel: str) -> Callable[[int], Awaitable[tuple[str, float]]]:
        return {
            "form": self.form,
            "webhook": self.webhook,
            "smtp": self.smtp,
            "chat": self.chat,
            "phone": self.phone,
            "telegram": self.telegram,
        }[channel]


def classify(exc: BaseException) -> tuple[str, int | None]:
    """An attempt's failure as (status, code)."""
    if isinstance(exc, LoadError):
        text = str(exc)
        if m := _STATUS.match(text):
            return text, int(m[2])
        return text, None
    if isinstance(exc, TimeoutError):
        return "timeout", None
    return f"connection {type(exc).__name__}", None


def retryable(status: str, code: int | None) -> bool:
    """What a real sender tries again: no answer, a 5xx, a 408/409/425/429, an SMTP 4xx, a chat
    refusal; a 4xx is final."""
    if code is None:
        return True
    if status.startswith("smtp"):
        return 400 <= code < 500
    return code >= 500 or code in RETRYABLE_4XX


async def deliver(
    drivers: ChaosDrivers, channel: str, i: int, retry_for_s: float, timeout_s: float = 15.0
) -> Sent:
    """Message `i` through `channel`, tried again until acknowledged or `retry_for_s` is up."""
    sent = Sent(channel, i, drivers.key(channel, i))
    first = time.monotonic()
    rng = random.Random(i)
    for attempt in range(1000):
        drivers.attempts[i] = attempt
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                request, _ = await drivers.send(channel)(i)
        except (LoadError, TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            status, code = classify(exc)
            sent.answers.append(Answer(t0, time.monotonic(), status, code))
            sent.error = status
            if not retryable(status, code) or time.monotonic() - first > retry_for_s:
                return sent
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + rng.random()))
            continue
        sent.answers.append(Answer(t0, time.monotonic(), "ok", 200))
        sent.request, sent.acked, sent.error = request or None, True, None
        return sent
    return sent


@dataclass(frozen=True, slots=True)
class Plan:
    """`requests` messages at `rate` per second at most (the channels interleaved by `mix`),
    no more than `duration_s`, `concurrency` in flight."""

    rate: float
    duration_s: float
    requests: int = 1_000_000
    concurrency: int = 64
    retry_for_s: float = 30.0
    mix: dict[str, float] = field(default_factory=lambda: dict(MIX))


def new_drivers(
    target: Target, http: aiohttp.ClientSession, keys: Any, run: str | None = None,
    shift: int = 0, chat_hold_s: float = 1.0,
) -> ChaosDrivers:  # fmt: skip
    return ChaosDrivers(
        target, http, run or secrets.token_hex(4), chat_hold_s, keys.phone, keys.telegram, shift
    )


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        timeout=aiohttp.ClientTimeout(total=20),
    )


async def run_load(
    target: Target, keys: Any, plan: Plan, stop: asyncio.Event | None = None
) -> list[Sent]:
    """Send `plan`; every message's fate. `stop` ends sending early."""
    pick: Iterator[str] = interleave(plan.mix)
    slots = asyncio.Semaphore(plan.concurrency)
    out: list[Sent] = []
    tasks: set[asyncio.Task[None]] = set()
    async with session() as http:
        drivers = new_drivers(target, http, keys)
        t0 = time.monotonic()

        async def one(i: int, channel: str) -> None:
            try:
                out.append(await deliver(drivers, channel, i, plan.retry_for_s))
            finally:
                slots.release()

        for i in range(plan.requests):
            elapsed = time.monotonic() - t0
            if elapsed >= plan.duration_s or (stop is not None and stop.is_set()):
                break
            delay = i / plan.rate - elapsed
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(i, next(pick)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(list(tasks), timeout=plan.retry_for_s + 30)
        for held in list(drivers.holding):
            held.cancel()
        if drivers.holding:
            await asyncio.wait(list(drivers.holding), timeout=5)
    return out
