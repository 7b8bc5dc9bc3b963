"""Reclassify: correct an open request's category, priority and skills after intake (an agent's
re-check, a supervisor's). One script call (lua/reclassify-3.lua) after one read of the record:
the script checks that what was read is still what is stored, and the call goes again when it
changed meanwhile (a follow-up, a move)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis

from .errors import ErrorCode, StaleRead, raise_for_code
from .keys import Keys
from .record import RecordReply, RequestRecord, read_record
from .request import Priority, Request, SkillRequirement, decode_request, encode
from .scripts import Scripts

_ATTEMPTS = 5  # reads and calls while the request keeps changing under it


class _Limits(Protocol):
    @property
    def stream_maxlen(self) -> int: ...


def classification(record: RequestRecord) -> dict[str, Any]:
    """What a reclassification changes, as its event's `before` and `after` show it."""
    r = record.request
    return {
        "category": r.category,
        "priority": r.priority.value,
        "skills": [
            {"name": s.name, "min_level": s.min_level, "optional": s.optional} for s in r.skills
        ],
    }


def _corrected(
    request: Request,
    category: str | None,
    priority: Priority | None,
    skills: Sequence[SkillRequirement] | None,
) -> Request:
    """`request` with what is given (None: kept)."""
    return dataclasses.replace(
        request,
        category=request.category if category is None else category,
        priority=request.priority if priority is None else priority,
        skills=request.skills if skills is None else tuple(skills),
    )


class ReclassifyOps:
    """reclassify, mixed into QueueStore (which provides these attributes)."""

    redis: Redis
    keys: Keys
    scripts: Scripts
    settings: _Limits

    async def reclassify(
        self,
        request_id: str,
        category: str | None = None,
        priority: Priority | None = None,
        skills: Sequence[SkillRequirement] | None = None,
        holder: str | None = None,
        by: str = "",
    ) -> RecordReply:
        """Set what is given (None: kept) on an open request; a waiting one is re-scored in its
        queue and routed again. `holder` (an agent's own token): refused unless that agent
        holds the request. Emits `reclassified` with before and after."""
        k = self.keys
        for _ in range(_ATTEMPTS):
            raw, record = await read_record(self.redis, k.request(request_id), request_id)
            r = record.request
            new = (category, priority, skills)
            stored = _corrected(decode_request(raw["data"]), *new)  # as intake wrote it
            changed = _corrected(r, *new)
            after = dataclasses.replace(record, request=changed)
            result = await self.scripts.reclassify(
                [k.request(request_id), k.queue(r.queue), k.events],
                [request_id, raw["data"], encode(stored), changed.priority.band,
                 changed.category or "", r.queue, holder or "", self.settings.stream_maxlen,
                 json.dumps(classification(record), ensure_ascii=False),
                 json.dumps(classification(after), ensure_ascii=False), by],
            )  # fmt: skip
            if result == ErrorCode.STALE.value:
                continue
            raise_for_code(result, request_id, f"agent {holder}" if holder else "")
            return RecordReply(result)
        raise StaleRead(ErrorCode.STALE, request_id, "reclassify")
