"""The day's quality sample as a pure function: its size, its agents, its strata, its seed."""

from __future__ import annotations

import random

from frontdesk.router.quality.sample import Row, allocate, draw, sample_size

CHANNELS = ("chat", "email", "phone", "social", "form")
CATEGORIES = ("account", "product", "advice", "orders", "complaints", "")


def day_of(n: int, agents: int, seed: int = 7) -> list[Row]:
    """`n` closed requests, skewed over channels and categories as a real day is."""
    pick = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        channel = pick.choices(CHANNELS, weights=(50, 25, 15, 7, 3))[0]
        category = pick.choices(CATEGORIES, weights=(20, 30, 10, 25, 5, 10))[0]
        agent = f"agent-{pick.randrange(agents)}" if pick.random() > 0.02 else ""
        rows.append(Row(f"FD-{i}", channel, category, agent))
    return rows


def test_five_percent_of_two_thousand_within_one_point_with_every_agent() -> None:
    rows = day_of(2000, agents=60)
    sample = draw(rows, 0.05, b"seed")
    assert 0.04 <= len(sample) / len(rows) <= 0.06
    assert len(sample) == 100  # the rounding is exact while the agents fit in the places
    assert len({r.id for r in sample}) == len(sample)
    assert {r.agent for r in rows if r.agent} <= {r.agent for r in sample}


def test_the_same_seed_gives_the_same_sample_whatever_the_order_read() -> None:
    rows = day_of(2000, agents=40)
    first = draw(rows, 0.05, b"2026-03-02")
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert draw(shuffled, 0.05, b"2026-03-02") == first
    assert [r.id for r in first] == sorted((r.id for r in first), key=lambda i: int(i[3:]))
    other = draw(rows, 0.05, b"2026-03-03")
    assert {r.id for r in other} != {r.id for r in first}


def test_each_stratum_gets_its_proportional_share() -> None:
    rows = day_of(5000, agents=3, seed=3)
    sample = draw(rows, 0.05, b"s")
    assert len(sample) == 250
    for channel in CHANNELS:
        for category in CATEGORIES:
            size = sum(1 for r in rows if r.stratum == (channel, category))
            got = sum(1 for r in sample if r.stratum == (channel, category))
            exact = 250 * size / len(rows)
            # the agent floors (three) may add one place to a stratum
            assert exact - 1 < got < exact + 2, (channel, category, exact, got)


def test_more_agents_than_places_each_still_gets_one() -> None:
    rows = [Row(f"FD-{i}", "chat", "", f"a{i % 30}") for i in range(1, 201)]
    sample = draw(rows, 0.05, b"x")
    assert sample_size(200, 0.05) == 10
    assert len(sample) == 30 and {r.agent for r in sample} == {f"a{i}" for i in range(30)}


def test_small_and_empty_days() -> None:
    assert draw([], 0.05, b"x") == []
    assert draw([Row("FD-1", "chat", "", "ann")], 0.05, b"x") == [Row("FD-1", "chat", "", "ann")]
    assert draw([Row("FD-1", "chat")] * 3, 0.5, b"x") == [Row("FD-1", "chat")]  # one per id
    assert draw([Row(f"FD-{i}", "chat") for i in range(9)], 0.0, b"x") == []
    assert (
        sample_size(29, 0.05) == 1 and sample_size(30, 0.05) == 2 and sample_size(2000, 1) == 2000
    )


def test_allocation_takes_back_from_the_most_over_share() -> None:
    sizes = {("chat", ""): 90, ("email", ""): 10}
    assert allocate(sizes, 10, {}, b"s") == {("chat", ""): 9, ("email", ""): 1}
    # three agents' floors in email: email keeps 3, chat gives the two places back
    assert allocate(sizes, 10, {("email", ""): 3}, b"s") == {("chat", ""): 7, ("email", ""): 3}
