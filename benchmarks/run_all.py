"""Run every benchmark and write benchmarks/RESULTS.md: each figure with the command that produced
it, the machine (cores, memory) and the date. Each benchmark's JSON goes to benchmarks/out/.

    python benchmarks/run_all.py            # full sizes (about 6 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # short runs, to see that everything works
    python benchmarks/run_all.py --only scale side_by_side   # rerun some, reuse the others' JSON
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from summary import issue12_table, render_http, render_round_trips, render_rows
from summary import render_dispatch as render_dispatch_at_work

from frontdesk.router.bench.report import machine

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
MIX = "form=3,webhook=3,smtp=2,chat=2"

# name -> command, run from the repository's root with --json appended; `{a|b}` is a at full
# size and b with --quick
STEPS: dict[str, str] = {
    "queue_ops": "python benchmarks/queue_ops.py --requests {20000|5000} --clients 8",
    "round_trips": "python benchmarks/round_trips.py --requests {200|40}",
    "dispatch_latency": "python benchmarks/dispatch_latency.py --agents 1000 "
    "--rates 50 200 1000 --seconds {10|3}",
    "matcher": "python benchmarks/matcher.py{| --quick}",
    "load_rate": f"frontdesk bench load --start --rate 200 --duration {{30|10}} --mix {MIX} "
    "--agents 200 --quiet --html benchmarks/out/load_rate.html",
    "scale": "python benchmarks/scale.py{| --quick} --quiet",
    "side_by_side": "python benchmarks/side_by_side.py{| --quick} --quiet",
    # Issue 12's other helpers' benchmarks: each step runs once its script is on main (the lead
    # adds it; see OPTIONAL), and its JSON feeds the summary (summary.py: _dispatch_round).
    "dispatch_round": "python benchmarks/dispatch_round.py --repeat {9|3}{| --quick}",
    "fanout": "python benchmarks/fanout.py{| --quick}",
}
OPTIONAL = {"dispatch_round", "fanout"}  # skipped, and said so, while their script is missing


def command(template: str, quick: bool) -> list[str]:
    """The step's command at full size or quick."""
    return re.sub(r"\{([^|}]*)\|([^}]*)\}", lambda m: m[2 if quick else 1], template).split()


def run(name: str, command: list[str]) -> dict[str, Any]:
    out = OUT / f"{name}.json"
    real = [sys.executable if c == "python" else c for c in command]
    if real[0] == "frontdesk":
        real = [sys.executable, "-m", "frontdesk.router.cli.main", *real[1:]]
    print(f"== {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    done = subprocess.run(
        [*real, "--json", str(out)], cwd=ROOT, timeout=3600, stdout=subprocess.PIPE, text=True
    )
    print(done.stdout, file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode})")
    return {
        "command": " ".join([*command, "--json", f"benchmarks/out/{name}.json"]),
        "seconds": round(time.monotonic() - t0),
        "stdout": done.stdout,
    }


def _t(head: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.2f}" if v < 100 and not v.is_integer() else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _table(columns: str, items: list[dict[str, Any]]) -> str:
    """A table of `items`, one row each: `columns` is "header=key, header=key, ..."."""
    pairs = [c.strip().rsplit("=", 1) for c in columns.split(",")]
    return _t([h for h, _ in pairs], [[x[k] for _, k in pairs] for x in items])


def _errors(e: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in e.items()) or "none"


KEPT_SECTION = "\n## Chaos\n"  # python -m benchmarks.chaos fills it, not this script


def render_queue_ops(r: dict[str, Any]) -> str:
    rows = [[x["operation"], x["ops_per_s"], x["p50_ms"], x["p99_ms"]] for x in r["results"]]
    return (
        f"{r['requests']:,} requests, {r['clients']} concurrent asyncio clients in one "
        f"process, {r['agents']} agents; {r['redis']}.\n\n"
        + _t(["operation", "ops/s", "p50 ms", "p99 ms"], rows)
    )


def render_dispatch(r: dict[str, Any]) -> str:
    if r["results"] and "keep_up" in r["results"][0]:
        return render_dispatch_at_work(r)
    return (
        f"Enqueue (queue layer) to offer (dispatcher in `frontdesk serve`), {r['agents']:,} "
        f"agents, {r['seconds_per_rate']:g} s per rate; Redis timestamps.\n\n"
        + _table(
            "rate/s=rate_per_s, achieved/s=achieved_rate_per_s, offered=offered, "
            "not offered=not_offered, p50 ms=p50_ms, p99 ms=p99_ms, max ms=max_ms",
            r["results"],
        )
    )


def render_matcher(r: dict[str, Any]) -> str:
    size = [x | {"size": f"{x['waiting']:,} x {x['agents']:,}"} for x in r["results"]]
    rows = [x | {"pairs": x.get("pairs"), "score": x.get("score")} for x in size]
    return (
        "One matcher call per round (numpy), no I/O; *matrix* is building the score matrix "
        "alone, *pairs* and *score* are the mean pairs made and their total score a round.\n\n"
        + _table(
            "waiting x agents=size, mode=mode, rounds/s=rounds_per_s, median ms=median_ms, "
            "p95 ms=p95_ms, pairs=pairs, total score=score",
            rows,
        )
    )


def render_load(r: dict[str, Any]) -> str:
    s = r["setup"]
    rows = [
        [ch, c["sent"], c["acknowledged"], c["p50_ms"], c["p95_ms"], c["p99_ms"], c["max_ms"]]
        for ch, c in r["channels"].items()
    ]
    for name, key in (
        ("intake → offer", "intake_to_offer"),
        ("intake → acceptance", "intake_to_acceptance"),
    ):
        c = r[key]
        rows.append([name, None, c["count"], c["p50_ms"], c["p95_ms"], c["p99_ms"], c["max_ms"]])
    cpu = ", ".join(f"{k} {v['cores']}" for k, v in r["cpu"].items())
    red = r["redis"]
    return (
        f"Target {s['rate'] or 'as fast as it goes'}/s for {s['duration_s']:g} s, mix "
        f"{', '.join(f'{k}={v:g}' for k, v in s['mix'].items())}, {s['agents']} agents "
        f"(handle time {s['handle_time']}), {s['daemons']} daemon on its embedded Redis.\n\n"
        f"**{r['acknowledged']:,} of {r['sent']:,} acknowledged in {r['intake_seconds']:.1f} s = "
        f"{r['accepted_per_s']:,} accepted requests/s.** Errors: {_errors(r['errors'])}. "
        f"Offered {r['offered']:,}, accepted {r['accepted']:,}. Redis: "
        f"{red['bytes_per_request'] or 0:,} bytes per request stored. CPU (cores busy): {cpu}.\n\n"
        + _t(["acknowledgement", "sent", "acked", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    )


def render_scale(r: dict[str, Any]) -> str:
    b = r["backlog"]
    steps = [x | {"errors_text": _errors(x["errors"])} for x in r["daemons"]]
    return (
        f"{r['redis']}. Daemons: mix {r['mix']}, {r['agents']} agents, as fast as it goes for "
        f"{r['seconds_per_step']:g} s per step.\n\n"
        + _table(
            "daemons=daemons, sent=sent, accepted/s=accepted_per_s, ack p50 ms=ack_p50_ms, "
            "ack p99 ms=ack_p99_ms, offer p50 ms=offer_p50_ms, offer p99 ms=offer_p99_ms, "
            "daemons' cores=daemons_cores, redis cores=redis_cores, errors=errors_text",
            steps,
        )
        + f"\n\n2 daemons / 1: {r.get('two_vs_one', '-')}x. {r.get('placement', '')}.\n\n"
        "Backlog: waiting requests nobody can take (a skill no agent has) in the `form` queue at "
        "low priority; at each size (the first: an empty queue) web-form posts (medium) at "
        f"{b['probe_rate']:g}/s for {b['probe_seconds']:g} s through HTTP land in the same queue "
        "ahead of it, so that every round reads the probes and the backlog's head, and only "
        f"skill tells them apart; taken by {b['agents']} agents; then 2,000 more enqueues "
        "timed (queue layer, 16 clients).\n\n"
        + _table(
            "waiting=waiting, enqueue p50 ms=enqueue_p50_ms, enqueue p99 ms=enqueue_p99_ms, "
            "form ack p50 ms=form_ack_p50_ms, form ack p99 ms=form_ack_p99_ms, "
            "offer p50 ms=offer_p50_ms, offer p99 ms=offer_p99_ms, probes offered=probes_offered, "
            "redis MiB=used_memory_mib, bytes/waiting=bytes_per_waiting_request",
            b["rows"],
        )
    )


def render_side(r: dict[str, Any]) -> str:
    q = r["queue"]
    rows = []
    for name in [n for n in ("frontdesk", "redis_benchmark", "bullmq") if n in q]:
        x = q[name]
        label = {
            "frontdesk": "frontdesk queue layer (enqueue; offer+accept+complete)",
            "redis_benchmark": "redis-benchmark ZADD; ZPOPMIN (ceiling)",
            "bullmq": f"BullMQ {x.get('version', '')} (add; Worker)",
        }[name]
        if "skipped" in x:
            rows.append([label, x["skipped"], None, None])
        else:
            rows.append([label, x["enqueue_per_s"], x["take_per_s"], x["cycle_per_s"]])
    for other in ("redis_benchmark", "bullmq"):
        ratio = q.get(f"ratio_to_{other}")
        if ratio:
            rows.append(
                [
                    f"ratio frontdesk / {other}",
                    ratio["enqueue_per_s"],
                    ratio["take_per_s"],
                    ratio["cycle_per_s"],
                ]
            )
    return (
        f"{r['jobs']:,} jobs, {r['clients']} concurrent clients each, one redis-server (unix "
        "socket, appendfsync everysec), flushed between them; priorities in turn.\n\n"
        + _t(["queue layer", "enqueue/s", "take/s", "enqueue+take/s"], rows)
        + "\n\n"
        + render_http(r["http"])
    )


NOTES = """\
How to read the load figures: *acknowledgement* is from the last byte of a message sent to the
channel's yes (HTTP 201/200, SMTP 250 after DATA, the chat `started` frame), connection set-up not
counted; *intake → offer* and *intake → acceptance* come from the event stream (Redis clock, 1 ms
resolution). *Accepted requests/s* counts acknowledgements. Errors would be refusals by kind
(`http 503 unavailable`, `smtp 451`, a timeout); the senders count them and do not retry.
"""

SECTIONS = [
    ("load_rate", "Load through the real channels at 200 requests/s", render_load),
    ("scale", "Scale: 1, 2 and 4 daemons on one Redis; a large backlog", render_scale),
    ("side_by_side", "Side by side: redis-benchmark, BullMQ, a bare aiohttp handler", render_side),
    ("queue_ops", "Queue-layer operations", render_queue_ops),
    ("round_trips", "Redis round trips per request lifecycle", render_round_trips),
    ("dispatch_latency", "Dispatch latency with agents at work", render_dispatch),
    ("matcher", "Matcher decision rounds", render_matcher),
    ("dispatch_round", "One dispatcher round (benchmarks/dispatch_round.py)", render_rows),
    ("fanout", "Event fan-out to agent sockets (benchmarks/fanout.py)", render_rows),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("--only", nargs="+", choices=list(STEPS), help="rerun these only")
    parser.add_argument("--render", action="store_true", help="rerun nothing: rewrite RESULTS.md")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ran_path = OUT / "run_all.json"
    ran: dict[str, Any] = json.loads(ran_path.read_text()) if ran_path.exists() else {}
    info = machine()
    for name, template in STEPS.items():
        script = ROOT / command(template, args.quick)[1]
        if name in OPTIONAL and not script.exists():
            print(f"== {name}: skipped, no {script.relative_to(ROOT)} yet", file=sys.stderr)
            continue
        if not args.render and (args.only is None or name in args.only):
            load = round(os.getloadavg()[0], 2)  # before the step: other work on the machine
            ran[name] = run(name, command(template, args.quick)) | {
                "date": time.strftime("%Y-%m-%d"),
                "quick": args.quick,
                "load_avg_1m": load,
            }
            ran_path.write_text(json.dumps(ran, indent=2, ensure_ascii=False) + "\n")
    before = [r["load_avg_1m"] for r in ran.values() if "load_avg_1m" in r]
    loads = f"{min(before)}-{max(before)}" if before else "unknown"
    parts = [
        "# Benchmark results\n",
        f"Generated by `python benchmarks/run_all.py{' --quick' if args.quick else ''}` on "
        f"{max((r['date'] for r in ran.values()), default='-')}: {info['cpus']} cores "
        f"({info['cpu']}), "
        f"{info['memory_gib']} GiB, Python {info['python']}, load average {loads} "
        "before the steps. Everything (load generator, daemons, redis-server, Node) runs on this "
        "one machine over loopback, so the load generator takes CPU from what it measures. Each "
        "section gives the command that produced it; rerun it alone to get the same kind of "
        "table. The JSON of every run is in `benchmarks/out/` (not committed).\n",
    ]
    parts.append(NOTES)
    loaded = {
        name: json.loads((OUT / f"{name}.json").read_text())
        for name in ran
        if (OUT / f"{name}.json").exists()
    }
    parts.append(
        "## Issue 12: each figure beside its peer (same run)\n\n" + issue12_table(loaded) + "\n"
    )
    for name, title, render in SECTIONS:
        if name not in ran or not (OUT / f"{name}.json").exists():
            continue
        done = ran[name]
        size_note = " (quick size)" if done.get("quick") else ""
        body = render(json.loads((OUT / f"{name}.json").read_text()))
        parts.append(
            f"## {title}\n\n```sh\n{done['command']}\n```\n\n{done['date']}{size_note}, "
            f"{done['seconds']} s.\n\n{body}\n"
        )
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text() if results.exists() else ""
    if (at := before.find(KEPT_SECTION)) >= 0:  # written by its own tool: kept as it is
        parts.append(before[at + 1 :].rstrip("\n") + "\n")
    results.write_text("\n".join(parts))
    print(f"wrote {ROOT / 'benchmarks' / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
