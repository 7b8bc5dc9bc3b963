"""Issue 12's figures side by side with their peers, from the JSON of one run_all.py run, and
the sections of RESULTS.md for the benchmarks issue 12 added or changed (round trips, dispatch
latency with agents at work, HTTP intake under wrk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Loaded = dict[str, dict[str, Any]]  # step name -> its JSON


def _f(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}{unit}" if v < 100 else f"{v:,.0f}{unit}"
    return f"{v:,}{unit}" if isinstance(v, int | float) else str(v)


def _verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "not measured"
    met = value >= target if higher_is_better else value < target
    if met:
        return "met"
    gap = target / value if higher_is_better and value else value / target if target else 0
    if not gap:
        return "missed"
    return f"missed ({gap:.2f}x off)" if gap < 1.1 else f"missed ({gap:.1f}x off)"


def _intake(runs: Loaded) -> list[Any]:
    h = runs.get("side_by_side", {}).get("http", {})
    if "frontdesk" not in h or "wrk" not in h.get("frontdesk", {}):
        return ["web-form intake vs a bare aiohttp handler (wrk, 32 connections)", None, None,
                None, ">= 0.5x", "not measured"]  # fmt: skip
    ours, bare = h["frontdesk"]["accepted_per_s"], h["bare_aiohttp"]["accepted_per_s"]
    return ["web-form intake vs a bare aiohttp handler (wrk, 32 connections)", f"{bare:,.0f}/s",
            f"{ours:,.0f}/s", h["ratio"], ">= 0.5x", _verdict(h["ratio"], 0.5, True)]  # fmt: skip


def _queue(runs: Loaded) -> list[Any]:
    q = runs.get("side_by_side", {}).get("queue", {})
    bull, ours = q.get("bullmq", {}), q.get("frontdesk", {})
    label = "queue lifecycle enqueue→offer→accept→complete vs BullMQ add+process"
    if "cycle_per_s" not in bull or "cycle_per_s" not in ours:
        return [label, bull.get("skipped"), ours.get("cycle_per_s"), None, ">= 1.0x",
                "not measured"]  # fmt: skip
    ratio = q["ratio_to_bullmq"]["cycle_per_s"]
    return [label, f"{bull['cycle_per_s']:,}/s", f"{ours['cycle_per_s']:,}/s", ratio, ">= 1.0x",
            _verdict(ratio, 1.0, True)]  # fmt: skip


def _end_to_end(runs: Loaded) -> list[Any]:
    rows = runs.get("scale", {}).get("daemons", [])
    one = next((r for r in rows if r["daemons"] == 1), None)
    value = f"{one['accepted_per_s']:,}/s" if one else None
    return ["end to end through one daemon (scale.py, 1 daemon, as fast as it goes)", "—", value,
            None, "—", ""]  # fmt: skip


def _round_trips(runs: Loaded) -> list[Any]:
    r = runs.get("round_trips")
    if r is None:
        return ["Redis round trips per request lifecycle", "—", None, None, "<= 4", "not measured"]
    parts = ", ".join(f"{k} {v['total']:g}" for k, v in r["per_request"].items())
    total = r["per_lifecycle"]
    return ["Redis round trips per request lifecycle", "—", f"{total:g} ({parts})", None, "<= 4",
            _verdict(total, 4.0001, False)]  # fmt: skip


def _latency_row(runs: Loaded, rate: float) -> dict[str, Any] | None:
    rows = runs.get("dispatch_latency", {}).get("results", [])
    return next((r for r in rows if r["rate_per_s"] == rate and "saturated" in r), None)


def _free_to_offer(runs: Loaded) -> list[Any]:
    agents = runs.get("dispatch_latency", {}).get("agents")
    row = _latency_row(runs, 200.0)
    label = f"agent free → offer p99, {_f(agents)} agents at 200 requests/s"
    if row is None:
        return [label, "—", None, None, "< 20 ms", "not measured"]
    s = row["saturated"]
    value = None if s["p99_ms"] is None else f"{s['p99_ms']:g} ms ({s['samples']} samples)"
    return [label, "—", value, None, "< 20 ms", _verdict(s["p99_ms"], 20.0, False)]


def _growth(runs: Loaded) -> list[Any]:
    row = _latency_row(runs, 1000.0)
    label = "queue growth at 1,000 requests/s while agents keep up"
    if row is None:
        return [label, "—", None, None, "no growth", "not measured"]
    k = row["keep_up"]
    value = (f"waiting {k['waiting_start']} → {k['waiting_end']} at "
             f"{k['achieved_rate_per_s']:g}/s reached")  # fmt: skip
    return [label, "—", value, None, "no growth", "missed" if k["queue_grew"] else "met"]


def _dispatch_round(runs: Loaded) -> list[Any]:
    # benchmarks/dispatch_round.py: a list of rounds (cold, busy, steady, idle) with `total_ms`
    # at 10,000 waiting x 2,000 agents, greedy. The steady round is what a running desk pays
    # (a round reads what changed since the last); cold is once per start or after a gap.
    r: Any = runs.get("dispatch_round")
    label = "one whole dispatcher round, 10,000 waiting x 2,000 agents, greedy (dispatch_round.py)"
    target = "< 50 ms"
    if r is None:
        return [label, "—", None, None, target, "not measured"]
    rows = {x.get("round"): x for x in (r if isinstance(r, list) else r.get("rows", []))}
    shown = ", ".join(f"{k} {_f(v['total_ms'])} ms" for k, v in rows.items() if "total_ms" in v)
    steady = rows.get("steady", {}).get("total_ms")
    return [label, "—", shown or None, None, target,
            f"steady round {_verdict(steady, 50.0, False)}"]  # fmt: skip


def _matcher_rows(runs: Loaded) -> list[list[Any]]:
    # benchmarks/matcher.py at 10,000 x 2,000: greedy and batch on both workloads.
    found = {(x.get("workload"), x["mode"].split()[0]): x.get("median_ms")
             for x in runs.get("matcher", {}).get("results", [])
             if x.get("waiting") == 10_000 and x.get("agents") == 2_000}  # fmt: skip
    out = []
    for mode, limit in (("greedy", 50.0), ("batch", 500.0)):
        shown = ", ".join(f"{w} {_f(found.get((w, mode)))} ms" for w in ("teams", "random"))
        verdicts = "; ".join(f"{w} {_verdict(found.get((w, mode)), limit, False)}"
                             for w in ("teams", "random"))  # fmt: skip
        out.append([f"the matcher alone, 10,000 x 2,000, {mode} (matcher.py, median)", "—",
                    shown, None, f"< {limit:g} ms", verdicts])  # fmt: skip
    return out


def _two_daemons(runs: Loaded) -> list[Any]:
    s = runs.get("scale", {})
    rows = {r["daemons"]: r["accepted_per_s"] for r in s.get("daemons", [])}
    label = "2 daemons vs 1 on one Redis"
    ratio = s.get("two_vs_one")
    if ratio is None:
        return [label, None, None, None, ">= 1.6x", "not measured"]
    return [label, f"1 daemon {rows[1]:,}/s", f"2 daemons {rows[2]:,}/s", ratio, ">= 1.6x",
            _verdict(ratio, 1.6, True)]  # fmt: skip


ROWS: list[Callable[[Loaded], list[Any]]] = [
    _intake, _queue, _end_to_end, _round_trips, _free_to_offer, _growth, _dispatch_round,
    _two_daemons,
]  # fmt: skip


def issue12_table(runs: Loaded) -> str:
    """Every issue-12 figure beside its peer and its target, one row each."""
    lines = ["| figure | peer | frontdesk | ratio | target | |", "|---|---:|---:|---:|---|---|"]
    rows = [row(runs) for row in ROWS]
    at = next(i for i, row in enumerate(ROWS) if row is _dispatch_round) + 1
    rows[at:at] = _matcher_rows(runs)
    for values in rows:
        lines.append("| " + " | ".join(_f(v) for v in values) + " |")
    return "\n".join(lines)


def render_round_trips(r: dict[str, Any]) -> str:
    rows = [
        f"| {step} | {t.get('command', 0):g} | {t.get('pipeline', 0):g} | {t['total']:g} |"
        for step, t in r["per_request"].items()
    ]
    top = ", ".join(f"{k} {v:g}" for k, v in list(r["commands_per_request"].items())[:14])
    idle = sum(r["idle_round_trips_per_s"].values())
    return (
        f"{r['requests']} web-form requests through one daemon, {r['agents']} agents on the "
        "agent WebSocket; the daemon's own counters (`frontdesk_redis_round_trips_total`) read "
        f"between steps, its idle background ({idle:.1f} round trips/s) subtracted.\n\n"
        "| step | commands alone | pipelines | round trips per request |\n|---|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n| **lifecycle** | | | **{r['per_lifecycle']:g}** (target <= {r['target']}) |\n\n"
        f"Commands per request (intake to complete): {top}."
    )


def render_dispatch(r: dict[str, Any]) -> str:
    head = "| rate/s | reached/s | offered | p50 ms | p99 ms | waiting start → end |"
    keep = [head, "|---:|---:|---:|---:|---:|---|"]
    sat = [head.replace("offered", "samples").replace("p99 ms |", "p99 ms | p99 with burst |"),
           "|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for row in r["results"]:
        k, s = row["keep_up"], row["saturated"]
        keep.append(f"| {row['rate_per_s']:g} | {k['achieved_rate_per_s']:g} | {k['offered']} | "
                    f"{_f(k['p50_ms'])} | {_f(k['p99_ms'])} | {k['waiting_start']} → "
                    f"{k['waiting_end']}{' (grew)' if k['queue_grew'] else ''} |")  # fmt: skip
        sat.append(f"| {row['rate_per_s']:g} | {s['achieved_rate_per_s']:g} | {s['samples']} | "
                   f"{_f(s['p50_ms'])} | {_f(s['p99_ms'])} | {_f(s.get('p99_ms_with_burst'))} | "
                   f"{s['waiting_start']} → "
                   f"{s['waiting_end']} |")  # fmt: skip
    return (
        f"`frontdesk serve` with {r['agents']:,} agents (capacity 1) on the agent WebSocket, "
        f"accepting and completing; {r['seconds_per_step']:g} s per step; Redis timestamps.\n\n"
        "Enqueue → offer, handle time short enough that the agents keep up:\n\n"
        + "\n".join(keep)
        + "\n\nAgent free → offer (completion to the agent's next offer, counted only while work "
        "waited), saturated: a backlog first, agents freeing at about the arrival rate; "
        "counted from 1 s after the backlog's burst, and with the burst beside it:\n\n"
        + "\n".join(sat)
    )


def render_http(h: dict[str, Any]) -> str:
    if "skipped" in h:
        return f"HTTP intake: skipped ({h['skipped']})."
    lines = ["| server | ok/s | p50 ms | p99 ms | non-2xx | socket errors |",
             "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    servers = [("frontdesk web form (POST /v1/requests, durable)", "frontdesk"),
               ("bare aiohttp handler (reads JSON, answers 201)", "bare_aiohttp")]  # fmt: skip
    for label, key in servers:
        w = h[key]["wrk"]
        errors = ", ".join(f"{k} {v}" for k, v in w["socket_errors"].items() if v) or "none"
        lines.append(f"| {label} | {w['ok_per_s']:,.0f} | {w['latency_ms']['50']:g} | "
                     f"{w['latency_ms']['99']:g} | {w['non_2xx']} | {errors} |")  # fmt: skip
    lines.append(f"| ratio frontdesk / bare | {h['ratio']} | | | | |")
    return (
        f"HTTP intake under {h['load_generator']} for {h['seconds']:g} s each, every post "
        f"distinct; {h['placement']}.\n\n" + "\n".join(lines)
    )


def _rows_table(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---:" for _ in keys) + "|"]
    lines += ["| " + " | ".join(_f(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def render_rows(r: Any) -> str:
    """Another helper's benchmark (dispatch_round, fanout): its rows as they are, one table per
    list of rows in its JSON."""
    if isinstance(r, list):
        return _rows_table(r)
    tables = [
        f"{name}:\n\n{_rows_table(v)}"
        for name, v in r.items()
        if isinstance(v, list) and v and isinstance(v[0], dict)
    ]
    return "\n\n".join(tables) or "(no rows)"
