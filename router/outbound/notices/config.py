"""`notices:` in the config: which notices customers get, on which channels, in which words, and
the credentials of the relay and the platforms that carry them. Every problem is reported with
its YAML path and line."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from frontdesk.router.conf.yaml import Checker, Path, strings
from frontdesk.router.outbound.notices.mail import (
    ADDRESS,
    DEFAULT_PORTS,
    SECURITY,
    MailSettings,
    SmtpRelay,
)
from frontdesk.router.outbound.notices.progress import ProgressSettings, parse_progress
from frontdesk.router.outbound.notices.social import (
    GRAPH_API,
    GRAPH_VERSION,
    TELEGRAM_API,
    WECHAT_API,
    MessengerSettings,
    TelegramSettings,
    WeChatSettings,
    WhatsAppSettings,
)
from frontdesk.router.outbound.notices.templates import (
    KINDS,
    Templates,
    parse_resolutions,
    parse_templates,
    placeholders,
)
from frontdesk.router.outbound.remote import base_url, secret_file

CHANNELS = ("email", "chat", "social")  # phone and form customers get no automatic message
PLATFORMS = ("whatsapp", "telegram", "wechat", "messenger")
DEFAULT_EVENTS = ("enqueued", "assigned", "completed", "late", "survey")
DEFAULT_LANGUAGE = "en"
MAX_TIMEOUT_S = 120.0
_KEYS = (
    *("from", "envelope_from", "smtp", "language", "guess_language", "status_base_url"),
    *("events", "channels", "timeout", "max_attempts", "templates", *PLATFORMS),
    "supervisors",
    "resolutions",
    "progress",
)
_SMTP_KEYS = ("host", "port", "security", "user", "password", "password_file", "timeout", "helo")
_ID = r"[A-Za-z0-9_.-]{1,128}"
_VERSION = r"v[0-9]{1,3}\.[0-9]{1,3}"


@dataclass(frozen=True, slots=True)
class NoticeSettings:
    """`notices`: what the NoticeSink sends, and through what."""

    templates: Templates
    events: frozenset[str]  # notice kinds sent: enqueued, assigned, completed, abandoned
    channels: frozenset[str]  # email, chat, social
    status_base_url: str | None = None  # the status link: this + /v1/requests/{id}/status?token=
    guess_language: bool = True  # no language on the request: tell it from the text's script
    mail: MailSettings | None = None
    whatsapp: WhatsAppSettings | None = None
    telegram: TelegramSettings | None = None
    wechat: WeChatSettings | None = None
    messenger: MessengerSettings | None = None
    timeout_s: float = 10.0  # each call to a platform's API
    max_attempts: int = 12  # then the dead letters
    supervisors: tuple[str, ...] = ()  # told by email of service-level warnings and breaches
    resolution_codes: frozenset[str] | None = None  # notices.resolutions given: the codes allowed
    progress: ProgressSettings | None = None  # escalated, transferred, long waits


def parse_notices(check: Checker, raw: object, path: Path = ("notices",)) -> NoticeSettings | None:
    """The `notices` section (None when there is none: no notices are sent)."""
    if raw is None:
        return None
    before = len(check.problems)
    n = check.mapping(path, raw, _KEYS)
    if not isinstance(raw, dict):
        return None
    events = _names(check, (*path, "events"), n.get("events", list(DEFAULT_EVENTS)), KINDS)
    progress = parse_progress(check, n.get("progress"), (*path, "progress"))
    if events is not None and progress is not None:
        events.add("progress")
    language = check.string((*path, "language"), n.get("language", DEFAULT_LANGUAGE))
    guess = check.boolean((*path, "guess_language"), n.get("guess_language", True))
    templates = parse_templates(
        check, n.get("templates"), path, tuple(events or ()), language or DEFAULT_LANGUAGE
    )
    templates, codes = parse_resolutions(
        check, n.get("resolutions"), (*path, "resolutions"), templates
    )
    status = _status_url(check, path, n.get("status_base_url"), templates, events or set())
    mail = _mail(check, path, n)
    timeout = check.duration((*path, "timeout"), n.get("timeout", "10s"))
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:
        check.error((*path, "timeout"), f"must be above 0 and at most {MAX_TIMEOUT_S:g}s")
    attempts = check.integer((*path, "max_attempts"), n.get("max_attempts", 12), 1, 100)
    whatsapp = _whatsapp(check, (*path, "whatsapp"), n["whatsapp"]) if "whatsapp" in n else None
    telegram = _telegram(check, (*path, "telegram"), n["telegram"]) if "telegram" in n else None
    wechat = _wechat(check, (*path, "wechat"), n["wechat"]) if "wechat" in n else None
    messenger = (
        _messenger(check, (*path, "messenger"), n["messenger"]) if "messenger" in n else None
    )
    supervisors = _supervisors(check, (*path, "supervisors"), n.get("supervisors"), mail)
    social = any(p in n for p in PLATFORMS)
    configured = {"chat"} | ({"email"} if mail else set()) | ({"social"} if social else set())
    if "channels" in n:
        channels = _names(check, (*path, "channels"), n["channels"], CHANNELS)
        for name in sorted((channels or set()) - configured):
            needs = "from and smtp" if name == "email" else f"one of {', '.join(PLATFORMS)}"
            check.error((*path, "channels"), f"{name} notices need {needs} under {path[-1]}")
    else:
        channels = configured
    if len(check.problems) > before:
        return None
    assert events is not None and templates is not None and guess is not None
    assert timeout is not None and attempts is not None and channels is not None
    return NoticeSettings(
        templates=templates,
        events=frozenset(events),
        channels=frozenset(channels),
        status_base_url=status,
        guess_language=guess,
        mail=mail,
        timeout_s=timeout,
        max_attempts=attempts,
        whatsapp=whatsapp,
        telegram=telegram,
        wechat=wechat,
        messenger=messenger,
        supervisors=supervisors,
        resolution_codes=codes,
        progress=progress,
    )


def _supervisors(
    check: Checker, path: Path, value: object, mail: MailSettings | None
) -> tuple[str, ...]:
    """Email addresses told of service-level warnings and breaches (needs from and smtp)."""
    if value is None:
        return ()
    found = []
    for where, address in strings(check, path, value):
        if not ADDRESS.fullmatch(address.strip()):
            check.error(where, f"{address!r} is not an email address")
        else:
            found.append(address.strip())
    if found and mail is None:
        check.error(path, "the supervisors' email needs from and smtp under notices")
    return tuple(found)


def _names(check: Checker, path: Path, value: object, choices: tuple[str, ...]) -> set[str] | None:
    """A list of names among `choices` (an empty list is fine: none of them)."""
    if not isinstance(value, list):
        check.error(path, f"must be a list of some of {', '.join(choices)}")
        return None
    found: set[str] = set()
    ok = True
    for i, item in enumerate(value):
        name = check.choice((*path, i), item, choices)
        ok = ok and name is not None
        if name is not None:
            found.add(name)
    return found if ok else None


def _status_url(
    check: Checker, path: Path, value: object, templates: Templates | None, events: set[str]
) -> str | None:
    where = (*path, "status_base_url")
    if value is None:
        if templates is not None and _uses_status(templates, events):
            check.error(
                where,
                "needed: the templates link to the request's status ({status_url}); give the "
                "public address customers reach this daemon at, e.g. https://desk.example.com",
            )
        return None
    return base_url(check, where, value)


def _uses_status(templates: Templates, events: set[str]) -> bool:
    for language in templates.languages.values():
        for kind, t in language.notices.items():
            texts = (t.subject, t.text, t.message, t.html or "")
            if kind in events and any("status_url" in placeholders(x) for x in texts):
                return True
    return False


# -- email ----------------------------------------------------------------------------------------
def _mail(check: Checker, path: Path, n: dict[str, Any]) -> MailSettings | None:
    if "from" not in n and "smtp" not in n:
        return None
    if "from" not in n or "smtp" not in n:
        missing = "smtp" if "from" in n else "from"
        check.error(path, f"email notices need both from and smtp; {missing} is missing")
        return None
    name, sender = _address(check, (*path, "from"), n["from"])
    envelope = sender
    if "envelope_from" in n:
        raw = n["envelope_from"]
        envelope = "" if raw == "<>" else _address(check, (*path, "envelope_from"), raw)[1]
    relay = _relay(check, (*path, "smtp"), n["smtp"])
    if sender is None or envelope is None or relay is None:
        return None
    return MailSettings(sender, name, relay, envelope)


def _address(check: Checker, path: Path, value: object) -> tuple[str, str | None]:
    text = check.string(path, value)
    if text is None:
        return "", None
    name, address = parseaddr(text)
    if not ADDRESS.fullmatch(address):
        check.error(
            path, f"must be an address such as 'Service Desk <support@example.com>', got {text!r}"
        )
        return "", None
    return name.strip(), address


def _relay(check: Checker, path: Path, raw: object) -> SmtpRelay | None:
    before = len(check.problems)
    s = check.mapping(path, raw, _SMTP_KEYS)
    if not isinstance(raw, dict):
        if raw is None:
            check.error(path, "needs at least host")
        return None
    host = check.string((*path, "host"), s.get("host"))
    security = check.choice((*path, "security"), s.get("security", "starttls"), SECURITY)
    port = check.integer(
        (*path, "port"), s.get("port", DEFAULT_PORTS.get(security or "", 25)), 1, 65535
    )
    timeout = check.duration((*path, "timeout"), s.get("timeout", "30s"))
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:
        check.error((*path, "timeout"), f"must be above 0 and at most {MAX_TIMEOUT_S:g}s")
    helo = s.get("helo")
    if helo is not None:
        check.string((*path, "helo"), helo, r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
    user = s.get("user")
    password = _secret(check, path, s, "password", required=user is not None)
    if user is not None:
        check.string((*path, "user"), user)
    elif password is not None:
        check.error((*path, "password"), "a password needs a user")
    if user is not None and security == "none" and host and not _loopback(host):
        check.error(
            (*path, "security"),
            "would send the password unencrypted to another machine; use starttls or tls",
        )
    if len(check.problems) > before:
        return None
    assert host and security and port and timeout
    return SmtpRelay(host, port, security, user, password, timeout, helo)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(
    check: Checker, path: Path, body: dict[str, Any], key: str, required: bool = True
) -> str | None:
    """`key` inline, or `key_file`: a file that holds it (relative to the config file; the
    surrounding blanks dropped); not both. Secrets never appear in a message."""
    inline, file = body.get(key), body.get(f"{key}_file")
    if inline is not None and file is not None:
        check.error((*path, f"{key}_file"), f"give {key} or {key}_file, not both")
        return None
    if inline is None and file is None:
        if required:
            check.error(path, f"needs {key} (or {key}_file, a file that holds it)")
        return None
    if inline is not None:
        if not isinstance(inline, str) or not inline.strip():
            check.error((*path, key), "must be a non-empty string (quote one made of digits)")
            return None
        return inline.strip()
    return secret_file(check, (*path, f"{key}_file"), file)


# -- platforms ------------------------------------------------------------------------------------
_PLATFORM_KEYS = {
    "whatsapp": (
        "access_token",
        "access_token_file",
        "phone_number_id",
        "numbers",
        "api_url",
        "api_version",
    ),
    "telegram": ("bot_token", "bot_token_file", "api_url"),
    "wechat": ("app_id", "app_secret", "app_secret_file", "api_url"),
    "messenger": ("page_token", "page_token_file", "api_url", "api_version"),
}


def _section(check: Checker, path: Path, platform: str, raw: object) -> dict[str, Any] | None:
    body = check.mapping(path, raw, _PLATFORM_KEYS[platform])
    if not isinstance(raw, dict):
        if raw is None:
            check.error(path, f"needs the {platform} credentials")
        return None
    return body


def _graph(check: Checker, path: Path, platform: str, body: dict[str, Any]) -> tuple[str, str]:
    """The Graph API address and version (the defaults when not given; "" when refused)."""
    api = _api_url(check, (*path, "api_url"), body.get("api_url", GRAPH_API))
    version = check.string((*path, "api_version"), body.get("api_version", GRAPH_VERSION), _VERSION)
    return api or "", version or ""


def _whatsapp(check: Checker, path: Path, raw: object) -> WhatsAppSettings | None:
    body = _section(check, path, "whatsapp", raw)
    if body is None:
        return None
    api, version = _graph(check, path, "whatsapp", body)
    token = _secret(check, path, body, "access_token")
    number = check.string(
        (*path, "phone_number_id"), _text(body.get("phone_number_id")), r"[0-9]{1,32}"
    )
    numbers: dict[str, str] = {}
    for shown, number_id in check.mapping((*path, "numbers"), body.get("numbers")).items():
        where = (*path, "numbers", shown)
        if not re.fullmatch(r"[0-9]{4,20}", shown):
            check.error(where, "a display number is written in digits only, e.g. 8613800138000")
        elif (found := check.string(where, _text(number_id), r"[0-9]{1,32}")) is not None:
            numbers[shown] = found
    if not (token and number and api and version):
        return None
    return WhatsAppSettings(token, number, numbers, api, version)


def _telegram(check: Checker, path: Path, raw: object) -> TelegramSettings | None:
    body = _section(check, path, "telegram", raw)
    if body is None:
        return None
    api = _api_url(check, (*path, "api_url"), body.get("api_url", TELEGRAM_API))
    token = _secret(check, path, body, "bot_token")
    if token is not None and not re.fullmatch(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}", token):
        where = (*path, "bot_token" if "bot_token" in body else "bot_token_file")
        check.error(where, "is not a bot token such as 123456:ABC-DEF... (from @BotFather)")
        return None
    return TelegramSettings(token, api) if token and api else None


def _wechat(check: Checker, path: Path, raw: object) -> WeChatSettings | None:
    body = _section(check, path, "wechat", raw)
    if body is None:
        return None
    api = _api_url(check, (*path, "api_url"), body.get("api_url", WECHAT_API))
    app_id = check.string((*path, "app_id"), body.get("app_id"), _ID)
    secret = _secret(check, path, body, "app_secret")
    return WeChatSettings(app_id, secret, api) if app_id and secret and api else None


def _messenger(check: Checker, path: Path, raw: object) -> MessengerSettings | None:
    body = _section(check, path, "messenger", raw)
    if body is None:
        return None
    api, version = _graph(check, path, "messenger", body)
    token = _secret(check, path, body, "page_token")
    return MessengerSettings(token, api, version) if token and api and version else None


def _text(value: object) -> object:
    """A number written without quotes (a phone number id) as its digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _api_url(check: Checker, path: Path, value: object) -> str | None:
    url = check.string(path, value)
    if url is None:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        check.error(path, f"must be an http:// or https:// address, got {url!r}")
        return None
    return url.strip().rstrip("/")
