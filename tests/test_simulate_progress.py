"""`frontdesk simulate` shows its progress on stderr (a line per tenth when stderr is no
terminal, one line rewritten in place on a terminal, nothing with --quiet) and leaves stdout as
it was."""

from __future__ import annotations

import io
import re
from pathlib import Path

from frontdesk.router.sim.cli import main
from frontdesk.router.sim.progress import Progress, span

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "config" / "frontdesk.example.yaml"
EXAMPLE_WORKLOAD = REPO / "config" / "simulate.example.yaml"
LINE = re.compile(
    r"^simulate (?P<label>.+): (?P<now>[\dhmsd ]+) of (?P<end>[\dhmsd ]+) simulated, "
    r"(?P<done>[\d,]+) of (?P<total>[\d,]+) arrivals \((?P<share>\d+)%\)$"
)


async def test_a_line_per_tenth_on_stderr_and_stdout_unchanged(tool) -> None:
    tool.config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    argv = ["--workload", str(EXAMPLE_WORKLOAD), "--duration", "1h", "--policies", "frontdesk"]
    code, out, err = await tool(main, *argv)
    assert code == 0, err
    lines = err.splitlines()
    found = [LINE.match(line) for line in lines]
    assert all(found), lines
    assert {m["label"] for m in found if m} == {"frontdesk"}
    shares = [int(m["share"]) for m in found if m]
    assert shares == sorted(set(shares)) and shares[-1] == 100 and len(shares) >= 3
    assert all(s % 10 == 0 for s in shares[:-1])  # one line per tenth, not per call
    last = found[-1]
    assert last and last["done"] == last["total"] and last["now"] == last["end"]
    arrivals = out.splitlines()[0].split()[0]  # "1,234 arrivals over 1 h ..."
    assert last["total"] == arrivals
    assert "\r" not in err  # no terminal: plain lines for a log

    quiet_code, quiet_out, quiet_err = await tool(main, *argv, "--quiet")
    assert (quiet_code, quiet_err) == (0, "")
    assert quiet_out == out  # the same run, the same report: progress never touches stdout


WHAT_IF = """\
tenant: sim
skills: [support]
default_queue: calls
queues:
  calls: {mode: assign}
agents:
  - {id: a0, capacity: {phone: 1}, presence: available}
  - {id: a1, capacity: {phone: 1}, presence: available}
"""
WORKLOAD = (
    "seed: 2\nduration: 4h\ndrain: 1h\ntargets: {channels: {phone: 20s}}\n"
    "arrivals: [{name: calls, channel: phone, rate: 20/h, handle: {exponential: 3m}}]\n"
)


async def test_each_run_of_a_what_if_and_a_sweep_is_named(tool, tmp_path: Path) -> None:
    tool.config.write_text(WHAT_IF, encoding="utf-8")
    other = tmp_path / "b.yaml"
    other.write_text(WHAT_IF, encoding="utf-8")
    workload = tmp_path / "w.yaml"
    workload.write_text(WORKLOAD, encoding="utf-8")
    code, _, err = await tool(main, "--workload", str(workload), "--what-if", str(other))
    assert code == 0, err
    labels = [m["label"] for m in map(LINE.match, err.splitlines()) if m]
    assert labels[0] == "A frontdesk" and labels[-1] == "B frontdesk"
    assert set(labels) == {"A frontdesk", "B frontdesk"}
    code, _, err = await tool(main, "--workload", str(workload), "--staff", "1,2")
    assert code == 0, err
    finals = [m["label"] for m in map(LINE.match, err.splitlines()) if m and m["share"] == "100"]
    assert finals == ["frontdesk, 1 agents", "frontdesk, 2 agents"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_rewritten_at_most_twice_a_second() -> None:
    now = [0.0]
    stream = Terminal()
    watch = Progress(stream, clock=lambda: now[0]).run("frontdesk")
    assert watch is not None
    minute = 60_000
    watch(10 * minute, 100 * minute, 1000, 10_000)  # shown: the first
    now[0] = 0.2
    watch(20 * minute, 100 * minute, 2000, 10_000)  # too soon: skipped
    now[0] = 0.6
    watch(30 * minute, 100 * minute, 3000, 10_000)  # shown
    now[0] = 0.7
    watch(100 * minute, 100 * minute, 10_000, 10_000)  # the last is always shown
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("(100%)\n") and text.count("\n") == 1
    shown = text.split("\r")[1:]
    assert "1h 40m" in shown[0] and "(10%)" in shown[0]
    assert "(30%)" in shown[1] and "2,000 of" not in text
    assert len(shown[2].rstrip("\n")) >= len(shown[1])  # a shorter line would be padded


def test_quiet_shows_nothing_and_spans_read_well() -> None:
    assert Progress(Terminal(), quiet=True).run("frontdesk") is None
    assert [span(ms) for ms in (45_000, 12 * 60_000, 3 * 3_600_000 + 5 * 60_000)] == [
        "45s",
        "12m",
        "3h 05m",
    ]
    assert span(2 * 86_400_000 + 4 * 3_600_000) == "2d 04h"
