"""What the queue operation tests share (tests/test_queue_ops_*.py, test_liveness_scripts.py):
building requests and agents, reading back state, and `Events`, the tracker of the events an
operation appended (the `events` fixture in conftest.py gives one per test)."""

from __future__ import annotations

from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.request import Channel, Priority, Request
from frontdesk.queues.states import State
from frontdesk.skills import Agent, Presence

BAND_SHIFT = 2**32


def new_request(
    queue="general",
    channel=Channel.CHAT,
    external_id=None,
    priority=Priority.MEDIUM,
    **fields,
):
    return Request(
        id="",
        channel=channel,
        queue=queue,
        external_id=external_id,
        priority=priority,
        **fields,
    )


class Events:
    """The events appended since the last call to `new()`."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.seen = 0

    async def new(self) -> list[Event]:
        every = await self.log.range()
        fresh = every[self.seen :]
        self.seen = len(every)
        return fresh

    async def types(self) -> list[EventType]:
        return [e.type for e in await self.new()]

    async def one(self, etype: EventType) -> Event:
        """Exactly one new event, of type `etype`."""
        fresh = await self.new()
        assert [e.type for e in fresh] == [etype]
        return fresh[0]

    async def none(self) -> None:
        assert await self.types() == []


async def add_agent(agents, agent_id, presence=Presence.AVAILABLE, capacity=None, **fields):
    created = await agents.upsert(
        Agent(
            id=agent_id,
            name=agent_id.title(),
            capacity={"chat": 2} if capacity is None else capacity,
            presence=presence,
            **fields,
        )
    )
    assert created is True
    return agent_id


async def enqueue(store, **fields) -> str:
    result = await store.enqueue(new_request(**fields))
    assert result.created
    return result.id


async def redis_ms(redis) -> int:
    seconds, micros = await redis.time()
    return seconds * 1000 + micros // 1000


async def offered_ids(redis, keys) -> set[str]:
    return {m.decode() for m in await redis.zrange(keys.offers, 0, -1)}


async def load(agents, agent_id, channel="chat") -> int:
    agent = await agents.get(agent_id)
    return agent.load.get(channel, 0)


async def state_of(store, request_id) -> State:
    return (await store.get(request_id)).state
