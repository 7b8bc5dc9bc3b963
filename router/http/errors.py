"""The errors an HTTP client sees: the one JSON error shape, the refusals handlers raise (leaves
of frontdesk's one error tree, each carrying its HTTP status), what Redis being down means to a
client (HTTP 503 with Retry-After, SMTP 451), and the middleware that renders every error a
handler lets through as that shape, never a traceback, with the CORS headers a channel allowed.

    {"error": {"code": "invalid", "message": "presence: must be one of ...", "field": "presence"}}

    FrontdeskError (queues/errors.py)
    └── ApiError          status, code, message, field (left out when none), headers
        ├── Unavailable   Redis does not answer: 503 + Retry-After; SMTP 451 (smtp_reply)
        └── Refusal       a channel's refusal: names its field always (null when none)
            └── ChatError the web chat's (channels/chat/protocol.py), also an error frame
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from redis.exceptions import RedisError

from frontdesk.queues.errors import EncodeError, FrontdeskError, StaleRead

log = logging.getLogger("frontdesk.http")

STORAGE_RETRY_S = 5  # what a client is told to wait while Redis does not answer
RETRY_AFTER_S = str(STORAGE_RETRY_S)
# What Redis not answering raises where no client's own socket is in play (a mail session, an
# agent socket's reads): redis-py's errors, or the OSError of its connection.
REDIS_DOWN: tuple[type[Exception], ...] = (RedisError, OSError)
CORS_ORIGIN = web.RequestKey("cors_origin", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """The one JSON error shape: {"error": {"code": ..., "message": ..., ...}}."""
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


class ApiError(FrontdeskError):
    """A refusal the client sees as {"error": {"code", "message", "field"}} with `status`."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def extra(self) -> dict[str, Any]:
        """What the error object holds besides code and message: the field, when one is named."""
        return {"field": self.field} if self.field else {}

    def response(self) -> web.Response:
        """The JSON error response, with this refusal's headers (Retry-After, WWW-Authenticate)."""
        response = error_response(self.status, self.code, self.message, **self.extra())
        response.headers.update(self.headers)
        return response


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid", f"{field}: {message}", field)


class Unavailable(ApiError):
    """Redis does not answer: try again after Retry-After (HTTP 503), or later (SMTP 451)."""

    smtp_reply: ClassVar[str] = "451 4.3.0 Storage unavailable; try again later"
    text: ClassVar[str] = "storage is unavailable, try again later"

    def __init__(self) -> None:
        super().__init__(503, "unavailable", self.text, headers={"Retry-After": RETRY_AFTER_S})


class Refusal(ApiError):
    """An HTTP request a channel refuses: status, stable code, message, and the field at fault,
    named even when there is none (`"field": null`)."""

    def extra(self) -> dict[str, Any]:
        return {"field": self.field}


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def allow_origin(request: web.Request, origin: str) -> None:
    """Let the page at `origin` read the answer to `request`, an error too: json_errors adds the
    CORS headers (Allow-Origin, Expose-Headers: Retry-After, Vary: Origin) to its response."""
    request[CORS_ORIGIN] = origin


class BodyTimeout(TimeoutError):
    """The client did not send its whole body within `http.body_timeout` (a TimeoutError, so
    that aiohttp's lingering read after the 408 gives up on it at once)."""


def client_fault(exc: BaseException | None) -> bool:
    """A connection the client broke (closed, reset) or bytes that are not HTTP: the client's
    doing, worth one INFO line, never an ERROR with a traceback."""
    if isinstance(exc, HttpProcessingError):
        return 400 <= (exc.code or 400) < 500
    return isinstance(exc, ConnectionError)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def short(exc: BaseException) -> str:
    """The exception's type and the first 200 characters of its text, on one line."""
    text = str(exc).replace("\n", " ")
    return type(exc).__name__ + (f": {text[:200]}" if text else "")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error a client sees is JSON with a stable code; never a traceback. A client that
    went away or stalled its body is one INFO line. A response to a request a channel let an
    origin read (allow_origin) carries the CORS headers, whether it is an error or not."""
    response = await _rendered(request, handler)
    origin = request.get(CORS_ORIGIN)
    if origin is not None and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Vary"] = "Origin"
    return response


async def _rendered(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BodyTimeout as exc:
        log.info("%s %s from %s: 408, %s", request.method, request.path, request.remote, exc)
        response = error_response(408, "body_timeout", f"the body did not arrive: {exc}",
                                  field="body")  # fmt: skip
        response.force_close()
        return response
    except EncodeError as exc:  # a Request or Message built from text that is not text
        message = f"{exc.what}: is not valid Unicode text (a lone surrogate)"
        return error_response(400, "invalid", message, field=exc.what)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = error_response(exc.status, code, exc.text or exc.reason)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except ApiError as exc:
        return exc.response()
    except StaleRead as exc:  # a state change that kept losing its race: the client may retry
        log.info("%s %s: 503, contended (%s)", request.method, request.path, exc)
        response = error_response(503, "contended", "busy with the same request, try again")
        response.headers["Retry-After"] = "1"
        return response
    except RedisError as exc:
        log.warning("Redis unavailable while serving %s %s: %s", request.method, request.path,
                    short(exc))  # fmt: skip
        return Unavailable().response()
    except Exception as exc:
        if client_fault(exc) and _gone(request):  # nobody is left to answer
            log.info("%s %s from %s: the client went away (%s)", request.method, request.path,
                     request.remote, short(exc))  # fmt: skip
            return error_response(400, "client_closed", "the client closed the connection")
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; it has been logged")
