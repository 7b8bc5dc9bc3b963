"""A seeded generator of hostile inputs: valid templates of every intake body, mutated (a field
replaced by a hostile value, removed, or an unknown one added) or broken as bytes (truncated,
invalid UTF-8, random, empty, deeply nested). Same seed, same cases."""

from __future__ import annotations

import json
import random
from typing import Any

HOSTILE_TEXT = [
    "\ud800", "\udfff", "a\udc80b", "\x00", "\x00\x01\x02\x7f", "\u202e\u2066evil", "😀" * 50,
    "你好" * 300, "a" * 70_000, "", " ", "\r\n.\r\nQUIT\r\n", "<script>alert(1)</script>",
    "%s%s%n", "../../etc/passwd", "' OR 1=1 --", "\ufeff", "\u0000\ud83d", "=?utf-8?b?AAAA?=",
    "+" + "9" * 40, "12345678901234567890", "tel:+86", "@", "a@", "@b", "x" * 300 + "@x.test",
]  # fmt: skip
HOSTILE_VALUES: list[Any] = [
    0, -1, 2**63, 1e308, -0.0, True, False, None, [], {}, [1, "a"], {"a": {"b": None}},
    "NaN", ["\ud800"], {"\ud800": 1},
]  # fmt: skip


def deep(n: int) -> Any:
    doc: Any = "x"
    for _ in range(n):
        doc = [doc]
    return doc


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a JSON document."""
    out = [prefix] if prefix else []
    if len(prefix) > 12:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    node = doc
    for p in path[:-1]:
        node = node[p]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value


def hostile(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(HOSTILE_TEXT)
    if roll < 0.9:
        return rng.choice(HOSTILE_VALUES)
    return deep(rng.choice([50, 500, 5000]))


def mutate_json(template: dict[str, Any], rng: random.Random) -> bytes:
    """One hostile variant of `template`, as bytes."""
    roll = rng.random()
    if roll < 0.75:
        doc = json.loads(json.dumps(template))
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            where = rng.choice(paths(doc) or [("extra",)])
            action = rng.random()
            try:
                if action < 0.75:
                    _set(doc, where, hostile(rng))
                elif action < 0.9:
                    _set(doc, where, None, delete=True)
                else:
                    doc[rng.choice([*HOSTILE_TEXT[:6], "unknown"])] = hostile(rng)
            except (KeyError, IndexError, TypeError):
                pass
        try:
            return json.dumps(doc).encode()  # lone surrogates become \ud800 escapes: valid JSON
        except (ValueError, RecursionError):
            return b"[" * 10_000
    return mutate_bytes(json.dumps(template, ensure_ascii=False).encode(), rng)


def mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.25:
        return raw[: rng.randrange(len(raw) + 1)]
    if roll < 0.45:
        at = rng.randrange(len(raw) + 1)
        return raw[:at] + rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00"]) + raw[at:]
    if roll < 0.6:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if roll < 0.7:
        return b""
    if roll < 0.8:
        return b"[" * rng.choice([100, 10_000, 100_000])
    if roll < 0.9:
        return rng.choice([b"null", b"[]", b"1", b'"x"', b"{}", b"true", b"NaN", b"1e999"])
    return raw.replace(b'"', b"'")


def mutate_xml(raw: bytes, rng: random.Random) -> bytes:
    """A WeChat push with a hostile field, or broken XML."""
    if rng.random() < 0.6:
        text = raw.decode()
        value = str(rng.choice(HOSTILE_TEXT)).encode("utf-8", "surrogatepass")
        for tag in ("Content", "FromUserName", "MsgId", "MsgType", "CreateTime"):
            if rng.random() < 0.4:
                start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
                if start >= 0 and end > start:
                    head = text[: start + len(tag) + 2].encode()
                    return head + value + text[end:].encode()
        return raw.replace(b"<xml>", b"<xml><!DOCTYPE x [<!ENTITY a 'aaaa'>]>")
    return mutate_bytes(raw, rng)


SMTP_HOSTILE = [
    b"\xff\xfe@x.test", b"\xed\xa0\x80@x.test", b"a\x00b@x.test", b"x" * 600 + b"@x.test",
    "用户@例子.测试".encode(), b"@", b"", b"<>", b"a@b@c", b'"quoted local"@x.test',
    b"a@[127.0.0.1]", b"a@" + b"x" * 300, b"\r\n", b"%", b"a@x.test> SIZE=-1",
]  # fmt: skip


def smtp_case(rng: random.Random, to: str) -> list[bytes]:
    """A session's commands after EHLO: one hostile step among valid ones."""
    bad = rng.choice(SMTP_HOSTILE)
    roll = rng.random()
    if roll < 0.35:
        return [b"MAIL FROM:<" + bad + b">"]
    if roll < 0.6:
        return [b"MAIL FROM:<fuzz@x.test>", b"RCPT TO:<" + bad + b">"]
    if roll < 0.85:
        body = mutate_bytes(b"Subject: fuzz\r\nFrom: <fuzz@x.test>\r\n\r\nhello\r\n", rng)
        body = body.replace(b"\r\n.\r\n", b"\r\n..\r\n")
        head = rng.choice([b"", b"Subject: " + bad + b"\r\nMessage-ID: <" + bad + b">\r\n"])
        return [b"MAIL FROM:<fuzz@x.test>", f"RCPT TO:<{to}>".encode(), b"DATA",
                head + body + b"\r\n."]  # fmt: skip
    return [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 80))).replace(b"\n", b"")]
