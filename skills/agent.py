"""Agents: skills with proficiency, capacity per channel, tier, groups, presence."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

MIN_LEVEL = 1
MAX_LEVEL = 5
TIERS = (1, 2, 3)


class Presence(StrEnum):
    """Whether an agent can be offered work now."""

    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent's profile (what they can do) and, when read from Redis, their live state."""

    id: str
    name: str
    skills: dict[str, int] = field(default_factory=dict)  # skill -> proficiency 1..5
    capacity: dict[str, int] = field(default_factory=dict)  # channel -> concurrent requests
    tier: int = 1
    groups: tuple[str, ...] = ()
    presence: Presence = Presence.OFFLINE
    away_reason: str = ""
    load: dict[str, int] = field(default_factory=dict)  # channel -> requests held now
    missed: int = 0  # offers missed in a row
    idle_since_ms: int = 0  # when the agent last took work or became available
    wrap_until_ms: int = 0  # in wrap-up (no new work) until then

    def spare(self, channel: str) -> int:
        """How many more requests of `channel` the agent can hold now."""
        return max(0, self.capacity.get(channel, 0) - self.load.get(channel, 0))

    def proficiency(self, skill: str) -> int:
        """The agent's level in `skill`, 0 when they lack it."""
        return self.skills.get(skill, 0)
