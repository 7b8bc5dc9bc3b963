"""The audit: what Redis holds after a scenario, read through frontdesk's own stores (queues/),
against what the load generator was told.

- found: an acknowledged message's request exists (by the id the channel returned, or by its
  idempotency key `channel:external id` where the channel returns none); lost: acknowledged, not
  found.
- duplicated: one external message stored as more than one request (every request of the run,
  grouped by idempotency key), and the extra requests of threads that should have been one.
- double-assigned: the event stream shows a request offered or assigned to a second agent while a
  first held it, or an agent's holds disagree with the requests' records.
- over capacity: an agent's load on a channel above its capacity, or not the number it holds.
- stuck: after the drain, an acknowledged request still waiting, or offered/assigned to an agent
  with no socket open.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.states import HELD_STATES, TERMINAL_STATES, State
from frontdesk.queues.store import QueueStore, RequestRecord

from .load import Sent

PAGE = 5000
RELEASES = {
    EventType.EXPIRED,
    EventType.REJECTED,
    EventType.COMPLETED,
    EventType.ABANDONED,
    EventType.TRANSFERRED,
    EventType.ESCALATED,
    EventType.REQUEUED,  # a vanished agent's work, back to waiting (its hold released)
}


@dataclass(slots=True)
class Findings:
    sent: int = 0
    acknowledged: int = 0
    found: int = 0
    lost: int = 0
    duplicated: int = 0
    double_assigned: int = 0
    over_capacity: int = 0
    stuck: int = 0
    stuck_detail: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    same_delivery: int = 0  # extra requests made of one external message
    split: int = 0  # extra requests of threads that should have been one
    unheard: int = 0  # offers and assignments that never reached the agent's open socket
    unheard_gone: int = 0  # ... made to an agent who had vanished
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, what: str) -> None:
        self.examples.setdefault(kind, [])
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(what)


async def all_events(log: EventLog) -> list[Event]:
    """Every event of the tenant, oldest first (bounded by the stream's length)."""
    out: list[Event] = []
    start = "-"
    for _ in range(10_000):
        page = await log.range(start, "+", count=PAGE)
        out += page
        if len(page) < PAGE:
            break
        start = "(" + page[-1].id
    return out


async def records(store: QueueStore, ids: list[str]) -> dict[str, RequestRecord]:
    out: dict[str, RequestRecord] = {}
    for n in range(0, len(ids), 500):
        chunk = ids[n : n + 500]
        for rid, rec in zip(chunk, await store.get_many(chunk), strict=True):
            if rec is not None:
                out[rid] = rec
    return out


async def resolve(store: QueueStore, sent: list[Sent]) -> None:
    """Fill in the request of acknowledged messages whose channel named none, by their key."""
    for s in sent:
        if s.acked and s.request is None and s.key:
            s.request = await store.seen(s.key)


async def drain(store: QueueStore, ids: set[str], seconds: float, poll_s: float = 0.5) -> float:
    """Wait until every request of `ids` is closed, `seconds` at most; the seconds waited."""
    t0 = time.monotonic()
    pending = sorted(ids)
    while pending and time.monotonic() - t0 < seconds:
        found = await records(store, pending)
        pending = [i for i in pending if i not in found or found[i].state not in TERMINAL_STATES]
        if pending:
            await asyncio.sleep(poll_s)
    return time.monotonic() - t0


def replay(events: list[Event], f: Findings) -> None:
    """Double assignment seen in the stream: a request offered or assigned to an agent while
    another holds it, or accepted by an agent it was not offered to."""
    holder: dict[str, str] = {}
    for e in events:
        if e.type in (EventType.OFFERED, EventType.ASSIGNED):
            if holder.get(e.request) not in (None, e.agent):
                f.double_assigned += 1
                f.note("double_assigned", f"{e.request}: {holder[e.request]} and {e.agent}")
            holder[e.request] = e.agent
        elif e.type is EventType.ACCEPTED:
            if holder.get(e.request) not in (None, e.agent):
                f.double_assigned += 1
                f.note("double_assigned", f"{e.request}: accepted by {e.agent}")
            holder[e.request] = e.agent
        elif e.type in RELEASES:
            holder.pop(e.request, None)


async def agents_check(agents: AgentStore, found: dict[str, RequestRecord], f: Findings) -> None:
    """Holds against records, loads against holds and capacity."""
    held_by: dict[str, set[str]] = {}
    for rid, rec in found.items():
        if rec.state in HELD_STATES and rec.agent:
            held_by.setdefault(rec.agent, set()).add(rid)
    for agent in await agents.all():
        holds = await agents.holds(agent.id)
        records_say = held_by.get(agent.id, set())
        for rid in set(holds) ^ records_say:
            rec = found.get(rid)
            if rid in holds and rec is None:
                continue  # a request of another run
            f.double_assigned += 1
            f.note("holds_disagree", f"{agent.id}: {rid}")
        per_channel = Counter(holds.values())
        for channel in set(per_channel) | set(agent.load):
            load = agent.load.get(channel, 0)
            if load > agent.capacity.get(channel, 0) or load != per_channel.get(channel, 0):
                f.over_capacity += 1
                f.note(
                    "over_capacity",
                    f"{agent.id} {channel}: load {load}, holds "
                    f"{per_channel.get(channel, 0)}, capacity {agent.capacity.get(channel, 0)}",
                )


async def audit(
    redis: Redis,
    tenant: str,
    sent: list[Sent],
    live_agents: Callable[[], set[str]] | None,
    drain_s: float,
    threads: list[list[Sent]] | None = None,
    heard: set[tuple[str, str]] | None = None,
    vanished: set[str] | None = None,
) -> tuple[Findings, dict[str, Any]]:
    """The findings, and details for the JSON."""
    keys = Keys(tenant)
    store, agents, log = QueueStore(redis, keys), AgentStore(redis, keys), EventLog(redis, keys)
    f = Findings(sent=len(sent), acknowledged=sum(s.acked for s in sent))
    await resolve(store, sent)
    acked = {s.request for s in sent if s.acked and s.request}
    waited = await drain(store, acked, drain_s) if live_agents is not None else 0.0
    events = await all_events(log)
    every = sorted({e.request for e in events if e.type is EventType.ENQUEUED})
    found = await records(store, every)
    f.requests = len(found)
    for s in sent:
        if not s.acked:
            continue
        if s.request and s.request in found:
            f.found += 1
        else:
            f.lost += 1
            f.note("lost", f"{s.channel} #{s.i} {s.request or s.key}")
    by_key = Counter(r.request.idempotency_key for r in found.values() if r.request.idempotency_key)
    for key, n in by_key.items():
        if n > 1:
            f.duplicated += n - 1
            f.same_delivery += n - 1
            f.note("duplicated", f"{key} x{n}")
    for thread in threads or []:
        ids = {s.request for s in thread if s.acked and s.request}
        if len(ids) > 1:
            f.duplicated += len(ids) - 1
            f.split += len(ids) - 1
            f.note("split_thread", " ".join(sorted(ids)))
    replay(events, f)
    await agents_check(agents, found, f)
    if live_agents is not None:
        live = live_agents()
        for rid in sorted(acked):
            rec = found.get(rid)
            if rec is None or rec.state in TERMINAL_STATES:
                continue
            if rec.state is State.WAITING:
                why = "waiting"
            elif rec.agent in live:
                why = f"{rec.state.value} to a connected agent"
            else:
                why = f"{rec.state.value} to an agent gone"
            f.stuck += 1
            f.stuck_detail[why] = f.stuck_detail.get(why, 0) + 1
            f.note("stuck", f"{rid} {why}")
    if heard is not None:
        for e in events:
            if (
                e.type in (EventType.OFFERED, EventType.ASSIGNED)
                and (e.agent, e.request) not in heard
            ):
                gone = e.agent in (vanished or set())
                f.unheard_gone += gone
                f.unheard += not gone
                if not gone:
                    f.note("unheard_offer", f"{e.type.value} {e.request} to {e.agent}")
    details = {"drain_s": round(waited, 2), "events": len(events), "states": dict(
        Counter(r.state.value for r in found.values()))}  # fmt: skip
    return f, details
