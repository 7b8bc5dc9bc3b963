"""`frontdesk simulate`: a contact centre simulated with the daemon's own rules and matcher.

    frontdesk simulate --config config/frontdesk.example.yaml \\
        --workload config/simulate.example.yaml [--policies frontdesk,longest-idle] [--json OUT]
    frontdesk simulate --config A.yaml --what-if B.yaml --workload W.yaml
    frontdesk simulate --config A.yaml --workload W.yaml --staff 8-20 \
        --sla-goal chat.first_response=95%      # the smallest head count that keeps the promise

Every policy (or both configs of a what-if) sees the same arrivals, handle times and patience
(`model.draw`); the figures come from `result.Result`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from frontdesk.router.cli.main import config_option
from frontdesk.router.conf.yaml import ConfigError, parse_duration
from frontdesk.router.daemon.settings import Settings, load_settings
from frontdesk.router.sim.engine import Engine
from frontdesk.router.sim.model import Arrivals, Workload, draw
from frontdesk.router.sim.policies import POLICIES, make
from frontdesk.router.sim.progress import Progress
from frontdesk.router.sim.result import Result
from frontdesk.router.sim.sla import goal_met
from frontdesk.router.sim.staffing import Goal, check_goals, parse_counts, parse_goals, sweep
from frontdesk.router.sim.state import SimulationError
from frontdesk.router.sim.workload import load_workload

EXIT_CONFIG = 2
EXIT_RUNTIME = 1

Row = tuple[str, Callable[[dict[str, Any]], Any], str]  # label, getter, unit


def simulate(
    settings: Settings, workload: Workload, policies: Sequence[str], arrivals: Arrivals | None,
    progress: Progress | None = None, label: str = "",
) -> dict[str, Result]:  # fmt: skip
    """Each policy over the same arrivals (drawn from `workload` unless given); `progress`
    shows each run's (`label` before the policy's name)."""
    arrivals = draw(workload) if arrivals is None else arrivals
    runs = {}
    for name in policies:
        watch = progress.run(f"{label}{name}") if progress else None
        runs[name] = Engine(settings, workload, arrivals, make(name, workload.seed), watch).run()
    return runs


def _overall(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda report: report["overall"][key]


def _occupancy(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda report: report["occupancy"][key]


def _part(section: str, name: str, key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda report: report[section].get(name, {}).get(key)


ROWS: list[Row] = [
    ("requests", _overall("offered"), "n"),
    ("answered", _overall("answered"), "n"),
    ("service level", _overall("service_level"), "%"),
    ("average speed of answer", _overall("asa_s"), "s"),
    ("90th percentile wait", _overall("wait_p90_s"), "s"),
    ("waited at all", _overall("p_wait"), "%"),
    ("abandoned", _overall("abandon_rate"), "%"),
    ("unanswered at the end", _overall("unanswered"), "n"),
    ("throughput per hour", _overall("throughput_per_h"), "f"),
    ("occupancy, mean", _occupancy("mean"), "%"),
    ("occupancy, min", _occupancy("min"), "%"),
    ("occupancy, max", _occupancy("max"), "%"),
    ("occupancy, stdev", _occupancy("stdev"), "%"),
    ("skill margin (levels)", _overall("skill_margin"), "+"),
    ("at the required level", _overall("at_requirement"), "%"),
    ("served with relaxation", _overall("relaxed"), "%"),
    ("overflowed", _overall("overflowed"), "n"),
]


def _sla(policy: str, target: str) -> Callable[[dict[str, Any]], Any]:
    def get(report: dict[str, Any]) -> Any:
        return report["sla"]["policies"].get(policy, {}).get(target, {}).get("attainment")

    return get


def sla_rows(reports: Sequence[dict[str, Any]]) -> list[Row]:
    """Per service-level policy and target (in the config's order): its attainment."""
    seen = {(p, t): None for r in reports for p, ts in r["sla"]["policies"].items() for t in ts}
    return [(f"sla {p}.{t}", _sla(p, t), "%") for p, t in seen]


def _parts(reports: Sequence[dict[str, Any]]) -> list[Row]:
    """Per service-level target its attainment; per channel and per queue: service level, ASA
    and abandonment."""
    rows: list[Row] = sla_rows(reports)
    for section in ("channels", "queues"):
        names = sorted({n for r in reports for n in r[section]})
        for name in names:
            rows += [
                (f"{name}: service level", _part(section, name, "service_level"), "%"),
                (f"{name}: ASA", _part(section, name, "asa_s"), "s"),
                (f"{name}: abandoned", _part(section, name, "abandon_rate"), "%"),
                (f"{name}: requests", _part(section, name, "offered"), "n"),
            ]
    return rows


def _cell(value: Any, unit: str, diff: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if diff or unit == "+" else ""
    if unit == "%":
        return f"{value * 100:{sign}.1f}" + (" pt" if diff else "%")
    if unit == "s":
        return f"{value:{sign}.1f} s"
    if unit == "n":
        return f"{value:{sign},d}" if isinstance(value, int) else f"{value:{sign},.0f}"
    return f"{value:{sign}.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def side_by_side(reports: dict[str, dict[str, Any]]) -> str:
    """One column per policy."""
    rows = ROWS + _parts(list(reports.values()))
    body = [[label, *(_cell(get(r), unit) for r in reports.values())] for label, get, unit in rows]
    return _table(["", *reports], body)


def what_if(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> str:
    """Two runs of one policy, with the difference B - A."""
    body = []
    for label, get, unit in ROWS + _parts([a, b]):
        x, y = get(a), get(b)
        delta = y - x if x is not None and y is not None else None
        body.append([label, _cell(x, unit), _cell(y, unit), _cell(delta, unit, diff=True)])
    return _table(["", *names, "difference"], body)


def _seconds(text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"not a duration such as 30m or 2h: {text!r}")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk simulate", description=__doc__.split("\n")[0])
    config_option(parser, "routing config")
    parser.add_argument("--workload", required=True, help="workload file (arrivals, agents)")
    parser.add_argument("--what-if", help="a second config: the same arrivals under both")
    parser.add_argument(
        "--policies",
        help=f"comma-separated, from: {', '.join(POLICIES)} "
        "(default: all; with --what-if: frontdesk)",
    )
    parser.add_argument("--seed", type=int, help="override the workload's seed")
    parser.add_argument(
        "--duration", type=_seconds, help="override the workload's duration (e.g. 1h)"
    )
    parser.add_argument(
        "--staff", help="head counts to run (8, 4,6,8, 6-20, 6-20/2): the agents cycled to each"
    )
    parser.add_argument(
        "--sla-goal",
        help="with --staff: stop at the first count meeting these, e.g. chat.first_response=95%%",
    )
    parser.add_argument("--json", help="also write every figure as JSON to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr while it runs")
    return parser


STAFFING_ROWS: list[Row] = [
    ("service level", _overall("service_level"), "%"),
    ("average speed of answer", _overall("asa_s"), "s"),
    ("abandoned", _overall("abandon_rate"), "%"),
    ("occupancy, mean", _occupancy("mean"), "%"),
]


def staffing(args: argparse.Namespace, settings: Settings, workload: Workload, arrivals: Arrivals,
             policy: str, progress: Progress) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """The --staff sweep: one column per head count, and the answer to the goal."""
    try:
        counts = parse_counts(args.staff)
        goals = parse_goals(args.sla_goal) if args.sla_goal else []
    except ValueError as exc:
        print(f"frontdesk simulate: {exc}", file=sys.stderr)
        return EXIT_CONFIG, {}
    wrong = check_goals(settings, goals)
    if wrong:
        print(f"frontdesk simulate: --sla-goal: {wrong}", file=sys.stderr)
        return EXIT_CONFIG, {}
    runs = sweep(settings, workload, arrivals, counts, policy, goals, progress)
    reports = [r for _, r in runs]
    rows = sla_rows(reports) + STAFFING_ROWS
    body = [[label, *(_cell(get(r), unit) for r in reports)] for label, get, unit in rows]
    print(f"\n{policy}, by head count:\n")
    print(_table(["agents", *(str(n) for n, _ in runs)], body))
    met_at = runs[-1][0] if goals and goal_met(runs[-1][1]["sla"], _tuples(goals)) else None
    if goals:
        wanted = " and ".join(map(str, goals))
        answer = f"from {met_at} agents" if met_at else f"not by {counts[-1]} agents"
        print(f"\n{wanted}: met {answer}")
    return 0, {
        "staffing": [{"agents": n, "report": r} for n, r in runs],
        "goals": [str(g) for g in goals],
        "met_at": met_at,
    }


def _tuples(goals: Sequence[Goal]) -> list[tuple[str, str, float]]:
    return [(g.policy, g.target, g.share) for g in goals]


def _load(args: argparse.Namespace) -> tuple[list[Settings], Workload] | None:
    paths = [args.config] + ([args.what_if] if args.what_if else [])
    problems = []
    configs = []
    for path in paths:
        try:
            configs.append(load_settings(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
    skills = {s for c in configs for s in c.skills} if len(configs) == len(paths) else None
    try:
        workload = load_workload(args.workload, skills)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return None
    if args.seed is not None:
        workload = replace(workload, seed=args.seed)
    if args.duration is not None:
        warmup = min(workload.warmup_s, args.duration / 2)
        workload = replace(workload, duration_s=args.duration, warmup_s=warmup)
    return configs, workload


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    names = args.policies.split(",") if args.policies else None
    unknown = [n for n in names or [] if n not in POLICIES]
    if unknown:
        print(f"unknown policy {unknown[0]!r}; choose from {', '.join(POLICIES)}", file=sys.stderr)
        return EXIT_CONFIG
    loaded = _load(args)
    if loaded is None:
        return EXIT_CONFIG
    configs, workload = loaded
    if (args.staff and args.what_if) or (args.sla_goal and not args.staff):
        print("frontdesk simulate: --staff goes without --what-if; --sla-goal needs --staff",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    arrivals = draw(workload)
    chosen = names or (["frontdesk"] if args.what_if or args.staff else list(POLICIES))
    progress = Progress(sys.stderr, quiet=args.quiet)
    if args.staff:
        try:
            code, found = staffing(args, configs[0], workload, arrivals, chosen[0], progress)
        except SimulationError as exc:
            print(f"simulation stopped: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        if args.json and not code:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({"workload": args.workload, "seed": workload.seed} | found, f, indent=2)
        return code
    try:
        labels = ["A ", "B "] if args.what_if else [""]
        runs = [
            simulate(s, workload, chosen, arrivals, progress, label)
            for s, label in zip(configs, labels, strict=True)
        ]
    except SimulationError as exc:
        print(f"simulation stopped: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    reports = [{name: result.report() for name, result in run.items()} for run in runs]
    hours = (workload.duration_s - workload.warmup_s) / 3600
    print(
        f"{len(arrivals):,} arrivals over {workload.duration_s / 3600:.3g} h "
        f"({hours:.3g} h counted after {workload.warmup_s / 60:.3g} min of warm-up), "
        f"seed {workload.seed}, {len(runs[0][chosen[0]].agent_ids)} agents"
    )
    out: dict[str, Any] = {"workload": args.workload, "seed": workload.seed}
    if args.what_if:
        for name in chosen:
            print(f"\n{name}: A = {args.config}, B = {args.what_if}\n")
            print(what_if(reports[0][name], reports[1][name], ("A", "B")))
        out |= {"a": {"config": args.config, "policies": reports[0]}}
        out |= {"b": {"config": args.what_if, "policies": reports[1]}}
    else:
        print()
        print(side_by_side(reports[0]))
        out |= {"config": args.config, "policies": reports[0]}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
