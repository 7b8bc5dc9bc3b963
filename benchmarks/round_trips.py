"""Redis round trips per request lifecycle, counted by the daemon itself.

Starts `frontdesk serve` (a real process, its embedded Redis) on a generated config with a few
agents on the agent WebSocket, and reads the daemon's own counters
(`frontdesk_redis_round_trips_total{kind}`, `frontdesk_redis_commands_total{command}`, kept by
router/daemon/redis_count.py) on /metrics between the steps of N lifecycles:

    idle       nothing to do, the daemon's background (gauges, presence, dispatcher's polls),
               per second: subtracted from every step below at the same rate
    presence   the agents set themselves away (no work waiting): what one presence change costs
    intake     N web-form posts (POST /v1/requests), the agents away
    dispatch   the agents set themselves available: the N offers (presence changes subtracted)
    accept     each agent accepts each offer it holds
    complete   each agent completes what it holds
Pushes to the agents' sockets (offers, results, positions) are in the step that caused them;
the background at the idle rate during the steps is printed apart (other, per request).
Every step waits until its work is seen done (offers, results) before the counters are read.

    python benchmarks/round_trips.py                 # 60 requests, 4 agents
    python benchmarks/round_trips.py --quick --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from frontdesk.router.bench.report import machine
from frontdesk.router.bench.target import ORIGIN, DaemonProcess, generate_config

STEPS = ("intake", "dispatch", "accept", "complete")
TARGET = 4  # the target: round trips per lifecycle
FORM_CAPACITY = 5  # generate_config's per-agent form capacity
_METRIC = re.compile(r'^frontdesk_redis_(round_trips|commands)_total\{\w+="([\w.:|-]+)"\} (\S+)$')


class Counts:
    """One scrape of the daemon's counters: round trips by kind, commands by name."""

    def __init__(self, trips: Counter[str], commands: Counter[str], at: float) -> None:
        self.trips, self.commands, self.at = trips, commands, at

    def __sub__(self, other: Counts) -> Counts:
        trips, commands = Counter(self.trips), Counter(self.commands)
        trips.subtract(other.trips)
        commands.subtract(other.commands)
        return Counts(trips, commands, self.at - other.at)

    def scaled(self, factor: float) -> dict[str, float]:
        return {k: v * factor for k, v in self.trips.items()}


async def scrape(http: aiohttp.ClientSession, url: str) -> Counts:
    async with http.get(url + "/metrics") as r:
        text = await r.text()
    trips: Counter[str] = Counter()
    commands: Counter[str] = Counter()
    for line in text.splitlines():
        if m := _METRIC.match(line):
            (trips if m[1] == "round_trips" else commands)[m[2]] = int(float(m[3]))
    return Counts(trips, commands, time.monotonic())


class Agent:
    """One agent on the WebSocket: keeps the offers it gets and the results it is sent."""

    def __init__(self, name: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.name, self.ws = name, ws
        self.offers: list[str] = []
        self.results: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("type") == "offer":
                self.offers.append(frame["request"]["id"])
            elif frame.get("type") == "result":
                self.results[frame.get("action", "?")] += 1
            elif frame.get("type") == "error":
                self.errors[frame.get("code", "?")] += 1

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)


async def until(check: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"round_trips: timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def post_forms(
    http: aiohttp.ClientSession, url: str, site: str, n: int, concurrency: int
) -> None:
    todo = iter(range(n))

    async def client() -> None:
        for i in todo:
            body = {"name": f"C {i}", "email": f"c{i}@rt.test", "subject": "Refund",
                    "body": f"Order {i} was charged twice, please refund one payment."}  # fmt: skip
            headers = {"X-Frontdesk-Site": site, "Origin": ORIGIN, "Idempotency-Key": f"rt-{i}"}
            async with http.post(url + "/v1/requests", json=body, headers=headers) as r:
                if r.status != 201:
                    raise SystemExit(f"round_trips: the form answered {r.status}: {await r.text()}")

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def lifecycles(url: str, site: str, tokens: dict[str, str], n: int, c: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        agents = []
        for name, token in sorted(tokens.items()):
            ws = await http.ws_connect(
                url + "/v1/agents/ws", headers={"Authorization": f"Bearer {token}"}
            )
            agents.append(Agent(name, ws))

        async def presence(value: str) -> None:
            before = sum(a.results["presence"] for a in agents)
            for a in agents:
                await a.send({"type": "presence", "presence": value})
            await until(lambda: sum(a.results["presence"] for a in agents) == before + len(agents),
                        f"presence {value}")  # fmt: skip

        await presence("available")
        await asyncio.sleep(0.5)  # settle (the login's own pushes and reads)
        idle0 = await scrape(http, url)
        await asyncio.sleep(2.0)
        idle = (await scrape(http, url)) - idle0
        per_s = {k: v / idle.at for k, v in idle.trips.items()}

        background = [0.0]  # the idle rate's share of the steps, subtracted from each

        def net(delta: Counts) -> dict[str, float]:
            background[0] += sum(per_s.values()) * delta.at
            return {k: v - per_s.get(k, 0.0) * delta.at for k, v in delta.trips.items()}

        steps: dict[str, dict[str, float]] = {}
        marks = [await scrape(http, url)]
        await presence("away")
        marks.append(await scrape(http, url))
        presence_cost = net(marks[-1] - marks[-2])
        await post_forms(http, url, site, n, c)
        marks.append(await scrape(http, url))
        steps["intake"] = net(marks[-1] - marks[-2])
        await presence("available")
        await until(lambda: sum(len(a.offers) for a in agents) >= n, f"{n} offers")
        await asyncio.sleep(0.2)  # the dispatcher's round after the last offer
        marks.append(await scrape(http, url))
        dispatched = net(marks[-1] - marks[-2])
        steps["dispatch"] = {k: v - presence_cost.get(k, 0.0) for k, v in dispatched.items()}
        for action in ("accept", "complete"):
            for a in agents:
                for request in a.offers:
                    frame = {"type": action, "request": request}
                    if action == "complete":
                        frame["resolution"] = "round trips benchmark"
                    await a.send(frame)
            await until(lambda act=action: sum(a.results[act] for a in agents) >= n, action)
            marks.append(await scrape(http, url))
            steps[action] = net(marks[-1] - marks[-2])
        commands = marks[-1].commands - marks[1].commands  # intake to complete, background in
        errors = sum((a.errors for a in agents), Counter())
        for a in agents:
            await a.ws.close()
            a.reader.cancel()
    per_request = {
        step: {k: round(v / n, 2) for k, v in trips.items()} for step, trips in steps.items()
    }
    for trips in per_request.values():
        trips["total"] = round(sum(trips.values()), 2)
    total = round(sum(t["total"] for t in per_request.values()), 2)
    return {
        "requests": n,
        "agents": len(tokens),
        "concurrency": c,
        "idle_round_trips_per_s": {k: round(v, 1) for k, v in per_s.items()},
        "presence_change_round_trips": {
            k: round(v / len(tokens), 2) for k, v in presence_cost.items()
        },
        "per_request": per_request,
        "per_lifecycle": total,
        "background_per_request": round(background[0] / n, 2),  # not in per_lifecycle
        "target": TARGET,
        "commands_per_request": {
            k: round(v / n, 2) for k, v in sorted(commands.items(), key=lambda kv: -kv[1]) if v > 0
        },
        "agent_errors": dict(errors),
    }


async def run(n: int, agents: int, concurrency: int) -> dict[str, Any]:
    agents = max(agents, -(-n // FORM_CAPACITY))  # every request offered at once
    with tempfile.TemporaryDirectory(prefix="fdrt") as tmp:
        generated = generate_config(Path(tmp), agents)
        daemon = DaemonProcess(generated.path)
        try:
            daemon.wait_ready()
            result = await lifecycles(
                daemon.url, generated.form_site, generated.agent_tokens, n, concurrency
            )
        finally:
            daemon.stop()
    return {
        "benchmark": "round_trips",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        **result,
    }


def show(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"round_trips: {report['requests']} web-form requests, {report['agents']} agents, "
          f"{m['cpus']} cores, {report['date']} (background subtracted: "
          f"{sum(report['idle_round_trips_per_s'].values()):.1f} round trips/s idle)")  # fmt: skip
    print(f"{'step':<10}{'command':>9}{'pipeline':>10}{'total':>8}   per request")
    for step, t in report["per_request"].items():
        print(f"{step:<10}{t.get('command', 0):>9.2f}{t.get('pipeline', 0):>10.2f}"
              f"{t['total']:>8.2f}")  # fmt: skip
    verdict = "met" if report["per_lifecycle"] <= TARGET else "missed"
    print(f"{'lifecycle':<10}{'':>19}{report['per_lifecycle']:>8.2f}   target <= {TARGET}: "
          f"{verdict}")  # fmt: skip
    print(f"(background at the idle rate, not counted above: "
          f"{report['background_per_request']:g} per request)")  # fmt: skip
    top = list(report["commands_per_request"].items())[:12]
    print("commands per request: " + ", ".join(f"{k} {v:g}" for k, v in top))
    if report["agent_errors"]:
        print(f"agent errors: {report['agent_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8, help="form posts in flight")
    parser.add_argument("--quick", action="store_true", help="20 requests")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n = 20 if args.quick else args.requests
    report = asyncio.run(run(n, args.agents, args.concurrency))
    show(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
