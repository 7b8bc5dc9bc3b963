"""Quality review through the API: reviewers (`qa` tokens) and supervisors list the review queue
that each day's sample fills (`GET /v1/reviews`), score a closed request once
(`POST /v1/requests/{id}/review`: every configured dimension 1-5, an optional comment; a request
not sampled may be picked too) and read a review back (`GET /v1/requests/{id}/review`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from frontdesk.queues.errors import RequestNotFound, WrongState
from frontdesk.queues.reviews import AlreadyReviewed, Review, ReviewStore
from frontdesk.queues.store import QueueStore
from frontdesk.router.api.keys import SETTINGS, STORE
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.body import json_body, text
from frontdesk.router.http.errors import ApiError, invalid
from frontdesk.router.http.openapi import Schema, json_content, operation
from frontdesk.router.http.views import iso_ms
from frontdesk.router.quality.config import MAX_SCORE, MIN_SCORE

REVIEWS: web.AppKey[ReviewStore] = web.AppKey("reviews", ReviewStore)
REVIEWERS = (Scope.QA, Scope.SUPERVISOR)
MAX_LIMIT = 1000
MAX_COMMENT = 4000
CLOSED = ("completed", "abandoned")


def mount(app: web.Application, store: QueueStore) -> None:
    """The review routes, on a review store beside `store`."""
    s = store.settings
    app[REVIEWS] = ReviewStore(store.redis, store.keys, s.stream_maxlen, s.record_ttl_s)
    app.router.add_get("/v1/reviews", list_reviews)
    app.router.add_get("/v1/requests/{id}/review", get_review)
    app.router.add_post("/v1/requests/{id}/review", post_review)


def view(review: Review) -> dict[str, Any]:
    return {
        "request": review.request,
        "status": review.status,
        "day": review.day,
        "sampled": review.sampled,
        "channel": review.channel or None,
        "category": review.category or None,
        "agent": review.agent or None,
        "queue": review.queue or None,
        "closed_at": iso_ms(review.closed_ms) if review.closed_ms else None,
        "scores": review.scores or None,
        "comment": review.comment or None,
        "reviewer": review.reviewer,
        "reviewed_at": iso_ms(review.reviewed_ms),
    }


async def list_reviews(request: web.Request) -> web.Response:
    """GET /v1/reviews?status=pending|done&day=YYYY-MM-DD&limit=N."""
    principal(request, *REVIEWERS)
    status = request.query.get("status", "pending")
    if status not in ("pending", "done"):
        raise invalid("status", f"must be pending or done, got {status!r}")
    day = request.query.get("day")
    if day is not None:
        try:
            day = str(date.fromisoformat(day)) if len(day) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise invalid("day", "must be a date such as 2026-03-02")
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise invalid("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    reviews = request.app[REVIEWS]
    found = await reviews.listed(status, day, int(raw_limit))
    body: dict[str, Any] = {"status": status, "day": day, "reviews": [view(r) for r in found]}
    if day is not None:
        body["sample"] = (await reviews.sampled_days([day]))[day]
    return web.json_response(body)


async def get_review(request: web.Request) -> web.Response:
    principal(request, *REVIEWERS)
    request_id = request.match_info["id"]
    review = await request.app[REVIEWS].get(request_id)
    if review is None:
        if await request.app[STORE].get(request_id) is None:
            raise ApiError(404, "not_found", f"no request {request_id!r}")
        raise ApiError(404, "not_reviewed", f"request {request_id} has no review")
    return web.json_response(view(review))


async def post_review(request: web.Request) -> web.Response:
    """Score a closed request: every dimension of `quality.dimensions`, 1-5."""
    token = principal(request, *REVIEWERS)
    request_id = request.match_info["id"]
    body = await json_body(request, ["scores", "comment"])
    dimensions = request.app[SETTINGS]().quality.dimensions
    scores = _scores(body.get("scores"), dimensions)
    comment = text(body, "comment", required=False, max_len=MAX_COMMENT)
    store = request.app[STORE]
    record = await store.get(request_id)
    if record is None:
        raise ApiError(404, "not_found", f"no request {request_id!r}")
    if record.state.value not in CLOSED:
        message = f"request {request_id} is {record.state.value}: only a closed one is reviewed"
        raise ApiError(409, "not_closed", message)
    closed: Any = await store.redis.hget(store.keys.request(request_id), "closed_ms")
    quality = request.app[SETTINGS]().quality
    day = str(quality.day_of(int(closed) if closed else await store.now_ms()))
    reviews = request.app[REVIEWS]
    try:
        review = await reviews.submit(
            request_id, token.name, scores, comment, day, record.request.category or ""
        )
    except RequestNotFound:
        raise ApiError(404, "not_found", f"no request {request_id!r}") from None
    except WrongState:
        raise ApiError(409, "not_closed", f"request {request_id} is open again") from None
    except AlreadyReviewed:
        raise ApiError(409, "reviewed", f"request {request_id} is reviewed already") from None
    return web.json_response(view(review))


def _scores(value: object, dimensions: tuple[str, ...]) -> dict[str, int]:
    if not isinstance(value, dict):
        raise invalid("scores", f"must be an object of {', '.join(dimensions)}, each 1-5")
    for name in value:
        if name not in dimensions:
            raise invalid(f"scores.{name}", f"not a dimension; expected {', '.join(dimensions)}")
    out: dict[str, int] = {}
    for name in dimensions:
        score = value.get(name)
        if score is None:
            raise invalid(f"scores.{name}", f"is required: a whole number {MIN_SCORE}-{MAX_SCORE}")
        if isinstance(score, bool) or not isinstance(score, int):
            raise invalid(f"scores.{name}", f"must be a whole number {MIN_SCORE}-{MAX_SCORE}")
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise invalid(f"scores.{name}", f"must be from {MIN_SCORE} to {MAX_SCORE}, got {score}")
        out[name] = score
    return out


_TEXT: Schema = {"type": ["string", "null"]}
REVIEW: Schema = {
    "type": "object",
    "required": ["request", "status", "day", "sampled"],
    "properties": {
        "request": {"type": "string"},
        "status": {"enum": ["pending", "done"]},
        "day": {"type": "string", "format": "date"},
        "sampled": {"type": "boolean", "description": "false: picked by a reviewer"},
        "channel": _TEXT, "category": _TEXT, "agent": _TEXT, "queue": _TEXT,
        "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "scores": {"type": ["object", "null"], "additionalProperties": {"type": "integer"}},
        "comment": _TEXT, "reviewer": _TEXT,
        "reviewed_at": {"type": ["string", "null"], "format": "date-time"},
    },
}  # fmt: skip
_QUERY = [
    {"name": "status", "in": "query", "schema": {"enum": ["pending", "done"]}},
    {"name": "day", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
]
_SCORE = {"type": "integer", "minimum": MIN_SCORE, "maximum": MAX_SCORE}


def openapi_paths() -> dict[str, Schema]:
    listing = operation(
        "Reviewer or supervisor: the review queue (pending: oldest closed first; done: latest "
        "reviewed first), of one day (with its sample's summary) or of all", "listReviews",
        json_content("Reviews", {"type": "object", "required": ["status", "reviews"],
                                 "properties": {"status": {"type": "string"},
                                                "day": _TEXT,
                                                "reviews": {"type": "array", "items": REVIEW},
                                                "sample": {"type": ["object", "null"]}}}),
        errors=(400,),
    )  # fmt: skip
    listing["parameters"] = _QUERY
    body: Schema = {
        "type": "object", "required": ["scores"], "additionalProperties": False,
        "properties": {
            "scores": {"type": "object", "description": "every dimension of quality.dimensions "
                       "(by default response_time, identity_verification, understanding, "
                       "effectiveness, attitude, record_completeness, satisfaction), 1-5",
                       "additionalProperties": _SCORE},
            "comment": {"type": "string", "maxLength": MAX_COMMENT},
        },
    }  # fmt: skip
    return {
        "/v1/reviews": {"get": listing},
        "/v1/requests/{id}/review": {
            "get": operation(
                "Reviewer or supervisor: a request's review (pending while sampled and unscored)",
                "getReview", json_content("The review", REVIEW), path_params=("id",),
                errors=(404,),
            ),
            "post": operation(
                "Reviewer or supervisor: score a closed request once (the first review stands)",
                "reviewRequest", json_content("The review", REVIEW), path_params=("id",),
                body=body, errors=(400, 404, 409),
            ),
        },
    }  # fmt: skip
