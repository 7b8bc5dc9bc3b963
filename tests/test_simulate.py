"""The simulator: Erlang C and A from the engine, identical arrivals for every policy, hard
constraints enforced, shifts, relaxation and overflow timers, offers, replay, the workload's
errors, and the CLI (side by side and what-if).

Seeded throughout (SEED): every run here is reproducible. The Erlang C runs are long because the
average speed of answer of an M/M/N queue converges slowly (its waits are correlated over a busy
period): at the lengths below the standard error of the simulated ASA is about 2% of the
theory (measured over 60 seeds), so the +-5% band holds with a margin of about 2.5 standard
errors; service level and P(wait) converge much faster (standard error under 0.5 points).
"""

from __future__ import annotations

import heapq
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from frontdesk.queues.request import Channel, Request, SkillRequirement
from frontdesk.queues.states import State
from frontdesk.queues.store import RequestRecord
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.routing.config import QueueSettings, RelaxStep, Routing
from frontdesk.router.routing.matcher import eligibility
from frontdesk.router.routing.window import Waiting, build
from frontdesk.router.sim import erlang
from frontdesk.router.sim.cli import main
from frontdesk.router.sim.engine import Engine
from frontdesk.router.sim.model import Workload, draw
from frontdesk.router.sim.policies import POLICIES, make
from frontdesk.router.sim.result import Result
from frontdesk.router.sim.state import DONE, QueueState, SimulationError, eligible
from frontdesk.router.sim.workload import parse_workload
from frontdesk.skills import Agent

SEED = 20261124
REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "config" / "frontdesk.example.yaml"
EXAMPLE_WORKLOAD = REPO / "config" / "simulate.example.yaml"

# One skill, one channel, one queue: the Erlang C model.
ONE_QUEUE = """\
tenant: sim
skills: [support, billing]
default_queue: calls
queues:
  calls:
    mode: assign
rules:
  - name: support
    then: {skills: {support: 1}}
"""


def settings(text: str = ONE_QUEUE) -> Settings:
    return parse_settings(text, "config.yaml")


def workload(text: str, base: Path | None = None) -> Workload:
    return parse_workload(text, "workload.yaml", base)


def erlang_workload(traffic: float, agents: int, hours: float, **extra: str) -> Workload:
    """Poisson calls at `traffic` Erlangs of 180 s exponential handle time."""
    patience = extra.get("patience", "")
    return workload(f"""
seed: {SEED}
duration: {hours}h
warmup: {hours / 100}h
drain: {extra.get("drain", "0s")}
targets: {{channels: {{phone: 20s}}}}
arrivals:
  - name: calls
    channel: phone
    rate: {traffic * 3600 / 180}/h
    handle: {{exponential: 180s}}
    {"patience: " + patience if patience else ""}
agents:
  - id: agent
    count: {agents}
    skills: {{support: 3}}
    capacity: {{phone: 1}}
""")


def run(config: Settings, load: Workload, policy: str = "longest-idle") -> tuple[Engine, Result]:
    engine = Engine(config, load, draw(load), make(policy, load.seed))
    return engine, engine.run()


# Checked against theory ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traffic", "agents", "hours"),
    [
        (10, 12, 6000),  # the case: P(wait) 0.449, ASA 40.4 s, SL(20 s) 64.0%
        (4, 5, 7500),
        (2, 3, 7500),  # the textbook case: P(wait) exactly 4/9
    ],
)
def test_erlang_c(traffic: int, agents: int, hours: int) -> None:
    _, result = run(settings(), erlang_workload(traffic, agents, hours))
    got = result.report()
    overall = got["overall"]
    assert overall["offered"] > 250_000 and overall["unanswered"] == 0
    assert overall["p_wait"] == pytest.approx(erlang.erlang_c(traffic, agents), abs=0.02)
    assert overall["asa_s"] == pytest.approx(erlang.asa(traffic, agents, 180), rel=0.05)
    theory = erlang.service_level(traffic, agents, 180, 20)
    assert overall["service_level"] == pytest.approx(theory, abs=0.02)
    assert got["occupancy"]["overall"] == pytest.approx(traffic / agents, abs=0.01)


def kiefer_wolfowitz(t_ms: Any, handle_ms: Any, agents: int) -> list[int]:
    """First come, first served on identical agents: each waits for the earliest free one."""
    free = [0] * agents
    waits = []
    for t, h in zip(t_ms.tolist(), handle_ms.tolist(), strict=True):
        start = max(t, free[0])
        waits.append(start - t)
        heapq.heapreplace(free, start + h)
    return waits


def test_every_wait_is_the_first_come_first_served_recursion() -> None:
    load = erlang_workload(10, 12, 300, drain="10h")
    arrivals = draw(load)
    result = Engine(settings(), load, arrivals, make("longest-idle")).run()
    waits = kiefer_wolfowitz(arrivals.t_ms, arrivals.handle_ms, 12)
    counted = arrivals.t_ms >= load.warmup_s * 1000
    expected = np.array(waits)[counted] / 1000
    assert len(expected) > 15_000
    assert np.array_equal(result.wait_s, expected)


@pytest.mark.parametrize("policy", ["frontdesk-greedy", "frontdesk-batch", "round-robin"])
def test_the_matcher_answers_like_first_come_first_served(policy: str) -> None:
    # Identical agents and one queue: whoever takes a request, every request waits as long as
    # under first come, first served; the production matcher (greedy and batch) included.
    load = erlang_workload(10, 12, 12, drain="5h")
    arrivals = draw(load)
    base = Engine(settings(), load, arrivals, make("longest-idle")).run()
    other = Engine(settings(), load, arrivals, make(policy)).run()
    assert base.answered.sum() > 1000 and (base.wait_s > 0).sum() > 200
    assert np.array_equal(base.wait_s, other.wait_s)


def test_erlang_a_abandonment() -> None:
    # Patience of mean 120 s: the engine's abandonment and ASA against Erlang A.
    load = erlang_workload(10, 12, 500, patience="{exponential: 120s}")
    _, result = run(settings(), load)
    overall = result.report()["overall"]
    theory = erlang.erlang_a(10, 12, 180, 120)
    assert overall["abandon_rate"] == pytest.approx(theory.p_abandon, abs=0.004)
    assert overall["asa_s"] == pytest.approx(theory.asa_s, rel=0.1)
    assert overall["answered"] + overall["abandoned"] == overall["offered"]


def test_abandonment_takes_exactly_the_abandoned_out_of_the_answered() -> None:
    patient = erlang_workload(10, 11, 50, drain="5h")
    impatient = erlang_workload(10, 11, 50, drain="5h", patience="{exponential: 60s}")
    _, a = run(settings(), patient)
    _, b = run(settings(), impatient)
    fa, fb = a.report()["overall"], b.report()["overall"]
    assert fa["offered"] == fb["offered"]  # the same arrivals
    assert fa["abandoned"] == 0 and fa["answered"] == fa["offered"]
    assert fb["abandoned"] > 100
    assert fb["answered"] == fa["answered"] - fb["abandoned"]
    assert fb["asa_s"] < fa["asa_s"]  # those left wait less


# The same arrivals for everyone -------------------------------------------------------------


def example(duration: str = "1h") -> tuple[Settings, Workload]:
    text = EXAMPLE_WORKLOAD.read_text(encoding="utf-8")
    text = text.replace("duration: 9h", f"duration: {duration}").replace(
        "warmup: 30m", "warmup: 10m"
    )
    config = parse_settings(EXAMPLE_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_CONFIG))
    return config, parse_workload(text, str(EXAMPLE_WORKLOAD), EXAMPLE_WORKLOAD.parent)


def test_every_policy_sees_the_same_arrivals() -> None:
    config, load = example()
    arrivals = draw(load)
    again = draw(load)
    for name in ("t_ms", "source", "handle_ms", "patience_ms"):
        assert np.array_equal(getattr(arrivals, name), getattr(again, name))
    results = {p: Engine(config, load, arrivals, make(p, load.seed)).run() for p in POLICIES}
    first = results["frontdesk"]
    assert len(first.arrival_t) > 200
    for result in results.values():
        assert np.array_equal(result.arrival_t, first.arrival_t)
        assert list(result.source) == list(first.source)
        assert list(result.queue) == list(first.queue)  # the same rules, the same queues
    # ... and a different seed is a different day.
    other = draw(replace(load, seed=load.seed + 1))
    assert not np.array_equal(other.t_ms[:50], arrivals.t_ms[:50])


def test_a_run_is_reproducible() -> None:
    config, load = example()
    one = Engine(config, load, draw(load), make("random", 3)).run().report()
    two = Engine(config, load, draw(load), make("random", 3)).run().report()
    assert one == two


# Hard constraints ------------------------------------------------------------------------------

CONSTRAINED = """\
tenant: sim
skills: [support, billing]
default_queue: calls
queues:
  calls:
    mode: assign
    preferred_agent_for: 60s
rules:
  - name: billing
    when: {keywords: [invoice]}
    then: {skills: {billing: 3}, preferred_agent: b}
agents:
  - {id: b, skills: {billing: 4}, capacity: {chat: 1}}
"""

TWO_AGENTS = """\
seed: 5
duration: 1h
drain: 1h
arrivals:
  - name: invoices
    channel: chat
    rate: 120/h
    request: {body: my invoice}
    handle: {exponential: 5m}
agents:
  - {id: a, skills: {billing: 2}, capacity: {chat: 3}}
  - {id: b, skills: {billing: 4}, capacity: {chat: 1}}
  - {id: c, skills: {billing: 5}, capacity: {chat: 1}, shifts: [{from: 2h, to: 3h}]}
"""


class Cheat:
    """Gives every waiting request to one agent, whatever the rules say."""

    name = "cheat"

    def __init__(self, agent: int, wait_s: float = 0) -> None:
        self.agent = agent
        self.wait_ms = wait_s * 1000

    def route(self, engine: Engine, queue: QueueState, jobs: Any, now: int) -> None:
        for job in jobs:
            if now - job.t >= self.wait_ms:
                engine.take(job, engine.agents[self.agent], now)


@pytest.mark.parametrize(
    ("agent", "wait_s", "breach"),
    [
        (0, 61, "not eligible"),  # a lacks billing at level 3
        (1, 61, "no room"),  # b's one chat is taken by the first request, the second breaks it
        (2, 0, "not available"),  # c is not on shift yet
    ],
)
def test_the_engine_refuses_a_policy_that_breaks_a_constraint(
    agent: int, wait_s: float, breach: str
) -> None:
    load = workload(TWO_AGENTS)
    engine = Engine(settings(CONSTRAINED), load, draw(load), Cheat(agent, wait_s))
    with pytest.raises(SimulationError, match=breach):
        engine.run()


def test_the_preferred_agent_alone_for_its_period() -> None:
    load = workload(TWO_AGENTS.replace("{billing: 2}", "{billing: 5}"))
    engine = Engine(settings(CONSTRAINED), load, draw(load), Cheat(0, 0))
    with pytest.raises(SimulationError, match="not eligible"):
        engine.run()
    # After 60 s anyone qualified may take it; under the real policies, no breach at all.
    for policy in POLICIES:
        engine, _ = run(settings(CONSTRAINED), load, policy)
        taken = [j for j in engine.jobs if j.agent >= 0]
        assert taken and all(
            engine.agents[j.agent].id == "b" or j.answered - j.t >= 60_000 for j in taken
        )


def test_capacity_is_never_exceeded_and_skills_always_met() -> None:
    load = workload(TWO_AGENTS.replace("rate: 120/h", "rate: 300/h").replace("1h\n", "30m\n", 1))
    for policy in POLICIES:
        engine, result = run(settings(CONSTRAINED), load, policy)
        assert result.report()["overall"]["at_requirement"] == 1.0
        answered = sorted((j.answered, j.ended, j.agent) for j in engine.jobs if j.answered >= 0)
        assert answered
        for agent in engine.agents:  # at every start, count what the agent held
            mine = [(s, e) for s, e, a in answered if a == agent.i]
            for start, _ in mine:
                held = sum(1 for s, e in mine if s <= start < e)
                assert held <= agent.profile.capacity["chat"]
        assert all(engine.agents[j.agent].id != "a" for j in engine.jobs if j.agent >= 0)


def test_static_eligibility_is_the_matchers() -> None:
    # The engine's own check (`eligible`, which the baselines also use) against
    # router.matcher.eligibility on windows built by router.window.build.
    rng = np.random.default_rng(SEED)
    skills = ["s0", "s1", "s2"]
    for case in range(60):
        agents = [
            Agent(
                f"a{i}",
                f"a{i}",
                skills={s: int(rng.integers(1, 6)) for s in skills if rng.random() < 0.7},
                capacity={"chat": 2},
                tier=int(rng.integers(1, 4)),
                groups=tuple(g for g in ("g1", "g2", "g3") if rng.random() < 0.4),
            )
            for i in range(8)
        ]
        relax = (
            RelaxStep(10, lower_skills=int(rng.integers(0, 3)), drop_optional=True),
            RelaxStep(20, widen_groups=("g3",), widen_tiers=bool(rng.random() < 0.5)),
        )
        groups = ("g1",) if case % 2 else ()
        routing = Routing(groups=groups, relax=relax)
        queue = QueueSettings("q", 1, "assign", 20, routing=routing)
        requests = [
            Request(
                id=f"r{k}",
                channel=Channel.CHAT,
                queue="q",
                tier=int(rng.integers(1, 4)),
                skills=tuple(
                    SkillRequirement(s, int(rng.integers(1, 6)), bool(rng.random() < 0.3))
                    for s in skills
                    if rng.random() < 0.5
                ),
            )
            for k in range(6)
        ]
        waits = [float(rng.choice([0, 15, 25])) for _ in requests]
        waiting = [Waiting(record(r), frozenset(), w) for r, w in zip(requests, waits, strict=True)]
        spare = {a.id: {"chat": 2} for a in agents}
        built = build(queue, waiting, agents, spare, 0)
        matrix = eligibility(built.window, built.pool)
        for k, (request, wait) in enumerate(zip(requests, waits, strict=True)):
            steps = routing.steps_at(wait)
            mine = [eligible(a, request, routing, steps) for a in agents]
            assert mine == matrix[k].tolist(), (case, k)


def record(request: Request) -> RequestRecord:
    return RequestRecord(request, State.WAITING, None, None, 0, 0, 0, 0, None)


# The baselines ---------------------------------------------------------------------------------

QUIET = """\
seed: 8
duration: 10h
arrivals:
  - {name: calls, channel: phone, rate: 6/h, handle: {fixed: 1s}}
agents:
  - {id: x, count: 3, skills: {support: 1}, capacity: {phone: 1}}
"""


@pytest.mark.parametrize("policy", ["round-robin", "longest-idle", "fewest-handled"])
def test_the_baselines_share_work_in_turn(policy: str) -> None:
    # Every call finds every agent free: each of these gives it to the next one in turn.
    engine, _ = run(settings(), workload(QUIET), policy)
    turns = [j.agent for j in engine.jobs]
    assert len(turns) > 40
    assert turns == [i % 3 for i in range(len(turns))]


def test_random_is_seeded() -> None:
    load = workload(QUIET)
    one = [j.agent for j in run(settings(), load, "random")[0].jobs]
    two = [j.agent for j in run(settings(), load, "random")[0].jobs]
    other = Engine(settings(), load, draw(load), make("random", 99))
    other.run()
    assert one == two != [j.agent for j in other.jobs]
    assert set(one) == {0, 1, 2} and one != [i % 3 for i in range(len(one))]


# Shifts, timers, offers -------------------------------------------------------------------------

SHIFTS = """\
seed: 9
duration: 3h
drain: 2h
arrivals:
  - name: calls
    channel: phone
    rate: 30/h
    handle: {fixed: 60s}
agents:
  - {id: early, skills: {support: 1}, capacity: {phone: 1}, shifts: [{from: 0h, to: 1h}]}
  - {id: late, skills: {support: 1}, capacity: {phone: 1}, shifts: [{from: 2h, to: 3h}]}
"""


def test_shifts_take_agents_away_and_bring_them_back() -> None:
    engine, result = run(settings(), workload(SHIFTS))
    hour = 3_600_000
    taken = [(j.answered, engine.agents[j.agent].id) for j in engine.jobs if j.answered >= 0]
    assert len(taken) == len(engine.jobs) > 60  # everyone is answered in the end
    assert all(who == "early" for t, who in taken if t < hour)
    assert all(who == "late" for t, who in taken if t >= hour)
    assert not [t for t, _ in taken if hour <= t < 2 * hour]  # nobody on duty
    # Whoever arrived while nobody was on duty waited for the late shift.
    gap = [j for j in engine.jobs if hour + 120_000 < j.t < 2 * hour]
    assert gap and all(j.answered >= 2 * hour for j in gap)
    occupancy = result.occupancy()["by_agent"]
    assert 0 < occupancy["early"] < occupancy["late"] <= 1  # late starts with a backlog
    staffed = dict(zip(result.agent_ids, result.staffed_ms.tolist(), strict=True))
    assert hour <= staffed["early"] < hour + 120_000  # plus what it finished after its shift


RELAXING = """\
tenant: sim
skills: [support]
default_queue: first
queues:
  first:
    mode: assign
    groups: [one]
    relax:
      - {after: 30s, lower_skills: 1}
      - {after: 45s, overflow_to: second}
  second:
    mode: assign
    groups: [two]
rules:
  - name: hard
    when: {keywords: [hard]}
    then: {skills: {support: 3}}
"""

RELAX_LOAD = """\
seed: 4
duration: 1h
drain: 1h
arrivals:
  - {name: hard, channel: chat, rate: 6/h, request: {body: hard}, handle: {fixed: 1s}}
  - {name: easy, channel: chat, rate: 6/h, request: {body: easy}, handle: {fixed: 1s}}
agents:
  - {id: junior, groups: [one], skills: {support: 2}, capacity: {chat: 1}}
"""


def test_a_relaxation_step_is_acted_on_when_it_falls_due() -> None:
    # Only a level-2 agent for level-3 requests: they wait exactly until `lower_skills` at 30 s.
    engine, result = run(settings(RELAXING), workload(RELAX_LOAD))
    hard = [j for j in engine.jobs if j.kind.source == "hard"]
    easy = [j for j in engine.jobs if j.kind.source == "easy"]
    assert hard and easy
    assert all(j.answered - j.t == 30_000 and j.steps == 1 for j in hard)
    assert all(not j.met and j.margin == -1 for j in hard)  # below the level asked for
    figures = result.report()["queues"]["first"]
    assert figures["relaxed"] == pytest.approx(len(hard) / (len(hard) + len(easy)), abs=0.05)
    assert figures["at_requirement"] < 1


def test_overflow_moves_a_request_when_it_falls_due() -> None:
    # Nobody in group one: after 45 s every request moves to `second`, where `senior` works.
    senior = "{id: senior, groups: [two], skills: {support: 3}"
    load = workload(RELAX_LOAD.replace("{id: junior, groups: [one], skills: {support: 2}", senior))
    engine, result = run(settings(RELAXING), load)
    assert engine.jobs and all(j.overflows == 1 for j in engine.jobs)
    assert all(j.answered - j.t == 45_000 for j in engine.jobs)
    assert result.report()["overall"]["overflowed"] == len(engine.jobs)


HELD_AHEAD = """\
tenant: sim
skills: [support]
default_queue: calls
queues:
  calls: {mode: assign, window: 2}
rules:
  - name: support
    then: {skills: {support: 1}}
"""
# callbacks wanted from a day after the run's start (2026-01-05 09:00 UTC): held all run long
HELD_LOAD = """
seed: 5
duration: 2h
arrivals:
  - name: later
    channel: phone
    rate: 4/h
    request: {body: call me tomorrow, attributes: {callback: true, callback_from: 1767690000}}
    handle: {fixed: 1s}
  - {name: now, channel: phone, rate: 6/h, request: {body: hello}, handle: {fixed: 1s}}
agents:
  - {id: ann, skills: {support: 1}, capacity: {phone: 1}}
"""


def test_held_callbacks_do_not_take_the_windows_places() -> None:
    # The window holds two; once two held callbacks wait at the head, the requests behind them
    # are still read (as the dispatcher reads past them) and answered at once.
    engine, result = run(settings(HELD_AHEAD), workload(HELD_LOAD))
    later = [j for j in engine.jobs if j.kind.source == "later"]
    now = [j for j in engine.jobs if j.kind.source == "now"]
    assert len(later) <= 10 and all(j.answered < 0 for j in later)  # held, within ten windows
    behind = [j for j in now if j.t > later[1].t]
    assert behind, "the seed gives requests behind two held callbacks"
    assert all(0 <= j.answered - j.t <= 1000 for j in now)
    assert result.report()["overall"]["unanswered"] == len(later)


OFFERS = """\
tenant: sim
skills: [support]
default_queue: chat
queues:
  chat: {offer_timeout: 20s}
"""


def test_a_rejected_offer_goes_to_another_agent_and_never_back() -> None:
    load = workload("""
seed: 3
duration: 2h
drain: 1h
offers: {accept_after: {fixed: 2s}, reject: 0.4}
arrivals:
  - {name: chats, channel: chat, rate: 60/h, handle: {exponential: 2m}}
agents:
  - {id: ann, capacity: {chat: 2}}
  - {id: bob, capacity: {chat: 2}}
  - {id: cat, capacity: {chat: 2}}
""")
    for policy in ("frontdesk", "round-robin"):
        engine, result = run(settings(OFFERS), load, policy)
        assert result.engine["rejected"] > 20 and result.engine["missed"] == 0
        rejected = [j for j in engine.jobs if j.excluded]
        assert rejected and all(j.agent not in j.excluded for j in rejected if j.answered >= 0)
        answered = [j for j in engine.jobs if j.answered >= 0]
        assert all(j.answered - j.t >= 2000 for j in answered)  # the answer takes 2 s


def test_an_answer_after_the_timeout_is_a_missed_offer() -> None:
    load = workload("""
seed: 3
duration: 1h
drain: 1h
offers: {accept_after: {fixed: 30s}}
arrivals:
  - {name: chats, channel: chat, rate: 10/h, handle: {fixed: 1m}}
agents:
  - {id: ann, capacity: {chat: 1}}
  - {id: bob, capacity: {chat: 1}}
""")
    engine, result = run(settings(OFFERS), load)
    n = len(engine.jobs)
    assert n > 3
    assert result.engine["missed"] == 2 * n  # each offered to both, in vain
    assert result.report()["overall"]["answered"] == 0
    assert result.report()["overall"]["unanswered"] == n


# Replay of an event log ------------------------------------------------------------------------


def event(kind: str, req: str, ts: int, **more: Any) -> str:
    return json.dumps({"type": kind, "req": req, "agent": "", "queue": "calls", "ts": ts} | more)


def test_replaying_an_event_log(tmp_path: Path) -> None:
    t0 = 1_700_000_000_000
    lines = [
        event("enqueued", "r1", t0, channel="phone"),
        event("offered", "r1", t0 + 100, agent="x"),
        event("accepted", "r1", t0 + 1_000),
        event("enqueued", "r2", t0 + 10_000, channel="phone", skills='{"billing": 2}'),
        event("presence", "", t0 + 11_000),
        event("accepted", "r2", t0 + 300_000),
        event("completed", "r1", t0 + 121_000),  # handled 120 s
        event("enqueued", "r3", t0 + 20_000, channel="phone"),
        event("abandoned", "r3", t0 + 50_000),  # hung up after 30 s
        event("completed", "r2", t0 + 360_000),  # handled 60 s
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    load = workload(
        """
seed: 1
drain: 1h
replay: {path: events.jsonl, handle: {fixed: 5m}}
agents:
  - {id: only, skills: {support: 1, billing: 3}, capacity: {phone: 1}}
""",
        tmp_path,
    )
    arrivals = draw(load)
    assert arrivals.t_ms.tolist() == [0, 10_000, 20_000]
    assert arrivals.handle_ms.tolist() == [120_000, 60_000, 300_000]  # r3: not in the log
    assert arrivals.patience_ms.tolist() == [-1, -1, 30_000]
    engine = Engine(settings(), load, arrivals, make("longest-idle"))
    engine.run()
    r1, r2, r3 = engine.jobs
    assert r1.answered == 0 and r1.ended == 120_000
    assert r2.kind.request.skills == (SkillRequirement("billing", 2),)
    assert r2.answered == 120_000  # after r1, the one agent's only call
    assert r3.state != DONE and r3.ended == 50_000  # gave up while the agent was busy


def test_a_bad_event_log_is_reported_with_its_lines(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(
        "\n".join(
            [
                event("enqueued", "r1", 1000, channel="phone"),
                "{not json",
                event("enqueued", "r2", 2000, channel="fax"),
                json.dumps({"type": "enqueued", "req": "r3", "queue": "q", "ts": "soon"}),
            ]
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        workload("replay: {path: events.jsonl}\n", tmp_path)
    where = [str(p).split(": ")[0] for p in caught.value.problems]
    assert [w.rsplit(":", 1)[1] for w in where] == ["2", "3", "4"]
    assert "channel must be one of" in str(caught.value)


# The workload's errors -------------------------------------------------------------------------


def test_workload_errors_come_with_their_line_and_path() -> None:
    text = """\
seed: 1
duration: 2h
arrivals:
  - name: chats
    channel: fax
    rate: 12 per hour
    handle: {exponential: 5m}
  - name: chats
    channel: chat
    rate: 12/h
    handle: 5m
    colour: blue
agents:
  - id: a
    skills: {support: 7}
    capacity: {chat: 2}
    shifts: [{from: 2h, to: 3h}, {from: 1h, to: 4h}]
"""
    with pytest.raises(ConfigError) as caught:
        parse_workload(text, "w.yaml", None, {"support"})
    got = [str(p) for p in caught.value.problems]
    expected = [
        "w.yaml:5: arrivals[0].channel: must be one of",
        "w.yaml:6: arrivals[0].rate: must be a rate above 0 such as 120/h",
        "w.yaml:8: arrivals[1].name: 'chats' is already arrivals[0]",
        "w.yaml:11: arrivals[1].handle: must be one of {exponential: MEAN}",
        "w.yaml:12: arrivals[1].colour: unknown key",
        "w.yaml:15: agents[0].skills.support: must be a whole number from 1 to 5, got 7",
        "w.yaml:17: agents[0].shifts[1].from: shifts must come in order and not overlap",
    ]
    assert len(got) == len(expected)
    for line, want in zip(got, expected, strict=True):
        assert line.startswith(want), line


def test_an_agent_skill_the_config_does_not_know() -> None:
    text = "arrivals: [{name: a, channel: chat, rate: 1/h, handle: {fixed: 1m}}]\n"
    text += "agents: [{id: a, skills: {suport: 2}, capacity: {chat: 1}}]\n"
    with pytest.raises(ConfigError, match=r"w.yaml:2: agents\[0\].skills.suport: not a skill"):
        parse_workload(text, "w.yaml", None, {"support"})


# The command -----------------------------------------------------------------------------------


def test_the_command_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    argv = ["--config", str(EXAMPLE_CONFIG), "--workload", str(EXAMPLE_WORKLOAD)]
    argv += ["--duration", "1h", "--policies", "frontdesk,longest-idle", "--json", str(out)]
    assert main(["--", *argv]) == 0  # a leading -- (from `frontdesk simulate -- ...`) is fine
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if "frontdesk" in line)
    assert header.split() == ["frontdesk", "longest-idle"]
    assert "service level" in printed and "chat-l1: ASA" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["policies"]) == {"frontdesk", "longest-idle"}
    for figures in report["policies"].values():
        assert figures["overall"]["offered"] > 100
        assert set(figures["channels"]) >= {"chat", "email", "phone"}
        assert 0 < figures["occupancy"]["mean"] <= 1


WHAT_IF = """\
tenant: sim
skills: [support]
default_queue: calls
queues:
  calls: {{mode: assign}}
agents:
{agents}
"""


def test_what_if_runs_the_same_arrivals_under_two_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = "  - {{id: a{}, capacity: {{phone: 1}}, presence: available}}"
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(WHAT_IF.format(agents="\n".join(agent.format(i) for i in range(3))), "utf-8")
    b.write_text(WHAT_IF.format(agents="\n".join(agent.format(i) for i in range(4))), "utf-8")
    w = tmp_path / "w.yaml"
    w.write_text(
        "seed: 2\nduration: 20h\ndrain: 2h\ntargets: {channels: {phone: 20s}}\n"
        "arrivals: [{name: calls, channel: phone, rate: 50/h, handle: {exponential: 3m}}]\n",
        "utf-8",
    )
    out = tmp_path / "out.json"
    argv = ["--config", str(a), "--what-if", str(b), "--workload", str(w), "--json", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    fa = report["a"]["policies"]["frontdesk"]["overall"]
    fb = report["b"]["policies"]["frontdesk"]["overall"]
    assert fa["offered"] == fb["offered"] > 900  # the same arrivals
    assert fb["asa_s"] < fa["asa_s"] and fb["service_level"] > fa["service_level"]
    rows = {line.split("  ")[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    level = rows["service level"]
    assert level[-2:] == [f"{(fb['service_level'] - fa['service_level']) * 100:+.1f}", "pt"]
    speed = rows["average speed of answer"]
    assert speed[-2:] == [f"{fb['asa_s'] - fa['asa_s']:+.1f}", "s"]


def test_the_command_reports_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = tmp_path / "w.yaml"
    w.write_text("seed: 1\narrivals:\n  - {name: x, channel: chat, rate: fast}\n", "utf-8")
    assert main(["--config", str(EXAMPLE_CONFIG), "--workload", str(w)]) == 2
    err = capsys.readouterr().err
    assert f"{w}:3: arrivals[0].rate: must be a rate" in err
    assert f"{w}:3: arrivals[0].handle: must be one of" in err
    assert main(["--config", str(EXAMPLE_CONFIG), "--workload", str(w), "--policies", "fifo"]) == 2
    assert "unknown policy 'fifo'" in capsys.readouterr().err
