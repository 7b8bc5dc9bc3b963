"""The msgpack codec of requests and messages: round trips, and garbage that raises DecodeError
(never anything else).
"""

from __future__ import annotations

import dataclasses

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.queues.errors import DecodeError
from frontdesk.queues.request import (
    SCHEMA_VERSION,
    Attachment,
    Channel,
    Customer,
    Message,
    Priority,
    Request,
    SkillRequirement,
    decode_message,
    decode_request,
    encode,
)

# -- codec ---------------------------------------------------------------------------------------

chinese = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=20)
text = st.one_of(st.text(max_size=30), chinese)
optional_text = st.none() | text
finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

attachments = st.lists(
    st.builds(
        Attachment,
        filename=text,
        content_type=st.sampled_from(["image/png", "application/pdf", "text/plain; charset=gbk"]),
        size=st.integers(min_value=0, max_value=2**40),
        ref=optional_text,
    ),
    max_size=3,
).map(tuple)

requests = st.builds(
    Request,
    id=st.from_regex(r"FD-[0-9]{1,9}", fullmatch=True),
    channel=st.sampled_from(Channel),
    queue=text,
    external_id=optional_text,
    entry_point=optional_text,
    customer=st.builds(
        Customer,
        id=optional_text,
        name=optional_text,
        email=optional_text,
        phone=st.none() | st.from_regex(r"\+86[0-9]{11}", fullmatch=True),
        handles=st.dictionaries(text, text, max_size=3),
    ),
    subject=text,
    body=text,
    language=st.none() | st.sampled_from(["zh-CN", "en", "zh-TW"]),
    attachments=attachments,
    category=optional_text,
    priority=st.sampled_from(Priority),
    skills=st.lists(
        st.builds(
            SkillRequirement,
            name=text,
            min_level=st.integers(min_value=1, max_value=5),
            optional=st.booleans(),
        ),
        max_size=3,
    ).map(tuple),
    tier=st.integers(min_value=1, max_value=3),
    preferred_agent=optional_text,
    received_at=finite,
    enqueued_at=st.none() | finite,
    attributes=st.dictionaries(
        text, st.one_of(st.none(), st.booleans(), int64, finite, text), max_size=4
    ),
)

messages = st.builds(
    Message,
    body=text,
    author=st.sampled_from(["customer", "agent", "system"]),
    external_id=optional_text,
    received_at=finite,
    attachments=attachments,
)


@given(requests)
def test_request_codec_round_trip(request):
    raw = encode(request)
    assert decode_request(raw) == request
    assert Request.decode(request.encode()) == request


@given(messages)
def test_message_codec_round_trip(message):
    assert decode_message(encode(message)) == message


@given(requests)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)
async def test_stored_request_reads_back_equal(store, request):
    # The records of earlier examples stay (the fixture flushes once per test); ids never clash
    # because enqueue numbers requests from the counter whatever `id` was generated.
    result = await store.enqueue(dataclasses.replace(request, id=""))
    record = await store.get(result.id)
    if not result.created:  # an external id seen by an earlier example
        return
    assert record.request == dataclasses.replace(
        request, id=result.id, enqueued_at=record.enqueued_ms / 1000
    )


def _valid_request_body() -> dict:
    body = msgpack.unpackb(encode(Request(id="FD-1", channel=Channel.CHAT, queue="q")))
    assert body["v"] == SCHEMA_VERSION
    return body


def _pack(body) -> bytes:
    return msgpack.packb(body, use_bin_type=True)


GARBAGE = {
    "empty": b"",
    "invalid byte": b"\xc1",
    "truncated": encode(Request(id="FD-1", channel=Channel.CHAT, queue="q"))[:-3],
    "trailing bytes": encode(Request(id="FD-1", channel=Channel.CHAT, queue="q")) + b"\x00",
    "not utf-8": b"\xa2\xff\xfe",
    "json": b'{"id": "FD-1"}',
    "int map key": _pack({1: "x", "v": SCHEMA_VERSION}),
    "a list": _pack([1, 2, 3]),
    "a string": _pack("FD-1"),
    "no version": _pack({k: v for k, v in _valid_request_body().items() if k != "v"}),
    "version 2": _pack({**_valid_request_body(), "v": SCHEMA_VERSION + 1}),
    "version as text": _pack({**_valid_request_body(), "v": str(SCHEMA_VERSION)}),
    "missing channel": _pack({k: v for k, v in _valid_request_body().items() if k != "channel"}),
    "unknown channel": _pack({**_valid_request_body(), "channel": "fax"}),
    "unknown priority": _pack({**_valid_request_body(), "priority": "urgent"}),
    "unknown field": _pack({**_valid_request_body(), "colour": "red"}),
    "customer not a map": _pack({**_valid_request_body(), "customer": "ann"}),
    "attachment not a map": _pack({**_valid_request_body(), "attachments": [["a.png"]]}),
    "skills not a list": _pack({**_valid_request_body(), "skills": 3}),
}


@pytest.mark.parametrize("raw", GARBAGE.values(), ids=list(GARBAGE))
def test_decode_request_garbage_raises_decode_error_keeping_the_bytes(raw):
    with pytest.raises(DecodeError) as failed:
        decode_request(raw)
    assert failed.value.raw == raw
    assert failed.value.what == "request"
    assert failed.value.cause is not None


MESSAGE_GARBAGE = {
    "invalid byte": b"\xc1",
    "a list": _pack(["hi"]),
    "version 0": _pack({"v": 0, "body": "hi", "attachments": []}),
    "no attachments": _pack({"v": SCHEMA_VERSION, "body": "hi"}),
    "no body": _pack({"v": SCHEMA_VERSION, "attachments": []}),
    "a request": encode(Request(id="FD-1", channel=Channel.CHAT, queue="q")),
}


@pytest.mark.parametrize("raw", MESSAGE_GARBAGE.values(), ids=list(MESSAGE_GARBAGE))
def test_decode_message_garbage_raises_decode_error_keeping_the_bytes(raw):
    with pytest.raises(DecodeError) as failed:
        decode_message(raw)
    assert failed.value.raw == raw
    assert failed.value.what == "message"


msgpack_values = st.recursive(
    st.none() | st.booleans() | int64 | finite | text | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@given(st.binary(max_size=64) | st.builds(_pack, msgpack_values))
def test_decode_anything_gives_a_request_or_decode_error(raw):
    for decode in (decode_request, decode_message):
        try:
            decode(raw)
        except DecodeError as failed:
            assert failed.raw == raw


@given(
    st.fixed_dictionaries(
        {},
        optional={name: msgpack_values for name in _valid_request_body()},
    )
)
def test_decode_request_with_any_field_values_never_escapes_decode_error(fields):
    raw = _pack({**fields, "v": SCHEMA_VERSION})
    try:
        decoded = decode_request(raw)
    except DecodeError as failed:
        assert failed.raw == raw
    else:
        assert isinstance(decoded, Request)
