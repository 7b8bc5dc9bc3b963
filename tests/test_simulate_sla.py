"""Service-level attainment in the simulator (router/sim/sla.py) and the staffing sweep
(router/sim/staffing.py): the config's own policies, wall and working time, what counts as met,
breached and unmeasured, and `--staff ... --sla-goal` answering how many agents keep a promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.sim.cli import main
from frontdesk.router.sim.engine import Engine
from frontdesk.router.sim.model import Workload, draw
from frontdesk.router.sim.policies import make
from frontdesk.router.sim.staffing import parse_counts, parse_goals, scaled
from frontdesk.router.sim.workload import parse_workload

HOUR = 3_600_000

CONFIG = """\
tenant: sim
skills: [support]
default_queue: calls
calendars:
  office:
    timezone: UTC
    hours: {{mon-fri: "09:00-17:00"}}
queues:
  calls: {{mode: assign}}
sla:
  policies:
    - name: calls
      targets:
        first_response: {first}
        resolution: 2h
        next_response: 10m
"""

# Friday 16:30 UTC; the one agent works Monday 09:00 (64.5 h later) to 12:00.
WEEKEND = """\
seed: 5
start: 2026-11-27T16:30:00Z
duration: 66h
drain: 2h
arrivals:
  - {name: calls, channel: phone, rate: 1/h, handle: {fixed: 20s}}
agents:
  - {id: monday, skills: {support: 1}, capacity: {phone: 1}, shifts: [{from: 64.5h, to: 67.5h}]}
"""


def config(first: str) -> Settings:
    return parse_settings(CONFIG.format(first=first), "sla-sim.yaml")


def run(settings: Settings, workload: Workload) -> tuple[Engine, dict]:
    engine = Engine(settings, workload, draw(workload), make("frontdesk", workload.seed))
    return engine, engine.run().report()


def test_working_time_keeps_a_promise_the_wall_clock_breaks_over_a_weekend() -> None:
    load = parse_workload(WEEKEND, "weekend.yaml", None)
    engine, wall = run(config("1h"), load)
    _, working = run(config("{within: 1h, calendar: office}"), load)
    jobs = engine.jobs
    assert len(jobs) > 40 and all(j.answered >= 0 for j in jobs)  # all served on Monday
    late = sum(j.answered - j.t > HOUR for j in jobs)
    assert late > 40  # the weekend's requests waited for Monday morning
    first = wall["sla"]["policies"]["calls"]["first_response"]
    assert (first["breached"], first["met"], first["unmeasured"]) == (late, len(jobs) - late, 0)
    assert first["attainment"] == pytest.approx((len(jobs) - late) / len(jobs))
    # in working time, Friday's last half hour and Monday's first minutes are under an hour
    kept = working["sla"]["policies"]["calls"]["first_response"]
    assert (kept["met"], kept["breached"], kept["attainment"]) == (len(jobs), 0, 1.0)
    assert kept["calendar"] == "office" and kept["within_s"] == 3600
    # resolution: 2 h of wall time; next_response needs follow-ups the simulator has not
    done = wall["sla"]["policies"]["calls"]["resolution"]
    assert done["breached"] == sum(j.ended - j.t > 2 * HOUR for j in jobs) > 0
    assert wall["sla"]["not_simulated"] == ["calls.next_response"]


NOBODY = """\
seed: 3
duration: 2h
drain: 1h
arrivals:
  - {{name: calls, channel: phone, rate: 30/h, handle: {{fixed: 60s}} {patience}}}
agents:
  - {{id: away, skills: {{support: 1}}, capacity: {{phone: 1}}, shifts: [{{from: 9h, to: 10h}}]}}
"""


def test_unreached_targets_are_breached_once_due_and_unmeasured_before() -> None:
    settings = config("30s")
    # nobody on duty, nobody gives up: every request is still waiting, past 30 s, at the end
    _, open_run = run(settings, parse_workload(NOBODY.format(patience=""), "w.yaml", None))
    first = open_run["sla"]["policies"]["calls"]["first_response"]
    assert first["requests"] > 30 and first["breached"] == first["requests"]
    assert first["attainment"] == 0.0
    # customers who hang up after 10 s left before the promise could break: unmeasured
    patient = NOBODY.format(patience=", patience: {fixed: 10s}")
    _, gone = run(settings, parse_workload(patient, "w.yaml", None))
    first = gone["sla"]["policies"]["calls"]["first_response"]
    assert first["unmeasured"] == first["requests"] > 30 and first["attainment"] is None
    # ... and after 45 s, when it had: breached
    impatient = NOBODY.format(patience=", patience: {fixed: 45s}")
    _, late = run(settings, parse_workload(impatient, "w.yaml", None))
    assert late["sla"]["policies"]["calls"]["first_response"]["breached"] > 30


def test_counts_goals_and_cycled_staff() -> None:
    assert parse_counts("4,6,8") == [4, 6, 8]
    assert parse_counts("6-10/2,3") == [3, 6, 8, 10]
    for bad in ("0", "8-4", "x", "3-5/0"):
        with pytest.raises(ValueError, match=r"head count|upward"):
            parse_counts(bad)
    goal = parse_goals("chat.first_response=95%, email.resolution=80.5%")
    assert [(g.policy, g.target, g.share) for g in goal] == [
        ("chat", "first_response", 0.95), ("email", "resolution", 0.805)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a goal"):
        parse_goals("chat.first_response=150%")
    load = parse_workload(WEEKEND, "weekend.yaml", None)
    assert load.staff is not None
    five = scaled(load.staff, 3)
    assert [s.agent.id for s in five] == ["monday", "monday~2", "monday~3"]
    assert all(s.shifts == load.staff[0].shifts for s in five)


SWEEP_CONFIG = """\
tenant: sim
skills: [support]
default_queue: calls
queues:
  calls: {mode: assign}
sla:
  policies:
    - name: calls
      targets: {first_response: 20s}
agents:
  - {id: a, skills: {support: 1}, capacity: {phone: 1}, presence: available}
"""
SWEEP_WORKLOAD = """\
seed: 11
duration: 40h
drain: 3h
targets: {channels: {phone: 20s}}
arrivals:
  - {name: calls, channel: phone, rate: 200/h, handle: {exponential: 180s}}
"""


def test_the_sweep_finds_the_smallest_head_count_for_a_goal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c, w, out = tmp_path / "c.yaml", tmp_path / "w.yaml", tmp_path / "out.json"
    c.write_text(SWEEP_CONFIG, "utf-8")
    w.write_text(SWEEP_WORKLOAD, "utf-8")
    argv = ["--config", str(c), "--workload", str(w), "--staff", "10-16"]
    assert main([*argv, "--sla-goal", "calls.first_response=80%", "--json", str(out)]) == 0
    report = json.loads(out.read_text("utf-8"))
    runs = report["staffing"]
    shares = [r["report"]["sla"]["policies"]["calls"]["first_response"]["attainment"] for r in runs]
    counts = [r["agents"] for r in runs]
    assert counts[0] == 10 and report["met_at"] == counts[-1]  # 10 Erlangs: 10 never keep up
    assert shares[-1] >= 0.8 and all(s < 0.8 for s in shares[:-1])
    assert shares == sorted(shares)
    for r in runs:  # all answered in the drain, none gave up: attainment is the service level
        overall = r["report"]["overall"]
        assert overall["abandoned"] == overall["unanswered"] == 0
        first = r["report"]["sla"]["policies"]["calls"]["first_response"]
        assert first["attainment"] == pytest.approx(overall["service_level"])
    printed = capsys.readouterr().out
    assert f"calls.first_response >= 80%: met from {counts[-1]} agents" in printed
    assert "sla calls.first_response" in printed
    # a goal the config has no policy or target for is refused, as is a goal without --staff
    assert main([*argv, "--sla-goal", "chat.first_response=95%"]) == 2
    assert "no sla policy 'chat'" in capsys.readouterr().err
    assert main([*argv, "--sla-goal", "calls.resolution=95%"]) == 2
    assert "has no target 'resolution'" in capsys.readouterr().err
    assert main([*argv[:4], "--sla-goal", "calls.first_response=95%"]) == 2
    assert "--sla-goal needs --staff" in capsys.readouterr().err
