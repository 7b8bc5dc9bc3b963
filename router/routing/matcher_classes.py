"""Batch by classes: the optimal matching as a transportation problem between classes.

Per channel (capacities of different channels are independent), requests that share a skill row,
tier bounds and allowed groups form a request class; a request with a preferred agent, with
exclusions or with ``only_preferred`` is a class of its own. Agents with spare on the channel that
share proficiency, tier and groups form an agent class. A pair's total is, up to rounding,
``skill(class, class) + (load + idle)(agent) + (wait + priority)(request) [+ preferred]``: the
class against class part is computed once, the rest rides on the arcs that bring a request in and
take an agent out. That is a min-cost flow (the LP's matrix is a network's, so a vertex optimum
is whole), solved by HiGHS' dual simplex, with one variable

- per request (0..1, worth its wait and priority terms), into its class;
- per eligible (request class, agent class) pair, worth the skill term;
- per agent, out of its class (0..spare, worth its load and idle terms);
- per agent a request of its own class may have directly: its preferred agent (worth the bonus
  too), or, in an agent class holding an agent it excludes, each of the others; those agents
  get a node of their own, and their (0..spare) exit.

Inside a class, who gets whom changes no total: requests in urgency order take their class's
flows in order of skill term, each from its agent class's agents by (load + idle) descending,
then index. When the class pairs are nearly as many as the request x agent pairs (over
`MAX_ARCS` over all channels), `plan` returns None and the caller falls back to the slot-expanded
matching of `matcher_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import sparse as sp
from scipy.optimize import linprog

from frontdesk.router.routing.matcher_greedy import Classes

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
Index = NDArray[np.intp]


class Window(Protocol):  # what is read here of `matcher.Window`
    @property
    def channel(self) -> Ints: ...
    @property
    def min_tier(self) -> Ints: ...
    @property
    def max_tier(self) -> Ints: ...
    @property
    def groups(self) -> Bools: ...
    @property
    def preferred(self) -> Ints: ...
    @property
    def only_preferred(self) -> Bools: ...
    @property
    def excluded(self) -> Ints: ...


class Pool(Protocol):  # what is read here of `matcher.Pool`
    @property
    def proficiency(self) -> Ints: ...
    @property
    def spare(self) -> Ints: ...
    @property
    def tier(self) -> Ints: ...
    @property
    def groups(self) -> Bools: ...


MAX_ARCS = 150_000  # class pairs over all channels beyond which the LP is too slow
GAIN = 10  # the LP runs if (request, agent) pairs are this many times the class pairs ...
MIN_PAIRS = 20_000  # ... and at least this many (below, HiGHS' start-up costs more than slots)


@dataclass(slots=True)
class _Channel:
    """One channel's classes and arcs; positions index `requests` and `agents`."""

    requests: Index
    agents: Index
    r_of: Index  # request position -> request class
    g_of: Index  # agent position -> agent class
    value: Floats  # (E, G) weighted skill term
    arcs: Bools  # (E, G) class pairs that may match
    direct: list[tuple[int, int, float]]  # (request position, agent position, value)
    u: Floats  # agent position -> load + idle terms
    b: Floats  # request position -> wait + priority terms
    spare: Ints  # agent position -> spare on the channel


def _classes(*columns: NDArray[np.generic]) -> tuple[Index, Index]:
    """Distinct rows of the stacked columns: (first row of each, row -> its class)."""
    n = len(columns[0])
    stacked = np.column_stack([np.asarray(c).reshape(n, -1).astype(np.int64) for c in columns])
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def plan(k: Classes, window: Window, pool: Pool) -> list[_Channel] | None:
    """Every channel's classes, or None when classes save too little: nearly as many class
    pairs as (request, agent) pairs, or a window small enough for the slots to be quicker."""
    barred: dict[int, set[int]] = {}
    for r, a in window.excluded.tolist():
        barred.setdefault(r, set()).add(a)
    channels, arcs, pairs = [], 0, 0
    for c in range(pool.spare.shape[1]):
        one = _channel(k, window, pool, c, barred)
        if one is not None:
            arcs += int(one.arcs.sum()) + len(one.direct)
            if arcs > MAX_ARCS:
                return None
            sizes = np.bincount(one.r_of), np.bincount(one.g_of)
            pairs += int(sizes[0] @ one.arcs.astype(np.int64) @ sizes[1]) + len(one.direct)
            channels.append(one)
    return channels if pairs >= max(GAIN * arcs, MIN_PAIRS) else None


def _channel(
    k: Classes, window: Window, pool: Pool, c: int, barred: dict[int, set[int]]
) -> _Channel | None:
    requests = np.flatnonzero(window.channel == c)
    agents = np.flatnonzero(pool.spare[:, c] > 0)
    if not requests.size or not agents.size:
        return None
    g_first, g_of = _classes(pool.proficiency[agents], pool.tier[agents], pool.groups[agents])
    lone = (window.preferred[requests] >= 0) | window.only_preferred[requests]
    lone |= np.isin(requests, window.excluded[:, 0])
    r_first, r_of = _classes(
        k.skill_class[requests],
        window.min_tier[requests],
        window.max_tier[requests],
        window.groups[requests],
        np.where(lone, requests, -1),
    )
    er, ga = requests[r_first], agents[g_first]  # each class's first member
    q = k.skill_class[er]
    eligible: Bools = k.fits[q][:, ga]
    eligible &= window.min_tier[er, None] <= pool.tier[None, ga]
    eligible &= pool.tier[None, ga] <= window.max_tier[er, None]
    allowed = window.groups[er]
    if allowed.shape[1]:
        shared: Bools = allowed.astype(np.int64) @ pool.groups[ga].T.astype(np.int64) > 0
        anyone: Bools = np.logical_not(allowed.any(axis=1))
        eligible &= shared | anyone[:, None]
    value = k.fit[q][:, ga]
    arcs = eligible.copy()
    arcs[window.only_preferred[er]] = False
    members: dict[int, list[int]] = {}
    for i, g in enumerate(g_of.tolist()):
        members.setdefault(g, []).append(i)
    where = {a: i for i, a in enumerate(agents.tolist())}
    direct: list[tuple[int, int, float]] = []
    for pos in np.flatnonzero(lone).tolist():
        r, e = int(requests[pos]), int(r_of[pos])
        p, no = int(window.preferred[r]), barred.get(r, set())
        for g in np.flatnonzero(arcs[e]).tolist() if no else ():
            if any(int(agents[i]) in no for i in members[g]):
                arcs[e, g] = False  # this agent class one agent at a time instead
                v = float(value[e, g])
                direct += [(pos, i, v) for i in members[g] if int(agents[i]) not in no]
        if p in where and p not in no and eligible[e, g_of[where[p]]]:
            v = float(value[e, g_of[where[p]]]) + k.preferred_weight
            direct.append((pos, where[p], v))
    return _Channel(
        requests=requests,
        agents=agents,
        r_of=r_of,
        g_of=g_of,
        value=value,
        arcs=arcs,
        direct=direct,
        u=k.load[agents, c] + k.idle[agents],
        b=k.wait[requests] + k.priority[requests],
        spare=pool.spare[agents, c],
    )


def solve(ch: _Channel, rank: Index) -> list[tuple[int, int]] | None:
    """An optimal matching of one channel as (request, agent) pairs; None if HiGHS fails."""
    n_e, n_g = ch.arcs.shape
    n_r, n_a = len(ch.requests), len(ch.agents)
    own = sorted({i for _, i, _ in ch.direct})
    node = np.full(n_a, -1)
    node[own] = n_e + n_g + np.arange(len(own))
    ae, ag = np.nonzero(ch.arcs)
    d_pos = np.array([d[0] for d in ch.direct], np.intp)
    d_agent = np.array([d[1] for d in ch.direct], np.intp)
    d_value = np.array([d[2] for d in ch.direct], np.float64)
    mine = node >= 0
    # Columns: z (requests), x (class pairs), d (direct), y (agent out of its class), t (exits).
    sizes = [n_r, len(ae), len(ch.direct), n_a, len(own)]
    start = np.cumsum([0, *sizes])
    ones = np.ones
    rows = [
        (ch.r_of, np.arange(n_r), ones(n_r)),
        (ae, start[1] + np.arange(len(ae)), -ones(len(ae))),
        (n_e + ag, start[1] + np.arange(len(ae)), ones(len(ae))),
        (ch.r_of[d_pos], start[2] + np.arange(len(d_pos)), -ones(len(d_pos))),
        (node[d_agent], start[2] + np.arange(len(d_pos)), ones(len(d_pos))),
        (n_e + ch.g_of, start[3] + np.arange(n_a), -ones(n_a)),
        (node[mine], start[3] + np.flatnonzero(mine), ones(int(mine.sum()))),
        (node[own], start[4] + np.arange(len(own)), -ones(len(own))),
    ]
    matrix = sp.csr_array(
        (
            np.concatenate([v for _, _, v in rows]),
            (np.concatenate([r for r, _, _ in rows]), np.concatenate([c for _, c, _ in rows])),
        ),
        shape=(n_e + n_g + len(own), int(start[-1])),
    )
    gain = np.concatenate([ch.b, ch.value[ae, ag], d_value, np.where(mine, 0.0, ch.u), ch.u[own]])
    spare = ch.spare.astype(np.float64)
    upper = np.concatenate(
        [ones(n_r), np.full(len(ae), np.inf), ones(len(d_pos)), np.where(mine, np.inf, spare)]
    )
    upper = np.concatenate([upper, spare[own]])
    if not len(gain):
        return []
    found = linprog(
        -gain,
        A_eq=matrix,
        b_eq=np.zeros(matrix.shape[0]),
        bounds=np.column_stack([np.zeros(len(gain)), upper]),
        method="highs-ds",
    )
    if found.status != 0:
        return None
    flow = np.rint(found.x).astype(np.int64)
    if np.abs(flow - found.x).max() > 1e-6:  # not a vertex: leave it to the slots
        return None
    z, x, d, y = (flow[start[i] : start[i + 1]] for i in range(4))
    hit = d > 0
    pairs = [
        (int(ch.requests[p]), int(ch.agents[i]))
        for p, i in zip(d_pos[hit].tolist(), d_agent[hit].tolist(), strict=True)
    ]
    direct_served = set(d_pos[d > 0].tolist())
    # Each agent class's slots, best agents first; each request class's served, most urgent first.
    slots: dict[int, list[int]] = {}
    for i in np.lexsort((ch.agents, -ch.u)).tolist():
        slots.setdefault(int(ch.g_of[i]), []).extend([int(ch.agents[i])] * int(y[i]))
    served: dict[int, list[int]] = {}
    for p in sorted(np.flatnonzero(z > 0).tolist(), key=lambda p: int(rank[ch.requests[p]])):
        if p not in direct_served:
            served.setdefault(int(ch.r_of[p]), []).append(int(ch.requests[p]))
    arcs_of: dict[int, list[tuple[float, int, int]]] = {}
    for j in np.flatnonzero(x > 0).tolist():
        e, g = int(ae[j]), int(ag[j])
        arcs_of.setdefault(e, []).append((-float(ch.value[e, g]), g, int(x[j])))
    taken = dict.fromkeys(slots, 0)
    for e in sorted(served, key=lambda e: int(rank[served[e][0]])):
        queue, at = served[e], 0
        for _, g, n in sorted(arcs_of.get(e, [])):
            pairs += zip(queue[at : at + n], slots[g][taken[g] : taken[g] + n], strict=True)
            at, taken[g] = at + n, taken[g] + n
    return pairs
