"""What the quality tests share: a day of closed requests made through the store's own scripts
(enqueue, assign, complete, abandon), and settings whose day has the present instant near its
middle (a fixed-offset zone), so that no test's day straddles a midnight."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta, timezone

from frontdesk.queues.request import Channel, Request
from frontdesk.router.quality.config import QualitySettings
from frontdesk.skills import Agent, Presence

CHANNELS = (Channel.CHAT, Channel.EMAIL, Channel.PHONE, Channel.SOCIAL, Channel.FORM)
CATEGORIES = ("account", "product", "advice", "orders", "complaints", None)


async def gather_some(calls: list, at_once: int = 50) -> list:
    """Await `calls` (coroutines) `at_once` at a time: within the client's connection pool."""
    out = []
    for at in range(0, len(calls), at_once):
        out += await asyncio.gather(*calls[at : at + at_once])
    return out


def noon_zone() -> timezone:
    """A fixed-offset zone in which it is about noon now."""
    hour = datetime.now(UTC).hour
    offset = (12 - hour + 12) % 24 - 12  # -12..+11
    return timezone(timedelta(hours=offset))


def noon_zone_name() -> str:
    """The IANA name of noon_zone() (Etc/GMT-8 is UTC+8: the sign is POSIX's)."""
    hours = int(noon_zone().utcoffset(None).total_seconds() // 3600)
    return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


def settings_now(**fields: object) -> QualitySettings:
    return QualitySettings(zone=noon_zone(), **fields)  # type: ignore[arg-type]


async def close_requests(
    store, agents, n: int, n_agents: int, seed: int = 1, presence=Presence.AVAILABLE
) -> list[str]:
    """`n` closed requests: about 2% abandoned while waiting, the others assigned to one of
    `n_agents` agents and completed. Through the real scripts, many calls in flight at once
    (each tick's calls go in one pipeline). Offline agents (beside a daemon's dispatcher, that
    offers work to available ones) are given the work by a forced assignment."""
    pick = random.Random(seed)
    capacity = {c.value: n for c in CHANNELS}
    names = [f"agent-{i}" for i in range(n_agents)]
    await asyncio.gather(
        *(agents.upsert(Agent(a, a, capacity=capacity, presence=presence)) for a in names)
    )
    requests = [
        Request(
            "", pick.choices(CHANNELS, weights=(50, 25, 15, 7, 3))[0], "general",
            category=pick.choices(CATEGORIES, weights=(20, 30, 10, 25, 5, 10))[0],
            external_id=f"q-{seed}-{i}",
        )
        for i in range(n)
    ]  # fmt: skip
    ids: list[str] = []
    for at in range(0, n, 500):
        chunk = requests[at : at + 500]
        made = await gather_some([store.enqueue(r) for r in chunk])
        chunk_ids = [m.id for m in made]
        ids += chunk_ids
        held = {rid: names[pick.randrange(n_agents)] for rid in chunk_ids if pick.random() > 0.02}
        await gather_some([store.abandon(r) for r in chunk_ids if r not in held])
        await gather_some(
            [store.assign(r, a, force=presence is not Presence.AVAILABLE) for r, a in held.items()]
        )
        await gather_some([store.complete(r, a) for r, a in held.items()])
    return ids
