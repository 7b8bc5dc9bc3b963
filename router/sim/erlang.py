"""Queueing theory for a contact centre: Erlang B, Erlang C and Erlang A. Pure functions.

Erlang C (M/M/N: Poisson arrivals, exponential handle times, N agents, nobody hangs up), with
traffic ``A = arrival rate x average handle time`` in Erlangs:

    P(wait) = C(A, N)                                  the share of customers who wait at all
    ASA     = C(A, N) * AHT / (N - A)                  average speed of answer (wait), seconds
    SL(t)   = 1 - C(A, N) * exp(-(N - A) * t / AHT)    the share answered within t seconds

For example 10 Erlangs on 12 agents with a 180 s handle time: P(wait) 0.449, ASA 40.4 s and
64.0% answered within 20 s. C is computed through the Erlang B recursion
``B(k) = A B(k-1) / (k + A B(k-1))``, ``C = N B / (N - A (1 - B))``, which stays exact and finite
for thousands of agents (no factorials). With ``A >= N`` the queue grows without bound:
P(wait) is 1, ASA infinite, SL 0.

Erlang A (M/M/N+M: the same, with customers who hang up after an exponential patience of mean
``patience_s``) comes from the birth-death chain of the number of customers in the system,
truncated where its probabilities fall below 1e-16: `erlang_a` gives P(wait), P(abandon) and
the ASA of the customers who are answered. As the patience grows it tends to Erlang C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TAIL = 1e-16  # Erlang A: the chain is cut where a state's probability falls below this
_MAX_STATES = 1_000_000


def _check(traffic: float, agents: int, aht_s: float | None = None) -> None:
    if not (math.isfinite(traffic) and traffic >= 0):
        raise ValueError(f"traffic must be a finite number of Erlangs >= 0, got {traffic!r}")
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents must be a whole number >= 1, got {agents!r}")
    if aht_s is not None and not (math.isfinite(aht_s) and aht_s > 0):
        raise ValueError(f"the average handle time must be > 0 seconds, got {aht_s!r}")


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of A Erlangs offered to N agents with no queue (M/M/N/N)."""
    _check(traffic, agents)
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """P(wait): the probability that a customer waits at all (M/M/N); 1 when A >= N."""
    _check(traffic, agents)
    if traffic >= agents:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1 - b))


def asa(traffic: float, agents: int, aht_s: float) -> float:
    """Average speed of answer in seconds (the mean wait of every customer, M/M/N)."""
    _check(traffic, agents, aht_s)
    if traffic >= agents:
        return math.inf
    return erlang_c(traffic, agents) * aht_s / (agents - traffic)


def service_level(traffic: float, agents: int, aht_s: float, target_s: float) -> float:
    """The share of customers answered within `target_s` seconds (M/M/N)."""
    _check(traffic, agents, aht_s)
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError(f"the target must be a finite number of seconds >= 0, got {target_s!r}")
    if traffic >= agents:
        return 0.0
    return 1.0 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * target_s / aht_s)


def occupancy(traffic: float, agents: int) -> float:
    """The share of their time that agents spend handling customers (M/M/N): A / N, at most 1."""
    _check(traffic, agents)
    return min(1.0, traffic / agents)


def agents_for(traffic: float, aht_s: float, target_s: float, goal: float) -> int:
    """The fewest agents that answer at least `goal` (0..1) of customers within `target_s`."""
    _check(traffic, 1, aht_s)
    if not 0 <= goal < 1:
        raise ValueError(f"the goal must be a share from 0 to below 1, got {goal!r}")
    agents = max(1, math.floor(traffic) + 1)
    for _ in range(_MAX_STATES):  # SL tends to 1 as agents are added: this ends
        if service_level(traffic, agents, aht_s, target_s) >= goal:
            return agents
        agents += 1
    raise ValueError("no staffing found")  # pragma: no cover - unreachable for finite inputs


@dataclass(frozen=True, slots=True)
class ErlangA:
    """Erlang A's figures for one case."""

    p_wait: float  # the share of customers who wait at all
    p_abandon: float  # the share who hang up before an agent answers
    asa_s: float  # mean wait of the customers who are answered
    mean_wait_s: float  # mean time in the queue of every customer (answered or not)


def erlang_a(traffic: float, agents: int, aht_s: float, patience_s: float) -> ErlangA:
    """P(wait), P(abandon) and ASA with exponential patience of mean `patience_s` (M/M/N+M).

    The chain's state n is the number of customers present: arrivals at rate lambda, departures
    at ``min(n, N) mu + max(n - N, 0) gamma`` (gamma = 1 / patience). A customer who arrives to
    n >= N waits at position j = n - N + 1; it moves up at rate ``N mu + (j - 1) gamma`` and
    hangs up at rate gamma, which gives, position by position, its chance of being answered
    and its expected wait when it is."""
    _check(traffic, agents, aht_s)
    if not (patience_s > 0):
        raise ValueError(f"the mean patience must be > 0 seconds, got {patience_s!r}")
    mu = 1.0 / aht_s
    lam = traffic * mu
    gamma = 0.0 if math.isinf(patience_s) else 1.0 / patience_s
    if gamma == 0.0 and traffic >= agents:
        return ErlangA(1.0, 0.0, math.inf, math.inf)
    # Unnormalized state probabilities, in logs (no overflow for large traffic).
    logs = [0.0]
    peak = 0.0
    for n in range(1, _MAX_STATES):
        rate_out = min(n, agents) * mu + max(n - agents, 0) * gamma
        logs.append(logs[-1] + math.log(lam / rate_out) if lam > 0 else -math.inf)
        peak = max(peak, logs[-1])
        if n > agents and logs[-1] - peak < math.log(_TAIL):
            break
    weights = [math.exp(x - peak) for x in logs]
    total = sum(weights)
    probs = [w / total for w in weights]
    p_wait = sum(probs[agents:])
    queued = sum(p * (n - agents) for n, p in enumerate(probs) if n > agents)
    p_abandon = gamma * queued / lam if lam > 0 else 0.0
    # Answered customers: those who found a free agent (wait 0), and those who waited at j.
    served, waited = sum(probs[:agents]), 0.0
    p_served_at, t_served_at = 1.0, 0.0  # from position j - 1
    for n in range(agents, len(probs)):
        j = n - agents + 1
        ahead = agents * mu + (j - 1) * gamma
        rate = ahead + gamma
        t_served_at = ahead / rate * (p_served_at / rate + t_served_at)
        p_served_at = ahead / rate * p_served_at
        served += probs[n] * p_served_at
        waited += probs[n] * t_served_at
    return ErlangA(
        p_wait=p_wait,
        p_abandon=p_abandon,
        asa_s=waited / served if served > 0 else math.inf,
        mean_wait_s=queued / lam if lam > 0 else 0.0,
    )
