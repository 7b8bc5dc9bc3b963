"""The matcher: hard constraints, each score term by hand, both modes against brute force."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment

from frontdesk.router.routing.matcher import (
    TERMS,
    Decision,
    Pool,
    Weights,
    Window,
    eligibility,
    match,
    scores,
    urgency_order,
)

MODES = ("greedy", "batch")
ONLY = {t: 0.0 for t in TERMS}  # Weights(**ONLY, skill=1.0): the skill term alone


def window(r: int = 1, s: int = 0, g: int = 0, **given: Any) -> Window:
    fields: dict[str, Any] = {
        "priority": np.ones(r, int),
        "wait_s": np.zeros(r),
        "channel": np.zeros(r, int),
        "required": np.zeros((r, s), int),
        "min_tier": np.ones(r, int),
        "max_tier": np.full(r, 3),
        "groups": np.zeros((r, g), bool),
        "preferred": np.full(r, -1),
        "only_preferred": np.zeros(r, bool),
        "excluded": np.empty((0, 2), int),
    }
    return Window(**(fields | {k: np.asarray(v) for k, v in given.items()}))


def pool(a: int = 1, s: int = 0, c: int = 1, g: int = 0, **given: Any) -> Pool:
    spare = np.asarray(given.pop("spare", np.ones((a, c), int)))
    fields: dict[str, Any] = {
        "proficiency": np.zeros((a, s), int),
        "spare": spare,
        "capacity": np.maximum(spare, 1),
        "idle_s": np.zeros(a),
        "tier": np.ones(a, int),
        "groups": np.zeros((a, g), bool),
    }
    return Pool(**(fields | {k: np.asarray(v) for k, v in given.items()}))


def pairs(decision: Decision) -> list[tuple[int, int]]:
    return list(zip(decision.requests.tolist(), decision.agents.tolist(), strict=True))


def term(name: str, w: Window, p: Pool, weights: Weights | None = None) -> list[list[float]]:
    return scores(w, p, weights or Weights())[1][name].tolist()  # type: ignore[no-any-return]


# Hard constraints, one at a time.


def test_skill_at_or_above_each_minimum() -> None:
    w = window(2, s=2, required=[[3, 0], [3, 2]])
    p = pool(3, s=2, proficiency=[[3, 0], [2, 5], [4, 2]])
    assert eligibility(w, p).tolist() == [[True, False, True], [False, False, True]]


def test_no_skill_required_means_any_agent() -> None:
    assert eligibility(window(1, s=2), pool(2, s=2)).tolist() == [[True, True]]


def test_spare_capacity_on_the_request_channel() -> None:
    w = window(2, channel=[0, 1])
    p = pool(2, c=2, spare=[[0, 1], [1, 0]], capacity=[[1, 1], [1, 1]])
    assert eligibility(w, p).tolist() == [[False, True], [True, False]]


def test_tier_bounds_are_inclusive() -> None:
    w = window(2, min_tier=[2, 1], max_tier=[3, 1])
    p = pool(3, tier=[1, 2, 3])
    assert eligibility(w, p).tolist() == [[False, True, True], [True, False, False]]


def test_groups_allowed_or_any() -> None:
    w = window(3, g=2, groups=[[True, False], [False, True], [False, False]])
    p = pool(3, g=2, groups=[[True, False], [True, True], [False, False]])
    assert eligibility(w, p).tolist() == [
        [True, True, False],
        [False, True, False],
        [True, True, True],
    ]


def test_excluded_pairs_never_match() -> None:
    w = window(2, excluded=[[0, 1], [1, 0], [1, 0]])
    assert eligibility(w, pool(2)).tolist() == [[True, False], [False, True]]
    assert pairs(match(w, pool(2), Weights(), "greedy")) == [(0, 0), (1, 1)]


def test_only_preferred() -> None:
    w = window(3, preferred=[1, -1, 1], only_preferred=[True, True, False])
    assert eligibility(w, pool(2)).tolist() == [[False, True], [False, False], [True, True]]


def test_only_preferred_still_needs_every_other_constraint() -> None:
    w = window(1, preferred=[1], only_preferred=[True], excluded=[[0, 1]])
    assert eligibility(w, pool(2)).tolist() == [[False, False]]


# Score terms, by hand.


def test_skill_term_is_the_mean_headroom_over_required_skills() -> None:
    w = window(3, s=3, required=[[2, 4, 0], [5, 0, 0], [0, 0, 0]])
    p = pool(1, s=3, proficiency=[[4, 5, 3]])
    (two_skills,), (at_five,), (none,) = term("skill", w, p, Weights(**ONLY | {"skill": 2.0}))
    assert two_skills == pytest.approx(2.0 * ((4 - 2) / (5 - 2) + (5 - 4) / (5 - 4)) / 2)
    assert (at_five, none) == (0.0, 2.0 * 0.5)


def test_load_term_is_spare_over_capacity_on_the_channel() -> None:
    w = window(2, channel=[0, 1])
    p = pool(1, c=2, spare=[[2, 1]], capacity=[[2, 3]])
    assert term("load", w, p, Weights(load=1.0)) == [[1.0], [pytest.approx(1 / 3)]]


def test_idle_and_wait_terms_squash_seconds() -> None:
    w, p = window(2, wait_s=[0.0, 30.0]), pool(2, idle_s=[300.0, 100.0])
    weights = Weights(idle=1.0, wait=1.0, wait_scale_s=30.0, idle_scale_s=300.0)
    assert term("idle", w, p, weights) == [[0.5, 0.25], [0.5, 0.25]]
    assert term("wait", w, p, weights) == [[0.0, 0.0], [0.5, 0.5]]


def test_priority_term_by_band() -> None:
    w = window(3, priority=[0, 1, 2])
    assert term("priority", w, pool(1), Weights(priority=2.0)) == [[2.0], [1.0], [0.0]]


def test_preferred_term() -> None:
    w = window(2, preferred=[1, -1])
    assert term("preferred", w, pool(2)) == [[0.0, 2.0], [0.0, 0.0]]


def test_total_is_the_weighted_sum() -> None:
    w = window(1, s=1, required=[[1]], wait_s=[60.0], priority=[0], preferred=[0])
    p = pool(1, s=1, proficiency=[[3]], spare=[[1]], capacity=[[2]], idle_s=[300.0])
    weights = Weights(skill=1.0, load=2.0, idle=3.0, wait=4.0, priority=5.0, preferred=6.0)
    expected = 1.0 * 0.5 + 2.0 * 0.5 + 3.0 * 0.5 + 4.0 * 0.5 + 5.0 * 1.0 + 6.0 * 1.0
    total, _ = scores(w, p, weights)
    assert total.tolist() == [[pytest.approx(expected)]]
    decision = match(w, p, weights, "greedy")
    assert decision.explain(0) == pytest.approx(
        {"total": expected, "skill": 0.5, "load": 1.0, "idle": 1.5, "wait": 2.0}
        | {"priority": 5.0, "sla": 0.0, "preferred": 6.0}
    )


def test_the_sla_term_weighs_the_share_of_the_target_gone() -> None:
    w = window(1, wait_s=[0.0], sla=[0.75])
    p = pool(1)
    on = Weights(sla=2.0)
    total_on, terms = scores(w, p, on)
    total_off, _ = scores(w, p, Weights())
    assert terms["sla"][0, 0] == 1.5
    assert total_on[0, 0] == pytest.approx(total_off[0, 0] + 1.5)
    assert match(w, p, on, "greedy").explain(0)["sla"] == 1.5
    with pytest.raises(ValueError, match="sla"):
        window(1, sla=[1.5])


@pytest.mark.parametrize("mode", ["greedy", "batch"])
def test_the_request_nearest_to_breach_is_served_first(mode: str) -> None:
    # two requests alike but for their clocks (the second has waited a little longer), one
    # agent with room for one: with the sla term on, the one nearest to breach gets the agent
    w = window(2, wait_s=[10.0, 12.0], sla=[0.9, 0.2])
    p = pool(1, spare=[[1]])
    assert pairs(match(w, p, Weights(sla=1.0), mode)) == [(0, 0)]
    # a queue without the weight gets no sla in its window (window.build): longest wait first
    off = window(2, wait_s=[10.0, 12.0])
    assert pairs(match(off, p, Weights(), mode)) == [(1, 0)]
    big = window(300, wait_s=np.full(300, 5.0), sla=np.linspace(0, 1, 300))
    many = pool(10, spare=np.ones((10, 1), int))
    served = sorted(match(big, many, Weights(sla=1.0), "greedy").requests.tolist())
    assert served == list(range(290, 300))  # the ten nearest to breach


def test_ineligible_pairs_score_minus_infinity() -> None:
    total, terms = scores(window(1, excluded=[[0, 0]]), pool(2), Weights())
    assert total[0, 0] == -math.inf and math.isfinite(total[0, 1])
    assert all(v.shape == (1, 2) and np.isfinite(v).all() for v in terms.values())


def test_explain_sums_to_the_total_and_is_json() -> None:
    w = window(3, s=2, required=[[1, 2], [0, 0], [3, 0]], wait_s=[5.0, 50.0, 500.0])
    p = pool(2, s=2, proficiency=[[5, 5], [3, 2]], spare=[[2], [1]], idle_s=[10.0, 900.0])
    for mode in MODES:
        decision = match(w, p, Weights(), mode)
        assert len(decision) == 3
        for k in range(len(decision)):
            explained = decision.explain(k)
            assert list(explained) == ["total", *TERMS]
            assert sum(explained[t] for t in TERMS) == pytest.approx(explained["total"], abs=1e-12)
            assert json.loads(json.dumps(explained)) == explained


# Greedy order, ties and capacity.


def test_urgency_order_band_then_wait_then_index() -> None:
    w = window(5, priority=[1, 0, 1, 2, 1], wait_s=[10.0, 1.0, 20.0, 99.0, 10.0])
    assert urgency_order(w).tolist() == [1, 2, 0, 4, 3]


def test_greedy_serves_the_most_urgent_first() -> None:
    w = window(3, priority=[2, 0, 1], wait_s=[100.0, 0.0, 0.0])
    decision = match(w, pool(1, spare=[[2]]), Weights(), "greedy")
    assert pairs(decision) == [(1, 0), (2, 0)]


def test_greedy_ties_go_to_the_lower_agent_index() -> None:
    w = window(2)
    assert pairs(match(w, pool(3, spare=[[1], [2], [2]]), Weights(), "greedy")) == [(0, 0), (1, 1)]


def test_greedy_takes_the_best_agent_and_counts_capacity() -> None:
    w = window(3)
    p = pool(2, spare=[[2], [1]], capacity=[[2], [2]])  # agent 0 is freer
    assert pairs(match(w, p, Weights(), "greedy")) == [(0, 0), (1, 0), (2, 1)]


def test_match_leaves_its_inputs_alone() -> None:
    w, p = window(3), pool(2, spare=[[2], [1]])
    match(w, p, Weights(), "greedy")
    match(w, p, Weights(), "batch")
    assert p.spare.tolist() == [[2], [1]]


# Batch.


def test_batch_serves_more_where_greedy_blocks() -> None:
    # Request 0 (urgent) slightly prefers agent 0, the only agent request 1 can take.
    w = window(2, s=1, priority=[0, 1], required=[[0], [3]])
    p = pool(2, s=1, proficiency=[[3], [0]], idle_s=[600.0, 0.0])
    assert pairs(match(w, p, Weights(), "greedy")) == [(0, 0)]
    assert pairs(match(w, p, Weights(), "batch")) == [(0, 1), (1, 0)]


def test_batch_leaves_a_request_unmatched_rather_than_an_ineligible_pair() -> None:
    w = window(3, excluded=[[2, 0]])
    assert pairs(match(w, pool(1, spare=[[3]]), Weights(), "batch")) == [(0, 0), (1, 0)]


def test_batch_still_serves_through_zero_score_pairs() -> None:
    w = window(3, channel=[0, 1, 1])
    p = pool(2, c=2, spare=[[1, 1], [0, 1]], capacity=[[1, 1], [1, 1]])
    decision = match(w, p, Weights(**ONLY), "batch")
    assert sorted(pairs(decision)) == [(0, 0), (1, 0), (2, 1)]
    assert decision.score.tolist() == [0.0, 0.0, 0.0]


def test_empty_window_or_pool() -> None:
    for w, p in ((window(0), pool(2)), (window(2), pool(0)), (window(0, s=1), pool(0, s=1))):
        for mode in MODES:
            decision = match(w, p, Weights(), mode)
            assert len(decision) == 0 and decision.score.shape == (0,)
            assert set(decision.terms) == set(TERMS)


def test_same_input_same_decision() -> None:
    rng = np.random.default_rng(7)
    w = window(40, s=2, required=rng.integers(0, 3, (40, 2)), wait_s=rng.integers(0, 3, 40) * 10.0)
    p = pool(10, s=2, proficiency=rng.integers(0, 6, (10, 2)), spare=rng.integers(0, 3, (10, 1)))
    for mode in MODES:
        first, again = match(w, p, Weights(), mode), match(w, p, Weights(), mode)
        assert pairs(first) == pairs(again)
        assert first.score.tolist() == again.score.tolist()


# Refusals.


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Weights(load=-0.1), "weight load"),
        (lambda: Weights(wait=math.nan), "weight wait"),
        (lambda: Weights(wait_scale_s=0.0), "wait_scale_s"),
        (lambda: window(1, priority=[3]), "priority"),
        (lambda: window(1, wait_s=[-1.0]), "wait_s"),
        (lambda: window(1, s=1, required=[[6]]), "required"),
        (lambda: window(1, channel=[0.5]), "channel: expected integers"),
        (lambda: window(2, preferred=[0]), "preferred: 1 rows"),
        (lambda: window(1, excluded=[[0, 0, 0]]), "excluded"),
        (lambda: pool(1, spare=[[2]], capacity=[[1]]), "spare"),
        (lambda: pool(1, s=1, proficiency=[[6]]), "proficiency"),
        (lambda: match(window(1, channel=[1]), pool(1), Weights(), "greedy"), "channel"),
        (lambda: match(window(1, s=1), pool(1), Weights(), "greedy"), "skills"),
        (lambda: match(window(1, preferred=[2]), pool(2), Weights(), "batch"), "preferred"),
        (lambda: match(window(1, excluded=[[0, 5]]), pool(2), Weights(), "batch"), "excluded"),
        (lambda: match(window(1), pool(1), Weights(), "fifo"), "mode"),  # type: ignore[arg-type]
    ],
)
def test_refuses_bad_input(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# Laws on small random cases, against plain-Python references.


@st.composite
def cases(draw: st.DrawFn) -> tuple[Window, Pool, Weights]:
    r, a = draw(st.integers(0, 6)), draw(st.integers(0, 4))
    s, c, g = draw(st.integers(0, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 2))

    def ints(shape: Any, *values: int) -> Any:
        return draw(arrays(np.int64, shape, elements=st.sampled_from(values)))

    def floats(shape: Any, *values: float) -> Any:
        return draw(arrays(np.float64, shape, elements=st.sampled_from(values)))

    spare = ints((a, c), 0, 1, 2)
    min_tier = ints(r, 1, 2, 3)
    pair = st.tuples(st.integers(0, max(r - 1, 0)), st.integers(0, max(a - 1, 0)))
    excluded = draw(st.lists(pair, max_size=3))
    w = Window(
        priority=ints(r, 0, 1, 2),
        wait_s=floats(r, 0.0, 10.0, 60.0, 600.0),
        channel=ints(r, *range(c)),
        required=ints((r, s), 0, 0, 1, 2, 3, 5),
        min_tier=min_tier,
        max_tier=min_tier + ints(r, -1, 0, 1, 2),
        groups=draw(arrays(np.bool_, (r, g))),
        preferred=ints(r, -1, *range(a)),
        only_preferred=draw(arrays(np.bool_, r, elements=st.sampled_from([False] * 4 + [True]))),
        excluded=np.array(excluded if r and a else [], np.int64).reshape(-1, 2),
    )
    p = Pool(
        proficiency=ints((a, s), 0, 1, 2, 3, 4, 5),
        spare=spare,
        capacity=spare + ints((a, c), 0, 1),
        idle_s=floats(a, 0.0, 100.0, 300.0),
        tier=ints(a, 1, 2, 3),
        groups=draw(arrays(np.bool_, (a, g))),
    )
    weights = Weights(
        **{t: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])) for t in TERMS},
        wait_scale_s=draw(st.sampled_from([30.0, 60.0])),
        idle_scale_s=draw(st.sampled_from([60.0, 300.0])),
    )
    return w, p, weights


LAWS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_eligible(w: Window, p: Pool, r: int, a: int) -> bool:
    needs = all(have >= need for need, have in zip(w.required[r], p.proficiency[a], strict=True))
    allowed = w.groups[r]
    in_group = not allowed.any() or bool((allowed & p.groups[a]).any())
    excluded = any(pair == [r, a] for pair in w.excluded.tolist())
    preferred = not w.only_preferred[r] or w.preferred[r] == a
    tier = w.min_tier[r] <= p.tier[a] <= w.max_tier[r]
    spare = p.spare[a, w.channel[r]] > 0
    return bool(needs and spare and tier and in_group and not excluded and preferred)


def reference_score(w: Window, p: Pool, weights: Weights, r: int, a: int) -> float:
    mins = [(int(m), int(p.proficiency[a, s])) for s, m in enumerate(w.required[r]) if m]
    fit = [max(have - m, 0) / (5 - m) if m < 5 else 0.0 for m, have in mins]  # 0 when short
    c = w.channel[r]
    capacity = p.capacity[a, c]
    return float(
        weights.skill * (sum(fit) / len(fit) if fit else 0.5)
        + weights.load * (p.spare[a, c] / capacity if capacity else 0.0)
        + weights.idle * p.idle_s[a] / (p.idle_s[a] + weights.idle_scale_s)
        + weights.wait * w.wait_s[r] / (w.wait_s[r] + weights.wait_scale_s)
        + weights.priority * (2 - w.priority[r]) / 2
        + weights.preferred * (w.preferred[r] == a)
    )


def reference_greedy(w: Window, p: Pool, total: list[list[float]]) -> list[tuple[int, int]]:
    left = p.spare.tolist()
    chosen = []
    for r in sorted(range(len(total)), key=lambda r: (w.priority[r], -w.wait_s[r], r)):
        c, best = w.channel[r], None
        for a, value in enumerate(total[r]):
            if value > -math.inf and left[a][c] and (best is None or value > total[r][best]):
                best = a
        if best is not None:
            chosen.append((r, best))
            left[best][c] -= 1
    return chosen


def reference_best(w: Window, p: Pool, total: list[list[float]]) -> float:
    """The largest total over every capacity-respecting matching, by exhaustive search."""
    left, channel = p.spare.tolist(), w.channel.tolist()

    def best_from(r: int) -> float:
        if r == len(total):
            return 0.0
        best, c = best_from(r + 1), channel[r]
        for a, value in enumerate(total[r]):
            if value > -math.inf and left[a][c]:
                left[a][c] -= 1
                best = max(best, value + best_from(r + 1))
                left[a][c] += 1
        return best

    return best_from(0)


@LAWS
@given(cases())
def test_eligibility_and_scores_match_the_reference(case: tuple[Window, Pool, Weights]) -> None:
    w, p, weights = case
    ok = eligibility(w, p)
    total, terms = scores(w, p, weights)
    assert total.shape == ok.shape == (len(w.priority), len(p.tier))
    summed = sum((terms[t] for t in TERMS), np.zeros(total.shape))
    for r, a in np.ndindex(*total.shape):
        assert ok[r, a] == reference_eligible(w, p, r, a)
        assert summed[r, a] == pytest.approx(reference_score(w, p, weights, r, a), abs=1e-9)
        assert total[r, a] == (summed[r, a] if ok[r, a] else -math.inf)


@LAWS
@given(cases())
def test_every_pair_is_eligible_and_capacity_holds(case: tuple[Window, Pool, Weights]) -> None:
    w, p, weights = case
    total, _ = scores(w, p, weights)
    rank = np.argsort(urgency_order(w))
    for mode in MODES:
        decision = match(w, p, weights, mode)
        r, a = decision.requests, decision.agents
        assert total[r, a].tolist() == decision.score.tolist()  # eligible, and the same score
        assert len(set(r.tolist())) == len(r)
        used = np.zeros_like(p.spare)
        np.add.at(used, (a, w.channel[r]), 1)
        assert (used <= p.spare).all()
        assert (np.diff(rank[r]) > 0).all()  # urgency order
        summed = sum((decision.terms[t] for t in TERMS), np.zeros(len(r)))
        np.testing.assert_allclose(summed, decision.score, rtol=0, atol=1e-12)
        # No request waits while an eligible agent has capacity left on its channel.
        left = p.spare - used
        for q in set(range(len(w.priority))) - set(r.tolist()):
            assert not (np.isfinite(total[q]) & (left[:, w.channel[q]] > 0)).any()


@LAWS
@given(cases())
def test_greedy_is_the_greedy_rule(case: tuple[Window, Pool, Weights]) -> None:
    w, p, weights = case
    total = scores(w, p, weights)[0].tolist()
    assert pairs(match(w, p, weights, "greedy")) == reference_greedy(w, p, total)


@LAWS
@given(cases())
def test_batch_is_optimal_and_never_worse_than_greedy(case: tuple[Window, Pool, Weights]) -> None:
    w, p, weights = case
    best = reference_best(w, p, scores(w, p, weights)[0].tolist())
    batch = float(match(w, p, weights, "batch").score.sum())
    assert batch == pytest.approx(best, abs=1e-6)
    assert batch >= float(match(w, p, weights, "greedy").score.sum()) - 1e-9


def test_larger_window_batch_is_optimal_and_never_worse_than_greedy() -> None:
    rng = np.random.default_rng(11)
    r, a, s, c = 300, 60, 4, 3
    w = window(
        r,
        s=s,
        priority=rng.integers(0, 3, r),
        wait_s=rng.exponential(60.0, r),
        channel=rng.integers(0, c, r),
        required=rng.integers(0, 4, (r, s)) * (rng.random((r, s)) < 0.3),
        preferred=np.where(rng.random(r) < 0.1, rng.integers(0, a, r), -1),
    )
    capacity = rng.integers(1, 4, (a, c))
    p = pool(
        a,
        s=s,
        c=c,
        proficiency=rng.integers(0, 6, (a, s)),
        spare=rng.integers(0, capacity + 1),
        capacity=capacity,
        idle_s=rng.exponential(120.0, a),
    )
    greedy, batch = match(w, p, Weights(), "greedy"), match(w, p, Weights(), "batch")
    assert batch.score.sum() >= greedy.score.sum() - 1e-9
    # The same optimum from a dense solver: one column per unit of spare, ineligible worth 0.
    total, best = scores(w, p, Weights())[0], 0.0
    for channel in range(c):
        value = total[w.channel == channel][:, np.repeat(np.arange(a), p.spare[:, channel])]
        value[np.isneginf(value)] = 0.0
        best += value[linear_sum_assignment(value, maximize=True)].sum()
    assert batch.score.sum() == pytest.approx(best, abs=1e-9)
    for decision in (greedy, batch):
        used = np.zeros_like(p.spare)
        np.add.at(used, (decision.agents, w.channel[decision.requests]), 1)
        assert (used <= p.spare).all()
        assert eligibility(w, p)[decision.requests, decision.agents].all()
