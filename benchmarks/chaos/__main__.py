"""`python -m benchmarks.chaos [--quick] [--only NAME ...] [--out PATH] [--set KEY=YAML ...]`"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from .report import Row, document, table
from .scenarios import SCENARIOS
from .scenarios.base import Context

DEFAULT_OUT = Path("benchmarks/out/chaos.json")
SCENARIO_TIMEOUT_S = {True: 120.0, False: 900.0}  # per scenario, quick and full


def overlay(items: list[str]) -> dict[str, Any]:
    """`a.b=value` pairs (value in YAML) as one nested mapping."""
    out: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise SystemExit(f"--set wants KEY.PATH=YAML, got {item!r}")
        node = out
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(raw)
    return out


async def run_one(name: str, ctx: Context) -> Row:
    t0 = time.monotonic()
    print(f"== {name} ...", file=sys.stderr, flush=True)
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_S[ctx.quick]):
            row = await SCENARIOS[name].run(ctx)
    except Exception as exc:  # one scenario's failure is its row, the others still run
        row = Row(name, status=f"error: {type(exc).__name__}: {exc}"[:300])
        row.details["traceback"] = traceback.format_exc()
    row.details["seconds"] = round(time.monotonic() - t0, 1)
    print(f"   {name}: {row.status} in {row.details['seconds']} s", file=sys.stderr, flush=True)
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short versions (~2 minutes)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="these scenarios")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON ({DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=YAML",
        help="a config key for every daemon, e.g. --set http.body_timeout=5s",
    )  # fmt: skip
    parser.add_argument("--keep", type=Path, help="keep each world's directory (logs) under this")
    args = parser.parse_args(argv)
    ctx = Context(args.quick, args.seed, overlay(args.set), args.keep)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    rows = [asyncio.run(run_one(name, ctx)) for name in args.only or list(SCENARIOS)]
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.chaos " + " ".join(argv)
    doc = document(rows, command.strip(), args.quick, args.seed)
    args.out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"JSON: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
