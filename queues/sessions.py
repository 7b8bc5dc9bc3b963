"""The screens' sign-in sessions (router/screens/): a browser signs in with an API token once and
holds a session cookie after; Redis keeps, by the cookie's digest only, which token the session
stands for, its CSRF token and when it began. Each entry expires after its idle time, renewed on
every use; signing out deletes it. Every operation is one command: nothing here needs a script."""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from .keys import Keys
from .wire import text


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in browser: the API token it acts with (by name), its CSRF token, and when it
    signed in (ms since the epoch)."""

    token: str
    csrf: str
    at_ms: int


class SessionStore:
    """Sessions of one tenant, each under the sha256 digest of its cookie."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def open(self, digest: str, session: Session, idle_s: int) -> None:
        value = json.dumps({"token": session.token, "csrf": session.csrf, "at": session.at_ms})
        await self.redis.set(self.keys.session(digest), value, ex=idle_s, nx=True)

    async def get(self, digest: str, idle_s: int) -> Session | None:
        """The session of this digest, its idle time renewed (None: unknown, expired or signed
        out)."""
        raw = await self.redis.getex(self.keys.session(digest), ex=idle_s)
        if raw is None:
            return None
        try:
            found = json.loads(text(raw))
            return Session(str(found["token"]), str(found["csrf"]), int(found["at"]))
        except (ValueError, KeyError, TypeError):
            return None  # not ours to read: treated as no session

    async def close(self, digest: str) -> bool:
        """Sign out: True when there was such a session."""
        return bool(await self.redis.delete(self.keys.session(digest)))
