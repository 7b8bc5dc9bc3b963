"""Matcher throughput: decision rounds per second for greedy and batch on random, realistic windows.

Each round is one `match(window, pool, weights, mode)` call on a window of W waiting requests and
a pool of A available agents: 10 skills, 3 channels (chat, email, phone), 4 groups, 3 tiers,
capacities 1-3 per channel with part of it in use. Two workloads: *random* draws every agent's
proficiency on its own (2,000 agents, 2,000 distinct skill rows) and gives about 1,000 skill
rows x channel among 10,000 requests; *teams* staffs the desk in 40 teams sharing skills, tier
and groups, and asks 60 topics. Greedy goes by score classes either way; batch solves between
classes when they are few (teams) and falls back to the slot-expanded matching when every agent
is a class of its own (random). *matrix* is the dense (R, A) score matrix alone, which neither
mode builds any more (`scores` and the tests still do). Rounds repeat
until `--rounds` rounds or `--budget` seconds per size and mode, whichever comes first (at least
`--min-rounds`). Peak memory is what numpy allocates during one extra round (tracemalloc); the
assignment solver's own buffers are not counted. The skill check is one BLAS matrix product: on
a machine busy with other work, OPENBLAS_NUM_THREADS=1 avoids threads waiting for a free core.

    python benchmarks/matcher.py                       # 100x50, 1,000x500, 10,000x2,000
    python benchmarks/matcher.py --quick --json out.json
    python benchmarks/matcher.py --size 10000x2000 --workload teams --modes greedy,batch
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from frontdesk.router.bench.report import machine as base_machine
from frontdesk.router.routing.matcher import Pool, Weights, Window, _score_matrix, match

SIZES = [(100, 50), (1_000, 500), (10_000, 2_000)]
QUICK_SIZES = [(100, 50), (1_000, 500)]
QUICK_EXTRA = [(10_000, 2_000, "teams")]  # --quick: the target size too, on the teams workload
MODES = ("matrix", "greedy", "batch")
SKILLS, CHANNELS, GROUPS = 10, 3, 4
TEAMS, TOPICS = 40, 60  # the teams workload


def machine() -> dict[str, Any]:
    return base_machine() | {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def case(rng: np.random.Generator, waiting: int, agents: int) -> tuple[Window, Pool]:
    """A service desk's queue head and its available agents, at random but plausible."""
    w, a = waiting, agents
    required = np.zeros((w, SKILLS), np.int64)
    for k in (1, 2):  # every request needs one skill, a third of them a second one
        rows = np.flatnonzero(rng.random(w) < (1.0 if k == 1 else 0.3))
        required[rows, rng.integers(0, SKILLS, rows.size)] = rng.choice(
            [1, 2, 3], rows.size, p=[0.5, 0.35, 0.15]
        )
    groups = np.zeros((w, GROUPS), np.bool_)
    restricted = np.flatnonzero(rng.random(w) < 0.3)  # the rest may go to any group
    groups[restricted, rng.integers(0, GROUPS, restricted.size)] = True
    preferred = np.where(rng.random(w) < 0.05, rng.integers(0, a, w), -1)
    excluded_rows = np.flatnonzero(rng.random(w) < 0.02)
    window = Window(
        priority=rng.choice([0, 1, 2], w, p=[0.1, 0.6, 0.3]),
        wait_s=rng.exponential(90.0, w),
        channel=rng.choice(CHANNELS, w, p=[0.5, 0.35, 0.15]),
        required=required,
        min_tier=rng.choice([1, 2, 3], w, p=[0.7, 0.2, 0.1]),
        max_tier=np.full(w, 3),
        groups=groups,
        preferred=preferred,
        only_preferred=(preferred >= 0) & (rng.random(w) < 0.2),
        excluded=np.column_stack([excluded_rows, rng.integers(0, a, excluded_rows.size)]),
    )
    proficiency = rng.choice([1, 2, 3, 4, 5], (a, SKILLS), p=[0.1, 0.2, 0.35, 0.25, 0.1])
    proficiency[rng.random((a, SKILLS)) < 0.55] = 0  # about 4-5 skills each
    member = rng.random((a, GROUPS)) < 0.3
    member[np.arange(a), rng.integers(0, GROUPS, a)] = True  # at least one group
    capacity = rng.integers(1, 4, (a, CHANNELS))
    pool = Pool(
        proficiency=proficiency,
        spare=capacity - rng.integers(0, capacity + 1),
        capacity=capacity,
        idle_s=rng.exponential(120.0, a),
        tier=rng.choice([1, 2, 3], a, p=[0.6, 0.3, 0.1]),
        groups=member,
    )
    return window, pool


def team_case(rng: np.random.Generator, waiting: int, agents: int) -> tuple[Window, Pool]:
    """`case`, but the way a desk is staffed and asked: agents in TEAMS teams that share skills,
    levels, tier and groups, requests about TOPICS topics (a skill row each, a few common)."""
    window, pool = case(rng, waiting, agents)
    topics = np.zeros((TOPICS, SKILLS), np.int64)
    for t in range(TOPICS):
        picked = rng.choice(SKILLS, 1 + int(rng.random() < 0.3), replace=False)
        topics[t, picked] = rng.choice([1, 2, 3], picked.size, p=[0.5, 0.35, 0.15])
    popularity = 1.0 / np.arange(1, TOPICS + 1)
    asked = rng.choice(TOPICS, waiting, p=popularity / popularity.sum())
    skills = rng.choice([0, 2, 3, 4, 5], (TEAMS, SKILLS), p=[0.55, 0.1, 0.15, 0.1, 0.1])
    groups = rng.random((TEAMS, GROUPS)) < 0.2
    groups[np.arange(TEAMS), rng.integers(0, GROUPS, TEAMS)] = True
    team = rng.integers(0, TEAMS, agents)
    tier = rng.choice([1, 2, 3], TEAMS, p=[0.6, 0.3, 0.1])
    fields = {f: getattr(window, f) for f in window.__dataclass_fields__}
    staff = {f: getattr(pool, f) for f in pool.__dataclass_fields__}
    staff |= {"proficiency": skills[team], "tier": tier[team], "groups": groups[team]}
    return Window(**(fields | {"required": topics[asked]})), Pool(**staff)


WORKLOADS = {"random": case, "teams": team_case}


def run_mode(
    cases: list[tuple[Window, Pool]], mode: str, rounds: int, min_rounds: int, budget: float
) -> dict[str, Any]:
    weights = Weights()

    def once(i: int) -> Any:
        window, pool = cases[i % len(cases)]
        if mode == "matrix":
            return _score_matrix(window, pool, weights)
        return match(window, pool, weights, mode)  # type: ignore[arg-type]

    times: list[float] = []
    outcomes = []
    start = time.perf_counter()
    while len(times) < rounds and (len(times) < min_rounds or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        outcome = once(len(times))
        times.append(time.perf_counter() - t0)
        if mode != "matrix":
            window = cases[(len(times) - 1) % len(cases)][0]
            urgent = int((window.priority[outcome.requests] == 0).sum())
            outcomes.append((len(outcome), float(outcome.score.sum()), urgent))
    tracemalloc.start()
    once(0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ordered = sorted(times)
    result: dict[str, Any] = {
        "mode": mode,
        "rounds": len(times),
        "rounds_per_s": round(len(times) / sum(times), 2),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        "peak_mib": round(peak / 2**20, 1),
    }
    if outcomes:
        first = [o for i, o in enumerate(outcomes) if i < len(cases)]  # one per distinct case
        result["pairs"] = round(statistics.mean(o[0] for o in first), 1)
        result["score"] = round(statistics.mean(o[1] for o in first), 2)
        result["urgent_served"] = round(statistics.mean(o[2] for o in first), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and a short budget")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--rounds", type=int, default=200, help="at most this many per mode")
    parser.add_argument("--min-rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per size and mode")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", action="append", help="WAITINGxAGENTS (repeat); default all")
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated, of " + ",".join(MODES)
    )
    args = parser.parse_args()
    workloads = args.workload or sorted(WORKLOADS)
    if args.size:
        sizes = [tuple(int(n) for n in size.split("x")) for size in args.size]
        runs = [(w, a, load) for w, a in sizes for load in workloads]
    else:
        sizes = QUICK_SIZES if args.quick else SIZES
        runs = [(w, a, load) for w, a in sizes for load in workloads]
        runs += [r for r in QUICK_EXTRA if r[2] in workloads] if args.quick else []
    modes = [m for m in args.modes.split(",") if m]
    budget = min(args.budget, 2.0) if args.quick else args.budget
    info = machine()
    print(
        f"{info['cpus']} cores ({info['cpu']}), {info['memory_gib']} GiB, Python {info['python']},"
        f" numpy {info['numpy']}, scipy {info['scipy']}, {info['date']},"
        f" load average {info['load_avg_1m']} at start,"
        f" OPENBLAS_NUM_THREADS={info['openblas_threads']}"
    )
    header = (
        f"{'waiting x agents':>17} {'workload':>8} {'mode':>7} {'rounds':>6} {'rounds/s':>9}"
        f" {'median ms':>10} {'p95 ms':>9} {'peak MiB':>9} {'pairs':>7} {'score':>9}"
        f" {'high served':>11}"
    )
    print(header)
    print("-" * len(header))
    results = []
    for waiting, agents, workload in runs:
        rng = np.random.default_rng([args.seed, waiting, agents])  # a size's cases, whatever runs
        cases = [WORKLOADS[workload](rng, waiting, agents) for _ in range(3)]
        for mode in modes:
            row = run_mode(cases, mode, args.rounds, args.min_rounds, budget)
            label = mode if workload == "random" else f"{mode} ({workload})"
            row |= {"waiting": waiting, "agents": agents, "workload": workload, "mode": label}
            results.append(row)
            note = "(dense score matrix alone)" if mode == "matrix" else ""
            print(
                f"{waiting:>8,} x {agents:>6,} {workload:>8} {mode:>7} {row['rounds']:>6} "
                f"{row['rounds_per_s']:>9,.1f} {row['median_ms']:>10,.2f} {row['p95_ms']:>9,.2f}"
                f" {row['peak_mib']:>9,.1f} {row.get('pairs', ''):>7} {row.get('score', ''):>9}"
                f" {row.get('urgent_served', ''):>11} {note}",
                flush=True,
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        config = {"skills": SKILLS, "channels": CHANNELS, "groups": GROUPS, "budget_s": budget}
        config |= {"teams": TEAMS, "topics": TOPICS}
        body = {"machine": info, "config": config | {"seed": args.seed}, "results": results}
        args.json.write_text(json.dumps(body, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
