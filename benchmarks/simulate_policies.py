"""Routing policies side by side on the example workload, and the simulator against Erlang C.

Runs `frontdesk simulate`'s engine (router/sim/engine.py) with every policy on the same arrivals
of a workload (by default config/simulate.example.yaml on config/frontdesk.example.yaml) and
prints one Markdown table, a column per policy. With --erlang it also simulates M/M/N cases
(one skill, one channel, Poisson arrivals, exponential 180 s handle times, no abandonment,
the longest-idle baseline) and prints each figure beside the Erlang C formula's.

    python benchmarks/simulate_policies.py
    python benchmarks/simulate_policies.py --erlang --json benchmarks/out/simulate.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from frontdesk.router.bench.report import machine
from frontdesk.router.daemon.settings import load_settings, parse_settings
from frontdesk.router.sim import erlang
from frontdesk.router.sim.cli import side_by_side
from frontdesk.router.sim.engine import Engine
from frontdesk.router.sim.model import draw
from frontdesk.router.sim.policies import POLICIES, make
from frontdesk.router.sim.workload import load_workload, parse_workload

ROOT = Path(__file__).resolve().parent.parent
ERLANG_CASES = [(10, 12), (4, 5), (2, 3), (20, 23)]
ERLANG_CONFIG = """\
tenant: erlang
skills: [support]
default_queue: calls
queues: {calls: {mode: assign}}
rules: [{name: support, then: {skills: {support: 1}}}]
"""


def policies(config: Path, workload_path: Path, seed: int | None) -> dict[str, Any]:
    settings = load_settings(config)
    workload = load_workload(workload_path, set(settings.skills))
    if seed is not None:
        workload = replace(workload, seed=seed)
    arrivals = draw(workload)
    reports, seconds = {}, {}
    for name in POLICIES:
        start = time.perf_counter()
        result = Engine(settings, workload, arrivals, make(name, workload.seed)).run()
        seconds[name] = round(time.perf_counter() - start, 2)
        reports[name] = result.report()
    print(
        f"\n{len(arrivals):,} arrivals, {workload.duration_s / 3600:g} h "
        f"({workload.warmup_s / 60:g} min warm-up), seed {workload.seed}\n"
    )
    print(side_by_side(reports))
    print("\nrun time (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
    return {"arrivals": len(arrivals), "seed": workload.seed, "policies": reports, "s": seconds}


def erlang_case(traffic: int, agents: int, requests: int, seed: int) -> dict[str, Any]:
    rate = traffic * 3600 / 180
    hours = requests / rate
    workload = parse_workload(
        f"seed: {seed}\nduration: {hours}h\nwarmup: {hours / 100}h\ndrain: 0s\n"
        "targets: {channels: {phone: 20s}}\n"
        f"arrivals: [{{name: calls, channel: phone, rate: {rate}/h, "
        "handle: {exponential: 180s}}]\n"
        f"agents: [{{id: a, count: {agents}, skills: {{support: 3}}, capacity: {{phone: 1}}}}]\n",
        "erlang.yaml",
    )
    settings = parse_settings(ERLANG_CONFIG, "erlang-config.yaml")
    start = time.perf_counter()
    report = Engine(settings, workload, draw(workload), make("longest-idle")).run().report()
    overall = report["overall"]
    return {
        "traffic": traffic,
        "agents": agents,
        "requests": overall["offered"],
        "seconds": round(time.perf_counter() - start, 1),
        "p_wait": [overall["p_wait"], erlang.erlang_c(traffic, agents)],
        "asa_s": [overall["asa_s"], erlang.asa(traffic, agents, 180)],
        "sl_20s": [overall["service_level"], erlang.service_level(traffic, agents, 180, 20)],
        "occupancy": [report["occupancy"]["overall"], erlang.occupancy(traffic, agents)],
    }


def erlang_table(requests: int, seed: int) -> list[dict[str, Any]]:
    rows = [erlang_case(a, n, requests, seed) for a, n in ERLANG_CASES]
    print(f"\nErlang C, AHT 180 s, {requests:,} requests a case, seed {seed}\n")
    print(
        "| A | N | P(wait) sim | theory | ASA sim | theory | diff | SL 20 s sim | theory"
        " | occupancy sim | theory |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        (pw, pw_t), (asa, asa_t), (sl, sl_t), (occ, occ_t) = (
            r["p_wait"], r["asa_s"], r["sl_20s"], r["occupancy"],
        )  # fmt: skip
        print(
            f"| {r['traffic']} | {r['agents']} | {pw:.3f} | {pw_t:.3f} | {asa:.1f} s"
            f" | {asa_t:.1f} s | {(asa / asa_t - 1) * 100:+.1f}% | {sl * 100:.1f}%"
            f" | {sl_t * 100:.1f}% | {occ * 100:.1f}% | {occ_t * 100:.1f}% |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/frontdesk.example.yaml")
    parser.add_argument("--workload", type=Path, default=ROOT / "config/simulate.example.yaml")
    parser.add_argument("--seed", type=int, help="override the workload's seed")
    parser.add_argument("--erlang", action="store_true", help="also the Erlang C comparison")
    parser.add_argument("--erlang-requests", type=int, default=2_000_000)
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    info = machine()
    print(
        f"{info['cpus']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
        f"Python {info['python']}, {info['date']}, load average {info['load_avg_1m']} at start"
    )
    body: dict[str, Any] = {"machine": info, "config": str(args.config)}
    body["workload"] = str(args.workload)
    body |= policies(args.config, args.workload, args.seed)
    if args.erlang:
        body["erlang"] = erlang_table(args.erlang_requests, 20261124)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
