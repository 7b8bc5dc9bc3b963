"""The matcher: a pure function from waiting requests x available agents to a decision.

No I/O, no Redis, no asyncio: numpy arrays in (`Window`, `Pool`, `Weights`), a `Decision` out,
so the daemon, the benchmarks and the simulator run the same code.

Hard constraints. Request r and agent a are eligible only if all of these hold:

- the agent holds every skill the request requires at or above its minimum level;
- the agent has spare capacity (> 0) on the request's channel;
- ``min_tier[r] <= tier[a] <= max_tier[r]``;
- the agent is in one of the request's allowed groups (a row of all False allows any group);
- ``(r, a)`` is not in ``excluded`` (the agent rejected the request or let its offer expire);
- if ``only_preferred[r]``, the agent is ``preferred[r]`` (and nobody is when that is -1).

Score. An eligible pair scores ``total = Σ weight[t] * term[t]`` over seven terms, each in [0, 1]:

==========  ====================================================================================
skill       mean, over the skills the request requires, of ``(p - m) / (5 - m)``, where m is the
            minimum level (1-5) and p the agent's proficiency; a skill required at level 5
            counts 0 (no headroom above the top level); 0.5 when the request requires no skill
            (neutral, the same for every agent); an ineligible pair's shortfall p < m counts 0
load        ``spare / capacity`` on the request's channel (1: the agent is free on that channel)
idle        ``idle_s / (idle_s + idle_scale_s)``   (default scale 300 s: 5 min idle gives 0.5)
wait        ``wait_s / (wait_s + wait_scale_s)``   (default scale 60 s: 1 min waited gives 0.5)
priority    ``(2 - band) / 2``                     (high 1, medium 0.5, low 0)
sla         the share of its nearest service-level target's time already gone (1 at the breach,
            0 with no running clock: queues.clocks.urgency)
preferred   1 if the agent is the request's preferred agent, else 0
==========  ====================================================================================

Default weights: skill 1, load 0.5, idle 0.5, wait 1, priority 1, sla 0, preferred 2 (a queue
turns the sla term on with a weight; with it on, requests of one band are taken nearest to breach
first, before longest wait, in urgency order; the priority and sla terms are added together
before they join the rest, so the greedy walk stays bit for bit the dense one). Weights must be
finite and >= 0, so every eligible pair scores >= 0 and serving a request never lowers the total.

Modes. ``greedy`` takes requests in urgency order (`urgency_order`: band ascending, then longest
wait, then index); each takes its best eligible agent that still has spare capacity on its channel
(ties: the lower agent index), by classes (`matcher_greedy`), with the decisions, bit for bit,
of an argmax over the dense score matrix's rows. ``batch`` finds a matching of the whole window
with the largest total score under capacity, exactly: as a transportation problem between
request and agent classes (`matcher_classes`) when classes are few, else over agents' capacity
slots (`matcher_batch`); then, should a request still have an eligible agent with capacity left
(possible only through pairs that score exactly 0), serves it greedily. Two optimal matchings may
differ in their pairs; their totals are equal. Batch may serve fewer urgent requests than
greedy: it maximizes the sum, not urgency. Either way the decision lists its pairs in urgency
order, and the same input gives the same decision.

Numerics and size. Scores are float64. The skill numerators are whole numbers in twelfths (for a
minimum m in 1..4, ``12 (p - m) / (5 - m)`` is whole), summed exactly by one matrix product, so
equal fits compare equal. A decision's score is the sum of its terms in `TERMS` order and equals
the score matrix entry bit for bit. Greedy holds one (skill classes x agents) matrix, never an
R x A one; `scores`, `eligibility` and batch's slot fallback build the dense (R, A) matrices
(8 bytes a pair; 160 MB at 10,000 x 2,000).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from frontdesk.router.routing import matcher_classes, matcher_greedy
from frontdesk.router.routing.matcher_batch import batch, greedy
from frontdesk.skills import MAX_LEVEL

TERMS = ("skill", "load", "idle", "wait", "priority", "sla", "preferred")
NO_SKILL_FIT = 0.5
LOWEST_BAND = 2
DENSE_BELOW = 40_000  # request x agent pairs up to which a round uses the dense score matrix

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Index = NDArray[np.intp]

# 12 (p - m) / (5 - m) is whole for m in 1..4: the skill fit is summed exactly in these units.
_FIT_UNIT = math.lcm(*range(1, MAX_LEVEL))
_FIT_STEP = np.array([0] + [_FIT_UNIT // (MAX_LEVEL - m) for m in range(1, MAX_LEVEL)] + [0])


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each score term counts, per queue; every weight finite and >= 0."""

    skill: float = 1.0
    load: float = 0.5
    idle: float = 0.5
    wait: float = 1.0
    priority: float = 1.0
    sla: float = 0.0
    preferred: float = 2.0
    wait_scale_s: float = 60.0  # wait term = wait / (wait + wait_scale_s)
    idle_scale_s: float = 300.0  # idle term = idle / (idle + idle_scale_s)

    def __post_init__(self) -> None:
        for name in TERMS:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"weight {name} must be a finite number >= 0, got {value!r}")
        for name in ("wait_scale_s", "idle_scale_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


_DTYPES: dict[str, type[np.generic]] = {"Ints": np.int64, "Floats": np.float64, "Bools": np.bool_}
_MATRICES = {"required", "groups", "excluded", "proficiency", "spare", "capacity"}
_NO_SLA: Floats = np.zeros(0)  # Window.sla left out: no request has a running clock


def _coerce(owner: Window | Pool) -> None:
    """Make each field an array of its annotated dtype, all with one row count, or refuse."""
    rows = None
    for field in dataclasses.fields(owner):
        name, dtype, ndim = field.name, _DTYPES[str(field.type)], 1 + (field.name in _MATRICES)
        raw = np.asarray(getattr(owner, name))
        if name == "excluded" and raw.size == 0:
            raw = raw.reshape(0, 2)  # no pairs, however spelled
        if dtype is np.int64 and raw.size and not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"{name}: expected integers, got {raw.dtype}")
        if raw.ndim != ndim:
            raise ValueError(f"{name}: expected {ndim} dimensions, got shape {raw.shape}")
        value: NDArray[Any] = raw.astype(dtype, copy=False)
        if dtype is np.float64 and not (np.isfinite(value).all() and (value >= 0).all()):
            raise ValueError(f"{name}: expected finite numbers >= 0")
        if name != "excluded":
            rows = len(value) if rows is None else rows
            if len(value) != rows:
                raise ValueError(f"{name}: {len(value)} rows, expected {rows} like the others")
        object.__setattr__(owner, name, value)


def _within(name: str, values: NDArray[np.int64], low: int, high: int | None = None) -> None:
    if values.size and (values.min() < low or (high is not None and values.max() > high)):
        span = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name}: every value must be {span}")


@dataclass(frozen=True, slots=True, eq=False)  # arrays: compare fields, not objects
class Window:
    """R waiting requests: one queue's head, in queue order."""

    priority: Ints  # (R,) band: 0 high, 1 medium, 2 low
    wait_s: Floats  # (R,) seconds waited
    channel: Ints  # (R,) channel index 0..C-1
    required: Ints  # (R, S) minimum proficiency per skill, 0 = not required
    min_tier: Ints  # (R,) eligible agents have min_tier <= tier <= max_tier
    max_tier: Ints  # (R,)
    groups: Bools  # (R, G) allowed groups; a row of all False allows any group
    preferred: Ints  # (R,) agent index or -1
    only_preferred: Bools  # (R,) the preferred agent alone is eligible (with -1: nobody)
    excluded: Ints  # (E, 2) (request, agent) pairs that must never match
    # (R,) urgency in [0, 1]: the share of the nearest service-level target's time gone
    sla: Floats = dataclasses.field(default_factory=lambda: _NO_SLA)

    def __post_init__(self) -> None:
        if self.sla is _NO_SLA:
            object.__setattr__(self, "sla", np.zeros(len(np.asarray(self.priority))))
        _coerce(self)
        if self.sla.size and self.sla.max() > 1:
            raise ValueError("sla: every value must be in 0..1")
        if self.excluded.shape[1] != 2:
            raise ValueError(f"excluded: expected (E, 2) pairs, got shape {self.excluded.shape}")
        _within("priority", self.priority, 0, LOWEST_BAND)
        _within("channel", self.channel, 0)
        _within("required", self.required, 0, MAX_LEVEL)
        _within("preferred", self.preferred, -1)
        _within("excluded", self.excluded, 0)


@dataclass(frozen=True, slots=True, eq=False)  # arrays: compare fields, not objects
class Pool:
    """A available agents."""

    proficiency: Ints  # (A, S) 0..5, 0 = lacks the skill
    spare: Ints  # (A, C) spare capacity per channel now
    capacity: Ints  # (A, C) capacity per channel
    idle_s: Floats  # (A,) seconds since the agent last finished or was offered work
    tier: Ints  # (A,)
    groups: Bools  # (A, G) membership

    def __post_init__(self) -> None:
        _coerce(self)
        if self.spare.shape != self.capacity.shape:
            raise ValueError(f"spare {self.spare.shape} and capacity {self.capacity.shape} differ")
        _within("proficiency", self.proficiency, 0, MAX_LEVEL)
        _within("spare", self.spare, 0)
        if (self.spare > self.capacity).any():
            raise ValueError("spare: must not exceed capacity")


@dataclass(frozen=True, slots=True, eq=False)  # arrays: compare fields, not objects
class Decision:
    """K (request, agent) pairs in urgency order, with each pair's score and its breakdown."""

    requests: Index  # (K,) request indices
    agents: Index  # (K,) agent indices
    score: Floats  # (K,) total
    terms: dict[str, Floats]  # term -> (K,) weighted contribution; they sum to score

    def __len__(self) -> int:
        return len(self.requests)

    def explain(self, k: int) -> dict[str, float]:
        """Pair k's total and weighted terms, as plain floats: {"total": ..., "skill": ..., ...}."""
        return {"total": float(self.score[k])} | {t: float(self.terms[t][k]) for t in TERMS}


def _check(window: Window, pool: Pool) -> None:
    """Refuse a window and a pool that do not describe the same skills, groups and channels."""
    agents, channels = pool.spare.shape
    for name, mine, theirs in (
        ("skills", window.required.shape[1], pool.proficiency.shape[1]),
        ("groups", window.groups.shape[1], pool.groups.shape[1]),
    ):
        if mine != theirs:
            raise ValueError(f"window has {mine} {name}, pool has {theirs}")
    _within("channel", window.channel, 0, channels - 1)
    _within("preferred", window.preferred, -1, agents - 1)
    _within("excluded agent", window.excluded[:, 1], 0, agents - 1)
    _within("excluded request", window.excluded[:, 0], 0, len(window.priority) - 1)


def urgency_order(window: Window) -> Index:
    """Band ascending, then nearest to breach (sla, when a queue weighs it), then longest wait,
    then index."""
    return np.lexsort(
        (np.arange(len(window.priority)), -window.wait_s, -window.sla, window.priority)
    )


def _skills(window: Window, pool: Pool) -> Floats:
    """(R, A) skill fit numerators in twelfths, negative where an agent falls short of a minimum.

    One matrix product: a request's one-hot (skill, minimum level) row times, per agent, what
    meeting each (skill, minimum) is worth, or a penalty larger than any numerator for a
    shortfall. Every value is a whole number, so the product is exact in float64.
    """
    return _fit_numerators(window.required, pool.proficiency)


def _fit_numerators(required: Ints, proficiency: Ints) -> Floats:
    """`_skills` for rows of minimum levels `required` (n, S) and `proficiency` (A, S)."""
    levels = np.arange(1, MAX_LEVEL + 1)
    skills = required.shape[1]
    need = required[:, :, None] == levels
    need = need.reshape(len(required), skills * MAX_LEVEL)  # (n, S * 5)
    have = proficiency[:, :, None]  # (A, S, 1)
    shortfall = -(_FIT_UNIT * skills + 1)
    worth = np.where(have >= levels, _FIT_STEP[levels] * (have - levels), shortfall)
    worth = worth.reshape(len(proficiency), skills * MAX_LEVEL)  # (A, S * 5)
    numer: Floats = need.astype(np.float64) @ worth.T.astype(np.float64)
    return numer


def _eligible(window: Window, pool: Pool) -> tuple[Bools, Floats]:
    """(R, A) eligibility, and the skill fit numerators (`_skills`)."""
    numer = _skills(window, pool)
    ok = numer >= 0
    ok &= (pool.spare > 0).T[window.channel]
    ok &= window.min_tier[:, None] <= pool.tier[None, :]
    ok &= pool.tier[None, :] <= window.max_tier[:, None]
    restricted = np.flatnonzero(window.groups.any(axis=1))
    if restricted.size:
        member = np.zeros((restricted.size, len(pool.tier)), np.bool_)
        for g in range(window.groups.shape[1]):
            member |= window.groups[restricted, g, None] & pool.groups[None, :, g]
        ok[restricted] &= member
    ok[window.excluded[:, 0], window.excluded[:, 1]] = False
    rows = np.flatnonzero(window.only_preferred)
    if rows.size:
        agent = window.preferred[rows]
        keep = np.zeros(rows.size, np.bool_)
        keep[agent >= 0] = ok[rows[agent >= 0], agent[agent >= 0]]
        ok[rows] = False
        ok[rows[keep], agent[keep]] = True
    return ok, numer


def eligibility(window: Window, pool: Pool) -> Bools:
    """(R, A) bool: True where request r may go to agent a (every hard constraint holds)."""
    _check(window, pool)
    return _eligible(window, pool)[0]


def _side_terms(window: Window, pool: Pool, weights: Weights) -> dict[str, Floats]:
    """Weighted terms that depend on one side only, plus the load term per (agent, channel)."""
    ratio = np.zeros(pool.spare.shape)
    np.divide(pool.spare, pool.capacity, out=ratio, where=pool.capacity > 0)
    return {
        "load": weights.load * ratio,  # (A, C)
        "idle": weights.idle * (pool.idle_s / (pool.idle_s + weights.idle_scale_s)),  # (A,)
        "wait": weights.wait * (window.wait_s / (window.wait_s + weights.wait_scale_s)),  # (R,)
        "priority": weights.priority * ((LOWEST_BAND - window.priority) / LOWEST_BAND),  # (R,)
        "sla": weights.sla * window.sla,  # (R,)
    }


def _score_matrix(window: Window, pool: Pool, weights: Weights) -> Floats:
    """(R, A) total score, -inf where ineligible, built in place (one float64 matrix)."""
    ok, total = _eligible(window, pool)
    side = _side_terms(window, pool, weights)
    count = (window.required > 0).sum(axis=1)
    total /= (_FIT_UNIT * np.maximum(count, 1))[:, None]
    total[count == 0] = NO_SKILL_FIT
    total *= weights.skill
    for c in range(pool.spare.shape[1]):
        np.add(total, side["load"][:, c], out=total, where=(window.channel == c)[:, None])
    total += side["idle"][None, :]
    total += side["wait"][:, None]
    total += (side["priority"] + side["sla"])[:, None]
    rows = np.flatnonzero(window.preferred >= 0)
    total[rows, window.preferred[rows]] += weights.preferred
    total[~ok] = -np.inf
    return total


def _terms(window: Window, pool: Pool, weights: Weights, r: Index, a: Index) -> dict[str, Floats]:
    """Weighted terms for requests `r` and agents `a` (index arrays that broadcast together)."""
    numer: NDArray[np.int64] = np.zeros(np.broadcast_shapes(r.shape, a.shape), np.int64)
    for s in range(window.required.shape[1]):
        need, have = window.required[r, s], pool.proficiency[a, s]
        numer += _FIT_STEP[need] * np.maximum(have - need, 0)
    count = (window.required[r] > 0).sum(axis=-1)
    fit = np.where(count == 0, NO_SKILL_FIT, numer / (_FIT_UNIT * np.maximum(count, 1)))
    side = _side_terms(window, pool, weights)
    return {
        "skill": weights.skill * fit,
        "load": side["load"][a, window.channel[r]],
        "idle": side["idle"][a],
        "wait": side["wait"][r],
        "priority": side["priority"][r],
        "sla": side["sla"][r],
        "preferred": weights.preferred * (window.preferred[r] == a),
    }


def _sum(terms: dict[str, Floats]) -> Floats:
    """The terms added in TERMS order, the same order `_score_matrix` adds them."""
    t = terms
    request = t["priority"] + t["sla"]  # one request-side constant, as the matrix adds it
    return t["skill"] + t["load"] + t["idle"] + t["wait"] + request + t["preferred"]


def scores(window: Window, pool: Pool, weights: Weights) -> tuple[Floats, dict[str, Floats]]:
    """(R, A) total (-inf where ineligible) and each weighted term (R, A), for every pair.

    Terms that depend on one side only are read-only broadcast views. Where eligible, the total
    equals the sum of the terms in TERMS order exactly.
    """
    _check(window, pool)
    total = _score_matrix(window, pool, weights)
    rows, cols = np.arange(total.shape[0])[:, None], np.arange(total.shape[1])[None, :]
    terms = _terms(window, pool, weights, rows, cols)
    return total, {t: np.broadcast_to(v, total.shape) for t, v in terms.items()}


def _classes(window: Window, pool: Pool, weights: Weights) -> matcher_greedy.Classes:
    """The skill term per (skill class, agent) and the one-sided terms, as `_score_matrix`
    computes them, operation for operation."""
    rows, skill_class = matcher_greedy.skill_classes(window.required)
    numer = _fit_numerators(rows, pool.proficiency)
    count = (rows > 0).sum(axis=1)
    fit = numer / (_FIT_UNIT * np.maximum(count, 1))[:, None]
    fit[count == 0] = NO_SKILL_FIT
    fit *= weights.skill
    side = _side_terms(window, pool, weights)
    return matcher_greedy.Classes(
        skill_class=skill_class,
        fit=fit,
        fits=numer >= 0,
        load=side["load"],
        idle=side["idle"],
        wait=side["wait"],
        priority=side["priority"] + side["sla"],  # the request-side constant, as in the matrix
        preferred_weight=weights.preferred,
    )


def _greedy(
    window: Window, pool: Pool, classes: matcher_greedy.Classes, order: Index, spare: Ints
) -> tuple[Index, Index]:
    """`matcher_batch.greedy` on `_score_matrix`, decision for decision, by classes."""
    return matcher_greedy.greedy(
        classes,
        order,
        window.channel,
        spare,
        (window.min_tier, window.max_tier, pool.tier),
        (matcher_greedy.masks(window.groups), matcher_greedy.masks(pool.groups)),
        window.preferred,
        window.only_preferred,
        window.excluded,
    )


def _batch(
    window: Window, pool: Pool, weights: Weights, classes: matcher_greedy.Classes, order: Index
) -> tuple[Index, Index]:
    """An optimal matching by classes (`matcher_classes`), else by slots (`matcher_batch`);
    then requests that an eligible agent with capacity left could still take (through pairs
    worth exactly 0) served greedily, as `matcher_batch.batch` does."""
    channels = matcher_classes.plan(classes, window, pool)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    pairs: list[tuple[int, int]] = []
    for channel in channels or ():
        found = matcher_classes.solve(channel, rank)
        if found is None:
            channels = None
            break
        pairs += found
    if channels is None:
        return batch(_score_matrix(window, pool, weights), order, window.channel, pool.spare)
    left = pool.spare.copy()
    served = np.zeros(len(order), np.bool_)
    for r, a in pairs:
        left[a, window.channel[r]] -= 1
        served[r] = True
    more_r, more_a = _greedy(window, pool, classes, order[~served[order]], left)
    pairs += zip(more_r.tolist(), more_a.tolist(), strict=True)
    chosen = np.array(sorted(pairs, key=lambda p: int(rank[p[0]])), np.intp).reshape(-1, 2)
    return chosen[:, 0], chosen[:, 1]


def match(
    window: Window, pool: Pool, weights: Weights, mode: Literal["greedy", "batch"]
) -> Decision:
    """Who gets what now: (request, agent) pairs in urgency order, with their score breakdown."""
    if mode not in ("greedy", "batch"):
        raise ValueError(f"mode must be 'greedy' or 'batch', got {mode!r}")
    _check(window, pool)
    order = urgency_order(window)
    if len(window.priority) * len(pool.tier) <= DENSE_BELOW:  # small: the matrix is quicker
        total = _score_matrix(window, pool, weights)
        r, a = (greedy if mode == "greedy" else batch)(total, order, window.channel, pool.spare)
        terms = _terms(window, pool, weights, r, a)
        return Decision(requests=r, agents=a, score=_sum(terms), terms=terms)
    classes = _classes(window, pool, weights)
    if mode == "greedy":
        r, a = _greedy(window, pool, classes, order, pool.spare)
    else:
        r, a = _batch(window, pool, weights, classes, order)
    terms = _terms(window, pool, weights, r, a)
    return Decision(requests=r, agents=a, score=_sum(terms), terms=terms)
