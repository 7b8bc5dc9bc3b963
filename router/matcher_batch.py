"""The matcher's assignment step: from the (R, A) score matrix to (request, agent) pairs.

Both modes take the score matrix (-inf where ineligible, >= 0 elsewhere), the request indices
in urgency order, each request's channel and each agent's spare capacity per channel, and return
request and agent indices in urgency order. Neither changes its inputs.

Greedy: each request in urgency order takes its best eligible agent that still has spare on its
channel (ties: the lower agent index). One numpy row operation per request.

Batch: pairs that maximize the sum of scores, with every request given at most one agent and
agent a taking at most ``spare[a, c]`` requests of channel c. Capacities of different channels
are independent, so the problem splits by channel. Within a channel each agent becomes as many
identical slots as it can fill, and `scipy.optimize.linear_sum_assignment` solves the
rectangular assignment of requests to slots with ineligible pairs valued 0. That is exact: an
optimal assignment, with its ineligible pairs dropped, is a capacity-respecting matching of the
same value (those pairs were worth 0), and any matching extends to an assignment worth at least
as much (eligible scores are >= 0). Bounds that keep the problem small and change no optimum:

- requests with no eligible agent, and agents with no eligible request, are left out;
- an agent gets ``min(spare, its eligible requests of that channel)`` slots: it can fill no more.

So a channel costs one dense float64 matrix of (its requests) x (slots), slots being at most
``min(R_c, sum of spare)`` per agent summed, and the solver's time grows about with the cube of
the smaller side; the benchmark (`benchmarks/matcher.py`) reports what that means at 100, 1,000
and 10,000 waiting requests. Last, a request left unserved while an eligible agent still has
capacity (possible only through pairs that score exactly 0) is served greedily: the total stays
the maximum and no request waits beside a free agent that could take it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

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


def _channel(total: Floats, rows: Index, spare: Ints) -> list[tuple[int, int]]:
    """Optimal pairs among `rows` (one channel's requests) and agents with `spare` (A,) slots."""
    eligible = np.isfinite(total[rows])  # (n, A)
    servable = eligible.any(axis=1)
    rows, eligible = rows[servable], eligible[servable]
    slots = np.minimum(spare, eligible.sum(axis=0))
    agents = np.flatnonzero(slots)
    if not agents.size:
        return []
    slot_agent = np.repeat(agents, slots[agents])
    value = total[np.ix_(rows, slot_agent)]  # (n, slots)
    value[np.isneginf(value)] = 0.0
    if value.min() < 0:
        raise ValueError("batch matching needs scores >= 0 for eligible pairs")
    row, slot = linear_sum_assignment(value, maximize=True)
    request, agent = rows[row], slot_agent[slot]
    real = np.isfinite(total[request, agent])
    return list(zip(request[real].tolist(), agent[real].tolist(), strict=True))


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
    pairs = [
        pair
        for c in range(spare.shape[1])
        for pair in _channel(total, np.flatnonzero(channel == c), spare[:, c])
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
