"""The official ``groq`` and ``openai`` SDKs work against the fake unmodified, under trio and
under asyncio (in a thread), streaming and not, with tools, JSON mode and Groq's errors.

The SDKs come with the ``compat`` extra (``pip install trio-groqstream[compat]``); without them
these tests skip and say so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, FakeRateLimits, echo_text

from ._support import MODEL

T = TypeVar("T")
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city"],
        },
    },
}


@dataclass(frozen=True)
class Sdk:
    name: str
    module: Any

    def client(self, fake: FakeGroq, *, max_retries: int = 0) -> Any:
        if self.name == "groq":
            return self.module.AsyncGroq(
                api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=max_retries
            )
        return self.module.AsyncOpenAI(
            api_key=FAKE_API_KEY, base_url=f"{fake.base_url}/openai/v1", max_retries=max_retries
        )


# The openai SDK stops reading a stream at [DONE] and leaves its async generators to the garbage
# collector, which trio reports with a ResourceWarning. That is the SDK's habit and says nothing
# about the fake, so that one warning is let pass for that SDK.
_OPENAI_LEAVES_GENERATORS = pytest.mark.filterwarnings(
    "ignore:Async generator '.*' was garbage collected:ResourceWarning"
)


@pytest.fixture(params=["groq", pytest.param("openai", marks=_OPENAI_LEAVES_GENERATORS)])
def sdk(request: pytest.FixtureRequest) -> Sdk:
    name: str = request.param
    module = pytest.importorskip(
        name, reason=f"the official {name} SDK is absent: pip install 'trio-groqstream[compat]'"
    )
    return Sdk(name, module)


@pytest.fixture(params=["trio", "asyncio"])
def loop(request: pytest.FixtureRequest) -> str:
    result: str = request.param
    return result


@pytest.fixture
async def fake() -> AsyncIterator[FakeGroq]:
    async with FakeGroq() as server:
        yield server


async def run_on(loop: str, scenario: Callable[[], Awaitable[T]]) -> T:
    """Run ``scenario`` in this trio task, or in a fresh asyncio loop in a worker thread (the
    fake keeps serving from trio meanwhile)."""
    with trio.fail_after(60):
        if loop == "trio":
            return await scenario()
        return await trio.to_thread.run_sync(lambda: asyncio.run(scenario()))  # type: ignore[arg-type]


async def test_non_streaming_text(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    async def scenario() -> Any:
        async with sdk.client(fake) as client:
            return await client.chat.completions.create(model=MODEL, messages=USER, seed=3)

    completion = await run_on(loop, scenario)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == echo_text(USER[0]["content"])
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    x_groq = completion.x_groq if sdk.name == "groq" else completion.model_extra["x_groq"]
    x_groq_id = x_groq.id if sdk.name == "groq" else x_groq["id"]
    assert x_groq_id.startswith("req_")


async def test_streaming_with_usage(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    async def scenario() -> list[Any]:
        async with sdk.client(fake) as client:
            # The groq SDK has no stream_options parameter: it goes in extra_body.
            options: dict[str, Any] = {"stream_options": {"include_usage": True}}
            if sdk.name == "groq":
                options = {"extra_body": options}
            stream = await client.chat.completions.create(
                model=MODEL, messages=USER, stream=True, **options
            )
            async with stream:
                return [chunk async for chunk in stream]

    chunks = await run_on(loop, scenario)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == echo_text(USER[0]["content"])
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len(text.split())
    assert fake.requests[-1].json["stream"] is True


async def test_forced_tool_call(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    async def scenario() -> tuple[Any, list[Any]]:
        async with sdk.client(fake) as client:
            options = {"model": MODEL, "messages": USER, "tools": [WEATHER]}
            whole = await client.chat.completions.create(**options, tool_choice="required")
            stream = await client.chat.completions.create(
                **options,
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
                stream=True,
            )
            async with stream:
                return whole, [chunk async for chunk in stream]

    whole, chunks = await run_on(loop, scenario)
    (call,) = whole.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"city", "days"}
    assert whole.choices[0].finish_reason == "tool_calls"
    streamed = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert len(streamed) == 1
    assert streamed[0].index == 0
    assert json.loads(streamed[0].function.arguments)["days"] >= 1


async def test_json_mode(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
        "additionalProperties": False,
    }

    async def scenario() -> tuple[Any, Any]:
        async with sdk.client(fake) as client:
            as_object = await client.chat.completions.create(
                model=MODEL, messages=USER, response_format={"type": "json_object"}
            )
            as_schema = await client.chat.completions.create(
                model=MODEL,
                messages=USER,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "weather", "schema": schema, "strict": True},
                },
            )
            return as_object, as_schema

    as_object, as_schema = await run_on(loop, scenario)
    assert isinstance(json.loads(as_object.choices[0].message.content), dict)
    value = json.loads(as_schema.choices[0].message.content)
    assert set(value) == {"city", "celsius"}
    assert isinstance(value["celsius"], float)


async def test_groqs_errors_reach_the_sdk_typed(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    async def scenario() -> list[Any]:
        caught: list[Any] = []
        async with sdk.client(fake) as client:
            for options, error in (
                ({"model": "nope"}, sdk.module.NotFoundError),
                ({"model": MODEL, "n": 2}, sdk.module.BadRequestError),
                ({"model": MODEL, "extra_body": {"temprature": 1}}, sdk.module.BadRequestError),
            ):
                try:
                    await client.chat.completions.create(messages=USER, **options)
                except error as exc:
                    caught.append(exc)
        return caught

    not_found, two, typo = await run_on(loop, scenario)
    assert not_found.status_code == 404
    body = not_found.body.get("error", not_found.body)  # groq keeps the envelope, openai not
    assert body["code"] == "model_not_found"
    assert two.status_code == 400
    assert "n must be 1" in str(two)
    assert "did you mean 'temperature'" in str(typo)


async def test_rate_limits_reach_the_sdk(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    fake.rate_limits = FakeRateLimits(requests_per_minute=1)

    async def scenario() -> Any:
        async with sdk.client(fake) as client:
            first = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=USER
            )
            assert first.headers["x-ratelimit-remaining-requests"] == "0"
            try:
                await client.chat.completions.create(model=MODEL, messages=USER)
            except sdk.module.RateLimitError as exc:
                return exc
        raise AssertionError("no 429")

    error = await run_on(loop, scenario)
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "60"
    assert "requests per minute (RPM)" in str(error)


async def test_models(sdk: Sdk, loop: str, fake: FakeGroq) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with sdk.client(fake) as client:
            return await client.models.list(), await client.models.retrieve("openai/gpt-oss-20b")

    listed, one = await run_on(loop, scenario)
    assert MODEL in [model.id for model in listed.data]
    assert one.id == "openai/gpt-oss-20b"


async def test_the_sdks_retry_after_groqs_429(
    sdk: Sdk, fake: FakeGroq, socket_clock: trio.testing.MockClock
) -> None:
    # Under trio the SDK sleeps through anyio, so the mock clock skips its minute-long wait.
    fake.rate_limits = FakeRateLimits(requests_per_minute=1)
    with trio.fail_after(300):
        async with sdk.client(fake, max_retries=2) as client:
            start = trio.current_time()
            for _ in range(2):
                await client.chat.completions.create(model=MODEL, messages=USER)
            waited = trio.current_time() - start
    assert len(fake.requests) == 3  # the second request was refused once, then admitted
    assert waited >= 60
