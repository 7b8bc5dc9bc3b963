"""From what Redis holds to the matcher's arrays: one queue's waiting head and the available
agents, with the queue's relaxation steps applied by how long each request has waited. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
    required = np.zeros((r_n, len(skills)), dtype=np.int64)
    allowed = np.zeros((r_n, len(groups)), dtype=bool)
    min_tier = np.zeros(r_n, dtype=np.int64)
    max_tier = np.zeros(r_n, dtype=np.int64)
    preferred = np.full(r_n, -1, dtype=np.int64)
    only_preferred = np.zeros(r_n, dtype=bool)
    excluded: list[tuple[int, int]] = []
    steps: list[tuple[RelaxStep, ...]] = []
    for i, w in enumerate(waiting):
        request = w.record.request
        in_force = routing.steps_at(w.wait_s)
        steps.append(in_force)
        lower = sum(s.lower_skills for s in in_force)
        drop_optional = any(s.drop_optional for s in in_force)
        for need in request.skills:
            if not (need.optional and drop_optional):
                level = max(1, need.min_level - lower)
                col = skill_col[need.name]
                required[i, col] = max(required[i, col], level)
        if routing.groups:
            widened = {g for s in in_force for g in s.widen_groups}
            for g in set(routing.groups) | widened:
                allowed[i, group_col[g]] = True
        min_tier[i] = request.tier
        max_tier[i] = max(TIERS) if any(s.widen_tiers for s in in_force) else request.tier
        if request.preferred_agent:
            preferred[i] = agent_row.get(request.preferred_agent, -1)
            only_preferred[i] = w.wait_s < routing.preferred_agent_for_s
        excluded.extend((i, agent_row[a]) for a in w.excluded if a in agent_row)
    window = Window(
        priority=np.array([w.record.request.priority.band for w in waiting], dtype=np.int64),
        wait_s=np.array([w.wait_s for w in waiting], dtype=np.float64),
        channel=np.array(
            [CHANNEL_INDEX[w.record.request.channel.value] for w in waiting], dtype=np.int64
        ),
        required=required,
        min_tier=min_tier,
        max_tier=max_tier,
        groups=allowed,
        preferred=preferred,
        only_preferred=only_preferred,
        excluded=np.array(excluded, dtype=np.int64).reshape(-1, 2),
    )
    return Built(window, pool_arrays(agents, spare, skills, groups, now_ms), steps)
