"""The reply model and the scenario builders, tested as plain data (no IO)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trio_groqstream._wire import CHUNK_DECODER
from trio_groqstream.testing import (
    DONE,
    KEEPALIVE,
    Drop,
    Pause,
    RecordedRequest,
    Reply,
    Stall,
    drop_reply,
    echo_handler,
    echo_text,
    eof_reply,
    headers_never_reply,
    http_error_reply,
    in_stream_error_reply,
    keepalive_only_reply,
    non_sse_reply,
    reasoning_reply,
    sse_event,
    stall_reply,
    text_reply,
    tool_call_reply,
    trickle_reply,
)

from ._support import data_payloads, split_events

TOP_KEYS = ["id", "object", "created", "model", "system_fingerprint", "choices"]


def chunks(reply: Reply) -> list[dict[str, Any]]:
    return [p for p in data_payloads(reply) if isinstance(p, dict) and "choices" in p]


def contents(reply: Reply) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks(reply) if c["choices"]
    )


# --- the reply model -----------------------------------------------------------------------------


def test_reply_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="write_size"):
        Reply(write_size=0)
    with pytest.raises(ValueError, match="status"):
        Reply(status=101)
    with pytest.raises(TypeError, match="body part"):
        Reply(body=("text",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="before_headers"):
        Reply(before_headers=(Drop(),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Pause"):
        Pause(-1)


def test_body_bytes_stops_at_a_stall_or_drop() -> None:
    assert Reply(body=(b"a", Pause(1), b"b", Stall(), b"never")).body_bytes() == b"ab"
    assert Reply(body=(b"a", Drop(), b"never")).body_bytes() == b"a"


def test_writes_split_by_write_size() -> None:
    assert Reply(write_size=2).writes(b"abcde") == [b"ab", b"cd", b"e"]
    assert Reply().writes(b"abcde") == [b"abcde"]
    assert Reply(write_size=1).writes(b"") == []


def test_header_lookup_is_case_insensitive() -> None:
    reply = Reply(headers=(("Content-Type", "text/event-stream"),))
    assert reply.header("content-type") == "text/event-stream"
    assert reply.header("x-missing") is None


# --- SSE framing ---------------------------------------------------------------------------------


def test_sse_event_is_compact_json_then_a_blank_line() -> None:
    assert sse_event({"a": 1, "b": [None, "é"]}) == 'data: {"a":1,"b":[null,"é"]}\n\n'.encode()
    assert sse_event({"x": 1}, event="error") == b'event: error\ndata: {"x":1}\n\n'
    assert sse_event("[DONE]", crlf=True) == b"data: [DONE]\r\n\r\n"
    assert sse_event("two\nlines") == b"data: two\ndata: lines\n\n"
    assert sse_event("[DONE]") == DONE


def test_html_characters_are_escaped_like_go() -> None:
    reply = text_reply("a<b>&c")
    assert b"a\\u003cb\\u003e\\u0026c" in reply.body_bytes()
    assert contents(reply) == "a<b>&c"


# --- text ----------------------------------------------------------------------------------------


def test_text_reply_shape() -> None:
    reply = text_reply("Hello there, world!", request_id="req_abc")
    payloads = data_payloads(reply)
    assert payloads[-1] == "[DONE]"
    role, *middle, finish = chunks(reply)
    assert list(role) == [*TOP_KEYS, "x_groq"]
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert role["x_groq"] == {"id": "req_abc"}
    assert [c["choices"][0]["delta"] for c in middle] == [
        {"content": "Hello "},
        {"content": "there, "},
        {"content": "world!"},
    ]
    assert list(finish) == [*TOP_KEYS, "x_groq", "usage"]
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["x_groq"]["id"] == "req_abc" == reply.header("x-request-id")
    assert finish["x_groq"]["usage"] == finish["usage"]
    usage = finish["usage"]
    assert list(usage) == [
        "queue_time",
        "prompt_tokens",
        "prompt_time",
        "completion_tokens",
        "completion_time",
        "total_tokens",
        "total_time",
    ]
    assert usage["completion_tokens"] == 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3
    assert len({c["id"] for c in chunks(reply)}) == 1


def test_text_reply_headers_are_realistic_and_overridable() -> None:
    reply = text_reply("hi", headers=[("X-RateLimit-Remaining-Tokens", "0"), ("x-extra", "1")])
    assert reply.header("content-type") == "text/event-stream"
    assert reply.header("cache-control") == "no-cache"
    assert reply.header("x-ratelimit-reset-requests") == "2m59.56s"
    assert reply.header("x-ratelimit-reset-tokens") == "7.66s"
    assert reply.header("x-ratelimit-remaining-tokens") == "0"
    assert [k for k, _ in reply.headers].count("X-RateLimit-Remaining-Tokens") == 1
    assert reply.header("x-extra") == "1"
    assert reply.chunked


def test_text_reply_keeps_multibyte_utf8() -> None:
    text = "Grüße 🌍 世界, ça va?"
    reply = text_reply(text)
    assert contents(reply) == text
    assert "世界".encode() in reply.body_bytes()


def test_text_reply_each_event_is_one_part() -> None:
    reply = text_reply("one two")
    assert all(isinstance(p, bytes) for p in reply.body)
    assert [p for p in reply.body if isinstance(p, bytes)] == split_events(reply.body_bytes())
    assert reply.body[-1] == DONE


def test_text_reply_pieces_option() -> None:
    reply = text_reply("abc", pieces=["a", "bc"])
    assert [c["choices"][0]["delta"] for c in chunks(reply)[1:-1]] == [
        {"content": "a"},
        {"content": "bc"},
    ]
    with pytest.raises(ValueError, match="join"):
        text_reply("abc", pieces=["a", "b"])


def test_include_usage_adds_the_empty_choices_chunk() -> None:
    reply = text_reply("hi", include_usage=True)
    *_, finish, extra = chunks(reply)
    assert extra["choices"] == []
    assert extra["usage"] == finish["usage"]
    assert extra["service_tier"] == "on_demand"
    assert list(extra) == [*TOP_KEYS, "usage", "service_tier"]


def test_framing_options() -> None:
    assert DONE not in text_reply("hi", done=False).body
    crlf = text_reply("hi there", crlf=True).body_bytes()
    assert crlf.count(b"\r\n") == crlf.count(b"\n")
    assert crlf.endswith(b"data: [DONE]\r\n\r\n")
    kept = text_reply("a b c d", keepalive_every=2)
    assert kept.body.count(KEEPALIVE) == 3  # 7 events (role, 4 pieces, finish, DONE): after 2, 4, 6
    assert kept.body[2] == KEEPALIVE
    paused = text_reply("a b", pause=0.5)
    assert paused.body[1::2] == (Pause(0.5),) * (len(paused.body) // 2)
    assert trickle_reply("a b").write_size == 1


def test_finish_reason_and_model() -> None:
    reply = text_reply("cut", finish_reason="length", model="openai/gpt-oss-20b")
    assert chunks(reply)[-1]["choices"][0]["finish_reason"] == "length"
    assert {c["model"] for c in chunks(reply)} == {"openai/gpt-oss-20b"}


@pytest.mark.parametrize(
    "reply",
    [
        text_reply("Hello <world> ☃", include_usage=True),
        tool_call_reply([("f", '{"a": 1}')], text_before="ok", fragmented=True),
        tool_call_reply([("f", "{}"), ("g", "{}")]),
        reasoning_reply("think", "answer", channel="analysis"),
        in_stream_error_reply(shape="x_groq", text_before="x"),
    ],
)
def test_every_chunk_decodes_as_a_wire_chunk(reply: Reply) -> None:
    for chunk in chunks(reply):
        decoded = CHUNK_DECODER.decode(json.dumps(chunk).encode())
        assert decoded.id == chunk["id"]


# --- tool calls and reasoning --------------------------------------------------------------------


def test_tool_calls_arrive_whole_by_default() -> None:
    reply = tool_call_reply(
        [("get_weather", '{"city": "Paris"}'), ("now", "{}")], text_before="Ok."
    )
    role, text, first, second, finish = chunks(reply)
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": None}
    assert text["choices"][0]["delta"] == {"content": "Ok."}
    call = first["choices"][0]["delta"]["tool_calls"][0]
    assert list(call) == ["id", "type", "function", "index"]
    assert call == {
        "id": "call_fake0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        "index": 0,
    }
    assert second["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    assert finish["choices"][0]["finish_reason"] == "tool_calls"


def test_fragmented_tool_calls_are_openai_style() -> None:
    arguments = '{"city": "Paris", "unit": "celsius"}'
    reply = tool_call_reply([("get_weather", arguments)], fragmented=True, call_ids=["call_x"])
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks(reply)[1:-1]]
    assert deltas[0] == {
        "index": 0,
        "id": "call_x",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert len(deltas) == 4
    assert all("id" not in d and d["index"] == 0 for d in deltas[1:])
    assert "".join(d["function"]["arguments"] for d in deltas) == arguments


def test_tool_call_ids_must_match_calls() -> None:
    with pytest.raises(ValueError, match="call_ids"):
        tool_call_reply([("f", "{}")], call_ids=["a", "b"])


def test_reasoning_then_content() -> None:
    reply = reasoning_reply("Let me think.", "Four.", channel="analysis")
    deltas = [c["choices"][0]["delta"] for c in chunks(reply)[1:-1]]
    assert deltas == [
        {"reasoning": "Let ", "channel": "analysis"},
        {"reasoning": "me ", "channel": "analysis"},
        {"reasoning": "think.", "channel": "analysis"},
        {"content": "Four."},
    ]
    usage = chunks(reply)[-1]["usage"]
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 3}
    plain = reasoning_reply("hm", "ok")
    assert chunks(plain)[1]["choices"][0]["delta"] == {"reasoning": "hm"}


# --- errors inside a stream ----------------------------------------------------------------------


def test_in_stream_error_event_shape_ends_without_done() -> None:
    reply = in_stream_error_reply(shape="event", text_before="Partial", failed_generation="")
    last = reply.body[-1]
    assert isinstance(last, bytes)
    assert last.startswith(b"event: error\ndata: ")
    error = json.loads(last.split(b"data: ", 1)[1])["error"]
    assert list(error) == ["message", "type", "code", "failed_generation", "status_code"]
    assert error["code"] == "tool_use_failed"
    assert error["status_code"] == 400
    assert DONE not in reply.body
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks(reply))
    assert contents(reply) == "Partial"


def test_in_stream_error_data_and_x_groq_shapes() -> None:
    data = in_stream_error_reply(shape="data", message="Service Unavailable", code=None, done=True)
    assert data_payloads(data)[-2] == {
        "error": {"message": "Service Unavailable", "type": "invalid_request_error"}
    }
    assert data.body[-1] == DONE
    x_groq = in_stream_error_reply(shape="x_groq", message="over capacity", request_id="req_1")
    assert chunks(x_groq)[-1]["x_groq"] == {"id": "req_1", "error": "over capacity"}
    with pytest.raises(ValueError, match="shape"):
        in_stream_error_reply(shape="bogus")  # type: ignore[arg-type]


# --- HTTP errors ---------------------------------------------------------------------------------


def test_http_401_is_groqs_exact_body() -> None:
    reply = http_error_reply(401)
    assert reply.body == (
        b'{"error":{"message":"Invalid API Key","type":"invalid_request_error",'
        b'"code":"invalid_api_key"}}\n',
    )
    assert not reply.chunked
    assert reply.header("content-type") == "application/json"
    assert reply.header("x-request-id") is not None
    assert not any(k.startswith("x-ratelimit") for k, _ in reply.headers)


def test_http_429_defaults_and_retry_headers() -> None:
    reply = http_error_reply(429, retry_after=2, retry_after_ms=1500.5)
    error = json.loads(reply.body_bytes())["error"]
    assert error["type"] == "tokens"
    assert error["code"] == "rate_limit_exceeded"
    assert "Please try again in" in error["message"]
    assert reply.header("retry-after") == "2"
    assert reply.header("retry-after-ms") == "1500.5"
    assert reply.header("x-ratelimit-limit-tokens") is not None


@pytest.mark.parametrize(
    ("status", "code"),
    [(413, "rate_limit_exceeded"), (498, "capacity_exceeded"), (404, "model_not_found")],
)
def test_http_error_default_codes(status: int, code: str) -> None:
    assert json.loads(http_error_reply(status).body_bytes())["error"]["code"] == code


def test_http_error_options_in_groq_key_order() -> None:
    reply = http_error_reply(
        400,
        message="too long",
        code="context_length_exceeded",
        param="messages",
        failed_generation="{",
        headers=[("x-request-id", "req_mine")],
    )
    error = json.loads(reply.body_bytes())["error"]
    assert list(error) == ["message", "type", "param", "code", "failed_generation"]
    assert reply.body_bytes().endswith(b"}}\n")
    assert reply.header("x-request-id") == "req_mine"
    assert json.loads(http_error_reply(418).body_bytes())["error"]["message"] == "I'm a Teapot"
    assert (
        json.loads(http_error_reply(502).body_bytes())["error"]["type"] == "internal_server_error"
    )


def test_http_error_raw_text_body() -> None:
    reply = http_error_reply(503, text="upstream connect error")
    assert reply.body == (b"upstream connect error",)
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    html = http_error_reply(403, text="<html></html>", content_type="text/html; charset=UTF-8")
    assert html.header("content-type") == "text/html; charset=UTF-8"


# --- faults --------------------------------------------------------------------------------------


def test_fault_replies() -> None:
    dropped = drop_reply("a b")
    assert isinstance(dropped.body[-1], Drop)
    assert contents(dropped) == "a b"
    assert DONE not in dropped.body

    eof = eof_reply("a b")
    assert DONE not in eof.body
    assert chunks(eof)[-1]["choices"][0]["finish_reason"] is None
    assert chunks(eof_reply("a", with_finish=True))[-1]["choices"][0]["finish_reason"] == "stop"

    stalled = stall_reply("a b c")
    assert isinstance(stalled.body[-1], Stall)
    assert contents(stalled) == "a b c"
    assert stall_reply("a b c", after_chunks=0).body == (Stall(),)
    assert len(chunks(stall_reply("a b c", after_chunks=2))) == 2

    assert headers_never_reply().before_headers == (Stall(),)


def test_keepalive_only_reply_has_no_events() -> None:
    reply = keepalive_only_reply(0.25, count=3)
    assert reply.body == (KEEPALIVE, Pause(0.25)) * 3 + (Stall(),)
    assert b"data:" not in reply.body_bytes()


def test_non_sse_reply() -> None:
    reply = non_sse_reply()
    assert reply.status == 200
    assert not reply.chunked
    assert reply.header("content-type") == "application/json"
    assert json.loads(reply.body_bytes())["object"] == "chat.completion"


# --- the echo handler ----------------------------------------------------------------------------


def _request(body: Any) -> RecordedRequest:
    return RecordedRequest(
        method="POST",
        target="/openai/v1/chat/completions",
        headers=[("content-type", "application/json")],
        body=json.dumps(body).encode(),
    )


def test_echo_handler_answers_the_last_user_message() -> None:
    request = _request(
        {
            "model": "qwen/qwen3-32b",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": [{"type": "text", "text": "se"}, {"text": "cond"}]},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    reply = echo_handler(request)
    assert contents(reply) == echo_text("second") == "You said: second"
    assert {c["model"] for c in chunks(reply)} == {"qwen/qwen3-32b"}
    assert chunks(reply)[-1]["choices"] == []


def test_echo_handler_copes_with_odd_bodies() -> None:
    streamed = {"messages": [], "stream": True}
    assert contents(echo_handler(_request(streamed))) == "You said: "
    assert chunks(echo_handler(_request({"stream": True})))[-1]["choices"] != []
    for odd in (["not", "an", "object"], {}, {"messages": "x", "tools": 3, "stop": 5}):
        completion = json.loads(echo_handler(_request(odd)).body_bytes())
        assert completion["choices"][0]["message"]["content"] == "You said: "


def test_option_validation() -> None:
    with pytest.raises(ValueError, match="keepalive_every"):
        text_reply("a", keepalive_every=0)
    with pytest.raises(ValueError, match="after_chunks"):
        stall_reply("a", after_chunks=-1)


def test_headers_option_replaces_every_same_named_header() -> None:
    reply = non_sse_reply(headers=[("X-Request-Id", "req_a"), ("x-request-id", "req_b")])
    assert [v for k, v in reply.headers if k.lower() == "x-request-id"] == ["req_b"]


def test_a_tool_call_without_arguments_still_gets_a_fragment() -> None:
    reply = tool_call_reply([("now", "")], fragmented=True)
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks(reply)[1:-1]]
    assert deltas[-1] == {"index": 0, "function": {"arguments": ""}}
