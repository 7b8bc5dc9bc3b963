"""Batch by classes (the transportation problem between classes) against the exhaustive optimum
and against the slot-expanded matching. Ties may resolve to another optimal assignment, so the
laws compare total scores, not pairs."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_matcher import reference_best as exhaustive_best  # the same exhaustive search

from frontdesk.router.routing import matcher, matcher_classes
from frontdesk.router.routing.matcher import TERMS, Pool, Weights, Window, match, scores

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "matcher.py"
_SPEC = importlib.util.spec_from_file_location("benchmark_matcher", _BENCH)
assert _SPEC is not None and _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)  # the benchmark's own workloads, `bench.case`, `bench.team_case`


@pytest.fixture(autouse=True, scope="module")
def by_classes() -> Iterator[None]:
    """Every window through the classes, however small (`match` takes the dense path below)."""
    saved, matcher.DENSE_BELOW = matcher.DENSE_BELOW, -1
    yield
    matcher.DENSE_BELOW = saved


@contextmanager
def solver(kind: str) -> Iterator[None]:
    """Force batch through the classes' LP ("classes") or the slot-expanded matching ("slots")."""
    saved = matcher_classes.GAIN, matcher_classes.MIN_PAIRS, matcher_classes.MAX_ARCS
    if kind == "classes":
        matcher_classes.GAIN, matcher_classes.MIN_PAIRS = 0, 0
    else:
        matcher_classes.MAX_ARCS = -1
    try:
        yield
    finally:
        matcher_classes.GAIN, matcher_classes.MIN_PAIRS, matcher_classes.MAX_ARCS = saved


@st.composite
def cases(draw: st.DrawFn) -> tuple[Window, Pool, Weights]:
    r, a = draw(st.integers(0, 6)), draw(st.integers(0, 4))
    s, c, g = draw(st.integers(0, 2)), draw(st.integers(1, 2)), draw(st.integers(0, 2))

    def ints(shape: Any, *values: int) -> Any:
        return draw(arrays(np.int64, shape, elements=st.sampled_from(values)))

    def floats(shape: Any, *values: float) -> Any:
        return draw(arrays(np.float64, shape, elements=st.sampled_from(values)))

    spare = ints((a, c), 0, 1, 2)
    min_tier = ints(r, 1, 2)
    pair = st.tuples(st.integers(0, max(r - 1, 0)), st.integers(0, max(a - 1, 0)))
    excluded = draw(st.lists(pair, max_size=3))
    w = Window(
        priority=ints(r, 0, 1, 2),
        wait_s=floats(r, 0.0, 10.0, 600.0),
        channel=ints(r, *range(c)),
        required=ints((r, s), 0, 0, 1, 3, 5),
        min_tier=min_tier,
        max_tier=min_tier + ints(r, 0, 1),
        groups=draw(arrays(np.bool_, (r, g))),
        preferred=ints(r, -1, -1, *range(a)),
        only_preferred=draw(arrays(np.bool_, r, elements=st.sampled_from([False] * 4 + [True]))),
        excluded=np.array(excluded if r and a else [], np.int64).reshape(-1, 2),
    )
    p = Pool(
        proficiency=ints((a, s), 0, 1, 3, 5),  # few levels: agents that share a class
        spare=spare,
        capacity=spare + ints((a, c), 0, 1),
        idle_s=floats(a, 0.0, 100.0, 300.0),
        tier=ints(a, 1, 2),
        groups=draw(arrays(np.bool_, (a, g))),
    )
    weights = Weights(**{t: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])) for t in TERMS})
    return w, p, weights


def assert_a_valid_decision(w: Window, p: Pool, weights: Weights, mode: str = "batch") -> float:
    decision = match(w, p, weights, mode)  # type: ignore[arg-type]
    total = scores(w, p, weights)[0]
    r, a = decision.requests, decision.agents
    assert total[r, a].tolist() == decision.score.tolist()  # eligible, and the same score
    assert len(set(r.tolist())) == len(r)
    used = np.zeros_like(p.spare)
    np.add.at(used, (a, w.channel[r]), 1)
    assert (used <= p.spare).all()
    rank = np.argsort(matcher.urgency_order(w))
    assert (np.diff(rank[r]) > 0).all()  # urgency order
    left = p.spare - used
    for q in set(range(len(w.priority))) - set(r.tolist()):  # nobody waits beside a free agent
        assert not (np.isfinite(total[q]) & (left[:, w.channel[q]] > 0)).any()
    return float(decision.score.sum())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_batch_by_classes_is_optimal(case: tuple[Window, Pool, Weights]) -> None:
    w, p, weights = case
    with solver("classes"):
        assert matcher_classes.plan(matcher._classes(w, p, weights), w, p) is not None
        got = assert_a_valid_decision(w, p, weights)
    assert got == pytest.approx(exhaustive_best(w, p, scores(w, p, weights)[0].tolist()), abs=1e-9)
    assert got >= float(match(w, p, weights, "greedy").score.sum()) - 1e-9


@pytest.mark.parametrize(("waiting", "agents", "seed"), [(1_000, 500, 3), (3_000, 600, 4)])
def test_teams_workload_goes_by_classes_to_the_slots_optimum(
    waiting: int, agents: int, seed: int
) -> None:
    w, p = bench.team_case(np.random.default_rng(seed), waiting, agents)
    weights = Weights()
    channels = matcher_classes.plan(matcher._classes(w, p, weights), w, p)
    assert channels is not None  # few classes: the LP, not the slots
    assert sum(int(c.arcs.sum()) for c in channels) < waiting * agents / 50
    got = assert_a_valid_decision(w, p, weights)
    with solver("slots"):
        best = assert_a_valid_decision(w, p, weights)
    assert got == pytest.approx(best, rel=1e-12, abs=1e-9)
    assert got >= float(match(w, p, weights, "greedy").score.sum())


def test_random_workload_falls_back_to_the_slots() -> None:
    # Every agent of `bench.case` has a proficiency row of its own: classes would save nothing.
    w, p = bench.case(np.random.default_rng(5), 1_000, 500)
    assert matcher_classes.plan(matcher._classes(w, p, Weights()), w, p) is None
    got = assert_a_valid_decision(w, p, Weights())
    with solver("classes"):
        assert got == pytest.approx(assert_a_valid_decision(w, p, Weights()), abs=1e-9)
