"""When a Redis command may be sent again on a fresh connection: only when it cannot have run.

After redis-server restarts, connections in our pools are stale: the first command on each fails
with a ConnectionError although Redis is back, and a client that sees it answers 503 right after
/readyz said 200. redis-py can retry such a command (`Retry`), but blindly retrying every
ConnectionError is wrong for us: an error while *reading the reply* means the command (an EVALSHA
of one of our scripts, a pipeline) may have run, and running it twice is not always harmless.
Most scripts check state and refuse a second run (accept, reject, complete...: but then the
caller sees a refusal for what succeeded), enqueue and append_message carry idempotency keys,
and the outbox scripts (take, done, retry) move entries between lanes where a second run can take
or count an entry twice. So the retry is limited to errors raised before the command reached a
live server:

- connecting failed (refused, no such socket, connect timeout): nothing was sent;
- writing failed ("Error ... while writing to socket"): the transport was already lost when the
  command was written (a connection that a restart left stale), so the server never read it;
- LOADING (BusyLoadingError): the server refused the command without running it.

A failure while reading a reply is never retried: the caller gets the error (HTTP 503 +
Retry-After, SMTP 451) and the client's own retry is made safe by idempotency keys.

Most stale connections never get that far: the pool checks a connection before lending it and
reconnects one whose server closed it (EOF seen: nothing written yet, always safe). redis-py 7+
skips that check when "maintenance notifications" are on, which they are by default over TCP
with RESP3 ("auto"); frontdesk does not use them (a Redis Enterprise feature), so they are
turned off (`NO_MAINT_NOTIFICATIONS`) and the check runs: without it every pooled connection
fails its first command after a restart, with "Connection closed by server." (a read error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, RedisError, TimeoutError

from frontdesk.router.daemon.redis_config import RedisSettings
from frontdesk.router.daemon.redis_connect import connect
from frontdesk.router.daemon.redis_server import RedisServerError

try:  # redis-py >= 7
    from redis.maint_notifications import MaintNotificationsConfig

    NO_MAINT_NOTIFICATIONS: dict[str, Any] = {
        "maint_notifications_config": MaintNotificationsConfig(enabled=False)
    }
except ImportError:  # pragma: no cover - older redis-py always checks pooled connections
    NO_MAINT_NOTIFICATIONS = {}

T = TypeVar("T")
RETRIES = 1  # a command retried once on a fresh connection, when safe
RETRY_BASE_S = 0.05
RETRY_CAP_S = 0.5


def never_sent(error: Exception) -> bool:
    """The command that failed with `error` cannot have run on the server."""
    if isinstance(error, BusyLoadingError):
        return True
    message = str(error)
    if isinstance(error, TimeoutError):
        return message.startswith("Timeout connecting")
    if isinstance(error, ConnectionError):
        return " connecting to " in message or "while writing to socket" in message
    return False


class SafeRetry(Retry):
    """redis-py's Retry, for the errors `never_sent` accepts only."""

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        def retryable(error: Exception) -> bool:
            return never_sent(error) and (is_retryable is None or is_retryable(error))

        return await super().call_with_retry(do, fail, retryable, with_failure_count)


def daemon_client(settings: RedisSettings, url: str | None, connections: int) -> Redis:
    """A client whose pool waits for a free connection under load instead of refusing, and
    retries a command once on a fresh connection when that is safe (`SafeRetry`): the one
    place where the daemon's clients' connection options are set; on `url` (the embedded
    server's), else on what `redis` configures (url, sentinel, cluster)."""
    return connect(
        settings,
        url,
        connections,
        socket_connect_timeout=5,
        # once more on a fresh connection, only if the command cannot have run (a stale
        # connection after a restart, a refused connect, LOADING)
        retry=SafeRetry(ExponentialBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), RETRIES),
        **NO_MAINT_NOTIFICATIONS,  # the pool then replaces connections a restart closed
    )


async def wait_for_redis(redis: Redis, where: str, timeout_s: float) -> None:
    """Until Redis answers a PING; RedisServerError naming `where` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await redis.ping()
            return
        except (RedisError, OSError) as exc:
            if loop.time() > deadline:
                raise RedisServerError(f"cannot reach Redis at {where}: {exc}") from exc
            await asyncio.sleep(0.2)
