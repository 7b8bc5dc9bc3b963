"""Agents in Redis, so that several daemons share one view of presence, capacity and load."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from redis.asyncio import Redis

from frontdesk.queues.request import Channel
from frontdesk.skills import Agent, Presence

from .errors import AgentRefused, ErrorCode, raise_for_code
from .keys import Keys
from .scripts import Scripts
from .wire import fields, text, texts


def _agent(agent_id: str, raw: dict[str, bytes]) -> Agent:
    f = {k: v.decode() for k, v in raw.items()}
    return Agent(
        id=agent_id,
        name=f["name"],
        skills={k: int(v) for k, v in json.loads(f["skills"]).items()},
        capacity={k[4:]: int(v) for k, v in f.items() if k.startswith("cap:")},
        tier=int(f["tier"]),
        groups=tuple(json.loads(f["groups"])),
        presence=Presence(f["presence"]),
        away_reason=f.get("away_reason", ""),
        load={k[5:]: int(v) for k, v in f.items() if k.startswith("load:") and int(v)},
        missed=int(f.get("missed", 0)),
        idle_since_ms=max(int(f.get("last_taken_ms", 0)), int(f.get("available_since_ms", 0))),
        wrap_until_ms=int(f.get("wrap_until_ms", 0)),
    )


class AgentStore:
    """Agent profiles and presence for one tenant; loads are changed only by request scripts."""

    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int = 1_000_000) -> None:
        self.redis = redis
        self.keys = keys
        self.stream_maxlen = stream_maxlen
        self.scripts = Scripts(redis)
        self._recent: tuple[float, list[Agent]] | None = None
        self._reading: asyncio.Future[list[Agent]] | None = None

    async def upsert(self, agent: Agent) -> bool:
        """Create the agent or update its profile; True when created. A new agent starts with
        `agent.presence`; an existing one keeps its own. Refuses a capacity below current load."""
        k = self.keys
        caps = [x for channel, cap in sorted(agent.capacity.items()) for x in (channel, cap)]
        result = await self.scripts.upsert_agent(
            [k.agent(agent.id), k.agents, k.events],
            [
                agent.id,
                agent.name,
                agent.tier,
                json.dumps(list(agent.groups)),
                json.dumps(agent.skills, sort_keys=True),
                agent.presence.value,
                self.stream_maxlen,
                *caps,
            ],
        )
        if isinstance(result, list):
            channel = text(result[1])
            raise AgentRefused(
                ErrorCode.CAPACITY_BELOW_LOAD,
                None,
                f"agent {agent.id} holds more {channel} requests than a capacity of "
                f"{agent.capacity.get(channel, 0)}",
            )
        return bool(result)

    async def set_presence(self, agent_id: str, presence: Presence, reason: str = "") -> Presence:
        """Set the agent's presence; returns the one it had."""
        k = self.keys
        result = await self.scripts.set_presence(
            [k.agent(agent_id), k.events],
            [agent_id, presence.value, reason, self.stream_maxlen],
        )
        raise_for_code(result, None, f"agent {agent_id}")
        return Presence(text(result))

    async def get(self, agent_id: str) -> Agent | None:
        raw = await self.redis.hgetall(self.keys.agent(agent_id))
        return _agent(agent_id, fields(raw)) if raw else None

    async def ids(self) -> list[str]:
        return sorted(texts(await self.redis.smembers(self.keys.agents)))

    async def all(self) -> list[Agent]:
        ids = await self.ids()
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(self.keys.agent(agent_id))
            raws = await pipe.execute()
        return [_agent(i, fields(raw)) for i, raw in zip(ids, raws, strict=True) if raw]

    async def get_many(self, agent_ids: list[str]) -> list[Agent | None]:
        """The agents of `agent_ids` in one round trip (None where one is gone)."""
        if not agent_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.hgetall(self.keys.agent(agent_id))
            raws = await pipe.execute()
        return [
            _agent(i, fields(raw)) if raw else None for i, raw in zip(agent_ids, raws, strict=True)
        ]

    async def recent(self, max_age_s: float = 0.5) -> list[Agent]:
        """Every agent as read at most `max_age_s` ago, one read shared by every caller that
        asks meanwhile: for estimates shown to many customers at once (queue position frames
        to hundreds of chat sockets woken by one event), not for decisions."""
        now = time.monotonic()
        if self._recent is not None and now - self._recent[0] <= max_age_s:
            return self._recent[1]
        if self._reading is None:
            self._reading = asyncio.ensure_future(self.all())
            self._reading.add_done_callback(self._read_done)
        return await asyncio.shield(self._reading)

    def _read_done(self, reading: asyncio.Future[list[Agent]]) -> None:
        self._reading = None
        if not reading.cancelled() and reading.exception() is None:
            self._recent = (time.monotonic(), reading.result())

    async def live(self, profiles: list[Agent]) -> list[Agent]:
        """`profiles` with their live presence, loads and idle clock read in one round trip
        (what changes between decision rounds; skills, groups and capacity do not)."""
        channels = [c.value for c in Channel]
        fields_ = ["presence", "last_taken_ms", "available_since_ms", "missed", "wrap_until_ms"]
        fields_ += [f"load:{c}" for c in channels]
        if not profiles:
            return []
        flat = await self.scripts.agents_live([self.keys.agent(a.id) for a in profiles], fields_)
        width = len(fields_)
        replies = [flat[i : i + width] for i in range(0, len(flat), width)]
        out = []
        for agent, reply in zip(profiles, replies, strict=True):
            if not reply[0]:
                continue  # gone since the profiles were read
            values = [text(v) or "0" for v in reply]
            loads = {c: int(v) for c, v in zip(channels, values[5:], strict=True) if int(v)}
            out.append(
                dataclasses.replace(
                    agent,
                    presence=Presence(values[0]),
                    idle_since_ms=max(int(values[1]), int(values[2])),
                    missed=int(values[3]),
                    wrap_until_ms=int(values[4]),
                    load=loads,
                )
            )
        return out

    async def holds(self, agent_id: str) -> dict[str, str]:
        """request id -> channel, for every request offered or assigned to the agent."""
        raw = await self.redis.hgetall(self.keys.holds(agent_id))
        return {text(k): text(v) for k, v in raw.items()}

    async def keep_socket_ticket(self, digest: str, token_name: str, ttl_s: int) -> None:
        """Keep a one-time agent socket ticket, by its sha256 `digest`, standing for the API token
        `token_name`, for `ttl_s` (the ticket itself is never stored)."""
        await self.redis.set(self.keys.ws_ticket(digest), token_name, ex=ttl_s)

    async def redeem_socket_ticket(self, digest: str) -> str | None:
        """The API token's name the ticket with this digest stands for, once: it is gone after
        (None when unknown, used or expired)."""
        found = await self.redis.getdel(self.keys.ws_ticket(digest))
        return text(found) if found is not None else None
