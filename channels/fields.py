"""What the HTTP intake channels share: refusals that name their field, bounded body reading,
JSON and form-encoded parsing, text, email, language, attribute and phone-number checks, and the
config helpers for sizes and country codes.

Phone numbers are normalized to E.164 by a small documented normalizer (`normalize_e164`) rather
than the `phonenumbers` package: intake needs one canonical spelling per number (the customer is
recognized by it), not per-country numbering plans, and the normalizer has no data to keep up to
date beyond the list of country calling codes."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from aiohttp import web

from frontdesk.queues.request import Scalar
from frontdesk.router.conf.yaml import Checker, Path
from frontdesk.router.http.errors import Refusal

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 64  # fields in one form-encoded body
MAX_ATTRIBUTES = 20
MAX_ATTRIBUTE_TEXT = 500
MAX_SAFE_INTEGER = 2**53  # attribute numbers stay exact in JSON everywhere
MAX_PHONE_INPUT = 40
MAX_JSON_DEPTH = 8
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,4}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\t\u2028\u2029\x85]")
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2}


def invalid(field: str, message: str) -> NoReturn:
    """Refuse the request: 400, naming `field` and what is wrong with it."""
    raise Refusal(400, "invalid", f"{field}: {message}", field)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- bodies ---------------------------------------------------------------------------------------
def media_type(request: web.Request) -> str:
    """JSON or FORM; 415 for anything else."""
    kind = request.content_type
    if kind not in (JSON, FORM):
        raise Refusal(
            415, "unsupported_media_type",
            f"send {JSON} or {FORM}, got {kind or 'no Content-Type'}", "Content-Type",
        )  # fmt: skip
    return kind


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            invalid(key, "is given twice")
        out[key] = value
    return out


def _depth(value: Any, limit: int) -> bool:
    """True when `value` nests no deeper than `limit` arrays or objects."""
    todo = [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            if level > limit:
                return False
            todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return True


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON object (UTF-8, no duplicate keys, no NaN or Infinity, bounded nesting)."""
    try:
        data = json.loads(
            raw.decode("utf-8-sig"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise Refusal(400, "bad_body", f"the body is not valid JSON: {_short(exc)}") from None
    if not isinstance(data, dict):
        raise Refusal(400, "bad_body", "the body must be a JSON object")
    if not _depth(data, MAX_JSON_DEPTH):
        raise Refusal(400, "bad_body", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    return data


def parse_form(raw: bytes) -> dict[str, str]:
    """A form-encoded body (UTF-8), each field once."""
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, errors="strict",
            max_num_fields=MAX_FIELDS,
        )  # fmt: skip
    except ValueError as exc:
        raise Refusal(400, "bad_body", f"the body is not a UTF-8 form: {_short(exc)}") from None
    return _no_duplicates(list(pairs))


def parse_body(kind: str, raw: bytes) -> dict[str, Any]:
    return parse_json(raw) if kind == JSON else dict(parse_form(raw))


def _short(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__


def refuse_unknown(data: Mapping[str, Any], known: set[str]) -> None:
    for name in sorted(set(data) - known):
        shown = name if len(name) <= 64 else name[:64] + "..."
        raise Refusal(
            400, "unknown_field",
            f"{shown!r} is not a field; expected {', '.join(sorted(known))}", shown,
        )  # fmt: skip


# -- values ---------------------------------------------------------------------------------------
def valid_text(value: str) -> bool:
    """Encodable as UTF-8 (no lone surrogates) and free of control characters other than
    tab and line breaks."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _CONTROL.search(value)


def text_field(
    data: Mapping[str, Any], name: str, max_chars: int, required: bool = False,
    multiline: bool = False,
) -> str | None:  # fmt: skip
    """The text of field `name`, stripped; None when absent, null or blank (and not required)."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Refusal(400, "missing", f"{name}: is required", name)
        return None
    if not isinstance(value, str):
        invalid(name, f"must be text, got {_kind(value)}")
    if not valid_text(value):
        invalid(name, "contains characters that are not text")
    value = value.strip()
    if not multiline and _LINE_BREAK.search(value):
        invalid(name, "must be one line")
    if len(value) > max_chars:
        invalid(name, f"is longer than {max_chars} characters")
    return value


def email_address(name: str, value: str) -> str:
    """`value` if it is shaped like an email address (domain lower-cased), else refused."""
    if len(value) > 254:
        invalid(name, "is longer than 254 characters")
    local, at, domain = value.rpartition("@")
    bad = f"{value!r} is not an email address such as name@example.com"
    if not at or not local or len(local) > 64 or re.search(r"[\s<>()\[\]\\,;:\"@]", local):
        invalid(name, bad)
    if local.startswith(".") or local.endswith(".") or ".." in local:
        invalid(name, bad)
    labels = domain.lower().split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        invalid(name, bad)
    for label in labels:
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            invalid(name, bad)
        if not all(c.isalnum() or c == "-" for c in label):
            invalid(name, bad)
    return f"{local}@{'.'.join(labels)}"


def language_tag(name: str, value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        invalid(name, f"{value!r} is not a language tag such as zh, en or zh-CN")
    return value.replace("_", "-")


def attributes_field(
    name: str, value: object, reserved: frozenset[str] = frozenset()
) -> dict[str, Scalar]:
    """At most MAX_ATTRIBUTES named scalars: text (bounded), whole numbers (exact in JSON),
    finite numbers, true/false or null. Names in `reserved` are the channel's own."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        invalid(name, f"must be an object of names and values, got {_kind(value)}")
    if len(value) > MAX_ATTRIBUTES:
        invalid(name, f"has more than {MAX_ATTRIBUTES} entries")
    out: dict[str, Scalar] = {}
    for key, item in value.items():
        where = f"{name}.{key}" if len(key) <= 64 else f"{name}.{key[:64]}..."
        if not _ATTRIBUTE_NAME.fullmatch(key):
            invalid(where, "names must start with a letter: letters, digits, _ . - (64 at most)")
        if key in reserved:
            invalid(where, "is set by the channel itself")
        out[key] = _scalar(where, item)
    return out


def _scalar(where: str, item: object) -> Scalar:
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, int):
        if abs(item) > MAX_SAFE_INTEGER:
            invalid(where, f"whole numbers must be within ±{MAX_SAFE_INTEGER}")
        return item
    if isinstance(item, float):
        return item  # JSON parsing refuses NaN and Infinity
    if isinstance(item, str):
        if not valid_text(item):
            invalid(where, "contains characters that are not text")
        if len(item) > MAX_ATTRIBUTE_TEXT:
            invalid(where, f"is longer than {MAX_ATTRIBUTE_TEXT} characters")
        return item
    invalid(where, f"must be text, a number, true, false or null, got {_kind(item)}")


def form_attributes(data: Mapping[str, str], prefix: str = "attributes") -> dict[str, str]:
    """`attributes[impact]=many-users` fields of a form-encoded body, as a mapping."""
    out = {}
    for key, value in data.items():
        if key.startswith(f"{prefix}[") and key.endswith("]"):
            out[key[len(prefix) + 1 : -1]] = value
    return out


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# -- phone numbers --------------------------------------------------------------------------------
# Assigned ITU-T E.164 country calling codes. No code is a prefix of another, so the first one to
# match a number's leading digits is its country code.
_CODES = (
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 "
    "63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 "
    "211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 "
    "237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 "
    "260 261 262 263 264 265 266 267 268 269 290 291 297 298 299 "
    "350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375 376 377 378 379 380 381 "
    "382 383 385 386 387 389 420 421 423 "
    "500 501 502 503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599 "
    "670 672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 688 689 690 691 692 "
    "800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 "
    "960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 979 992 993 994 995 "
    "996 998"
)
COUNTRY_CODES = frozenset(_CODES.split())
# The national trunk prefix dialled before a number inside its country: "0" in most of the world
# (China 010 8888 8888 is +86 10 8888 8888), "1" in the North American plan, "8" in Russia and
# Kazakhstan, none where the leading 0 is part of the number (Italy, San Marino, Vatican).
_TRUNK = {"1": "1", "7": "8", "39": "", "378": "", "379": ""}
_NUMBER_FORMATTING = re.compile(r"[\s\-./()\[\]]")


class PhoneNumberError(ValueError):
    """Text that is not a phone number we can write in E.164; the message says why."""


def country_of(digits: str) -> str | None:
    """The country calling code that `digits` (E.164 without the +) starts with."""
    return next((digits[:n] for n in (1, 2, 3) if digits[:n] in COUNTRY_CODES), None)


def normalize_e164(text: str, default_country: str | None = None) -> str:
    """`text` as an E.164 number, `+` and digits only: "+86 138-0013-8000", "0086 138 0013 8000",
    "tel:+8613800138000" and the same in full-width characters all give "+8613800138000"; with
    default country "1", "(415) 555-2671" and "1 415 555 2671" give "+14155552671".

    Spaces, dashes, dots, slashes and brackets are ignored, as is a "(0)" written after the
    country code ("+44 (0)20 7946 0000"). "00" (and "011" when the default country is 1) is the
    international prefix. A number without one is national: its trunk prefix (see _TRUNK) is
    dropped and `default_country` put in front. The result has a known country calling code, at
    least 4 digits after it and at most 15 in all. Extensions and letters are refused."""
    s = unicodedata.normalize("NFKC", text).strip()
    if len(s) > MAX_PHONE_INPUT:
        raise PhoneNumberError(f"is longer than {MAX_PHONE_INPUT} characters")
    s = s.removeprefix("tel:").replace("(0)", "")
    s = _NUMBER_FORMATTING.sub("", s)
    if s.startswith("+"):
        digits = s[1:]
    elif s.startswith("00"):
        digits = s[2:]
    elif default_country == "1" and s.startswith("011"):
        digits = s[3:]
    elif not re.fullmatch(r"[0-9]+", s):
        digits = s  # refused below, with the reason
    elif default_country is None:
        raise PhoneNumberError("needs its country code, e.g. +86 138 0013 8000")
    else:
        trunk = _TRUNK.get(default_country, "0")
        digits = default_country + (s[len(trunk) :] if trunk and s.startswith(trunk) else s)
    if not digits:
        raise PhoneNumberError("has no digits")
    if not re.fullmatch(r"[0-9]+", digits):
        if re.search(r"[A-Za-z]", digits):
            raise PhoneNumberError("may hold digits only (no letters or extensions)")
        raise PhoneNumberError("may hold digits, spaces, dashes, dots and brackets only")
    country = country_of(digits)
    if country is None:
        raise PhoneNumberError(f"+{digits[:3]}... has no known country calling code")
    if len(digits) - len(country) < 4:
        raise PhoneNumberError("is too short for a phone number")
    if len(digits) > 15:
        raise PhoneNumberError("has more than the 15 digits an international number can have")
    return f"+{digits}"


def phone_field(name: str, value: str, default_country: str | None) -> str:
    try:
        return normalize_e164(value, default_country)
    except PhoneNumberError as exc:
        invalid(name, str(exc))


# -- config ---------------------------------------------------------------------------------------
def parse_size(value: object) -> int | None:
    """Bytes in `16384`, `512B`, `16KB` (KiB: 1024 bytes), `1MB`; None when it is not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return int(m[1]) * _SIZE_UNITS[m[2].lower() if m[2] else None]
    return None


def check_size(check: Checker, path: Path, value: object, low: int, high: int) -> int | None:
    size = parse_size(value)
    if size is None:
        check.error(path, f"must be a size such as 16KB or 1MB, got {value!r}")
    elif not low <= size <= high:
        check.error(path, f"must be from {low} bytes to {high // 1024}KB, got {size} bytes")
        return None
    return size


def check_country(check: Checker, path: Path, value: object) -> str | None:
    """A country calling code without the +, e.g. "86" or "1" (a YAML number is accepted)."""
    text = str(value).strip().removeprefix("+") if isinstance(value, str | int) else None
    if isinstance(value, bool) or text not in COUNTRY_CODES:
        check.error(path, f'must be a country calling code such as "86" or "1", got {value!r}')
        return None
    return text
