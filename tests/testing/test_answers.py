"""The default answers over HTTP: non-streaming completions, tools, JSON mode, limits, ids."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from trio_groqstream.testing import CHAT_COMPLETIONS_PATH, FakeGroq, echo_text

from ._support import AUTH, MODEL, split_events

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        FakeGroq() as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as client,
    ):
        yield client


async def complete(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    with trio.fail_after(10):
        response = await http.post(
            CHAT_COMPLETIONS_PATH, json={"model": MODEL, "messages": USER, **fields}
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "content-length" in response.headers
    completion: dict[str, Any] = response.json()
    assert completion["x_groq"]["id"] == response.headers["x-request-id"]
    return completion


async def stream(http: httpx.AsyncClient, **fields: Any) -> list[dict[str, Any]]:
    body = {"model": MODEL, "messages": USER, "stream": True, **fields}
    with trio.fail_after(10):
        async with http.stream("POST", CHAT_COMPLETIONS_PATH, json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            raw = b"".join([part async for part in response.aiter_raw()])
    events = split_events(raw)
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(event[len(b"data: ") :]) for event in events[:-1]]
    assert chunks[0]["x_groq"]["id"] == response.headers["x-request-id"]
    assert len({chunk["id"] for chunk in chunks}) == 1
    return chunks


def message(completion: dict[str, Any]) -> dict[str, Any]:
    choice = completion["choices"][0]
    assert choice["index"] == 0
    result: dict[str, Any] = choice["message"]
    return result


async def test_no_stream_gives_groqs_chat_completion(http: httpx.AsyncClient) -> None:
    completion = await complete(http)
    assert list(completion) == [
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "usage_breakdown",
        "system_fingerprint",
        "x_groq",
        "service_tier",
    ]
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-")
    assert completion["model"] == MODEL
    assert message(completion) == {"role": "assistant", "content": echo_text(USER[0]["content"])}
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["choices"][0]["logprobs"] is None
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == len(echo_text(USER[0]["content"]).split())
    for key in ("queue_time", "prompt_time", "completion_time", "total_time"):
        assert 0 < usage[key] < 1
    assert usage["total_time"] == pytest.approx(usage["prompt_time"] + usage["completion_time"])
    assert (await complete(http, stream=False))["object"] == "chat.completion"


async def test_every_request_gets_fresh_ids(http: httpx.AsyncClient) -> None:
    first, second = await complete(http), await complete(http)
    assert first["id"] != second["id"]
    assert first["x_groq"]["id"] != second["x_groq"]["id"]
    assert len(first["x_groq"]["id"]) == len("req_") + 26
    assert abs(first["created"] - second["created"]) <= 5
    streamed = await stream(http)
    assert streamed[0]["id"] != first["id"]


async def test_the_prompt_is_counted(http: httpx.AsyncClient) -> None:
    short = (await complete(http))["usage"]["prompt_tokens"]
    longer = [*USER, {"role": "assistant", "content": "x" * 400}, *USER]
    long = (await complete(http, messages=longer))["usage"]["prompt_tokens"]
    assert long > short + 100


async def test_a_required_tool_is_called_with_valid_arguments(http: httpx.AsyncClient) -> None:
    completion = await complete(http, tools=[WEATHER, TIME], tool_choice="required")
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    calls = message(completion)["tool_calls"]
    assert [call["function"]["name"] for call in calls] == ["get_weather"]  # the first tool
    named = [{"role": "user", "content": "use get_time"}]
    chosen = await complete(http, tools=[WEATHER, TIME], tool_choice="required", messages=named)
    assert [c["function"]["name"] for c in message(chosen)["tool_calls"]] == ["get_time"]
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["type"] == "function"
    arguments = json.loads(calls[0]["function"]["arguments"])
    assert set(arguments) <= {"city", "unit", "days"}
    assert {"city", "unit"} <= set(arguments)
    assert arguments["unit"] in ("celsius", "fahrenheit")
    assert 1 <= arguments["days"] <= 7
    assert "content" not in message(completion)


async def test_a_named_tool_streams_whole_in_one_delta(http: httpx.AsyncClient) -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    chunks = await stream(http, tools=[WEATHER, TIME], tool_choice=choice)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    call_chunks = [c for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert len(call_chunks) == 1
    (call,) = call_chunks[0]["choices"][0]["delta"]["tool_calls"]
    assert list(call) == ["id", "type", "function", "index"]  # Groq's key order
    assert call["function"] == {"name": "get_time", "arguments": "{}"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_auto_calls_tools_named_in_the_prompt_then_answers(http: httpx.AsyncClient) -> None:
    plain = await complete(http, tools=[WEATHER])
    assert message(plain)["content"].startswith("You said")
    asked = [{"role": "user", "content": "call get_weather and get_time"}]
    both = await complete(http, tools=[WEATHER, TIME], messages=asked)
    assert [c["function"]["name"] for c in message(both)["tool_calls"]] == [
        "get_weather",
        "get_time",
    ]
    one = await complete(http, tools=[WEATHER, TIME], messages=asked, parallel_tool_calls=False)
    assert len(message(one)["tool_calls"]) == 1
    none = await complete(http, tools=[WEATHER], messages=asked, tool_choice="none")
    assert "tool_calls" not in message(none)
    call = message(both)["tool_calls"][0]
    after = [
        *asked,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    answered = await complete(http, tools=[WEATHER], messages=after)
    assert answered["choices"][0]["finish_reason"] == "stop"
    assert message(answered)["content"] == echo_text(asked[0]["content"])


async def test_json_object_mode_gives_json(http: httpx.AsyncClient) -> None:
    completion = await complete(http, response_format={"type": "json_object"})
    assert json.loads(message(completion)["content"]) == {"answer": echo_text(USER[0]["content"])}
    chunks = await stream(http, response_format={"type": "json_object"})
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert isinstance(json.loads(text), dict)


async def test_json_schema_mode_gives_a_valid_value(http: httpx.AsyncClient) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="the compat extra brings jsonschema")
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 40},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2},
            "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
            "when": {"type": "string", "format": "date"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "multipleOf": 5}]},
        },
        "required": ["name", "tags", "score", "when", "maybe"],
        "additionalProperties": False,
        "$defs": {"tag": {"type": "string", "enum": ["a", "b"]}},
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    value = json.loads(message(await complete(http, response_format=response_format))["content"])
    jsonschema.validate(value, schema)


async def test_max_completion_tokens_cuts_with_length(http: httpx.AsyncClient) -> None:
    completion = await complete(http, max_completion_tokens=2)
    assert message(completion)["content"] == "You said: "
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["usage"]["completion_tokens"] == 2
    chunks = await stream(http, max_tokens=3)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) == 3


async def test_a_stop_sequence_cuts_with_stop(http: httpx.AsyncClient) -> None:
    completion = await complete(http, stop=["zzz", "weather"])
    assert message(completion)["content"] == "You said: What is the "
    assert completion["choices"][0]["finish_reason"] == "stop"


async def test_the_seed_is_echoed_as_groq_does(http: httpx.AsyncClient) -> None:
    assert (await complete(http, seed=0))["x_groq"]["seed"] == 0
    chunks = await stream(http, seed=42)
    assert chunks[0]["x_groq"] == {"id": chunks[0]["x_groq"]["id"], "seed": 42}
    unseeded = [(await complete(http))["x_groq"]["seed"] for _ in range(3)]
    assert all(isinstance(seed, int) and 0 <= seed < 2**31 for seed in unseeded)
    assert len(set(unseeded)) > 1  # a random seed per request, reported as Groq does


async def test_logprobs_have_groqs_shape(http: httpx.AsyncClient) -> None:
    completion = await complete(http, logprobs=True, top_logprobs=2)
    content = completion["choices"][0]["logprobs"]["content"]
    assert "".join(entry["token"] for entry in content) == message(completion)["content"]
    for entry in content:
        assert list(entry) == ["token", "logprob", "bytes", "top_logprobs"]
        assert entry["logprob"] <= 0
        assert bytes(entry["bytes"]) == entry["token"].encode()
        assert len(entry["top_logprobs"]) == 2
        assert entry["top_logprobs"][0]["token"] == entry["token"]
    chunks = await stream(http, logprobs=True)
    with_content = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    for chunk in with_content:
        (entry,) = chunk["choices"][0]["logprobs"]["content"]
        assert entry["token"] == chunk["choices"][0]["delta"]["content"]
        assert entry["top_logprobs"] == []


async def test_include_usage_adds_the_usage_chunk(http: httpx.AsyncClient) -> None:
    chunks = await stream(http, stream_options={"include_usage": True})
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == chunks[-2]["usage"] == chunks[-2]["x_groq"]["usage"]
    plain = await stream(http)
    assert plain[-1]["choices"][0]["finish_reason"] == "stop"


async def test_reasoning_when_asked(http: httpx.AsyncClient) -> None:
    prompt = USER[0]["content"]
    parsed = await complete(http, model="openai/gpt-oss-20b", reasoning_format="parsed")
    assert message(parsed)["reasoning"] == f"The user said: {prompt}"
    assert message(parsed)["content"] == echo_text(prompt)
    details = parsed["usage"]["completion_tokens_details"]
    assert details["reasoning_tokens"] == len(message(parsed)["reasoning"].split())
    raw = await complete(http, model="qwen/qwen3-32b", reasoning_format="raw")
    assert message(raw)["content"].startswith(f"<think>The user said: {prompt}</think>\n\n")
    assert "reasoning" not in message(raw)
    hidden = await complete(http, reasoning_format="hidden")
    assert "reasoning" not in message(hidden)
    chunks = await stream(http, include_reasoning=True)
    thought = "".join(c["choices"][0]["delta"].get("reasoning") or "" for c in chunks)
    assert thought == f"The user said: {prompt}"
    answer = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert answer == echo_text(prompt)


async def test_a_small_limit_is_spent_on_reasoning(http: httpx.AsyncClient) -> None:
    completion = await complete(http, reasoning_format="parsed", max_completion_tokens=2)
    assert message(completion)["reasoning"] == "The user "
    assert message(completion)["content"] == ""
    assert completion["choices"][0]["finish_reason"] == "length"
