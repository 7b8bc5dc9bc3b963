"""The wall's first paint: where every queue and agent stands, read in one MULTI together with
the id of the stream's last event, so that the page applies exactly the events after it; and the
last hour as the event stream has it (service level per queue by minute, when each agent's
presence last changed), read once per wall connection, never per event."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.wire import text
from frontdesk.router.screens.deps import Screens

LISTED = 50  # waiting requests listed per queue (the head: the oldest waits are among them)
AT_RISK_WITHIN_S = 600  # a breach due this soon is at risk
AT_RISK_LISTED = 200
HOUR_MS = 3600_000
HOUR_EVENTS = 20_000  # the last hour's events read at most (more: the figure is marked partial)
SERVICE_LEVEL_S = 30  # answered within this long counts toward the service level
_FIELDS = ("state", "queue", "channel", "enqueued_ms", "agent", "deadline")


@dataclass
class Hour:
    """The last hour's figures the page goes on counting from."""

    since_ms: int
    partial: bool = False
    buckets: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # queue: min: [in, n]
    open: dict[str, list[Any]] = field(default_factory=dict)  # request: [enqueued ms, queue]
    presence_ms: dict[str, int] = field(default_factory=dict)  # agent: last change

    def count(self, queue: str, ts_ms: int, within: bool) -> None:
        minute = ts_ms // 60_000 * 60_000
        bucket = self.buckets.setdefault(queue, {}).setdefault(minute, [0, 0])
        bucket[0] += int(within)
        bucket[1] += 1

    def observe(self, event: Event) -> None:
        t = event.type
        if t is EventType.ENQUEUED:
            self.open.setdefault(event.request, [event.ts_ms, event.queue])
        elif t in (EventType.ACCEPTED, EventType.ASSIGNED, EventType.ABANDONED):
            started = self.open.pop(event.request, None)
            if started is not None:  # its first answer (or its end) since it arrived
                soon = event.ts_ms - int(started[0]) <= SERVICE_LEVEL_S * 1000
                self.count(str(started[1]), event.ts_ms, soon and t is not EventType.ABANDONED)
        elif t is EventType.PRESENCE:
            self.presence_ms[event.agent] = event.ts_ms

    def view(self) -> dict[str, Any]:
        return {
            "since_ms": self.since_ms,
            "partial": self.partial,
            "threshold_s": SERVICE_LEVEL_S,
            "buckets": {
                q: [[m, *v] for m, v in sorted(b.items())] for q, b in self.buckets.items()
            },
            "open": self.open,
        }


def _agent(agent_id: str, raw: dict[bytes, bytes], holds: dict[bytes, bytes]) -> dict[str, Any]:
    f = {text(k): text(v) for k, v in raw.items()}
    return {
        "id": agent_id,
        "name": f.get("name", agent_id),
        "presence": f.get("presence", "offline"),
        "away_reason": f.get("away_reason", ""),
        "tier": int(f.get("tier", "1")),
        "capacity": {k[4:]: int(v) for k, v in f.items() if k.startswith("cap:")},
        "load": {k[5:]: int(v) for k, v in f.items() if k.startswith("load:") and int(v)},
        "wrap_up_until_ms": int(f.get("wrap_until_ms", "0")) or None,
        "available_since_ms": int(f.get("available_since_ms", "0")) or None,
        "holds": {text(k): text(v) for k, v in holds.items()},
    }


async def snapshot(screens: Screens) -> dict[str, Any]:
    """Every queue (waiting, its head), every agent (with what it holds), the requests at risk,
    the last event's id, and the last hour."""
    store, k = screens.store, screens.store.keys
    agent_ids = sorted(text(a) for a in await store.redis.smembers(k.agents))
    queues = sorted(set(screens.settings().queues) | await store.queue_names())
    now_ms = await store.now_ms()
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.xrevrange(k.events, "+", "-", count=1)
        for agent_id in agent_ids:
            pipe.hgetall(k.agent(agent_id))
            pipe.hgetall(k.holds(agent_id))
        for queue in queues:
            pipe.zcard(k.queue(queue))
            pipe.zrange(k.queue(queue), 0, LISTED - 1)
        pipe.zrangebyscore(k.sla_due, "-inf", now_ms + AT_RISK_WITHIN_S * 1000, start=0,
                           num=AT_RISK_LISTED * 2, withscores=True)  # fmt: skip
        replies: list[Any] = await pipe.execute()
    last = text(replies[0][0][0]) if replies[0] else "0-0"
    at = 1
    agents = []
    for agent_id in agent_ids:
        raw, holds = replies[at], replies[at + 1]
        at += 2
        if raw:
            agents.append(_agent(agent_id, raw, holds))
    waiting: dict[str, int] = {}
    listed: dict[str, list[str]] = {}
    for queue in queues:
        waiting[queue], listed[queue] = int(replies[at]), [text(r) for r in replies[at + 1]]
        at += 2
    risky = [(text(m), int(s)) for m, s in replies[at] if text(m).endswith("|b")]
    at_risk = {m.split("|", 1)[0]: due for m, due in risky[:AT_RISK_LISTED]}
    held = (r for a in agents for r in a["holds"])
    ids = sorted({*at_risk, *held, *(r for q in listed.values() for r in q)})
    requests = await _requests(screens, ids)
    hour = await _hour(screens, now_ms, last)
    for agent in agents:
        agent["since_ms"] = hour.presence_ms.get(agent["id"]) or (
            agent["available_since_ms"] if agent["presence"] == "available" else None
        )
    return {
        "last_event": last,
        "now_ms": now_ms,
        "queues": [{"name": q, "waiting": waiting[q], "listed": listed[q]} for q in queues],
        "agents": agents,
        "requests": requests,
        "at_risk": at_risk,
        "hour": hour.view(),
    }


async def _requests(screens: Screens, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Where each of `ids` stands (one pipelined read)."""
    store = screens.store
    async with store.redis.pipeline(transaction=False) as pipe:
        for request_id in ids:
            pipe.hmget(store.keys.request(request_id), *_FIELDS)
        rows = await pipe.execute()
    out: dict[str, dict[str, Any]] = {}
    for request_id, row in zip(ids, rows, strict=True):
        values: dict[str, Any] = {
            name: text(v) if v is not None else None for name, v in zip(_FIELDS, row, strict=True)
        }
        if values["state"] is None:
            continue
        out[request_id] = values | {
            "enqueued_ms": int(values["enqueued_ms"] or 0) or None,
            "deadline": int(values["deadline"] or 0) or None,
        }
    return out


async def _hour(screens: Screens, now_ms: int, last: str) -> Hour:
    store = screens.store
    hour = Hour(since_ms=now_ms - HOUR_MS)
    if last == "0-0":
        return hour
    entries: Any = await store.redis.xrange(store.keys.events, f"{hour.since_ms}-0", last,
                                            count=HOUR_EVENTS)  # fmt: skip
    hour.partial = len(entries) >= HOUR_EVENTS
    for entry_id, raw in entries:
        try:
            hour.observe(Event.from_entry(entry_id, raw))
        except (KeyError, ValueError):
            continue  # an entry of a kind this daemon does not know
    return hour


def event_view(event: Event) -> dict[str, Any]:
    """An event as the wall receives it (the routing explanation left out: it is long)."""
    data = {k: v for k, v in event.data.items() if k not in ("why", "actions")}
    return {"id": event.id, "type": event.type.value, "req": event.request, "agent": event.agent,
            "queue": event.queue, "ts": event.ts_ms, "data": data}  # fmt: skip


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
