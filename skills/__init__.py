"""frontdesk.skills: agents, skills with proficiency, per-channel capacity, presence."""

from .agent import MAX_LEVEL, MIN_LEVEL, TIERS, Agent, Presence

__all__ = ["MAX_LEVEL", "MIN_LEVEL", "TIERS", "Agent", "Presence"]
