"""The chat conversations' last-heard times in Redis (queues/conversations.py), shared by every
daemon for the chat idle timeout: what one daemon heard keeps a conversation from being idle for
another, a conversation never heard of is idle, and a forgotten one is gone from Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from frontdesk.queues.conversations import HeardConversations
from frontdesk.queues.keys import Keys


async def test_heard_by_one_daemon_is_not_idle_for_another(redis: Redis, keys: Keys) -> None:
    here, there = HeardConversations(redis, keys), HeardConversations(redis, keys)
    assert await there.sweep(60_000, ["chat-1"], []) == set()
    assert await here.sweep(60_000, [], ["chat-1", "chat-2"]) == {"chat-2"}  # never heard of
    assert await redis.zscore(keys.chat_heard, "chat-1") is not None


async def test_quiet_past_the_idle_time_is_idle_and_forget_drops_it(
    redis: Redis, keys: Keys
) -> None:
    heard = HeardConversations(redis, keys)
    await heard.sweep(100, ["chat-1", "chat-2"], [])
    await asyncio.sleep(0.15)
    assert await heard.sweep(100, ["chat-2"], ["chat-1", "chat-2"]) == {"chat-1"}
    await heard.forget("chat-1")
    assert await redis.zscore(keys.chat_heard, "chat-1") is None
    assert await redis.zscore(keys.chat_heard, "chat-2") is not None
