"""From what Redis holds to the matcher's arrays: one queue's waiting head and the available
agents, with the queue's relaxation steps applied by how long each request has waited. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from frontdesk.queues.clocks import urgency
from frontdesk.queues.request import Channel
from frontdesk.queues.store import RequestRecord
from frontdesk.router.routing.config import QueueSettings, RelaxStep
from frontdesk.router.routing.matcher import Pool, Window
from frontdesk.skills import TIERS, Agent

CHANNELS = [c.value for c in Channel]
CHANNEL_INDEX = {c: i for i, c in enumerate(CHANNELS)}


@dataclass(frozen=True, slots=True)
class Waiting:
    """A waiting request as one decision round sees it."""

    record: RequestRecord
    excluded: frozenset[str]
    wait_s: float


@dataclass(frozen=True, slots=True)
class Built:
    """The matcher's input for one queue, and what it took to make it."""

    window: Window
    pool: Pool
    steps: list[tuple[RelaxStep, ...]]  # relaxation in force, per request


def pool_arrays(
    agents: Sequence[Agent], spare: dict[str, dict[str, int]], skills: list[str],
    groups: list[str], now_ms: int,
) -> Pool:  # fmt: skip
    """The agents as the matcher's Pool; `spare` is each agent's spare capacity per channel,
    kept up to date by the caller as a round hands out work."""
    a_n, s_n, g_n, c_n = len(agents), len(skills), len(groups), len(CHANNELS)
    proficiency = np.zeros((a_n, s_n), dtype=np.int64)
    free = np.zeros((a_n, c_n), dtype=np.int64)
    capacity = np.zeros((a_n, c_n), dtype=np.int64)
    member = np.zeros((a_n, g_n), dtype=bool)
    for i, agent in enumerate(agents):
        for j, skill in enumerate(skills):
            proficiency[i, j] = agent.skills.get(skill, 0)
        for channel, cap in agent.capacity.items():
            if channel in CHANNEL_INDEX:
                capacity[i, CHANNEL_INDEX[channel]] = cap
                free[i, CHANNEL_INDEX[channel]] = min(cap, spare[agent.id].get(channel, 0))
        for j, group in enumerate(groups):
            member[i, j] = group in agent.groups
    idle = np.array([max(0, now_ms - a.idle_since_ms) / 1000 for a in agents], dtype=np.float64)
    tiers = np.array([a.tier for a in agents], dtype=np.int64)
    return Pool(proficiency, free, capacity, idle, tiers, member)


def build(
    queue: QueueSettings, waiting: Sequence[Waiting], agents: Sequence[Agent],
    spare: dict[str, dict[str, int]], now_ms: int,
) -> Built:  # fmt: skip
    """The Window and Pool for one queue's round."""
    routing = queue.routing
    skills = sorted(
        {s.name for w in waiting for s in w.record.request.skills}
        | {s for a in agents for s in a.skills}
    )
    groups = sorted(
        set(routing.groups)
        | {g for step in routing.relax for g in step.widen_groups}
        | {g for a in agents for g in a.groups}
    )
    skill_col = {s: i for i, s in enumerate(skills)}
    group_col = {g: i for i, g in enumerate(groups)}
    agent_row = {a.id: i for i, a in enumerate(agents)}
    r_n = len(waiting)
    # filled as Python lists, turned into arrays once: numpy's per-element access costs more
    # than the work done per request here
    need_at: list[int] = []
    need_col: list[int] = []
    need_level: list[int] = []
    allowed_cols: dict[tuple[RelaxStep, ...], list[int]] = {}
    allowed_at: list[int] = []
    allowed_col: list[int] = []
    min_tier: list[int] = []
    max_tier: list[int] = []
    preferred: list[int] = []
    only_preferred: list[bool] = []
    excluded: list[tuple[int, int]] = []
    steps: list[tuple[RelaxStep, ...]] = []
    top_tier = max(TIERS)
    no_steps: tuple[RelaxStep, ...] = ()
    relax, preferred_for = routing.relax, routing.preferred_agent_for_s
    for i, w in enumerate(waiting):
        request = w.record.request
        in_force = routing.steps_at(w.wait_s) if relax else no_steps
        steps.append(in_force)
        if in_force:
            lower = sum(s.lower_skills for s in in_force)
            drop_optional = any(s.drop_optional for s in in_force)
        else:
            lower, drop_optional = 0, False
        for need in request.skills:
            if not (need.optional and drop_optional):
                need_at.append(i)
                need_col.append(skill_col[need.name])
                need_level.append(max(1, need.min_level - lower))
        if routing.groups:
            cols = allowed_cols.get(in_force)
            if cols is None:
                widened = {g for s in in_force for g in s.widen_groups}
                cols = allowed_cols[in_force] = [
                    group_col[g] for g in set(routing.groups) | widened
                ]
            allowed_at.extend([i] * len(cols))
            allowed_col.extend(cols)
        min_tier.append(request.tier)
        widen = in_force and any(s.widen_tiers for s in in_force)
        max_tier.append(top_tier if widen else request.tier)
        if request.preferred_agent:
            preferred.append(agent_row.get(request.preferred_agent, -1))
            only_preferred.append(w.wait_s < preferred_for)
        else:
            preferred.append(-1)
            only_preferred.append(False)
        if w.excluded:
            excluded.extend((i, agent_row[a]) for a in w.excluded if a in agent_row)
    required = np.zeros((r_n, len(skills)), dtype=np.int64)
    if need_at:
        np.maximum.at(required, (np.array(need_at), np.array(need_col)), np.array(need_level))
    allowed = np.zeros((r_n, len(groups)), dtype=bool)
    if allowed_at:
        allowed[np.array(allowed_at), np.array(allowed_col)] = True
    window = Window(
        priority=np.array([w.record.request.priority.band for w in waiting], dtype=np.int64),
        wait_s=np.array([w.wait_s for w in waiting], dtype=np.float64),
        channel=np.array(
            [CHANNEL_INDEX[w.record.request.channel.value] for w in waiting], dtype=np.int64
        ),
        required=required,
        min_tier=np.array(min_tier, dtype=np.int64),
        max_tier=np.array(max_tier, dtype=np.int64),
        groups=allowed,
        preferred=np.array(preferred, dtype=np.int64),
        only_preferred=np.array(only_preferred, dtype=bool),
        excluded=np.array(excluded, dtype=np.int64).reshape(-1, 2),
        sla=np.array(
            [urgency(w.record.sla_due_ms, w.record.sla_span_ms, now_ms) for w in waiting]
            if routing.weights.sla > 0
            else np.zeros(r_n),
            dtype=np.float64,
        ),
    )
    return Built(window, pool_arrays(agents, spare, skills, groups, now_ms), steps)
