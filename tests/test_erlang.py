"""Erlang B, C and A: the published figures, exact small cases, and the formulas' own laws."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from frontdesk.router.sim import erlang


def exact_c(traffic: int, agents: int) -> Fraction:
    """Erlang C from its textbook definition, in exact fractions (no recursion, no floats)."""
    a = Fraction(traffic)
    terms = [a**k / math.factorial(k) for k in range(agents)]
    top = a**agents / math.factorial(agents) * agents / (agents - a)
    return top / (sum(terms) + top)


def test_the_published_case_10_erlangs_on_12_agents() -> None:
    # The figures: P(wait) 0.449, ASA 40.4 s, 64.0% answered within 20 s.
    assert round(erlang.erlang_c(10, 12), 3) == 0.449
    assert round(erlang.asa(10, 12, 180), 1) == 40.4
    assert round(erlang.service_level(10, 12, 180, 20) * 100, 1) == 64.0


@pytest.mark.parametrize(
    ("traffic", "agents"), [(1, 2), (2, 3), (4, 5), (10, 12), (20, 23), (45, 50), (95, 100)]
)
def test_erlang_c_equals_the_exact_sum(traffic: int, agents: int) -> None:
    assert erlang.erlang_c(traffic, agents) == pytest.approx(float(exact_c(traffic, agents)))


def test_small_cases_by_hand() -> None:
    assert erlang.erlang_b(2, 3) == pytest.approx(4 / 19)  # (8/6) / (1 + 2 + 2 + 8/6)
    assert erlang.erlang_c(1, 2) == pytest.approx(1 / 3)
    assert erlang.erlang_c(2, 3) == pytest.approx(4 / 9)
    assert erlang.asa(2, 3, 180) == pytest.approx(4 / 9 * 180)
    assert erlang.erlang_c(0, 3) == 0.0


def test_service_level_laws() -> None:
    c = erlang.erlang_c(10, 12)
    assert erlang.service_level(10, 12, 180, 0) == pytest.approx(1 - c)  # nobody waits 0 s
    levels = [erlang.service_level(10, 12, 180, t) for t in (0, 10, 20, 60, 600)]
    assert levels == sorted(levels) and levels[-1] < 1
    more_agents = [erlang.service_level(10, n, 180, 20) for n in range(11, 20)]
    assert more_agents == sorted(more_agents)
    assert erlang.occupancy(10, 12) == pytest.approx(10 / 12)


def test_overload_has_no_steady_state() -> None:
    assert erlang.erlang_c(12, 12) == 1.0
    assert erlang.asa(13, 12, 180) == math.inf
    assert erlang.service_level(12, 12, 180, 20) == 0.0


def test_agents_for_a_target() -> None:
    n = erlang.agents_for(10, 180, 20, 0.8)
    assert erlang.service_level(10, n, 180, 20) >= 0.8 > erlang.service_level(10, n - 1, 180, 20)
    assert n == 14


def test_large_centres_stay_finite() -> None:
    c = erlang.erlang_c(950, 1000)
    assert 0 < c < 1
    assert math.isfinite(erlang.asa(950, 1000, 300))


@pytest.mark.parametrize("bad", [(-1, 3), (math.nan, 3), (2, 0), (2, 2.5)])
def test_bad_inputs_are_refused(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        erlang.erlang_c(*bad)  # type: ignore[arg-type]


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    a = erlang.erlang_a(10, 12, 180, math.inf)
    assert a.p_wait == pytest.approx(erlang.erlang_c(10, 12))
    assert a.asa_s == pytest.approx(erlang.asa(10, 12, 180))
    assert a.p_abandon == 0.0
    patient = erlang.erlang_a(10, 12, 180, 1e9)
    assert patient.asa_s == pytest.approx(erlang.asa(10, 12, 180), rel=1e-4)


def test_erlang_a_laws() -> None:
    # Impatience shortens the queue: fewer wait, and the answered wait less.
    quick, slow = erlang.erlang_a(10, 12, 180, 60), erlang.erlang_a(10, 12, 180, 600)
    assert quick.p_abandon > slow.p_abandon > 0
    assert quick.asa_s < slow.asa_s < erlang.asa(10, 12, 180)
    # Little's law for those who leave: abandon rate = E[queue] / patience / arrival rate.
    assert quick.mean_wait_s == pytest.approx(quick.p_abandon * 60)
    # Overload is stable with abandonment: the excess hangs up.
    over = erlang.erlang_a(15, 12, 180, 120)
    assert over.p_abandon == pytest.approx(1 - 12 / 15, abs=0.05)
    assert 0 < over.p_wait <= 1
