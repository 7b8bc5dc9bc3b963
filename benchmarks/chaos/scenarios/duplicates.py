"""duplicates: the same delivery 4x at once (spread over 2 daemons) and 4x one after another,
through every channel with an external id: one request each; and 4 different messages of one
sender at once across the 2 daemons (generic webhook, Telegram, phone): they thread onto one
request."""

from __future__ import annotations

import asyncio

from ..load import ChaosDrivers, Sent, deliver, new_drivers, session
from ..report import Row
from .base import Context, conclude, world

NAME = "duplicates"
COPIES = 4
SAME = ("form", "webhook", "smtp", "chat", "phone", "telegram")
THREADED = ("webhook", "telegram", "phone")
RETRY_S = 10.0


async def threaded(d: ChaosDrivers, channel: str, i: int, sender: int) -> Sent:
    """Message `i` from `sender`, as deliver() would send it."""
    sent = Sent(channel, i, d.key(channel, i))
    if channel == "telegram":
        sent.key = f"social:telegram:{d.chat_id(i, sender)}:{i}"
    send = {"webhook": d.webhook, "telegram": d.telegram, "phone": d.phone}[channel]
    try:
        request, _ = await send(i, sender)
    except Exception as exc:  # recorded, not raised: the audit counts what was acknowledged
        sent.error = f"{type(exc).__name__}: {exc}"
        return sent
    sent.request, sent.acked = request or None, True
    return sent


async def run(ctx: Context) -> Row:
    trials = ctx.size(5, 30)
    sent: list[Sent] = []
    threads: list[list[Sent]] = []
    async with world(ctx, 2, 0) as w, session() as http:
        target = w.target()
        run_id = None
        copies = []
        for shift in range(COPIES):
            d = new_drivers(target, http, w.secrets, run_id, shift=shift, chat_hold_s=0.2)
            run_id = d.run
            copies.append(d)
        i = 0
        for _ in range(trials):
            for channel in SAME:
                i += 1  # at once, one copy per daemon in turn
                sent += await asyncio.gather(*(deliver(d, channel, i, RETRY_S) for d in copies))
                i += 1  # one after another
                for d in copies:
                    sent.append(await deliver(d, channel, i, RETRY_S))
            for channel in THREADED:
                sender = 900_000 + i
                batch = await asyncio.gather(
                    *(threaded(d, channel, i + 1 + n, sender) for n, d in enumerate(copies))
                )
                i += COPIES
                threads.append(list(batch))
                sent += batch
        for d in copies:
            for held in list(d.holding):
                held.cancel()
        row = await conclude(NAME, w, sent, [], None, 0.0, threads)
    splits = sum(len({s.request for s in t if s.acked and s.request}) > 1 for t in threads)
    row.details["split_threads"] = splits
    row.note += (
        f"{trials} trials x {len(SAME)} channels x (4 at once + 4 in a row), and {trials} x "
        f"{len(THREADED)} threads of 4 senders' messages; {splits} of them split"
    )
    return row
