"""The daily quality sample's task, built for the daemon (router/quality/sampler.py): its review
store on the daemon's shared client, the settings read as they are at each look (a reload
applies at the next one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis

from frontdesk.queues.events import EventLog
from frontdesk.queues.keys import Keys
from frontdesk.queues.reviews import ReviewStore
from frontdesk.router.daemon.settings import Settings
from frontdesk.router.quality.sampler import Sampler


class Host(Protocol):
    """What the task needs of the daemon: its shared client and its current settings."""

    redis: Redis
    settings: Settings


def sampler_of(host: Host, keys: Keys) -> Sampler:
    s = host.settings.store
    reviews = ReviewStore(host.redis, keys, s.stream_maxlen, s.record_ttl_s)
    return Sampler(reviews, EventLog(host.redis, keys), lambda: host.settings.quality)


def quality_task(host: Host, keys: Keys, stopping: asyncio.Event) -> Callable[[], Awaitable[None]]:
    """One step of the task (the daemon runs it again and again, with backoff while Redis is
    down): sample every due day not sampled yet, then wait for the next day's instant, or for
    `stopping` (the daemon sets it before it cancels its tasks: a cancellation that a Redis
    call in flight swallowed would otherwise leave the wait to run its course)."""
    sampler = sampler_of(host, keys)

    async def step() -> None:
        await sampler.run(stopping, once=True)

    return step
