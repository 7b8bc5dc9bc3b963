"""One error tree, one renderer: every refusal a client sees is a leaf under FrontdeskError,
rendered by the json_errors middleware (with the CORS headers a channel allowed), and Redis
being down means the same everywhere (503 + Retry-After, SMTP 451)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from frontdesk.channels.chat.protocol import STATUS, ChatError
from frontdesk.channels.mail.smtp import STORAGE_DOWN
from frontdesk.queues.errors import FrontdeskError
from frontdesk.router.bench.load import LoadError
from frontdesk.router.http.errors import (
    ApiError,
    Refusal,
    Unavailable,
    allow_origin,
    json_errors,
)

Client = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


def test_every_refusal_is_a_leaf_of_the_one_tree() -> None:
    for leaf in (ApiError, Refusal, ChatError, Unavailable, LoadError):
        assert issubclass(leaf, FrontdeskError), leaf
    assert issubclass(ChatError, Refusal) and issubclass(Unavailable, ApiError)
    assert ChatError("closed", "ended").status == STATUS["closed"] == 409


def _raising(exc: BaseException, origin: str | None = None) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if origin is not None:
            allow_origin(request, origin)
        raise exc

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/", handler)
    return app


async def _answer(client: Client, app: web.Application) -> tuple[int, dict[str, str], bytes]:
    http = await client(app)
    response = await http.get("/")
    return response.status, dict(response.headers), await response.read()


async def test_the_api_leaves_out_a_field_a_channel_names_even_when_null(
    aiohttp_client: Client,
) -> None:
    status, _, body = await _answer(aiohttp_client, _raising(ApiError(413, "too_large", "big")))
    assert (status, body) == (413, b'{"error": {"code": "too_large", "message": "big"}}')
    status, _, body = await _answer(aiohttp_client, _raising(Refusal(413, "too_large", "big")))
    assert (status, body) == (
        413,
        b'{"error": {"code": "too_large", "message": "big", "field": null}}',
    )


async def test_a_chat_refusal_carries_its_status_retry_and_message_id(
    aiohttp_client: Client,
) -> None:
    refused = ChatError("rate_limited", "slow down", retry_after_s=2.5, id="m1")
    status, headers, body = await _answer(aiohttp_client, _raising(refused))
    assert (status, headers["Retry-After"]) == (429, "3")
    assert body == (
        b'{"error": {"code": "rate_limited", "message": "slow down", "field": null, "id": "m1"}}'
    )
    assert refused.frame() == {
        "type": "error", "code": "rate_limited", "message": "slow down", "field": None,
        "id": "m1", "retry_after_s": 2.5,
    }  # fmt: skip


async def test_redis_down_is_503_with_retry_after_and_smtp_451(aiohttp_client: Client) -> None:
    status, headers, body = await _answer(aiohttp_client, _raising(RedisConnectionError("gone")))
    assert (status, headers["Retry-After"]) == (503, "5")
    assert body == (
        b'{"error": {"code": "unavailable", "message": "storage is unavailable, try again later"}}'
    )
    assert (
        STORAGE_DOWN == Unavailable.smtp_reply == "451 4.3.0 Storage unavailable; try again later"
    )
    frame = ChatError.unavailable().frame()
    assert (frame["code"], frame["retry_after_s"]) == ("unavailable", 5)


async def test_the_middleware_adds_cors_to_the_errors_of_an_allowed_origin(
    aiohttp_client: Client,
) -> None:
    origin = "https://shop.example.com"
    for exc in (Refusal(403, "forbidden", "no"), RedisConnectionError(), RuntimeError("bug")):
        status, headers, _ = await _answer(aiohttp_client, _raising(exc, origin))
        assert status in (403, 503, 500)
        assert headers["Access-Control-Allow-Origin"] == origin, exc
        assert headers["Access-Control-Expose-Headers"] == "Retry-After"
        assert headers["Vary"] == "Origin"
    _, headers, _ = await _answer(aiohttp_client, _raising(Refusal(403, "forbidden", "no")))
    assert "Access-Control-Allow-Origin" not in headers
