"""Survey answers in Redis: one per completed request (the first wins, in a script that also
moves the customer on or off the low_satisfaction care list), and which request's survey a
customer may still answer with a bare digit (`survey_open`, per address, for the answer time)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from .errors import raise_for_code
from .keys import Keys
from .scripts import Scripts
from .wire import text

LOW_LIST = "low_satisfaction"


@dataclass(frozen=True, slots=True)
class Scoring:
    """What a score does: accepted this long after completion; at or below `low_at_most` the
    customer goes on the low_satisfaction list for `low_for_s`; at or above `good_at_least` a
    low score's entry comes off."""

    accept_for_s: float
    low_at_most: int
    low_for_s: float
    good_at_least: int


class FeedbackStore:
    """One tenant's survey answers."""

    def __init__(self, redis: Redis, keys: Keys, stream_maxlen: int) -> None:
        self.redis, self.keys, self.stream_maxlen = redis, keys, stream_maxlen
        self.scripts = Scripts(redis)

    async def answer(
        self, request_id: str, score: int, dimensions: Mapping[str, int], comment: str,
        via: str, scoring: Scoring, customer: tuple[str, str] | None,
    ) -> str:  # fmt: skip
        """Record the answer; 'on' or 'off' when it moved the customer on or off the list, else
        ''. RequestNotFound, WrongState (not completed), AlreadyAnswered, SurveyClosed."""
        k = self.keys
        key, entry = customer or ("", "")
        result = await self.scripts.feedback(
            [k.request(request_id), k.events, k.care_list(LOW_LIST), k.care_removed(LOW_LIST)],
            [request_id, score, json.dumps(dict(dimensions), separators=(",", ":")), comment, via,
             int(scoring.accept_for_s * 1000), self.stream_maxlen, scoring.low_at_most,
             int(scoring.low_for_s * 1000), scoring.good_at_least, key, entry],
        )  # fmt: skip
        raise_for_code(result, request_id)
        return text(result[1])

    async def open_for(self, addresses: Sequence[str], request_id: str, ttl_s: float) -> None:
        """From now on, for `ttl_s`, a bare digit from any of `addresses` answers `request_id`."""
        if not addresses:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for address in addresses:
                pipe.set(self.keys.survey_open(address), request_id, px=max(1, int(ttl_s * 1000)))
            await pipe.execute()

    async def open_survey(self, addresses: Sequence[str]) -> str | None:
        """The request whose survey a bare digit from these addresses answers, if any."""
        if not addresses:
            return None
        found = await self.redis.mget([self.keys.survey_open(a) for a in addresses])
        return next((text(f) for f in found if f is not None), None)

    async def follow_up(
        self, request_id: str, original: str, agent_id: str, reached: bool, verdict: str,
        note: str, holder_only: bool,
    ) -> None:  # fmt: skip
        """The outcome of follow-up `request_id` (of `original`), once: AlreadyAnswered after
        the first, WrongState before it is taken, NotYourRequest for another agent's."""
        k = self.keys
        result = await self.scripts.follow_up(
            [k.request(request_id), k.events, k.request(original)],
            [request_id, agent_id, "1" if reached else "0", verdict, note, self.stream_maxlen,
             "1" if holder_only else "0", original],
        )  # fmt: skip
        raise_for_code(result, request_id, f"agent {agent_id}")
