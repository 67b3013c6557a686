"""Test your app against Groq's rules: mistakes refused, tool calls, JSON mode, rate limits.

``FakeGroq()`` behaves like Groq out of the box: it refuses what Groq refuses (an unknown model,
a retired one, a malformed request) with Groq's status and error body, calls your tools with
arguments valid for their schema, answers JSON mode with valid JSON, and, given
``FakeRateLimits``, counts your requests and tokens like Groq's limits do. Time is virtual here
(a ``MockClock``), so the minute-long rate-limit waits cost nothing.
"""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, FakeRateLimits

MODEL = "llama-3.3-70b-versatile"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "country": {"type": "string"},
        "population": {"type": "integer", "minimum": 0},
    },
    "required": ["city", "country", "population"],
    "additionalProperties": False,
}

# --- the application code under test -------------------------------------------------------------


async def complete(client: tgs.GroqClient, **request: Any) -> tgs.ChatCompletion:
    async with tgs.open_stream(client, **request) as stream:
        async for _chunk in stream:
            pass
    return stream.completion


async def weather_report(client: tgs.GroqClient, question: str) -> str:
    """Ask, let the model call ``get_weather``, answer with its result."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    first = await complete(client, model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    if not message.tool_calls:
        return first.text
    messages.append(
        {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in message.tool_calls
            ],
        }
    )
    for call in message.tool_calls:
        city = json.loads(call.function.arguments)["city"]
        weather = {"city": city, "sky": "sunny"}  # a stand-in for a real lookup
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(weather)})
    return (await complete(client, model=MODEL, messages=messages, tools=[WEATHER_TOOL])).text


async def extract_city(client: tgs.GroqClient, text: str) -> dict[str, Any]:
    """Structured output: a dict that follows ``CITY_SCHEMA``."""
    completion = await complete(
        client,
        model=MODEL,
        messages=[{"role": "user", "content": text}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": CITY_SCHEMA, "strict": True},
        },
    )
    value: dict[str, Any] = json.loads(completion.text)
    return value


async def summarize_all(client: tgs.GroqClient, texts: list[str]) -> list[str]:
    requests: list[tgs.ChatRequest] = [
        {"model": MODEL, "messages": [{"role": "user", "content": f"Summarize: {text}"}]}
        for text in texts
    ]
    return [completion.text for completion in await tgs.gather(client, requests)]


# --- its checks ----------------------------------------------------------------------------------


async def refusal(client: tgs.GroqClient, **request: Any) -> tgs.APIStatusError:
    """The error Groq (here, the fake) answers ``request`` with."""
    try:
        await complete(client, **request)
    except tgs.APIStatusError as error:
        return error
    raise AssertionError(f"accepted: {request}")


async def check_mistakes_are_refused_like_groq(client: tgs.GroqClient) -> None:
    hi = [{"role": "user", "content": "hi"}]
    unknown = await refusal(client, model="llama-9-mega", messages=hi)
    assert isinstance(unknown, tgs.NotFoundError)  # Groq's 404, word for word
    assert unknown.code == "model_not_found"
    assert "`llama-9-mega` does not exist" in unknown.message
    retired = await refusal(client, model="gemma2-9b-it", messages=hi)
    assert isinstance(retired, tgs.BadRequestError)  # retired models get a 400 of their own
    assert retired.code == "model_decommissioned"


async def check_tool_calls(client: tgs.GroqClient, fake: FakeGroq) -> None:
    # The fake calls a tool that the last user message names, with valid arguments, then
    # answers with text once the tool result is in.
    answer = await weather_report(client, "Use get_weather: is it sunny in Paris?")
    assert answer == "You said: Use get_weather: is it sunny in Paris?"
    assistant, tool = fake.requests[-1].json["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert "city" in json.loads(assistant["tool_calls"][0]["function"]["arguments"])
    assert tool["role"] == "tool"


async def check_json_mode(client: tgs.GroqClient) -> None:
    city = await extract_city(client, "Paris is the capital of France.")
    assert set(city) == {"city", "country", "population"}
    assert isinstance(city["population"], int)


async def check_rate_limits(fake: FakeGroq) -> None:
    # Two requests a minute: the third waits for Groq's 429 retry-after (or for the reset the
    # headers announce), and the app still gets every answer.
    fake.rate_limits = FakeRateLimits(requests_per_minute=2, tokens_per_minute=2000)
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        start = trio.current_time()
        summaries = await summarize_all(client, ["one", "two", "three", "four"])
        assert len(summaries) == 4
        assert trio.current_time() - start >= 30  # the limit was honoured (virtual seconds)

        # One request bigger than the token-per-minute limit: Groq's 413, never retried.
        long_text = [{"role": "user", "content": "a very long text " * 500}]
        too_large = await refusal(client, model=MODEL, messages=long_text)
        assert isinstance(too_large, tgs.RequestTooLargeError)
        assert too_large.message.startswith("Request too large for model")
    fake.rate_limits = None


async def main() -> None:
    async with (
        FakeGroq() as fake,
        tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client,
    ):
        await check_mistakes_are_refused_like_groq(client)
        await check_tool_calls(client, fake)
        await check_json_mode(client)
        await check_rate_limits(fake)
    print("all checks passed")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0.02))
