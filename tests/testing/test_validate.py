"""Groq's request checks: the sans-IO rules, then the 400 / 404 answers over a real socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from trio_groqstream.testing import (
    CHAT_COMPLETIONS_PATH,
    FakeModel,
    FakeRateLimits,
    open_fake_groq,
    text_reply,
)
from trio_groqstream.testing._validate import KNOWN_PARAMETERS, check_chat_request

from ._support import AUTH, CHAT, MODEL, RawClient, load_recording, request_bytes

USER = [{"role": "user", "content": "hi"}]


def body(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "messages": USER}
    out.update(changes)
    return {key: value for key, value in out.items() if value is not ...}


# (body, param, words in the message)
BAD: list[tuple[Any, str | None, str]] = [
    (["not", "an", "object"], None, "JSON object"),
    (
        body(temprature=0.5),
        "temprature",
        "property 'temprature' is unsupported, did you mean 'temperature'?",
    ),
    (body(zzz=1), "zzz", "property 'zzz' is unsupported"),
    (body(model=...), "model", "'model' : property 'model' is missing"),
    (body(messages=...), "messages", "property 'messages' is missing"),
    (body(model=3), "model", "must be a string"),
    (body(model=""), "model", "must not be empty"),
    (body(messages="hi"), "messages", "'messages' : value must be an array"),
    (body(messages=[]), "messages", "minimum number of items is 1"),
    (body(messages=["hi"]), "messages.0", "must be an object"),
    (body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role", "must be one of"),
    (
        body(messages=[{"role": "user", "content": "x", "timestamp": 1}]),
        "messages.0.timestamp",
        "'messages.0' : property 'timestamp' is unsupported",
    ),
    (body(messages=[{"role": "user", "content": 5}]), "messages.0.content", "string or an array"),
    (
        body(messages=[{"role": "user", "content": [{"type": "audio"}]}]),
        "messages.0.content.0.type",
        "unsupported content part",
    ),
    (
        body(messages=[{"role": "system", "content": [{"type": "image_url"}]}]),
        "messages.0.content.0.type",
        "unsupported content part",
    ),
    (
        body(messages=[{"role": "assistant", "content": None}]),
        "messages.0.content",
        "needs content or tool_calls",
    ),
    (
        body(messages=[{"role": "tool", "content": "42"}]),
        "messages.0.tool_call_id",
        "must be a string",
    ),
    (body(n=2), "n", "n must be 1"),
    (body(n=True), "n", "must be an integer"),
    (body(temperature=3), "temperature", "between 0 and 2"),
    (body(temperature="hot"), "temperature", "must be a number"),
    (body(top_p=1.5), "top_p", "between 0 and 1"),
    (body(max_completion_tokens=0), "max_completion_tokens", "at least 1"),
    (body(max_tokens=1.5), "max_tokens", "must be an integer"),
    (body(stream="yes"), "stream", "must be a boolean"),
    (
        body(stream_options={"include_usage": True, "extra": 1}),
        "stream_options.extra",
        "unsupported",
    ),
    (body(stream_options={"include_usage": "y"}), "stream_options.include_usage", "boolean"),
    (body(stop=["a", "b", "c", "d", "e"]), "stop", "maximum number of items is 4"),
    (body(stop=[1]), "stop.0", "must be a string"),
    (body(top_logprobs=3), "top_logprobs", "logprobs must be true"),
    (body(logprobs=True, top_logprobs=21), "top_logprobs", "between 0 and 20"),
    (body(reasoning_format="verbose"), "reasoning_format", "must be one of"),
    (body(service_tier="gold"), "service_tier", "must be one of"),
    (body(user=7), "user", "must be a string"),
    (body(messages=[{"role": "user", "content": "x", "name": 1}]), "messages.0.name", "string"),
    (body(metadata=[1]), "metadata", "must be an object"),
    (body(tools={}), "tools", "must be an array"),
    (
        body(tools=[{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]),
        "tools",
        "maximum number of items is 128",
    ),
    (body(tools=[{"type": "retrieval"}]), "tools.0.type", "must be 'function'"),
    (
        body(tools=[{"type": "function", "function": {"name": ""}}]),
        "tools.0.function.name",
        "must not be empty",
    ),
    (
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools.0.function.parameters",
        "must be an object",
    ),
    (body(tool_choice="always"), "tool_choice", "'none', 'auto', 'required'"),
    (body(tool_choice="required"), "tool_choice", "at least one tool"),
    (
        body(
            tools=[{"type": "function", "function": {"name": "f"}}],
            tool_choice={"type": "function", "function": {"name": "g"}},
        ),
        "tool_choice.function.name",
        "no tool named 'g'",
    ),
    (body(response_format={"type": "yaml"}), "response_format.type", "must be one of"),
    (
        body(response_format={"type": "json_schema"}),
        "response_format.json_schema",
        "must be an object",
    ),
    (
        body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": 3}}),
        "response_format.json_schema.schema",
        "must be an object",
    ),
]


@pytest.mark.parametrize(("request_body", "param", "words"), BAD)
def test_each_mistake_is_named(request_body: Any, param: str | None, words: str) -> None:
    problem = check_chat_request(request_body)
    assert problem is not None
    assert problem.status == 400
    assert problem.type == "invalid_request_error"
    assert problem.param == param
    assert words in problem.message
    assert problem.code in {
        "unknown_parameter",
        "missing_required_parameter",
        "invalid_type",
        "invalid_value",
    }


GOOD = [
    body(),
    body(stream=True, stream_options={"include_usage": True}),
    body(temperature=0, top_p=1, seed=-3, stop="x", max_tokens=5, n=1, user="u"),
    body(logprobs=True, top_logprobs=0, presence_penalty=-2, frequency_penalty=2.0),
    body(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "data:"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c", "content": "42"},
            {"role": "assistant", "content": "done", "reasoning": "because"},
        ]
    ),
    body(
        tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
            {"type": "browser_search"},
        ],
        tool_choice={"type": "function", "function": {"name": "f"}},
        parallel_tool_calls=False,
    ),
    body(response_format={"type": "json_object"}, reasoning_format="parsed", service_tier="flex"),
    body(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        }
    ),
    body(metadata={"a": "b"}, search_settings={}, include_reasoning=False, reasoning_effort="low"),
]


@pytest.mark.parametrize("request_body", GOOD)
def test_valid_requests_pass(request_body: Any) -> None:
    assert check_chat_request(request_body) is None


def test_every_sdk_parameter_is_known() -> None:
    groq_params = pytest.importorskip("groq.types.chat.completion_create_params")
    assert set(groq_params.CompletionCreateParams.__annotations__) <= KNOWN_PARAMETERS


# --- over HTTP -----------------------------------------------------------------------------------


async def post(payload: Any, **fake_options: Any) -> httpx.Response:
    async with open_fake_groq(**fake_options) as fake:
        fake.push(text_reply("never sent"))
        async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http:
            with trio.fail_after(10):
                response = await http.post(CHAT_COMPLETIONS_PATH, json=payload)
        assert fake.pending_replies == 1  # a refused request does not use up a pushed reply
        assert len(fake.requests) == 1
    return response


async def test_a_mistake_gets_groqs_400_shape() -> None:
    response = await post(body(temprature=0.5))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.content.endswith(b"}\n")
    assert response.json() == {
        "error": {
            "message": "property 'temprature' is unsupported, did you mean 'temperature'?",
            "type": "invalid_request_error",
            "param": "temprature",
            "code": "unknown_parameter",
        }
    }


async def test_an_unknown_model_is_recording_12_byte_for_byte() -> None:
    recording = load_recording("12_pydantic_http404_model_not_found.json")
    response = await post(body(model="non-existent"))
    assert response.status_code == 404
    assert response.text == recording["sse"]
    assert response.headers["x-request-id"].startswith("req_")


async def test_a_retired_model_is_recording_30() -> None:
    recording = load_recording("30_issue_http400_model_decommissioned.json")
    response = await post(body(model="llama-3.2-11b-vision-preview"))
    assert response.status_code == 400
    assert response.json() == json.loads(recording["sse"])


async def test_a_prompt_over_the_context_window_is_recording_31() -> None:
    recording = load_recording("31_issue_http400_context_length_exceeded_param.json")
    small = FakeModel("tiny", context_window=50)
    response = await post(
        body(model="tiny", messages=[{"role": "user", "content": "x" * 400}]), models=[small]
    )
    assert response.status_code == 400
    assert response.json() == json.loads(recording["sse"])


async def test_max_completion_tokens_over_the_models_limit() -> None:
    response = await post(body(model="meta-llama/llama-guard-4-12b", max_completion_tokens=1025))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_completion_tokens"
    assert "1024" in response.json()["error"]["message"]


async def test_a_body_that_is_not_json() -> None:
    async with open_fake_groq() as fake:
        raw = await RawClient.connect(fake.port)
        async with raw.stream:
            with trio.fail_after(10):
                response = await raw.exchange(request_bytes(b"{not json"))
    assert response.status == 400
    assert json.loads(response.body)["error"]["code"] == "invalid_json"


async def test_validation_can_be_turned_off() -> None:
    async with open_fake_groq(validate=False) as fake:
        fake.push(text_reply("scripted"))
        async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http:
            with trio.fail_after(10):
                response = await http.post(CHAT_COMPLETIONS_PATH, json={"anything": "goes"})
    assert response.status_code == 200
    assert fake.pending_replies == 0


async def test_the_catalogue_is_replaceable_and_editable() -> None:
    async with (
        open_fake_groq(models=["my-model"]) as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        with trio.fail_after(10):
            mine = await http.post(CHAT_COMPLETIONS_PATH, json={**CHAT, "model": "my-model"})
            groq = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
            fake.models.pop("my-model")
            gone = await http.post(CHAT_COMPLETIONS_PATH, json={**CHAT, "model": "my-model"})
    assert (mine.status_code, groq.status_code, gone.status_code) == (200, 404, 404)


def test_bad_catalogues_are_refused() -> None:
    with pytest.raises(TypeError, match="iterable of FakeModel"):
        open_fake_groq(models="llama")
    with pytest.raises(TypeError, match="FakeModel objects or names"):
        open_fake_groq(models=[3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="non-empty"):
        FakeModel("")


async def test_refusals_carry_fresh_request_ids() -> None:
    async with (
        open_fake_groq() as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        with trio.fail_after(10):
            answers = [
                await http.post(CHAT_COMPLETIONS_PATH, json=body(n=2)),
                await http.post(CHAT_COMPLETIONS_PATH, json=body(model="nope")),
                await http.get("/openai/v1/nothing"),
                await http.post(CHAT_COMPLETIONS_PATH, json=CHAT, headers={"authorization": "x"}),
            ]
    assert [a.status_code for a in answers] == [400, 404, 404, 401]
    ids = {a.headers["x-request-id"] for a in answers}
    assert len(ids) == 4
    assert all(i.startswith("req_01") and len(i) == 30 for i in ids)
    assert "x-ratelimit-limit-requests" not in answers[3].headers  # like Groq's 401


async def test_hostile_nesting_is_refused_and_the_server_lives_on() -> None:
    root: dict[str, Any] = {}
    cursor = root
    for _ in range(800):  # deep, but within what the JSON decoder accepts
        cursor["x"] = {}
        cursor = cursor["x"]
    deep_name = {"role": "user", "content": "hi", "name": root}
    too_deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    limits = FakeRateLimits(tokens_per_minute=10**9)
    async with (
        open_fake_groq(rate_limits=limits) as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        with trio.fail_after(10):
            nested = await http.post(CHAT_COMPLETIONS_PATH, json=body(messages=[deep_name]))
            unparsable = await http.post(CHAT_COMPLETIONS_PATH, content=too_deep)
            fine = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
    assert nested.status_code == 400  # a name must be a string
    assert unparsable.status_code == 400
    assert unparsable.json()["error"]["code"] == "invalid_json"
    assert fine.status_code == 200
