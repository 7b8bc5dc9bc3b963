"""The social channel's config (`channels.social`): which platforms are configured, their
secrets (inline or from a file), the webhook body limit and each signed timestamp's tolerance;
every problem reported with its YAML path and line. The runtime (routes, delivery) is in
channel.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from frontdesk.channels.fields import parse_size
from frontdesk.channels.social import telegram, wechat
from frontdesk.router.conf.yaml import Checker, Path

META_PLATFORMS = ("whatsapp", "messenger", "instagram")
PLATFORMS = (*META_PLATFORMS, "telegram", "wechat")
# generic webhook names become handle kinds (`<name>:<sender id>`): never one that means
# something else already
RESERVED_NAMES = frozenset({*PLATFORMS, "generic", "email", "phone", "chat", "form", "social"})
GENERIC_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"
LABEL = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"
DEFAULT_MAX_BODY = 1024 * 1024
MIN_BODY, MAX_BODY = 1024, 64 * 1024 * 1024
DEFAULT_TOLERANCE_S = 300.0
MAX_TOLERANCE_S = 86400.0
MIN_GENERIC_SECRET = 16


# -- settings --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MetaApp:
    """A Meta app's webhook for one of WhatsApp, Messenger, Instagram."""

    platform: str
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    entry_point: str  # prefix of the requests' entry point, before ":<business account>"


@dataclass(frozen=True, slots=True)
class TelegramBot:
    secret_token: str = field(repr=False)
    bot: str  # the bot's name in entry points: telegram:<bot>


@dataclass(frozen=True, slots=True)
class WeChatAccount:
    token: str = field(repr=False)
    app_id: str | None  # entry points read wechat:<app_id> (else the account's gh_ id)
    tolerance_s: float  # how far the signed timestamp may be from our clock


@dataclass(frozen=True, slots=True)
class GenericHook:
    name: str
    secret: str = field(repr=False)
    tolerance_s: float


@dataclass(frozen=True, slots=True)
class SocialSettings:
    """`channels.social`: the platforms configured, and the body size every webhook accepts."""

    max_body: int = DEFAULT_MAX_BODY
    meta: dict[str, MetaApp] = field(default_factory=dict)
    telegram: TelegramBot | None = None
    wechat: WeChatAccount | None = None
    generic: dict[str, GenericHook] = field(default_factory=dict)


def parse_config(
    check: Checker, raw: object, path: Path, queues: set[str]
) -> SocialSettings | None:
    """Check `channels.social`; every problem is reported with its path and line. Secrets are
    given inline (`app_secret: ...`) or as a file that holds them (`app_secret_file: path`,
    relative to the directory frontdesk runs in; surrounding whitespace is dropped)."""
    before = len(check.problems)
    top = check.mapping(path, raw, ["max_body", *PLATFORMS, "generic"])
    if raw is not None and not isinstance(raw, dict):
        return None
    configured = [k for k in (*PLATFORMS, "generic") if top.get(k) is not None]
    if not configured:
        check.error(path, f"configure at least one of {', '.join((*PLATFORMS, 'generic'))}")
    max_body = _size(check, (*path, "max_body"), top.get("max_body", DEFAULT_MAX_BODY))
    apps = {}
    for platform in META_PLATFORMS:
        if top.get(platform) is not None:
            app = _meta_app(check, (*path, platform), platform, top[platform])
            if app is not None:
                apps[platform] = app
    bot = _telegram(check, (*path, "telegram"), top.get("telegram"))
    account = _wechat(check, (*path, "wechat"), top.get("wechat"))
    hooks = _generic(check, (*path, "generic"), top.get("generic"))
    if len(check.problems) > before or max_body is None:
        return None
    return SocialSettings(max_body, apps, bot, account, hooks)


def _section(check: Checker, path: Path, raw: object, allowed: list[str]) -> dict[str, Any] | None:
    """A platform's mapping, or None (reported) when it is not one."""
    if not isinstance(raw, dict):
        check.mapping(path, raw, allowed)
        return None
    return check.mapping(path, raw, allowed)


def _secret(
    check: Checker, path: Path, body: dict[str, Any], key: str, pattern: str | None = None
) -> str | None:
    """`key` inline or in the file named by `key_file`; never both. Secrets never appear in a
    message."""
    inline, file = body.get(key), body.get(f"{key}_file")
    if inline is not None and file is not None:
        check.error((*path, f"{key}_file"), f"give {key} or {key}_file, not both")
        return None
    if inline is None and file is None:
        check.error(path, f"needs {key} (or {key}_file, a file that holds it)")
        return None
    where = (*path, key) if inline is not None else (*path, f"{key}_file")
    if inline is not None:
        if not isinstance(inline, str) or not inline.strip():
            check.error(where, "must be a non-empty string (quote a secret made of digits)")
            return None
        value = inline.strip()
    else:
        name = check.string(where, file)
        if name is None:
            return None
        try:
            value = FilePath(name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            check.error(where, f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}")
            return None
        if not value:
            check.error(where, f"{name} is empty")
            return None
    if pattern is not None and not re.fullmatch(pattern, value):
        check.error(where, f"must match {pattern}")
        return None
    return value


def _meta_app(check: Checker, path: Path, platform: str, raw: object) -> MetaApp | None:
    keys = ["app_secret", "app_secret_file", "verify_token", "verify_token_file", "entry_point"]
    body = _section(check, path, raw, keys)
    if body is None:
        return None
    secret = _secret(check, path, body, "app_secret")
    token = _secret(check, path, body, "verify_token")
    prefix = check.string((*path, "entry_point"), body.get("entry_point", platform), LABEL)
    if secret is None or token is None or prefix is None:
        return None
    return MetaApp(platform, secret, token, prefix)


def _telegram(check: Checker, path: Path, raw: object) -> TelegramBot | None:
    if raw is None:
        return None
    body = _section(check, path, raw, ["secret_token", "secret_token_file", "bot"])
    if body is None:
        return None
    secret = _secret(check, path, body, "secret_token", telegram.SECRET_PATTERN)
    if body.get("bot") is None:
        check.error(path, "needs bot, the bot's name in entry points (telegram:<bot>)")
        return None
    bot = check.string((*path, "bot"), body.get("bot"), LABEL)
    return TelegramBot(secret, bot) if secret and bot else None


def _wechat(check: Checker, path: Path, raw: object) -> WeChatAccount | None:
    if raw is None:
        return None
    body = _section(check, path, raw, ["token", "token_file", "app_id", "tolerance"])
    if body is None:
        return None
    token = _secret(check, path, body, "token", wechat.TOKEN_PATTERN)
    raw_id = body.get("app_id")
    app_id = check.string((*path, "app_id"), raw_id, LABEL) if raw_id is not None else None
    tolerance = _tolerance(check, (*path, "tolerance"), body.get("tolerance"))
    if token is None or tolerance is None or (raw_id is not None and app_id is None):
        return None
    return WeChatAccount(token, app_id, tolerance)


def _generic(check: Checker, path: Path, raw: object) -> dict[str, GenericHook]:
    hooks: dict[str, GenericHook] = {}
    for name, value in check.mapping(path, raw).items():
        where = (*path, name)
        if not re.fullmatch(GENERIC_NAME, name):
            check.error(where, f"a webhook name must match {GENERIC_NAME}")
            continue
        if name in RESERVED_NAMES:
            check.error(where, f"{name!r} is reserved; choose another name")
            continue
        body = _section(check, where, value, ["secret", "secret_file", "tolerance"])
        if body is None:
            continue
        secret = _secret(check, where, body, "secret")
        if secret is not None and len(secret) < MIN_GENERIC_SECRET:
            check.error(
                (*where, "secret" if "secret" in body else "secret_file"),
                f"must be at least {MIN_GENERIC_SECRET} characters (e.g. openssl rand -hex 32)",
            )
            secret = None
        tolerance = _tolerance(check, (*where, "tolerance"), body.get("tolerance"))
        if secret is not None and tolerance is not None:
            hooks[name] = GenericHook(name, secret, tolerance)
    return hooks


def _tolerance(check: Checker, path: Path, value: object) -> float | None:
    if value is None:
        return DEFAULT_TOLERANCE_S
    seconds = check.duration(path, value)
    if seconds is not None and not 1 <= seconds <= MAX_TOLERANCE_S:
        check.error(path, "must be from 1s to 24h")
        return None
    return seconds


def _size(check: Checker, path: Path, value: object) -> int | None:
    """Bytes in `65536`, `512KB`, `1MB` (KB and MB are 1024 and 1024², read as every HTTP
    channel reads a size); a negative number is out of range rather than not a size."""
    size = value if isinstance(value, int) and not isinstance(value, bool) else parse_size(value)
    if size is None:
        check.error(path, f"must be a size such as 512KB or 1MB, got {value!r}")
        return None
    if not MIN_BODY <= size <= MAX_BODY:
        check.error(path, "must be from 1KB to 64MB")
        return None
    return size
