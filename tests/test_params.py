"""Request and option checks: every mistake is caught before a byte is sent, and named.

Sans-IO tests of :mod:`trio_groqstream._params` first, then every public API against the fake
server (which must see no request), then what a type checker catches: the ``type: ignore``
comments below are themselves the test, because mypy --strict (``warn_unused_ignores``) fails the
build if one of them stops being needed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import httpx
import pytest
import trio

import trio_groqstream as tgs
from trio_groqstream._params import (
    CALL_OPTIONS,
    ChatParams,
    check_request,
    check_requests,
    check_stream_options,
)
from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, open_fake_groq, text_reply

MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "user", "content": "hi"}]


def sent(body: Any, index: int | None = None) -> dict[str, Any]:
    encoded = check_request(body, index)
    decoded = json.loads(encoded)
    assert isinstance(decoded, dict)
    return decoded


def refused(body: Any, index: int | None = None) -> str:
    with pytest.raises(tgs.ConfigurationError) as info:
        check_request(body, index)
    return str(info.value)


def ok(**fields: Any) -> Any:
    """A valid request with ``fields`` merged in (``Any``: many of them are wrong on purpose)."""
    return {"model": MODEL, "messages": MESSAGES, **fields}


# --- what is sent --------------------------------------------------------------------------------


def test_none_values_are_not_sent_and_stream_is_always_true() -> None:
    body = ok(temperature=None, seed=None, tools=None, stream_options=None)
    assert sent(body) == {"model": MODEL, "messages": MESSAGES, "stream": True}


def test_falsy_values_that_are_not_none_are_sent() -> None:
    body = ok(temperature=0, seed=0, parallel_tool_calls=False, stop=[], user="")
    assert sent(body) == {**body, "stream": True}


def test_nested_values_pass_through_verbatim() -> None:
    # Only top-level None means "not set"; inside nested values null is data.
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"u": {"enum": ["c", None]}}},
            },
        }
    ]
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "weather?", "name": "ann"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"t": 20}'},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AA", "detail": "low"},
                },
                {"type": "document", "document": {"data": {"k": 1}}},
            ],
        },
        {"role": "developer", "content": "dev"},
        {"role": "function", "name": "f", "content": None},
    ]
    body = {
        "model": MODEL,
        "messages": messages,
        "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "stream_options": {"include_usage": True},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "reasoning_format": "parsed",
        "reasoning_effort": "low",
        "service_tier": "flex",
        "metadata": {"trace": "t-1"},
        "logit_bias": {"50256": -100},
        "stop": ["\n", "END"],
        "n": 1,
        "top_logprobs": 20,
        "logprobs": True,
        "temperature": 2,
        "top_p": 0.5,
        "presence_penalty": -2.0,
        "frequency_penalty": 2,
        "max_completion_tokens": 10,
        "search_settings": {"country": "france"},
        "citation_options": "disabled",
    }
    assert sent(body) == {**body, "stream": True}


def test_the_argument_is_not_mutated_and_any_mapping_is_taken() -> None:
    body = ok(seed=None)
    snapshot = json.dumps(body)
    assert sent(MappingProxyType(body)) == {"model": MODEL, "messages": MESSAGES, "stream": True}
    assert json.dumps(body) == snapshot


def test_the_body_is_compact_utf8() -> None:
    encoded = check_request({"model": "m", "messages": [{"role": "user", "content": "é\u2028"}]})
    assert b" " not in bytes(encoded)
    assert "é\u2028".encode() in bytes(encoded)


def test_extra_body_is_merged_last_and_unchecked() -> None:
    body = ok(seed=1, extra_body={"brand_new": {"x": [1, None]}, "seed": 2})
    assert sent(body) == {
        "model": MODEL,
        "messages": MESSAGES,
        "seed": 2,
        "brand_new": {"x": [1, None]},
        "stream": True,
    }
    assert "extra_body.stream" in refused(ok(extra_body={"stream": False}))
    assert "extra_body" in refused(ok(extra_body=["x"]))


def test_extra_headers_and_query_travel_with_the_body_not_in_it() -> None:
    encoded = check_request(ok(extra_headers={"X-Trace": "t"}, extra_query={"debug": "1"}))
    assert encoded.headers == {"X-Trace": "t"}
    assert encoded.params == {"debug": "1"}
    assert set(json.loads(encoded)) == {"model", "messages", "stream"}
    plain = check_request(ok())
    assert (plain.headers, plain.params) == ({}, {})


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"extra_headers": {"Authorization": "Bearer other"}}, "extra_headers.Authorization"),
        ({"extra_headers": {"x-a": "v\r\nInjected: 1"}}, "extra_headers.x-a"),
        ({"extra_headers": {"Content-Length": "5"}}, "extra_headers.Content-Length"),
        ({"extra_headers": {"host": "evil.example"}}, "extra_headers.host"),
        ({"extra_headers": {"x-a": 1}}, "extra_headers.x-a"),
        ({"extra_headers": "x-a: 1"}, "extra_headers"),
        ({"extra_query": {"q": ["a"]}}, "extra_query.q"),
    ],
)
def test_bad_extras_are_refused(extra: dict[str, Any], named: str) -> None:
    assert named in refused(ok(**extra))


# --- what is refused, and how it is named --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named", "hint"),
    [
        (ok(temprature=1), "temprature", "did you mean 'temperature'"),
        (ok(max_complete_tokens=5), "max_complete_tokens", "did you mean 'max_completion_tokens'"),
        (ok(zzz=1), "zzz", "extra_body={'zzz': ...}"),
        (ok(stream=True), "stream", "set by this library"),
        (ok(stream=False), "stream", "set by this library"),
        (ok(timeout=5), "timeout", "first_chunk_timeout"),
        (ok(idle_timeout=5), "idle_timeout", "option of the call"),
        (ok(n=2), "n", "only n=1"),
        (ok(n=True), "n", "only n=1"),
        (ok(temperature=2.5), "temperature", "0 to 2"),
        (ok(temperature=math.nan), "temperature", "must be a number"),
        (ok(temperature="0.5"), "temperature", "must be a number"),
        (ok(top_p=1.5), "top_p", "0 to 1"),
        (ok(presence_penalty=-3), "presence_penalty", "-2 to 2"),
        (ok(top_logprobs=21), "top_logprobs", "0 to 20"),
        (ok(max_completion_tokens=0), "max_completion_tokens", ">= 1"),
        (ok(max_tokens=2.5), "max_tokens", "must be an int"),
        (ok(seed=True), "seed", "must be an int"),
        (ok(stop=["a", "b", "c", "d", "e"]), "stop", "at most 4"),
        (ok(stop=[1]), "stop[0]", "string"),
        (ok(tools=[{"type": "function"}]), "tools[0].function", "mapping"),
        (ok(tools=[{"type": "function", "function": {}}]), "tools[0].function.name", "string"),
        (ok(tools=[{"type": "function"}] * 129), "tools", "at most 128"),
        (ok(tool_choice="any"), "tool_choice", "'none', 'auto', 'required'"),
        (ok(tool_choice={"name": "f"}), "tool_choice", "named tool choice"),
        (ok(response_format={"type": "json"}), "response_format.type", "'json_object'"),
        (ok(response_format={"type": "json_schema"}), "response_format.json_schema", "mapping"),
        (ok(reasoning_format="parse"), "reasoning_format", "did you mean 'parsed'"),
        (ok(service_tier="fast"), "service_tier", "'on_demand'"),
        (ok(parallel_tool_calls="yes"), "parallel_tool_calls", "true or false"),
        (ok(user=7), "user", "string"),
        (ok(metadata={"a": 1}), "metadata.a", "str"),
        (ok(stream_options={"include_usge": True}), "stream_options.include_usge", "include_usage"),
        (ok(stream_options={"include_usage": 1}), "stream_options.include_usage", "true or false"),
        ({"messages": MESSAGES}, "model", "needs 'model'"),
        (ok(model=""), "model", "non-empty"),
        (ok(model=None), "model", "needs 'model'"),
        (ok(model=3), "model", "non-empty"),
        ({"model": MODEL}, "messages", "needs 'messages'"),
        (ok(messages=[]), "messages", "must not be empty"),
        (ok(messages="hi"), "messages", "must be a list"),
        (ok(messages=[object()]), "messages[0]", "message mapping"),
        (ok(messages=["hi"]), "messages[0]", "message mapping"),
        (ok(messages=[{"content": "hi"}]), "messages[0].role", "not a role"),
        (
            ok(messages=[{"role": "usr", "content": "hi"}]),
            "messages[0].role",
            "did you mean 'user'",
        ),
        (ok(messages=[{"role": "user", "contnet": "hi"}]), "messages[0].contnet", "'content'"),
        (ok(messages=[{"role": "user"}]), "messages[0].content", "needs content"),
        (ok(messages=[{"role": "user", "content": 5}]), "messages[0].content", "string or a list"),
        (ok(messages=[{"role": "user", "content": []}]), "messages[0].content", "not be empty"),
        (
            ok(messages=[{"role": "user", "content": [{"type": "txt", "text": "x"}]}]),
            "messages[0].content[0].type",
            "did you mean 'text'",
        ),
        (
            ok(messages=[{"role": "system", "content": [{"type": "image_url", "image_url": {}}]}]),
            "messages[0].content[0].type",
            "allowed: 'text'",
        ),
        (
            ok(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
            "messages[0].content[0].image_url.url",
            "string",
        ),
        (
            ok(messages=[{"role": "user", "content": [{"type": "text", "txt": "x"}]}]),
            "messages[0].content[0].txt",
            "did you mean 'text'",
        ),
        (ok(messages=[{"role": "tool", "content": "r"}]), "messages[0].tool_call_id", "tool call"),
        (ok(messages=[{"role": "assistant"}]), "messages[0].content", "content or tool_calls"),
        (
            ok(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]),
            "messages[0].tool_calls[0].function.name",
            "string",
        ),
        (ok(messages=[{"role": "user", "content": "x", "name": 1}]), "messages[0].name", "string"),
        (ok(messages=[{"role": "function", "content": "x"}]), "messages[0].name", "string"),
        (ok(messages=[{"role": "user", "content": "x"}, {"role": "bot"}]), "messages[1].role", ""),
        (ok(search_settings={"when": object()}), "search_settings.when", "cannot be sent as JSON"),
        (ok(extra_body={"x": [1, object()]}), "x[1]", "cannot be sent as JSON"),
        ({1: "x"}, "1", "must be strings"),
    ],
)
def test_mistakes_are_named(body: dict[Any, Any], named: str, hint: str) -> None:
    message = refused(body)
    assert message.startswith(f"{named}:") or f"{named}:" in message, message
    assert hint in message


def test_a_fan_out_request_is_named_by_its_index() -> None:
    message = refused(ok(temprature=1), 3)
    assert message.startswith("requests[3].temprature:"), message
    assert "did you mean 'temperature'" in message
    assert refused(ok(messages=[{"role": "user"}]), 7).startswith("requests[7].messages[0].content")
    assert "requests[2] must be a mapping" in refused("hi", 2)
    assert "the request must be a mapping" in refused(["model"])


def test_check_requests_refuses_a_lone_request_or_a_string() -> None:
    for bad in ({"model": MODEL, "messages": MESSAGES}, "prompt", b"x", 5):
        with pytest.raises(tgs.ConfigurationError, match="iterable of request mappings"):
            check_requests(bad)
    check_requests([ok()])
    check_requests(iter([]))


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["connect_timeout", "first_chunk_timeout", "idle_timeout"])
@pytest.mark.parametrize("value", [-5, 0, math.nan, "5", True, [1]], ids=repr)
def test_bad_timeouts_are_refused_with_name_value_and_rule(name: str, value: object) -> None:
    with pytest.raises(tgs.ConfigurationError) as info:
        check_stream_options({name: value})
    message = str(info.value)
    assert f"{name}={value!r}" in message
    assert "positive number of seconds or None" in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"max_retries": 2.5}, "max_retries=2.5 is not allowed: max_retries must be an int >= 0"),
        ({"max_retries": -1}, "max_retries must be an int >= 0"),
        ({"max_retries": True}, "max_retries=True"),
        ({"max_retry_wait": -1}, "max_retry_wait must be a number of seconds >= 0"),
        ({"max_retry_wait": math.nan}, "max_retry_wait=nan"),
        ({"max_event_size": 0}, "max_event_size must be an int >= 1"),
        ({"timeout": 5}, "four deadlines"),
        ({"temperature": 0.2}, "'temperature' is a request field"),
        ({"idle_timout": 5}, "did you mean 'idle_timeout'"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], expected: str) -> None:
    with pytest.raises(tgs.ConfigurationError) as info:
        check_stream_options(options)
    assert expected in str(info.value)


def test_good_options_pass() -> None:
    options = {
        "connect_timeout": None,
        "first_chunk_timeout": 1,
        "idle_timeout": math.inf,
        "total_timeout": 0.5,
        "max_retries": 0,
        "max_retry_wait": 0,
        "max_event_size": 1,
        "max_completion_size": 10**9,
    }
    assert set(check_stream_options(options)) == set(CALL_OPTIONS)


# --- every public API checks before sending ------------------------------------------------------


async def test_open_stream_checks_before_sending(client: tgs.GroqClient, fake: FakeGroq) -> None:
    bad_calls: list[dict[str, Any]] = [
        ok(temprature=1),
        ok(n=2),
        ok(messages=[object()]),
        ok(idle_timeout="5"),
        ok(first_chunk_timeout=-5),
        ok(max_retries=2.5),
        ok(max_event_size=True),
        ok(buffer=0),
        ok(timeout=30),
        ok(stream=True),
    ]
    for call in bad_calls:
        with pytest.raises(tgs.ConfigurationError):
            async with tgs.open_stream(client, **call):
                pass  # pragma: no cover
    with pytest.raises(tgs.ConfigurationError, match="request= must be a mapping"):
        async with tgs.open_stream(client, request=[("model", MODEL)]):  # type: ignore[arg-type]
            pass  # pragma: no cover
    assert fake.requests == []


async def test_fan_outs_check_a_list_before_the_first_request(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    requests: list[Any] = [ok(), ok(), ok(temprature=1)]
    with pytest.raises(tgs.ConfigurationError, match=r"requests\[2\]\.temprature"):
        await tgs.gather(client, requests)
    with pytest.raises(tgs.ConfigurationError, match=r"requests\[2\]\.temprature"):
        async with tgs.open_fanout(client, requests):
            pass  # pragma: no cover
    with pytest.raises(tgs.ConfigurationError, match=r"requests\[2\]\.temprature"):
        await tgs.race(client, requests)
    with pytest.raises(tgs.ConfigurationError, match="iterable of request mappings"):
        await tgs.gather(client, ok())
    assert fake.requests == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"max_concurrency": 2.5}, "max_concurrency=2.5"),
        ({"max_concurrency": True}, "max_concurrency=True"),
        ({"on_error": "ignore"}, "on_error='ignore'"),
        ({"limiter": 3}, "limiter=3"),
        ({"respect_rate_limits": "no"}, "respect_rate_limits='no'"),
        ({"idle_timeout": "5"}, "idle_timeout='5'"),
        ({"total_timeout": math.nan}, "total_timeout=nan"),
        ({"max_retries": 2.5}, "max_retries=2.5"),
        ({"timeout": 5}, "four deadlines"),
    ],
)
async def test_fan_out_options_are_checked_when_called(
    client: tgs.GroqClient, fake: FakeGroq, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(tgs.ConfigurationError, match=named.replace("(", r"\(")):
        await tgs.gather(client, [ok()], **options)
    with pytest.raises(tgs.ConfigurationError, match=named.replace("(", r"\(")):
        async with tgs.open_fanout(client, [ok()], **options):
            pass  # pragma: no cover
    assert fake.requests == []


async def test_open_fanout_checks_buffer(client: tgs.GroqClient, fake: FakeGroq) -> None:
    with pytest.raises(tgs.ConfigurationError, match="buffer=0"):
        async with tgs.open_fanout(client, [ok()], buffer=0):
            pass  # pragma: no cover
    assert fake.requests == []


async def test_an_iterator_is_checked_as_it_is_consumed(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    def requests() -> Iterator[tgs.ChatRequest]:
        yield {"model": MODEL, "messages": [{"role": "user", "content": "fine"}]}
        yield {"model": MODEL, "messages": [{"role": "usr", "content": "typo"}]}

    with trio.fail_after(10), pytest.raises(tgs.ConfigurationError) as info:
        await tgs.gather(client, requests(), on_error="collect", max_concurrency=1)
    assert "requests[1].messages[0].role" in str(info.value)
    assert "did you mean 'user'" in str(info.value)
    # The bad one was never sent (the good one may or may not have started: the iterator is
    # read one request ahead of the free slots).
    assert [r.json["messages"][0]["content"] for r in fake.requests] in ([], ["fine"])


async def test_stream_to_channel_checks_before_sending(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](10)
    with pytest.raises(tgs.ConfigurationError, match="idle_timeout=-1"):
        await tgs.stream_to_channel(client, send, model=MODEL, messages=MESSAGES, idle_timeout=-1)
    with pytest.raises(trio.EndOfChannel):  # closed, as on any exit
        receive.receive_nowait()
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](10)
    with pytest.raises(tgs.ConfigurationError, match="did you mean 'seed'"):
        await tgs.stream_to_channel(client, send, model=MODEL, messages=MESSAGES, sed=1)  # type: ignore[call-arg]
    assert fake.requests == []


async def test_extras_reach_the_server() -> None:
    # validate=False: the fake, like Groq, would refuse the unknown field that extra_body sends.
    async with (
        open_fake_groq(validate=False) as fake,
        tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client,
    ):
        await extras_reach(client, fake)


async def extras_reach(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(text_reply("ok"))
    async with tgs.open_stream(
        client,
        model=MODEL,
        messages=MESSAGES,
        extra_body={"brand_new": [1]},
        extra_headers={"X-Trace": "t-1"},
        extra_query={"debug": "yes"},
    ) as stream:
        async for _ in stream:
            pass
    (recorded,) = fake.requests
    assert recorded.json == {"model": MODEL, "messages": MESSAGES, "brand_new": [1], "stream": True}
    assert recorded.headers["x-trace"] == "t-1"
    assert recorded.query == "debug=yes"
    assert recorded.bearer_token == FAKE_API_KEY  # the client's key still goes, once


async def test_extras_apply_per_request_in_a_fan_out(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    requests: list[tgs.ChatRequest] = [
        {"model": MODEL, "messages": MESSAGES, "extra_headers": {"x-n": str(i)}} for i in range(3)
    ]
    await tgs.gather(client, requests)
    assert sorted(r.headers["x-n"] for r in fake.requests) == ["0", "1", "2"]


# --- what a type checker sees (mypy --strict covers this file) -----------------------------------


def test_typed_parameters_list_every_documented_field() -> None:
    documented = {
        "model", "messages", "temperature", "top_p", "max_completion_tokens", "max_tokens",
        "stop", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format",
        "reasoning_format", "reasoning_effort", "include_reasoning", "service_tier", "user",
        "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias",
        "stream_options", "search_settings", "metadata", "n",
        "extra_body", "extra_headers", "extra_query",
    }  # fmt: skip
    assert documented <= set(ChatParams.__annotations__)
    assert "stream" not in ChatParams.__annotations__
    assert set(tgs.ChatRequest.__annotations__) == set(ChatParams.__annotations__)


async def _never_run(client: tgs.GroqClient) -> None:  # pragma: no cover - for mypy only
    """Each ``type: ignore`` here must be needed: mypy --strict reports an unused one."""
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, temprature=1):  # type: ignore[call-arg]
        pass
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, reasoning_format="parse"):  # type: ignore[arg-type]
        pass
    await tgs.gather(client, [{"model": MODEL, "messages": MESSAGES, "temprature": 1}])  # type: ignore[typeddict-unknown-key]
    await tgs.gather(client, [{"messages": MESSAGES}])  # type: ignore[typeddict-item]
    await tgs.gather(client, [ok()], idle_timout=5)  # type: ignore[call-overload]
    async with tgs.open_fanout(client, [{"model": MODEL, "messages": MESSAGES, "n": "2"}]):  # type: ignore[typeddict-item]
        pass
    await tgs.race(client, [{"model": MODEL, "messages": MESSAGES}], timeout=3)  # type: ignore[call-arg]
    request: tgs.ChatRequest = {"model": MODEL, "messages": MESSAGES, "sead": 1}  # type: ignore[typeddict-unknown-key]
    await tgs.gather(client, [request])
    tgs.GroqClient(http_client=httpx.Client())  # type: ignore[arg-type]


async def test_a_wrong_client_is_named(fake: FakeGroq) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(tgs.ConfigurationError, match="client must be a trio_groqstream"):
            async with tgs.open_stream(http, model=MODEL, messages=MESSAGES):  # type: ignore[arg-type]
                pass  # pragma: no cover
        with pytest.raises(tgs.ConfigurationError, match=r"httpx\.AsyncClient"):
            await tgs.gather(http, [ok()])  # type: ignore[call-overload]
        with pytest.raises(tgs.ConfigurationError, match="GroqClient"):
            await tgs.race(http, [ok()])  # type: ignore[arg-type]
        with pytest.raises(tgs.ConfigurationError, match="GroqClient"):
            async with tgs.open_fanout(http, [ok()]):  # type: ignore[arg-type]
                pass  # pragma: no cover
    assert fake.requests == []


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


@pytest.mark.parametrize(
    ("body", "named", "hint"),
    [
        (ok(top_logprobs=3), "top_logprobs", "needs logprobs=True"),
        (ok(top_logprobs=3, logprobs=False), "top_logprobs", "needs logprobs=True"),
        (ok(include_reasoning=True, reasoning_format="raw"), "include_reasoning", "exclusive"),
        (ok(tool_choice="required"), "tool_choice", "needs tools"),
        (
            ok(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "get_wether"}}),
            "tool_choice.function.name",
            "did you mean 'get_weather'",
        ),
        (
            ok(tools=[{"type": "function", "function": {"name": "get weather"}}]),
            "tools[0].function.name",
            "not a valid name",
        ),
        (
            ok(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
            "tools[0].function.parameters",
            "mapping",
        ),
        (
            ok(response_format={"type": "json_schema", "json_schema": {"name": "x" * 65}}),
            "response_format.json_schema.name",
            "at most 64",
        ),
    ],
)
def test_fields_that_go_together(body: dict[str, Any], named: str, hint: str) -> None:
    message = refused(body)
    assert message.startswith(f"{named}:"), message
    assert hint in message


def test_fields_that_go_together_pass_when_right() -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert sent(ok(tools=[TOOL], tool_choice=named))["tool_choice"] == named
    assert sent(ok(tools=[TOOL], tool_choice="required"))["tool_choice"] == "required"
    assert sent(ok(tool_choice="none"))["tool_choice"] == "none"
    assert sent(ok(top_logprobs=2, logprobs=True))["top_logprobs"] == 2
    # disable_tool_validation: Groq returns tools it does not know; the name is not checked.
    other = {"type": "function", "function": {"name": "other"}}
    assert sent(ok(tools=[TOOL], tool_choice=other, disable_tool_validation=True))
