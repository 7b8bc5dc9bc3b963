"""The figures kept live: a scripted shift through the real scripts on the real Redis, its
events followed by two outbox engines (two daemons) with the reports sink, each event counted
once; what the scripts put on the events (durations, first-contact resolution); an event
delivered again; the rebuild from an export equal to the live figures; the command line."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter

import pytest
from queue_ops_helpers import add_agent, new_request
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.feedback import Scoring
from frontdesk.queues.keys import Keys
from frontdesk.queues.outbox import Outbox, group_name
from frontdesk.queues.reports import HOUR_MS, EventAdds, ReportStore
from frontdesk.queues.request import Channel, Message
from frontdesk.queues.store import QueueStore
from frontdesk.router.cli import events as events_cli
from frontdesk.router.cli import report as report_cli
from frontdesk.router.outbound.outbox import EngineOptions, OutboxEngine, Target
from frontdesk.router.outbound.sinks import DeliveryContext
from frontdesk.router.reports.figures import Basis, adds
from frontdesk.router.reports.rebuild import rebuild
from frontdesk.router.reports.sink import SINK_NAME, ReportSink
from frontdesk.skills import Presence

SCORING = Scoring(accept_for_s=3600, low_at_most=2, low_for_s=60, good_at_least=4)
FAST = EngineOptions(wait_s=0.05, claim_idle_s=0.5, redis_retry_s=0.05, start="0")


async def shift(store: QueueStore, agents: AgentStore) -> dict[str, str]:
    """Three requests: one answered and resolved by its first agent, one transferred and
    resolved by another, one abandoned; a survey answer of each kind; ann goes away."""
    await add_agent(agents, "ann")
    await add_agent(agents, "bob")
    ids = {}
    for name, category in (("fcr", "orders"), ("moved", "account"), ("left", "orders")):
        request = new_request(category=category, channel=Channel.CHAT)
        ids[name] = (await store.enqueue(request)).id
    await store.offer(ids["fcr"], "ann", 30)
    await store.accept(ids["fcr"], "ann")
    await store.append_message(ids["fcr"], Message("hello", author="agent"))
    await store.append_message(ids["fcr"], Message("again", author="agent"))  # not a first
    await store.complete(ids["fcr"], "ann", "solved")
    await store.assign(ids["moved"], "bob")
    await store.transfer(ids["moved"], "billing", "not mine")
    await store.assign(ids["moved"], "ann")
    await store.complete(ids["moved"], "ann", "solved")
    await store.abandon(ids["left"], "customer left")
    await store.feedback.answer(ids["fcr"], 5, {}, "", "page", SCORING, None)
    await store.feedback.answer(ids["moved"], 1, {}, "slow", "page", SCORING, None)
    await agents.set_presence("ann", Presence.AWAY, "lunch")
    return ids


async def stream(redis: Redis, keys: Keys) -> list[Event]:
    return await EventLog(redis, keys).range()


def expected(events: list[Event], basis: Basis) -> dict[int, Counter[str]]:
    """What each event adds, once: the figures by hour, summed in Python."""
    out: dict[int, Counter[str]] = {}
    for event in events:
        for a in adds(event, basis):
            if a.target == "h":
                out.setdefault(a.hour, Counter())[a.field] += int(a.value)
    return out


async def live(store: ReportStore, events: list[Event]) -> dict[int, dict[str, int]]:
    hours = [int(e.id.partition("-")[0]) // HOUR_MS for e in events]
    return await store.hours(min(hours) - 24, max(hours) + 1)


async def test_the_scripts_put_what_reports_need_on_the_events(redis, keys, store, agents):
    ids = await shift(store, agents)
    events = await stream(redis, keys)
    of = {(e.type, e.request, e.agent): e for e in events}
    enqueued = of[EventType.ENQUEUED, ids["fcr"], ""]
    assert enqueued.data == {"channel": "chat", "category": "orders", "priority": "medium",
                             "tier": "1"}  # fmt: skip
    accepted = of[EventType.ACCEPTED, ids["fcr"], "ann"]
    assert accepted.data["first"] == "1" and accepted.data["category"] == "orders"
    # one instant per script call: the durations are the events' own ts apart, to the ms
    assert int(accepted.data["wait_ms"]) == accepted.ts_ms - enqueued.ts_ms
    messages = [e for e in events if e.type is EventType.MESSAGE and e.request == ids["fcr"]]
    assert [("first_response_ms" in m.data) for m in messages] == [True, False]
    assert int(messages[0].data["first_response_ms"]) == messages[0].ts_ms - enqueued.ts_ms
    done = of[EventType.COMPLETED, ids["fcr"], "ann"]
    assert (done.data["fcr"], done.data["channel"], done.data["tier"]) == ("1", "chat", "1")
    assert done.data["resolution"] == "solved" and done.data["wrap_up_ms"] == "0"  # as before
    assert int(done.data["handle_ms"]) == done.ts_ms - accepted.ts_ms
    moved = of[EventType.COMPLETED, ids["moved"], "ann"]
    assert moved.data["fcr"] == "0"  # transferred, then completed by another agent
    second = of[EventType.ASSIGNED, ids["moved"], "ann"]
    assert second.data["first"] == "0"
    left = of[EventType.ABANDONED, ids["left"], ""]
    assert (left.data["taken"], left.data["state"], left.data["reason"]) == (
        "0",
        "waiting",
        "customer left",
    )
    answer = of[EventType.FEEDBACK, ids["moved"], "ann"]
    assert (answer.data["score"], answer.data["channel"], answer.data["category"]) == (
        "1",
        "chat",
        "account",
    )
    away = [e for e in events if e.type is EventType.PRESENCE][-1]
    assert away.data["previous"] == "available" and int(away.data["previous_ms"]) >= 0


async def test_two_engines_count_each_event_once(redis, keys, store, agents):
    await shift(store, agents)
    events = await stream(redis, keys)
    reports = ReportStore(redis, keys)
    basis = Basis()
    context = DeliveryContext(store, agents)
    sinks = [ReportSink(reports, lambda: basis) for _ in range(2)]
    engines = [
        OutboxEngine(redis, keys, [Target(s)], context, consumer=f"daemon-{i}", options=FAST)
        for i, s in enumerate(sinks)
    ]
    stopping = asyncio.Event()
    for engine in engines:
        await engine.prepare()
    tasks = [asyncio.create_task(e.run(stopping)) for e in engines]
    outbox = Outbox(redis, keys)
    try:
        for _ in range(400):
            backlog = await outbox.backlog(SINK_NAME)
            groups = await redis.xinfo_groups(keys.events)
            read = next(g for g in groups if g["name"].decode() == group_name(SINK_NAME))
            last = read["last-delivered-id"].decode()
            if backlog == 0 and read["pending"] == 0 and last == events[-1].id:
                break
            await asyncio.sleep(0.025)
        else:
            pytest.fail("the reports sink did not catch up")
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
    figures = await live(reports, events)
    assert figures == {h: dict(c) for h, c in expected(events, basis).items()}
    assert sum(c["n|all|-"] for c in figures.values()) == 3
    assert sum(c["fcr|all|-"] for c in figures.values()) == 1
    # delivered again (a lease lost after the script ran): nothing is added
    await sinks[0].deliver(events[0], context)
    assert await live(reports, events) == figures


async def test_rebuild_from_an_export_equals_the_live_figures(redis, keys, store, agents):
    await shift(store, agents)
    events = await stream(redis, keys)
    reports, basis = ReportStore(redis, keys), Basis()
    await reports.apply([EventAdds(e.id, adds(e, basis)) for e in events])  # as live
    before = await live(reports, events)
    assert before
    export = io.StringIO()
    assert await events_cli.export(redis, keys.tenant, export) == len(events)
    await redis.hset(keys.report_hour(next(iter(before))), "n|all|-", 99)  # gone wrong
    export.seek(0)
    done = await rebuild(reports, export, basis)
    assert done.events == len(events) and done.hours >= 1
    assert await live(reports, events) == before


async def test_the_command_line(redis, keys, store, agents, tool, tmp_path):
    await shift(store, agents)
    events = await stream(redis, keys)
    path = tmp_path / "events.jsonl"
    code, _, _ = await tool(events_cli.main, "export", "--out", str(path))
    assert code == 0
    code, _, err = await tool(report_cli.main, "rebuild", "--from-export", str(path))
    assert code == 0 and f"{len(events)} events read" in err
    code, out, _ = await tool(report_cli.main, "volume", "--format", "csv", "--group", "category")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("period,category,requests,completed,abandoned")
    assert [ln.split(",")[1:4] for ln in lines if ln.startswith("all,")] == [
        ["account", "1", "1"], ["orders", "2", "1"],
    ]  # fmt: skip
    code, out, _ = await tool(report_cli.main, "fcr", "--format", "json")
    body = json.loads(out)
    assert code == 0 and body["timezone"] == "UTC"
    assert [r["fcr_rate"] for r in body["rows"] if r["period"] == "all"] == [0.5]
    page = tmp_path / "overview.html"
    code, _, _ = await tool(report_cli.main, "overview", "--format", "html", "--out", str(page))
    html = page.read_text()
    assert code == 0 and html.startswith("<!doctype html>") and html.count("<svg") == 4
    assert "<script" not in html and "Requests per hour by channel" in html
    code, _, err = await tool(report_cli.main, "volume", "--group", "agent")
    assert code == 2 and "group: the volume report takes" in err
    code, _, err = await tool(report_cli.main, "rebuild", "--from-export", str(tmp_path / "no"))
    assert code == 1 and "cannot read" in err
