"""The matcher's dense assignment step: from the (R, A) score matrix to (request, agent) pairs.

`matcher.match` uses it for batch only when classes save little (`matcher_classes.plan`: every
agent a class of its own, as in the benchmark's random workload); greedy goes by classes
(`matcher_greedy`), and `greedy` here is the dense rule it reproduces.

Both modes take the score matrix (-inf where ineligible, >= 0 elsewhere), the request indices
in urgency order, each request's channel and each agent's spare capacity per channel, and return
request and agent indices in urgency order. Neither changes its inputs.

Greedy: each request in urgency order takes its best eligible agent that still has spare on its
channel (ties: the lower agent index). One numpy row operation per request.

Batch: pairs that maximize the sum of scores, with every request given at most one agent and
agent a taking at most ``spare[a, c]`` requests of channel c. Capacities of different channels
are independent, so the problem splits by channel. Within a channel each agent becomes as many
identical slots as it can fill, which makes it an assignment problem between requests and slots
on the eligible pairs only (a sparse bipartite graph). SciPy's LAPJVsp
(`scipy.sparse.csgraph.min_weight_full_bipartite_matching`) needs a matching that covers the
smaller side, so each node of that side also gets a dummy partner of its own: a real edge weighs
``1 + score`` and a dummy edge 1 (all nonzero, as the solver requires), and every matching of
the smaller side then weighs its size plus the score of its real pairs. The heaviest one is
therefore exactly a capacity-respecting matching with the largest total score. Bounds that
keep the graph small and change no optimum:

- requests with no eligible agent, and agents with no eligible request, are left out;
- an agent gets ``min(spare, its eligible requests of that channel)`` slots: it can fill no more;
- ineligible pairs are no edges at all, rather than zeros in a dense matrix.

So a channel costs about 30 bytes per (eligible pair x slot of its agent), and the solver's time
grows faster than the edges: on the benchmark's windows (`benchmarks/matcher.py`), a round takes
milliseconds at 100 x 50 and 1,000 x 500 and seconds at 10,000 x 2,000. Last, a request left
unserved while an eligible agent still has capacity (possible only through pairs that score
exactly 0, which tie with a dummy) is served greedily: the total stays the maximum and no
request waits beside a free agent that could take it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse as sp
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

Bools = NDArray[np.bool_]
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Index = NDArray[np.intp]


def _pairs(pairs: list[tuple[int, int]]) -> tuple[Index, Index]:
    chosen = np.array(pairs, np.intp).reshape(-1, 2)
    return chosen[:, 0], chosen[:, 1]


def _greedy(total: Floats, order: Index, channel: Ints, left: Ints) -> list[tuple[int, int]]:
    """Greedy over `order`, decrementing `left` (C, A) in place."""
    live = left > 0
    open_agents = live.sum(axis=1)
    pairs = []
    for r in order.tolist():
        c = int(channel[r])
        if not open_agents[c]:
            continue
        row = np.where(live[c], total[r], -np.inf)
        a = int(np.argmax(row))  # the first maximum: ties go to the lower agent index
        if row[a] == -np.inf:
            continue
        pairs.append((r, a))
        left[c, a] -= 1
        if not left[c, a]:
            live[c, a] = False
            open_agents[c] -= 1
    return pairs


def greedy(total: Floats, order: Index, channel: Ints, spare: Ints) -> tuple[Index, Index]:
    """Each request in `order` takes its best eligible agent with spare left on its channel."""
    return _pairs(_greedy(total, order, channel, spare.T.copy()))


def _channel(total: Floats, ok: Bools, rows: Index, spare: Ints) -> list[tuple[int, int]]:
    """Optimal pairs among `rows` (one channel's requests) and agents with `spare` (A,)."""
    eligible = ok[rows]  # (n, A)
    rows, eligible = rows[eligible.any(axis=1)], eligible[eligible.any(axis=1)]
    slots = np.minimum(spare, eligible.sum(axis=0))  # more than this an agent can never fill
    request, agent = np.nonzero(eligible)
    copies = slots[agent]  # an edge to an agent is an edge to each of its slots
    if not copies.sum():
        return []
    first = np.cumsum(copies) - copies
    slot = (np.cumsum(slots) - slots)[agent].repeat(copies)
    slot += np.arange(copies.sum()) - first.repeat(copies)
    request, agent = request.repeat(copies), agent.repeat(copies)
    weight = 1.0 + total[rows[request], agent]  # > 0, as the solver needs; a dummy weighs 1
    # The smaller side is matched in full, each of its nodes to a real partner or its own dummy.
    n, m = len(rows), int(slots.sum())
    small, large = (slot, request) if m <= n else (request, slot)
    size, dummies = max(n, m), np.arange(min(n, m))
    graph = sp.csr_array(
        (
            np.concatenate([weight, np.ones(dummies.size)]),
            (np.concatenate([small, dummies]), np.concatenate([large, size + dummies])),
        ),
        shape=(dummies.size, size + dummies.size),
    )
    u, v = min_weight_full_bipartite_matching(graph, maximize=True)
    u, v = u[v < size], v[v < size]  # real partners, not dummies
    by_slot, by_request = (u, v) if m <= n else (v, u)
    slot_agent = np.repeat(np.arange(len(slots)), slots)
    return list(zip(rows[by_request].tolist(), slot_agent[by_slot].tolist(), strict=True))


def _servable(total: Floats, rows: Index, channel: Ints, left: Ints) -> Index:
    """Those of `rows` that still have an eligible agent with capacity `left` (C, A)."""
    keep = np.zeros(len(rows), np.bool_)
    for c, spare in enumerate(left):
        agents = np.flatnonzero(spare)
        mine = np.flatnonzero(channel[rows] == c)
        if agents.size and mine.size:
            keep[mine] = np.isfinite(total[np.ix_(rows[mine], agents)]).any(axis=1)
    return rows[keep]


def batch(total: Floats, order: Index, channel: Ints, spare: Ints) -> tuple[Index, Index]:
    """A capacity-respecting matching with the largest total score, in urgency order."""
    ok = np.isfinite(total)
    pairs = [
        pair
        for c in range(spare.shape[1])
        for pair in _channel(total, ok, np.flatnonzero(channel == c), spare[:, c])
    ]
    left = spare.T.copy()
    served = np.zeros(len(order), np.bool_)
    for r, a in pairs:
        left[channel[r], a] -= 1
        served[r] = True
    rest = _servable(total, order[~served[order]], channel, left)
    pairs += _greedy(total, rest, channel, left)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return _pairs(sorted(pairs, key=lambda pair: int(rank[pair[0]])))
