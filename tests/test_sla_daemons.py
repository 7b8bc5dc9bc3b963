"""SLA timers in three `frontdesk serve` processes on one Redis, one SIGKILLed mid-way: every
warning and every breach is fired exactly once. Then with no daemon running at all, breaches
fall due; the next daemon to start fires them, marked late."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from frontdesk.queues.customers import CustomerStore
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.settings import parse_settings
from frontdesk.router.intake.front import Front, Inbound

REQUESTS = 60
CONFIG = """\
tenant: slamulti
redis: {{url: "{url}"}}
http: {{port: 0}}
queues:
  chat: {{offer_timeout: 30s}}
default_queue: chat
sla:
  tick: 50ms
  late_after: 2s
  policies:
    - name: chat
      when: {{channel: chat}}
      targets:
        first_response: {{within: 800ms, warning_at: 50%}}
"""


async def breaches_and_warnings(log: EventLog) -> tuple[Counter[str], Counter[str], list]:
    events = await log.range()
    breached = [e for e in events if e.type is EventType.SLA_BREACHED]
    warned = [e for e in events if e.type is EventType.SLA_WARNING]
    return Counter(e.request for e in breached), Counter(e.request for e in warned), breached


async def test_three_daemons_one_killed_fire_each_warning_and_breach_once(
    redis, redis_server, daemons, tmp_path
) -> None:
    text = CONFIG.format(url=redis_server.url)
    config = tmp_path / "slamulti.yaml"
    config.write_text(text)
    procs = [daemons(config) for _ in range(3)]
    for proc in procs:
        proc.wait_ready()
    store = QueueStore(redis, Keys("slamulti"))
    settings = parse_settings(text, "slamulti.yaml")
    front = Front(store, CustomerStore(store), lambda: settings)
    await front.start()
    log = EventLog(redis, Keys("slamulti"))
    ids = []
    for i in range(REQUESTS):
        request = Request(
            "", Channel.CHAT, "hi", external_id=f"x{i}", customer=Customer(email=f"{i}@x.org")
        )
        ids.append((await front.receive(Inbound(request))).request_id)
        if i == REQUESTS // 3:
            procs[0].proc.kill()  # SIGKILL mid-way: its timer stops wherever it was
        await asyncio.sleep(0.03)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        breached, warned, _ = await breaches_and_warnings(log)
        if len(breached) == REQUESTS and len(warned) == REQUESTS:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything fired twice would show by now
    breached, warned, _ = await breaches_and_warnings(log)
    assert procs[0].proc.poll() is not None
    assert set(breached) == set(ids) and set(breached.values()) == {1}
    assert set(warned) == set(ids) and set(warned.values()) == {1}
    assert await redis.zcard(Keys("slamulti").sla_due) == 0

    # nobody runs: three more fall due meanwhile, and fire late when a daemon starts again
    for proc in procs[1:]:
        proc.proc.kill()
        proc.proc.wait(10)
    later = []
    for i in range(3):
        request = Request(
            "", Channel.CHAT, "hi", external_id=f"y{i}", customer=Customer(email=f"y{i}@x.org")
        )
        later.append((await front.receive(Inbound(request))).request_id)
    await asyncio.sleep(3.0)  # past due (0.8 s) and past late_after (2 s)
    assert all(
        e.request not in later
        for e in await log.range()
        if e.type in (EventType.SLA_BREACHED, EventType.SLA_WARNING)
    )
    again = daemons(config)
    again.wait_ready()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, _, fired = await breaches_and_warnings(log)
        mine = [e for e in fired if e.request in later]
        if len(mine) == 3:
            break
        await asyncio.sleep(0.1)
    assert sorted(e.request for e in mine) == sorted(later)
    assert {e.data["late"] for e in mine} == {"1"}
    # their warnings were overtaken by the breach: only the breach is told
    _, warned, _ = await breaches_and_warnings(log)
    assert not any(r in warned for r in later)
