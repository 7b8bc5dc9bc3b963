"""The board: every agent's live state (profile, presence, load per channel, capacity, idle and
wrap-up clocks) kept in one daemon's memory, so that a decision round does not read every agent.

It is read whole once (one pipelined read), then kept up to date from the event stream: an event
naming an agent marks it, and the next round reads again only the agents marked (their live
fields in one script call; the whole hash for a created or updated profile). It is read whole
again when the stream shows a gap, and each agent is read again (its whole hash) at the latest
`resync_s` after it was last read, spread over time, so that a missed change cannot wedge it.
It is a hint: the offer and assign scripts check presence, capacity and load themselves and
refuse a stale move, and a refused move marks its agent to be read again.
"""

from __future__ import annotations

import random
import time

from frontdesk.queues.agents import AgentStore
from frontdesk.skills import Agent

RESYNC_S = 30.0  # the whole board is read again at least this often


class Board:
    """The agents of one tenant as this daemon last read them, and which ones to read again."""

    def __init__(self, agents: AgentStore, resync_s: float = RESYNC_S) -> None:
        self.store = agents
        self.resync_s = resync_s
        self.agents: dict[str, Agent] = {}
        self._order: list[str] = []  # agent ids, sorted: the order every round sees them in
        self._dirty: set[str] = set()  # live fields to read again
        self._profiles: set[str] = set()  # whole hash to read again (created, updated)
        self._until: dict[str, float] = {}  # agent id -> monotonic time to read it again by
        self._whole = True  # read every agent at the next refresh
        self._random = random.Random()
        self.reads = 0  # agents read since created (whole or live), for tests and benchmarks

    def touch(self, agent_id: str) -> None:
        """Something happened to the agent (offered, accepted, completed, presence...)."""
        if agent_id:
            self._dirty.add(agent_id)

    def profile_changed(self, agent_id: str) -> None:
        """The agent was created or its profile updated."""
        if agent_id:
            self._profiles.add(agent_id)

    def reset(self) -> None:
        """Read every agent again at the next refresh (a gap in the stream)."""
        self._whole = True

    def _read_again_by(self, agent_ids: list[str], now: float) -> None:
        # spread over time, so that agents read together are not all read again in one round
        for agent_id in agent_ids:
            self._until[agent_id] = now + self.resync_s * self._random.uniform(0.5, 1.0)

    async def refresh(self) -> list[Agent]:
        """Every agent, sorted by id, with what changed since the last refresh read again."""
        now = time.monotonic()
        if self._whole:
            self._whole = False
            self._dirty.clear()
            self._profiles.clear()
            every = await self.store.all()
            self.agents = {a.id: a for a in every}
            self._order = [a.id for a in every]
            self._until = {}
            self._read_again_by(self._order, now)
            self.reads += len(every)
            return every
        self._profiles.update(i for i, until in self._until.items() if until < now)
        whole = sorted(self._profiles | (self._dirty - self.agents.keys()))
        live = [self.agents[i] for i in sorted(self._dirty - set(whole)) if i in self.agents]
        self._dirty.clear()
        self._profiles.clear()
        if whole or live:
            await self._read(whole, live, now)
        return [self.agents[i] for i in self._order]

    async def _read(self, whole: list[str], live: list[Agent], now: float) -> None:
        self.reads += len(whole) + len(live)
        self._read_again_by(whole, now)
        before = len(self.agents)
        gone: set[str] = set()
        for agent_id, agent in zip(whole, await self.store.get_many(whole), strict=True):
            if agent is None:
                gone.add(agent_id)
            else:
                self.agents[agent_id] = agent
        fresh = await self.store.live(live)
        gone |= {a.id for a in live} - {a.id for a in fresh}
        for agent in fresh:
            self.agents[agent.id] = agent
        for agent_id in gone:
            self.agents.pop(agent_id, None)
            self._until.pop(agent_id, None)
        if gone or len(self.agents) != before:
            self._order = sorted(self.agents)
