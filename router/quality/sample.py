"""The day's quality sample, drawn from the day's closed requests: pure, no I/O.

    draw(rows, share=0.05, seed=b"...")  ->  the sampled rows, in the order of `rows` sorted by id

The method (documented in the README, "Quality review"):

1. **Size.** `n = round(share x N)` of the day's N closed requests (at least 1 when N > 0), so the
   sample is the share to within half a request: 100 of 2,000 at 5%. Only the agent floor below
   can make it larger, when more agents closed work that day than `n`.
2. **Order.** Every row gets a rank, the SHA-256 of the seed and its request id: a uniform
   pseudo-random order that depends on nothing but the seed and the id (not on the order the
   rows were read in), so the same day with the same seed gives the same sample, and one who
   does not know the seed cannot tell which requests it will pick.
3. **Agents.** Every agent with closed work that day gets its lowest-ranked request in the sample
   (requests closed with no agent, abandoned while waiting, have no floor).
4. **Strata.** The `n` places are shared among the strata channel x category in proportion to
   their size (largest remainder: each gets the floor of its exact share, the places left go to
   the largest fractions, ties by rank). A stratum holding more agents' floors than its places
   keeps them all, and the excess is taken back from the strata furthest over their exact share,
   so the total stays `n` whenever it can.
5. **Within a stratum**: its agents' floors first, then its lowest-ranked other requests.

Stratifying keeps a day's sample shaped like the day (a desk that closed 70% chat sees about
70% chat in review, and a small category is not missed by chance when its share earns it a
place); the agent floor makes sure that nobody's work goes unreviewed for a day.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One closed request of the day."""

    id: str
    channel: str
    category: str = ""  # "" when unclassified
    agent: str = ""  # "" when closed with no agent (abandoned while waiting)

    @property
    def stratum(self) -> tuple[str, str]:
        return (self.channel, self.category)


def sample_size(closed: int, share: float) -> int:
    """`round(share x closed)`, at least 1 of a day with any closed request (0 with share 0)."""
    if closed <= 0 or share <= 0:
        return 0
    return min(closed, max(1, math.floor(share * closed + 0.5)))


def rank(seed: bytes, request_id: str) -> bytes:
    """The row's place in the day's pseudo-random order."""
    return hashlib.sha256(seed + b"\0" + request_id.encode()).digest()


def draw(rows: Iterable[Row], share: float, seed: bytes) -> list[Row]:
    """The sample of `rows` (one per request id: a repeated id keeps its last row)."""
    unique = {r.id: r for r in rows}
    ordered = sorted(unique.values(), key=lambda r: rank(seed, r.id))
    n = sample_size(len(ordered), share)
    if n == 0:
        return []
    floors: dict[str, Row] = {}
    for row in ordered:  # lowest rank first: an agent's first row is its floor
        if row.agent and row.agent not in floors:
            floors[row.agent] = row
    strata: dict[tuple[str, str], list[Row]] = {}
    for row in ordered:
        strata.setdefault(row.stratum, []).append(row)
    required = {
        key: [r for r in members if floors.get(r.agent) is r] for key, members in strata.items()
    }
    places = allocate(
        {k: len(v) for k, v in strata.items()}, n, {k: len(v) for k, v in required.items()}, seed
    )
    picked: list[Row] = []
    for key, members in strata.items():
        chosen = list(required[key])
        taken = {r.id for r in chosen}
        chosen += [r for r in members if r.id not in taken][: max(0, places[key] - len(chosen))]
        picked += chosen
    return sorted(picked, key=lambda r: _id_order(r.id))


def allocate(
    sizes: dict[tuple[str, str], int], n: int, floors: dict[tuple[str, str], int], seed: bytes
) -> dict[tuple[str, str], int]:
    """Places per stratum: proportional to `sizes` by largest remainder, each at least its
    `floors`, the excess taken back from the strata most over their exact share."""
    total = sum(sizes.values())
    exact = {k: n * s / total for k, s in sizes.items()}
    places = {k: math.floor(e) for k, e in exact.items()}
    tie = {k: rank(seed, f"{k[0]}\0{k[1]}") for k in sizes}
    by_remainder = sorted(sizes, key=lambda k: (-(exact[k] - places[k]), tie[k]))
    for key in by_remainder[: n - sum(places.values())]:
        places[key] += 1
    for key in sizes:
        places[key] = max(places[key], floors.get(key, 0))
    excess = sum(places.values()) - n
    while excess > 0:  # at most once per agent floor that pushed a stratum over its places
        over = [k for k in sizes if places[k] > floors.get(k, 0)]
        if not over:
            break
        worst = max(over, key=lambda k: (places[k] - exact[k], tie[k]))
        places[worst] -= 1
        excess -= 1
    return places


def _id_order(request_id: str) -> tuple[str, int, str]:
    """FD-9 before FD-10: the prefix, then the number, then the whole id."""
    prefix, _, number = request_id.rpartition("-")
    return (prefix, int(number), request_id) if number.isdigit() else (request_id, -1, request_id)
