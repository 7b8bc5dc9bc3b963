"""Greedy by classes: the same decisions as greedy over the dense score matrix, without the matrix.

A request's score against an agent is ``((s + wait) + priority) + preferred`` where
``s = (skill + load) + idle`` depends on the request only through its skill class (its row of
minimum levels) and its channel: its *score class*. So s is computed once per score class and
agent, and each score class keeps its eligible agents sorted by (s descending, index ascending),
loaded lazily in chunks (the top few first: most classes never look further). Requests that also
share tier bounds and allowed groups form an *eligibility class*, which walks its score class's
list from a pointer that only moves past agents it can never take again (out of capacity on the
channel, or outside its tiers or groups): capacity only ever goes down within a round.

Bit-identical to the dense greedy (`matcher_batch.greedy` on `matcher._score_matrix`): adding a
request's wait and priority terms is monotone but may round two nearly equal s values to the
same total, so after the best s the walk also looks at the next entries while their total still
equals the best one and keeps the lower agent index, as the dense argmax does. The preferred
agent (its bonus is added last) is compared on its own total; an excluded pair is skipped for
that request alone; ``only_preferred`` looks at one agent. Pure: no I/O, inputs unchanged.

Entries whose agent ran out of capacity are skipped union-find style (`_Sorted.after`), and
later chunks leave them out. Cost: one (skill classes x agents) fit matrix, then per score class
one short numpy pass (~20 us), and a few Python steps per request: about 60 ms at 10,000 x 2,000
on the benchmark's random workload (1,000 score classes), 35 ms on its teams workload, against
~700 ms for the dense greedy (2-core machine, shared). A window whose requests are all distinct
still works, each class then costing one pass over its eligible agents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
Index = NDArray[np.intp]

FIRST_CHUNK = 8  # agents loaded when a score class is first used (then doubling)


@dataclass(frozen=True, slots=True, eq=False)
class Classes:
    """What greedy needs, precomputed by `matcher` from a window, a pool and weights."""

    skill_class: Index  # (R,) row of `fit` for each request
    fit: Floats  # (Q, A) weighted skill term per skill class and agent
    fits: Bools  # (Q, A) the agent meets every minimum of the skill class
    load: Floats  # (A, C) weighted load term
    idle: Floats  # (A,) weighted idle term
    wait: Floats  # (R,) weighted wait term
    priority: Floats  # (R,) weighted priority term
    preferred_weight: float


@dataclass(slots=True)
class _Sorted:
    """One score class's eligible agents: loaded ones in order, the rest not yet sorted."""

    agents: list[int]
    values: list[float]
    rest_agents: Index
    rest_values: Floats
    alive: Bools  # (A,) the channel's agents with capacity left, shared by its classes
    chunk: int = FIRST_CHUNK
    rest_max: float = float("inf")  # at least the largest value not loaded yet
    pointers: dict[tuple[int, int, int], int] = field(default_factory=dict)
    after: list[int] = field(default_factory=list)  # after[i] > i: entries i.. known dead

    def extend(self, filtered: bool = False) -> bool:
        """Load the next chunk (every agent whose s ties the chunk's last one included);
        `filtered`: the rest holds no agent out of capacity."""
        agents, rest = self.rest_agents, self.rest_values
        if not agents.size:
            return False
        if not filtered:
            keep = self.alive[agents]
            if not keep.all():
                agents, rest = agents[keep], rest[keep]
                if not agents.size:
                    self.rest_agents, self.rest_values = agents, rest
                    return False
        if rest.size <= self.chunk:
            chosen, values = agents, rest
            agents, rest = agents[:0], rest[:0]
            self.rest_max = -np.inf
        else:
            low = np.partition(rest, rest.size - self.chunk)[rest.size - self.chunk]
            take = rest >= low
            chosen, values = agents[take], rest[take]
            np.logical_not(take, out=take)
            agents, rest = agents[take], rest[take]
            self.rest_max = float(low)  # every value left is below it
        order = np.argsort(-values, kind="stable")  # agents are ascending: ties by index
        self.agents += chosen[order].tolist()
        self.values += values[order].tolist()
        self.after += range(len(self.after), len(self.agents))
        self.rest_agents, self.rest_values = agents, rest
        self.chunk *= 2
        return True


def masks(groups: Bools) -> list[int]:
    """Each row of a (n, G) bool matrix as a bit mask (bit g set: group g)."""
    if groups.shape[1] <= 62:
        bits = 1 << np.arange(groups.shape[1], dtype=np.int64)
        masks: list[int] = (groups.astype(np.int64) @ bits).tolist()
        return masks
    packed = np.packbits(groups, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def skill_classes(required: Ints) -> tuple[Ints, Index]:
    """The distinct rows of `required` and, per request, which one it is."""
    if required.shape[1] <= 24:  # levels 0..5 in base 6 fit an int64
        code = required @ (6 ** np.arange(required.shape[1], dtype=np.int64))
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        return required[first], inverse.reshape(-1)
    rows, inverse = np.unique(required, axis=0, return_inverse=True)
    return rows.reshape(-1, required.shape[1]), inverse.reshape(-1)


def greedy(
    classes: Classes,
    order: Index,
    channel: Ints,
    spare: Ints,
    tiers: tuple[Ints, Ints, Ints],
    groups: tuple[list[int], list[int]],
    preferred: Ints,
    only_preferred: Bools,
    excluded: Ints,
) -> tuple[Index, Index]:
    """Each request in `order` takes its best eligible agent with spare left on its channel.

    `tiers` is (min_tier per request, max_tier per request, tier per agent); `groups` the allowed
    groups of each request and each agent's membership as bit masks (0: any group).
    """
    k = classes
    agents = spare.shape[0]
    left = spare.T.tolist()  # (C, A) capacity left, decremented as requests are served
    fit, load, idle = k.fit, k.load, k.idle
    low, high, tier = tiers[0][order].tolist(), tiers[1][order].tolist(), tiers[2].tolist()
    allowed, member = groups
    bonus = k.preferred_weight
    barred: dict[int, set[int]] = {}
    for r, a in excluded.tolist():
        barred.setdefault(r, set()).add(a)
    sorted_by: dict[int, _Sorted] = {}
    n_channels = spare.shape[1]
    load_by = np.ascontiguousarray(load.T)  # (C, A)
    open_on = [sum(1 for x in row if x > 0) for row in left]
    alive = spare.T > 0  # (C, A), for `_Sorted.extend`
    chosen_r: list[int] = []
    chosen_a: list[int] = []

    def s_of(q: int, a: int, c: int) -> float:
        return float(fit[q, a]) + float(load[a, c]) + float(idle[a])

    taken = order.tolist()
    keys = k.skill_class * n_channels + channel
    asking = np.bincount(keys[order]).tolist() if order.size else []
    rows = zip(
        taken,
        channel[order].tolist(),
        keys[order].tolist(),
        zip(low, high, [allowed[r] for r in taken], strict=True),
        preferred[order].tolist(),
        only_preferred[order].tolist(),
        k.wait[order].tolist(),
        k.priority[order].tolist(),
        strict=True,
    )
    for r, c, key, ecl, p, alone, w, pr in rows:
        if not open_on[c]:
            continue
        q = key // n_channels
        lo, hi, gm = ecl
        live = left[c]
        no = barred.get(r) if barred else None
        best = -1
        if alone:
            if (
                p >= 0
                and live[p] > 0
                and k.fits[q, p]
                and lo <= tier[p] <= hi
                and (not gm or member[p] & gm)
                and not (no and p in no)
            ):
                best = p
        else:
            lst = sorted_by.get(key)
            if lst is None:
                ok = np.flatnonzero(k.fits[q] & alive[c])
                values = (fit[q][ok] + load_by[c][ok]) + idle[ok]
                first = max(FIRST_CHUNK, 2 * asking[key])  # enough for its own requests
                lst = sorted_by[key] = _Sorted([], [], ok, values, alive[c], first)
                lst.extend(filtered=True)
            i = start = lst.pointers.get(ecl, 0)
            found = -1
            moving = i >= 0  # -1: nothing left for this class, for good
            after, listed = lst.after, lst.agents
            n = len(listed)
            while i >= 0:
                if i == n:
                    if not lst.extend():
                        start = -1 if moving else start
                        break
                    n = len(listed)
                    continue
                j = after[i]
                if j != i:  # known dead from i on: jump, compressing the path (union-find)
                    while j < n and after[j] != j:
                        j = after[j]
                    while i < j:
                        after[i], i = j, after[i]
                    continue
                a = listed[i]
                if live[a] <= 0:
                    after[i] = i + 1
                elif lo <= tier[a] <= hi and (not gm or member[a] & gm):
                    if not (no and a in no):
                        found = i
                        break
                    moving = False
                if moving:
                    start = i + 1
                i += 1
            lst.pointers[ecl] = start
            if found >= 0:
                best = listed[found]
                values = lst.values
                top = (values[found] + w) + pr
                j = found + 1
                while True:  # totals that round to the best one: the lower index wins
                    if j == len(listed) and ((lst.rest_max + w) + pr < top or not lst.extend()):
                        break
                    if (values[j] + w) + pr < top:
                        break
                    a = listed[j]
                    if (
                        a < best
                        and live[a] > 0
                        and lo <= tier[a] <= hi
                        and (not gm or member[a] & gm)
                        and not (no and a in no)
                    ):
                        best = a
                    j += 1
            if (
                0 <= p < agents
                and live[p] > 0
                and k.fits[q, p]
                and lo <= tier[p] <= hi
                and (not gm or member[p] & gm)
                and not (no and p in no)
            ):
                mine = ((s_of(q, p, c) + w) + pr) + bonus
                if best < 0 or best == p:
                    best = p
                else:
                    other = (s_of(q, best, c) + w) + pr
                    if mine > other or (mine == other and p < best):
                        best = p
        if best < 0:
            continue
        chosen_r.append(r)
        chosen_a.append(best)
        live[best] -= 1
        if not live[best]:
            open_on[c] -= 1
            alive[c, best] = False
    return np.array(chosen_r, np.intp), np.array(chosen_a, np.intp)
