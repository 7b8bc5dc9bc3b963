"""POST /v1/requests/{id}/reclassify (and the WebSocket's `reclassify` frame): the agent that
holds an open request, or a supervisor, corrects its `category`, `priority` and `skills` after
intake. A waiting request is routed again with them; an event `reclassified` either way.

    {"category": "orders", "priority": "high",
     "skills": [{"name": "billing", "min_level": 3, "optional": false}, "chinese"]}

Every field is optional (at least one is given); `skills` replaces the request's list (a name
alone is min_level 1). An unknown skill or category (one that no rule's `then.category` names)
is a 400 naming the field."""

from __future__ import annotations

from typing import Any

from frontdesk.queues.request import Priority, SkillRequirement
from frontdesk.router.api.services import ApiSettings
from frontdesk.router.http.body import choice
from frontdesk.router.http.errors import invalid
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL

MAX_SKILLS = 20
RECLASSIFY_FIELDS = frozenset({"category", "priority", "skills"})


def known_categories(settings: ApiSettings) -> set[str]:
    """The categories a request may be given: those the classification rules set."""
    return {r.actions.category for r in settings.rules if r.actions.category}


def parse_reclassify(
    settings: ApiSettings, body: dict[str, Any]
) -> tuple[str | None, Priority | None, list[SkillRequirement] | None]:
    """category, priority, skills of a reclassify body (None: kept); 400 naming the field."""
    if not RECLASSIFY_FIELDS & {k for k, v in body.items() if v is not None}:
        raise invalid("category", "give at least one of category, priority, skills")
    category = body.get("category")
    if category is not None:
        known = known_categories(settings)
        if not isinstance(category, str) or category not in known:
            raise invalid("category", f"unknown category {category!r} (known: {sorted(known)})")
    priority = body.get("priority")
    if priority is not None:
        priority = Priority(choice(body, "priority", [p.value for p in Priority]))
    return category, priority, _skills(settings, body.get("skills"))


def _skills(settings: ApiSettings, value: object) -> list[SkillRequirement] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_SKILLS:
        raise invalid("skills", f"must be a list of at most {MAX_SKILLS} skills")
    found: dict[str, SkillRequirement] = {}
    for i, item in enumerate(value):
        where = f"skills[{i}]"
        item = {"name": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or set(item) - {"name", "min_level", "optional"}:
            raise invalid(where, "must be a skill name or {name, min_level, optional}")
        name, level, optional = item.get("name"), item.get("min_level", 1), item.get("optional")
        if not isinstance(name, str) or name not in settings.skills:
            raise invalid(f"{where}.name", f"unknown skill {name!r}")
        if isinstance(level, bool) or not isinstance(level, int):
            raise invalid(f"{where}.min_level", f"must be {MIN_LEVEL} to {MAX_LEVEL}")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise invalid(f"{where}.min_level", f"must be {MIN_LEVEL} to {MAX_LEVEL}")
        if optional is not None and not isinstance(optional, bool):
            raise invalid(f"{where}.optional", "must be true or false")
        found[name] = SkillRequirement(name, level, bool(optional))
    return list(found.values())
