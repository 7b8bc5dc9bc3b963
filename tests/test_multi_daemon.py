"""Three `frontdesk serve` processes on one Redis, one of them SIGKILLed mid-load: every request
is still served exactly once, never offered to two agents at a time, no agent over capacity."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import QueueError
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Request
from frontdesk.queues.store import QueueStore

AGENTS = [f"a{i}" for i in range(6)]
SILENT = "a5"  # never answers: its offers expire and must be offered again by whoever is alive
REQUESTS = 150

CONFIG = """\
tenant: multi
redis: {{url: "{url}"}}
http: {{port: 0}}
offers: {{max_missed_in_a_row: 0}}
queues:
  chat: {{offer_timeout: 300ms}}
default_queue: chat
agents:
{agents}
"""


async def _agents_at_work(store: QueueStore, agents: AgentStore, stop: asyncio.Event) -> None:
    """Simulated agents: accept what they are offered, then complete it; SILENT never answers."""
    rng = random.Random(7)
    while not stop.is_set():
        for agent in AGENTS:
            if agent == SILENT:
                continue
            for request_id in await agents.holds(agent):
                record = await store.get(request_id)
                if record is None or record.agent != agent:
                    continue
                try:
                    if record.state.value == "offered":
                        await store.accept(request_id, agent)
                    elif rng.random() < 0.5:
                        await store.complete(request_id, agent, "done")
                except QueueError:
                    pass  # the offer expired under us: it goes to someone else
        await asyncio.sleep(0.01)


async def test_sigkill_one_of_three_daemons_mid_load(redis, redis_server, daemons, tmp_path):
    agents_yaml = "\n".join(
        f"  - {{id: {a}, capacity: {{chat: 2}}, presence: available}}" for a in AGENTS
    )
    config = tmp_path / "multi.yaml"
    config.write_text(CONFIG.format(url=redis_server.url, agents=agents_yaml))
    procs = [daemons(config) for _ in range(3)]
    for proc in procs:
        proc.wait_ready()

    keys = Keys("multi")
    store, agents = QueueStore(redis, keys), AgentStore(redis, keys)
    stop = asyncio.Event()
    workers = asyncio.create_task(_agents_at_work(store, agents, stop))
    peak: dict[str, int] = defaultdict(int)
    ids = []
    try:
        for i in range(REQUESTS):
            request = Request("", Channel.CHAT, "chat", external_id=f"m{i}")
            ids.append((await store.enqueue(request)).id)
            if i == REQUESTS // 3:
                procs[0].proc.kill()  # SIGKILL: no cleanup of any kind
            if i % 10 == 0:
                for agent in await agents.all():
                    peak[agent.id] = max(peak[agent.id], agent.load.get("chat", 0))
                await asyncio.sleep(0.05)
        for _ in range(3000):  # bounded: at most about 60 s
            records = [await store.get(r) for r in ids]
            if all(r is not None and r.state.value == "completed" for r in records):
                break
            for agent in await agents.all():
                peak[agent.id] = max(peak[agent.id], agent.load.get("chat", 0))
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await workers

    assert procs[0].proc.poll() is not None
    assert all(p.proc.poll() is None for p in procs[1:])
    states = [(await store.get(r)).state.value for r in ids]
    assert states.count("completed") == REQUESTS, states

    holder: dict[str, str | None] = {}
    offers, expired = defaultdict(int), defaultdict(int)
    for event in await EventLog(redis, keys).range():
        rid = event.request
        if event.type is EventType.OFFERED:
            assert holder.get(rid) is None, (
                f"{rid} offered to {event.agent} while {holder[rid]} held it"
            )
            holder[rid] = event.agent
            offers[rid] += 1
        elif event.type in (EventType.EXPIRED, EventType.REJECTED):
            assert holder.get(rid) == event.agent
            holder[rid] = None
            expired[rid] += 1
        elif event.type is EventType.COMPLETED:
            assert holder.get(rid) == event.agent and event.agent != SILENT
    assert all(offers[r] == 1 + expired[r] for r in ids)
    assert sum(expired.values()) > 0  # the silent agent's offers did expire and moved on
    assert max(peak.values()) <= 2
    for agent in await agents.all():
        assert agent.load.get("chat", 0) == len(await agents.holds(agent.id))
        assert agent.load.get("chat", 0) <= agent.capacity["chat"]
