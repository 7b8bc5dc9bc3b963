"""`frontdesk events export`: the event stream as JSON lines that the simulator replays."""

from __future__ import annotations

import asyncio
import io
import json
import math
from pathlib import Path

from conftest import Tool
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import EventType
from frontdesk.queues.request import Channel, Priority, Request, SkillRequirement
from frontdesk.queues.store import QueueStore
from frontdesk.router.cli import events as events_export
from frontdesk.router.sim.replay import read_event_log
from frontdesk.skills import Agent, Presence


async def _history(store: QueueStore, agents: AgentStore) -> tuple[str, str, str]:
    """One request answered and completed, one abandoned, one still waiting."""
    await agents.upsert(
        Agent(
            "ann", "Ann", skills={"billing": 4}, capacity={"chat": 2}, presence=Presence.AVAILABLE
        )
    )
    done = await store.enqueue(
        Request(
            "",
            channel=Channel.CHAT,
            queue="billing",
            priority=Priority.HIGH,
            tier=2,
            category="invoice",
            skills=(SkillRequirement("billing", 3), SkillRequirement("中文", 2, optional=True)),
        )
    )
    left = await store.enqueue(Request("", channel=Channel.EMAIL, queue="general"))
    waiting = await store.enqueue(Request("", channel=Channel.EMAIL, queue="general"))
    await store.offer(done.id, "ann", 30)
    await store.accept(done.id, "ann")
    await asyncio.sleep(0.05)
    await store.complete(done.id, "ann")
    await store.abandon(left.id, "customer left")
    return done.id, left.id, waiting.id


async def test_export_writes_every_event_with_what_the_simulator_routes_by(
    store: QueueStore, agents: AgentStore, redis: Redis
) -> None:
    done, left, waiting = await _history(store, agents)
    out = io.StringIO()
    written = await events_export.export(redis, "test", out)

    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(rows)
    assert [r["type"] for r in rows if r["req"] == done] == [
        "enqueued",
        "offered",
        "accepted",
        "completed",
    ]
    assert [r["type"] for r in rows if r["req"] == left] == ["enqueued", "abandoned"]
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)  # oldest first
    assert len({r["id"] for r in rows}) == len(rows)
    first = next(r for r in rows if r["req"] == done)
    assert first["channel"] == "chat"
    assert (first["priority"], first["tier"], first["category"]) == ("high", 2, "invoice")
    assert first["skills"] == {"billing": 3} and first["optional_skills"] == {"中文": 2}
    assert next(r for r in rows if r["type"] == "agent_created")["agent"] == "ann"

    log = read_event_log(out.getvalue(), "export.jsonl")
    assert len(log.t_s) == 3 and log.t_s[0] == 0.0
    by_queue = {s.queue: s for s in log.sources}
    assert by_queue["billing"].skills == (SkillRequirement("billing", 3),)
    assert by_queue["billing"].priority is Priority.HIGH and by_queue["billing"].tier == 2
    handled = [h for h in log.handle_s if not math.isnan(h)]
    assert len(handled) == 1 and 0.04 <= handled[0] < 5
    assert sum(not math.isnan(p) for p in log.patience_s) == 1  # the abandoned one
    assert waiting in out.getvalue()


async def test_export_pages_through_a_long_stream_and_filters(
    store: QueueStore, redis: Redis
) -> None:
    for _ in range(events_export.CHUNK + 7):
        await store.enqueue(Request("", channel=Channel.FORM, queue="general"))
    out = io.StringIO()
    assert await events_export.export(redis, "test", out) == events_export.CHUNK + 7
    ids = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
    assert len(set(ids)) == len(ids)  # no event twice across the page boundary

    later = io.StringIO()
    last_ms = int(ids[-1].split("-")[0])
    count = await events_export.export(redis, "test", later, since_ms=last_ms + 1)
    assert count == 0 and later.getvalue() == ""
    typed = io.StringIO()
    assert await events_export.export(redis, "test", typed, types={EventType.OFFERED}) == 0


def test_times_are_iso_or_milliseconds() -> None:
    assert events_export.parse_time("1764000000000") == 1_764_000_000_000
    assert events_export.parse_time("2026-11-24T09:00:00Z") == 1_795_510_800_000
    assert events_export.parse_time("2026-11-24T09:00:00") == 1_795_510_800_000
    assert events_export.parse_time("2026-11-24T10:00:00+01:00") == 1_795_510_800_000


async def test_command_line(
    store: QueueStore, agents: AgentStore, tmp_path: Path, tool: Tool
) -> None:
    done, _, _ = await _history(store, agents)

    def run(*argv: str) -> asyncio.Future[tuple[int, str, str]]:
        return tool(events_export.main, "export", *argv)

    target = tmp_path / "events.jsonl"
    code, _, err = await run("--out", str(target), "--type", "completed")
    assert code == 0 and f"1 event written to {target}" in err
    (row,) = [json.loads(line) for line in target.read_text().splitlines()]
    assert (row["type"], row["req"], row["agent"]) == ("completed", done, "ann")

    code, out, err = await run("--type", "enqueued")
    assert code == 0 and len(out.splitlines()) == 3 and "3 events written to standard output" in err

    code, _, err = await run("--since", "yesterday")
    assert code == 2 and "'yesterday' is neither ISO 8601" in err
    code, _, err = await run("--since", "2000", "--until", "1000")
    assert code == 2 and "--since is after --until" in err
    code, _, err = await run("--out", str(tmp_path / "no" / "such.jsonl"))
    assert code == 1 and "cannot write" in err

    tool.config.write_text(
        f"redis: {{data_dir: {tmp_path / 'd'}}}\nqueues: {{q: {{}}}}\ndefault_queue: q\n"
    )
    code, _, err = await run()
    assert code == 1 and f"unix://{tmp_path / 'd' / 'redis.sock'}" in err
    assert "runs only while `frontdesk serve` does" in err
