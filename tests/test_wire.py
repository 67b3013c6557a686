"""Wire types: real chunks decode, unknown fields are ignored, wrong types are rejected, and the
completion keeps every field the official non-streaming response has."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from _real_groq import recording_ids, recording_or_skip, sse_bytes

from trio_groqstream._sse import SSEDecoder
from trio_groqstream._wire import (
    CHUNK_DECODER,
    ERROR_ENVELOPE_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
)


def payloads(raw: bytes) -> list[tuple[str, str]]:
    """(event type, data) of every event of a recorded body."""
    return [(event.event, event.data) for event in SSEDecoder().feed(raw)]


def is_error_payload(event_type: str, data: str) -> bool:
    return event_type == "error" or "error" in json.loads(data)


def assert_known_fields_match(decoded: object, original: object, path: str = "$") -> None:
    """Every field the Struct knows has the value the JSON had (unknown JSON keys are skipped)."""
    if isinstance(decoded, msgspec.Struct):
        assert isinstance(original, dict), path
        for name in decoded.__struct_fields__:
            if name in original:
                assert_known_fields_match(getattr(decoded, name), original[name], f"{path}.{name}")
    elif isinstance(decoded, list) and decoded and isinstance(decoded[0], msgspec.Struct):
        assert isinstance(original, list), path
        assert len(decoded) == len(original), path
        for i, (item, source) in enumerate(zip(decoded, original, strict=True)):
            assert_known_fields_match(item, source, f"{path}[{i}]")
    else:
        assert msgspec.to_builtins(decoded) == original, path


# --- real chunks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", recording_ids(status=200))
def test_every_recorded_chunk_decodes(name: str) -> None:
    events = payloads(sse_bytes(recording_or_skip(name)))
    chunks = 0
    for event_type, data in events:
        if data == "[DONE]":
            continue
        original = json.loads(data)
        if is_error_payload(event_type, data):
            # The in-stream error shape decodes too (the stream layer turns it into an exception).
            chunk = CHUNK_DECODER.decode(data.encode())
            assert chunk.error is not None
            assert chunk.error.message == original["error"]["message"]
            assert chunk.choices == []
            continue
        chunk = CHUNK_DECODER.decode(data.encode())
        assert isinstance(chunk, ChatCompletionChunk)
        assert chunk.object == "chat.completion.chunk"
        assert chunk.id == original["id"]
        assert chunk.error is None
        assert_known_fields_match(chunk, original)
        chunks += 1
    assert chunks > 0


@pytest.mark.parametrize(
    ("name", "code"),
    [
        pytest.param("01", "tool_use_failed", id="01"),
        pytest.param("03", "tool_use_failed", id="03"),
        pytest.param("21", "tool_use_failed", id="21"),
    ],
)
def test_in_stream_error_event_decodes(name: str, code: str) -> None:
    (data,) = [d for t, d in payloads(sse_bytes(recording_or_skip(name))) if t == "error"]
    error = CHUNK_DECODER.decode(data.encode()).error
    assert error is not None
    assert error.code == code
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.failed_generation is not None


def test_recorded_tool_calls_and_usage_decode_to_their_values() -> None:
    events = payloads(sse_bytes(recording_or_skip("25")))
    chunks = [CHUNK_DECODER.decode(d.encode()) for _, d in events if d != "[DONE]"]
    calls = [c for chunk in chunks for c in chunk.choices[0].delta.tool_calls or []]
    assert [(c.index, c.id, c.type) for c in calls] == [
        (0, "call_re03", "function"),
        (1, "call_483b", "function"),
    ]
    assert calls[1].function is not None
    assert json.loads(calls[1].function.arguments or "") == {
        "location": "Tokyo, Japan",
        "unit": "celsius",
    }
    final = chunks[-1]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.x_groq is not None
    assert final.x_groq.usage is not None
    assert final.x_groq.usage.total_tokens == 358
    assert final.x_groq.usage.queue_time == pytest.approx(0.178905358)


@pytest.mark.parametrize("name", recording_ids(status=None, kind="error_http"))
def test_recorded_http_error_bodies(name: str) -> None:
    recording = recording_or_skip(name)
    assert recording["status"] >= 400
    body = sse_bytes(recording)  # for these, "sse" holds the HTTP error body
    try:
        original = json.loads(body)
    except ValueError:
        with pytest.raises(msgspec.DecodeError):  # e.g. Envoy's plain-text 503
            ERROR_ENVELOPE_DECODER.decode(body)
        return
    envelope = ERROR_ENVELOPE_DECODER.decode(body)
    assert envelope.error is not None
    assert_known_fields_match(envelope, original)


# --- unknown fields ------------------------------------------------------------------------------

FULL_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "hi",
                "reasoning": "r",
                "channel": "analysis",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ],
                "executed_tools": [
                    {"index": 0, "type": "search", "arguments": "{}", "output": "o"}
                ],
                "function_call": {"name": "g", "arguments": "{}"},
            },
            "logprobs": {
                "content": [
                    {
                        "token": "hi",
                        "logprob": -0.5,
                        "bytes": [104, 105],
                        "top_logprobs": [{"token": "hi", "logprob": -0.5, "bytes": None}],
                    }
                ]
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "completion_tokens_details": {"reasoning_tokens": 1},
        "prompt_tokens_details": {"cached_tokens": 0},
    },
    "x_groq": {
        "id": "req_1",
        "seed": 0,
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        "usage_breakdown": {"models": [{"model": "m", "usage": {"total_tokens": 3}}]},
    },
    "service_tier": "on_demand",
}

# Every object in FULL_CHUNK that maps to a Struct (Any-typed values such as search_results are
# plain JSON, where an extra key is data, not an unknown field).
STRUCT_PATHS: list[tuple[str | int, ...]] = [
    (),
    ("choices", 0),
    ("choices", 0, "delta"),
    ("choices", 0, "delta", "tool_calls", 0),
    ("choices", 0, "delta", "tool_calls", 0, "function"),
    ("choices", 0, "delta", "executed_tools", 0),
    ("choices", 0, "delta", "function_call"),
    ("choices", 0, "logprobs"),
    ("choices", 0, "logprobs", "content", 0),
    ("choices", 0, "logprobs", "content", 0, "top_logprobs", 0),
    ("usage",),
    ("usage", "completion_tokens_details"),
    ("usage", "prompt_tokens_details"),
    ("x_groq",),
    ("x_groq", "usage"),
    ("x_groq", "usage_breakdown"),
    ("x_groq", "usage_breakdown", "models", 0),
]

UNKNOWN_VALUES: dict[str, Any] = {
    "zz_object": {"nested": {"deeper": [1, "two", None]}},
    "zz_array": [{"a": 1}, [], None],
    "zz_string": "x",
    "zz_number": 1.5e300,
    "zz_bool": True,
    "zz_null": None,
}


def at(obj: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def with_unknown_keys(obj: dict[str, Any], paths: list[tuple[str | int, ...]]) -> bytes:
    injected = copy.deepcopy(obj)
    for path in paths:
        target = at(injected, path)
        assert isinstance(target, dict)
        target.update(UNKNOWN_VALUES)
    return json.dumps(injected).encode()


def test_full_chunk_decodes_every_level() -> None:
    chunk = CHUNK_DECODER.decode(json.dumps(FULL_CHUNK).encode())
    assert_known_fields_match(chunk, FULL_CHUNK)
    # Each STRUCT_PATHS entry really is a Struct in the decoded chunk (else the test below is moot).
    for path in STRUCT_PATHS:
        node: Any = chunk
        for key in path:
            node = node[key] if isinstance(key, int) else getattr(node, key)
        assert isinstance(node, msgspec.Struct), path


@pytest.mark.parametrize(
    "path", STRUCT_PATHS, ids=[".".join(map(str, p)) or "top" for p in STRUCT_PATHS]
)
def test_unknown_fields_ignored_at_every_level(path: tuple[str | int, ...]) -> None:
    expected = CHUNK_DECODER.decode(json.dumps(FULL_CHUNK).encode())
    assert CHUNK_DECODER.decode(with_unknown_keys(FULL_CHUNK, [path])) == expected


def test_unknown_fields_everywhere_at_once() -> None:
    expected = CHUNK_DECODER.decode(json.dumps(FULL_CHUNK).encode())
    assert CHUNK_DECODER.decode(with_unknown_keys(FULL_CHUNK, STRUCT_PATHS)) == expected


# Fields typed ``Any`` (or ``list[Any]``): their JSON is kept as it came, extra keys and all.
ANY_TYPED = frozenset({"search_results", "code_results", "browser_results", "annotations", "debug"})


def struct_paths_of(obj: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Paths of the objects in a real chunk that map to Structs (skipping Any-typed values)."""
    if isinstance(obj, dict):
        yield path
        for key, value in obj.items():
            if key not in ANY_TYPED:
                yield from struct_paths_of(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from struct_paths_of(value, (*path, i))


@pytest.mark.parametrize("name", recording_ids(status=200))
def test_unknown_fields_injected_into_real_chunks(name: str) -> None:
    for event_type, data in payloads(sse_bytes(recording_or_skip(name))):
        if data == "[DONE]" or is_error_payload(event_type, data):
            continue
        original = json.loads(data)
        paths = list(struct_paths_of(original))
        injected = CHUNK_DECODER.decode(with_unknown_keys(original, paths))
        assert injected == CHUNK_DECODER.decode(data.encode())


def test_missing_fields_take_defaults() -> None:
    chunk = CHUNK_DECODER.decode(b'{"choices":[{}]}')
    assert chunk.id == ""
    assert chunk.choices[0].index == 0
    assert chunk.choices[0].delta.content is None
    assert chunk.usage is None
    assert CHUNK_DECODER.decode(b"{}").choices == []


# --- wrong types are rejected --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        pytest.param({"created": "soon"}, "$.created", id="created-str"),
        pytest.param({"created": 1.5}, "$.created", id="created-float"),
        pytest.param({"id": 7}, "$.id", id="id-int"),
        pytest.param({"choices": {}}, "$.choices", id="choices-object"),
        pytest.param({"choices": [{"index": "0"}]}, "$.choices[0].index", id="index-str"),
        pytest.param({"choices": [{"delta": []}]}, "$.choices[0].delta", id="delta-array"),
        pytest.param(
            {"choices": [{"delta": {"content": 5}}]}, "$.choices[0].delta.content", id="content-int"
        ),
        pytest.param(
            {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": {}}}]}}]},
            "$.choices[0].delta.tool_calls[0].function.arguments",
            id="arguments-object",
        ),
        pytest.param(
            {"x_groq": {"usage": {"prompt_tokens": "12"}}},
            "$.x_groq.usage.prompt_tokens",
            id="usage-tokens-str",
        ),
        pytest.param({"usage": {"total_tokens": 1.5}}, "$.usage.total_tokens", id="tokens-float"),
        pytest.param({"x_groq": "req_1"}, "$.x_groq", id="x_groq-str"),
        pytest.param([], "$", id="top-level-array"),
        pytest.param(None, "$", id="top-level-null"),
    ],
)
def test_wrong_types_raise_validation_error(payload: object, where: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        CHUNK_DECODER.decode(json.dumps(payload).encode())
    # The message names the path, which the stream layer quotes in its protocol error.
    message = str(info.value)
    if where == "$":
        assert " - at `" not in message
    else:
        assert message.endswith(f" - at `{where}`")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{", id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"id": "x",}', id="trailing-comma"),
        pytest.param(b'{"choices": [}', id="bad-bracket"),
        pytest.param(b'{"id": "x"} {}', id="trailing-data"),
        pytest.param(b"\xff", id="not-utf8"),
    ],
)
def test_malformed_json_raises_decode_error(raw: bytes) -> None:
    with pytest.raises(msgspec.DecodeError) as info:
        CHUNK_DECODER.decode(raw)
    assert not isinstance(info.value, msgspec.ValidationError)


def test_the_message_keeps_refusal_like_the_official_response() -> None:
    body = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "No."},
                "logprobs": {"content": None, "refusal": [{"token": "No", "logprob": -0.1}]},
                "finish_reason": "stop",
            }
        ],
    }
    completion = msgspec.json.decode(json.dumps(body).encode(), type=ChatCompletion)
    assert completion.choices[0].message.refusal == "No."
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None
    assert [t.token for t in logprobs.refusal or []] == ["No"]
    assert "refusal" not in msgspec.json.encode(ChatCompletionMessage()).decode()  # unset: omitted
