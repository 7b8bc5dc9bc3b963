"""Greedy by classes against the dense greedy it replaced: the same pairs, in the same order."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from frontdesk.router.routing import matcher, matcher_greedy
from frontdesk.router.routing.matcher import (
    TERMS,
    Decision,
    Pool,
    Weights,
    Window,
    match,
    scores,
    urgency_order,
)

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "matcher.py"
_SPEC = importlib.util.spec_from_file_location("benchmark_matcher", _BENCH)
assert _SPEC is not None and _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)  # the benchmark's own workload generator, `bench.case`


@pytest.fixture(autouse=True, scope="module")
def by_classes() -> Iterator[None]:
    """Every window through the classes, however small (`match` takes the dense path below)."""
    saved, matcher.DENSE_BELOW = matcher.DENSE_BELOW, -1
    yield
    matcher.DENSE_BELOW = saved


def dense_greedy(w: Window, p: Pool, weights: Weights) -> tuple[list[int], list[int]]:
    """The greedy of before the classes, kept as the reference: one argmax over the whole
    (R, A) score matrix row per request, in urgency order, first maximum on ties."""
    total = scores(w, p, weights)[0]
    left = p.spare.T.copy()
    live = left > 0
    chosen: tuple[list[int], list[int]] = ([], [])
    for r in urgency_order(w).tolist():
        c = int(w.channel[r])
        if not live[c].any():
            continue
        row = np.where(live[c], total[r], -np.inf)
        a = int(np.argmax(row))
        if row[a] == -np.inf:
            continue
        chosen[0].append(r)
        chosen[1].append(a)
        left[c, a] -= 1
        live[c, a] = left[c, a] > 0
    return chosen


def assert_same_as_dense(w: Window, p: Pool, weights: Weights) -> Decision:
    decision = match(w, p, weights, "greedy")
    requests, agents = dense_greedy(w, p, weights)
    assert decision.requests.tolist() == requests
    assert decision.agents.tolist() == agents
    total = scores(w, p, weights)[0]
    assert decision.score.tolist() == total[requests, agents].tolist()  # bit for bit
    for k in range(len(decision)):
        assert set(decision.explain(k)) == {"total", *TERMS}
    return decision


@st.composite
def windows(draw: st.DrawFn) -> tuple[Window, Pool, Weights]:
    """Classes that share agents, ties everywhere, and idle times a rounding apart."""
    r, a = draw(st.integers(0, 40)), draw(st.integers(0, 30))
    s, c, g = draw(st.integers(0, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 2))

    def ints(shape: Any, *values: int) -> Any:
        return draw(arrays(np.int64, shape, elements=st.sampled_from(values)))

    idle = st.sampled_from([0.0, 100.0, 100.0 + 1e-11, 100.0 + 2e-11, 300.0]) | st.floats(0, 1e4)
    spare = ints((a, c), 0, 1, 2, 3)
    min_tier = ints(r, 1, 2)
    pair = st.tuples(st.integers(0, max(r - 1, 0)), st.integers(0, max(a - 1, 0)))
    excluded = draw(st.lists(pair, max_size=6))
    w = Window(
        priority=ints(r, 0, 1, 2),
        wait_s=draw(arrays(np.float64, r, elements=st.sampled_from([0.0, 30.0, 1e9]))),
        channel=ints(r, *range(c)),
        required=ints((r, s), 0, 0, 1, 2, 5),
        min_tier=min_tier,
        max_tier=min_tier + ints(r, 0, 1),
        groups=draw(arrays(np.bool_, (r, g))),
        preferred=ints(r, -1, -1, *range(a)),
        only_preferred=draw(arrays(np.bool_, r, elements=st.sampled_from([False] * 5 + [True]))),
        excluded=np.array(excluded if r and a else [], np.int64).reshape(-1, 2),
    )
    p = Pool(
        proficiency=ints((a, s), 0, 1, 2, 3, 5),
        spare=spare,
        capacity=spare + ints((a, c), 0, 1),
        idle_s=draw(arrays(np.float64, a, elements=idle)),
        tier=ints(a, 1, 2),
        groups=draw(arrays(np.bool_, (a, g))),
    )
    weights = Weights(
        **{t: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])) for t in TERMS[:3]},
        wait=draw(st.sampled_from([0.0, 1.0, 1000.0])),
        priority=draw(st.sampled_from([0.0, 1.0])),
        preferred=draw(st.sampled_from([0.0, 2.0])),
    )
    return w, p, weights


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows())
def test_greedy_by_classes_is_the_dense_greedy(case: tuple[Window, Pool, Weights]) -> None:
    assert_same_as_dense(*case)


@pytest.mark.parametrize("chunk", [1, 2, matcher_greedy.FIRST_CHUNK])
@pytest.mark.parametrize(("waiting", "agents", "seed"), [(300, 60, 1), (2_000, 400, 2)])
def test_the_benchmark_workload_decides_as_the_dense_greedy(
    waiting: int, agents: int, seed: int, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matcher_greedy, "FIRST_CHUNK", chunk)  # many chunks, each boundary
    w, p = bench.case(np.random.default_rng(seed), waiting, agents)
    decision = assert_same_as_dense(w, p, Weights())
    assert len(decision) > waiting // 5  # a real round: many pairs, many agents used up


def test_totals_that_round_together_go_to_the_lower_agent_index() -> None:
    # Agent 1's idle term is larger by less than a rounding step of the request's total (the
    # wait term is ~1000), so both totals are equal and the dense argmax takes agent 0.
    weights = Weights(skill=0, load=0, idle=1, wait=1000, priority=0, preferred=0)
    idle = np.array([100.0, 100.0 + 1e-11])
    w = Window(
        priority=[1],
        wait_s=[1e9],
        channel=[0],
        required=np.zeros((1, 0), int),
        min_tier=[1],
        max_tier=[3],
        groups=np.zeros((1, 0), bool),
        preferred=[-1],
        only_preferred=[False],
        excluded=np.empty((0, 2), int),
    )
    p = Pool(
        proficiency=np.zeros((2, 0), int),
        spare=[[1], [1]],
        capacity=[[1], [1]],
        idle_s=idle,
        tier=[1, 1],
        groups=np.zeros((2, 0), bool),
    )
    side = weights.idle * idle / (idle + weights.idle_scale_s)
    assert side[1] > side[0]  # agent 1 is better before the wait term is added ...
    total = scores(w, p, weights)[0]
    assert total[0, 0] == total[0, 1]  # ... and not after
    assert match(w, p, weights, "greedy").agents.tolist() == [0]
