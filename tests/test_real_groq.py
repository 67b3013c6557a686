"""Every response recorded from the real Groq API, replayed over loopback and read by open_stream.

The expectations are computed straight from each recording's JSON with the ``json`` module and a
few lines of SSE splitting written here, never with the library's own decoder or accumulator: the
two must agree on what Groq really sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import trio
from _real_groq import MISSING, REAL_GROQ_DIR, recording_ids, recording_or_skip

import trio_groqstream as tgs
from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, FakeModel, replay_reply

STREAM_KINDS = (
    "text",
    "reasoning",
    "reasoning_raw",
    "tool_calls",
    "compound",
    "edge_empty",
    "usage",
)
MESSAGES = [{"role": "user", "content": "replay"}]

STATUS_CLASSES: dict[int, type[tgs.APIStatusError]] = {
    400: tgs.BadRequestError,
    401: tgs.AuthenticationError,
    404: tgs.NotFoundError,
    413: tgs.RequestTooLargeError,
    429: tgs.RateLimitError,
    503: tgs.InternalServerError,
}


def _ids(*, status: int | None, kinds: tuple[str, ...]) -> list[str]:
    """File stems to parametrize over (``[MISSING]``, which skips, when there are none)."""
    names = {
        name
        for kind in kinds
        for name in recording_ids(status=status, kind=kind)
        if name != MISSING
    }
    return sorted(names) or [MISSING]


@pytest.fixture
def recording(name: str) -> dict[str, Any]:
    """The recording, or a visible skip (via the shared helper) when the directory is absent.

    A sync fixture, so that the skip happens at setup, outside the trio run, with its reason.
    """
    return recording_or_skip(name)  # with MISSING: skips, naming where they were looked for


# --- the independent reading of a recording ---------------------------------------------------

_LINE = re.compile(r"\r\n|\r|\n")


@dataclass
class Expected:
    """What a recording says a client must end up with, read with ``json`` alone."""

    chunks: list[dict[str, Any]] = field(default_factory=list)  # every data JSON object, in order
    contents: list[str | None] = field(default_factory=list)  # delta.content per chunk (choice 0)
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments)
    finish_reason: str | None = None
    usages: list[dict[str, Any]] = field(default_factory=list)  # every statement of usage
    request_id: str | None = None
    executed_tools: dict[int, dict[str, Any]] = field(default_factory=dict)
    logprob_tokens: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None  # the payload of an ``event: error``


def _sse_events(text: str) -> list[tuple[str, str]]:
    """``(event type, data)`` per dispatched event; an unterminated last event counts too (24)."""
    events: list[tuple[str, str]] = []
    kind, data = "message", list[str]()
    for line in [*_LINE.split(text), ""]:
        if not line:
            if data:
                events.append((kind, "\n".join(data)))
            kind, data = "message", list[str]()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            kind = line[6:].removeprefix(" ")
    return events


def _append(current: str | None, piece: object) -> str | None:
    if not isinstance(piece, str):
        return current
    return piece if current is None else current + piece


def expected_from(recording: dict[str, Any]) -> Expected:
    out = Expected()
    calls: list[list[str]] = []
    for kind, data in _sse_events(recording["sse"]):
        if data == "[DONE]":
            break
        payload = json.loads(data)
        if kind == "error":
            out.error = payload["error"]
            break
        out.chunks.append(payload)
        x_groq = payload.get("x_groq") or {}
        if out.request_id is None and isinstance(x_groq.get("id"), str):
            out.request_id = x_groq["id"]
        for usage in (payload.get("usage"), x_groq.get("usage")):
            if usage:
                out.usages.append(usage)
        content: str | None = None
        for choice in payload["choices"]:
            assert choice["index"] == 0  # no recording has n > 1
            delta = choice["delta"]
            content = delta.get("content")
            out.content = _append(out.content, delta.get("content"))
            out.reasoning = _append(out.reasoning, delta.get("reasoning"))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if call.get("id"):
                    calls.append([call["id"], "", ""])
                calls[-1][1] += function.get("name") or ""
                calls[-1][2] += function.get("arguments") or ""
            for tool in delta.get("executed_tools") or ():
                merged = out.executed_tools.setdefault(tool["index"], {})
                merged.update({key: value for key, value in tool.items() if value is not None})
            for token in (choice.get("logprobs") or {}).get("content") or ():
                out.logprob_tokens.append(token["token"])
            if choice.get("finish_reason") is not None:
                out.finish_reason = choice["finish_reason"]
        out.contents.append(content if isinstance(content, str) else None)
    out.tool_calls = [(call_id, name, arguments) for call_id, name, arguments in calls]
    return out


def assert_fields_match(actual: msgspec.Struct | None, expected: dict[str, Any]) -> None:
    """Every field of ``expected`` that the struct knows has the same value (recursively)."""
    assert actual is not None
    for key, value in expected.items():
        if key not in actual.__struct_fields__:
            continue
        got = getattr(actual, key)
        if isinstance(value, dict):
            assert_fields_match(got, value)
        else:
            assert got == value, (key, got, value)


async def replay(
    client: tgs.GroqClient, fake: FakeGroq, name: str, recording: dict[str, Any]
) -> tuple[list[tgs.ChatCompletionChunk], tgs.ChatStream]:
    fake.push(replay_reply(REAL_GROQ_DIR / f"{name}.json"))
    model = str(recording.get("model") or "llama-3.3-70b-versatile")
    fake.models[model] = FakeModel(model)  # Groq served it when the recording was made
    chunks: list[tgs.ChatCompletionChunk] = []
    with trio.fail_after(10):
        async with tgs.open_stream(client, model=model, messages=MESSAGES) as stream:
            async for chunk in stream:
                chunks.append(chunk)
    return chunks, stream


# --- successful streams ------------------------------------------------------------------------


@pytest.mark.parametrize("name", _ids(status=200, kinds=STREAM_KINDS))
async def test_recorded_stream_accumulates_what_was_sent(
    client: tgs.GroqClient, fake: FakeGroq, name: str, recording: dict[str, Any]
) -> None:
    expected = expected_from(recording)
    assert expected.error is None
    chunks, stream = await replay(client, fake, name, recording)

    # Every chunk is delivered, in order, with its own delta.
    assert len(chunks) == len(expected.chunks)
    contents = [
        next((choice.delta.content for choice in chunk.choices if choice.index == 0), None)
        for chunk in chunks
    ]
    assert contents == expected.contents

    completion = stream.completion
    assert len(completion.choices) == 1
    message = completion.choices[0].message
    assert message.content == expected.content
    assert message.reasoning == expected.reasoning
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]
    assert calls == expected.tool_calls
    assert completion.choices[0].finish_reason == expected.finish_reason

    # Usage is stated up to three times with the same numbers: taken once, never summed.
    if expected.usages:
        stated = expected.usages[-1]
        assert all(usage == stated for usage in expected.usages)
        assert {"prompt_tokens", "completion_tokens", "total_tokens"} <= stated.keys()
        assert_fields_match(completion.usage, stated)
        assert completion.usage is not None
        assert completion.usage.total_tokens == stated["total_tokens"]
    else:
        assert completion.usage is None

    assert completion.request_id == expected.request_id
    headers = {key.lower(): value for key, value in recording["headers"].items()}
    if "x-request-id" in headers:
        assert stream.request_id == headers["x-request-id"]
        assert completion.request_id == headers["x-request-id"]

    executed = message.executed_tools or []
    assert [tool.index for tool in executed] == sorted(expected.executed_tools)
    for tool in executed:
        want = expected.executed_tools[tool.index]
        assert (tool.type, tool.arguments, tool.output) == (
            want.get("type"),
            want.get("arguments"),
            want.get("output"),
        )
    logprobs = completion.choices[0].logprobs
    tokens = [token.token for token in logprobs.content or ()] if logprobs is not None else []
    assert tokens == expected.logprob_tokens

    with trio.fail_after(5):
        await fake.wait_idle()
    assert fake.stats().closed_by_client == 0
    assert fake.requests[0].json["stream"] is True


# --- errors inside a 200 stream ----------------------------------------------------------------


@pytest.mark.parametrize("name", _ids(status=200, kinds=("error_in_stream",)))
async def test_recorded_in_stream_error(
    client: tgs.GroqClient, fake: FakeGroq, name: str, recording: dict[str, Any]
) -> None:
    expected = expected_from(recording)
    assert expected.error is not None
    with pytest.raises(tgs.StreamAPIError) as info:
        await replay(client, fake, name, recording)
    error = info.value
    assert not isinstance(error, tgs.IncompleteStreamError)
    assert error.message == expected.error["message"]
    assert error.code == expected.error.get("code")
    assert error.error_type == expected.error.get("type")
    assert error.failed_generation == expected.error.get("failed_generation")
    assert error.status_code == expected.error.get("status_code")
    assert error.completion is not None
    message = error.completion.choices[0].message
    assert message.content == expected.content
    assert message.reasoning == expected.reasoning
    assert error.completion.request_id == expected.request_id
    assert FAKE_API_KEY not in str(error)
    with trio.fail_after(5):
        await fake.wait_idle()
    assert fake.stats().active_responses == 0


# --- HTTP errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _ids(status=None, kinds=("error_http",)))
async def test_recorded_http_error(
    client: tgs.GroqClient, fake: FakeGroq, name: str, recording: dict[str, Any]
) -> None:
    status = int(recording["status"])
    body_text: str = recording["sse"]
    with pytest.raises(tgs.APIStatusError) as info:
        await replay(client, fake, name, recording)
    error = info.value
    assert type(error) is STATUS_CLASSES[status]
    assert error.status_code == status
    headers = {key.lower(): value for key, value in recording["headers"].items()}
    assert error.request_id == headers.get("x-request-id")
    try:
        parsed: Any = json.loads(body_text)
    except ValueError:
        parsed = None
    if parsed is not None:
        assert error.body == parsed
        fields = parsed["error"]
        assert error.message == fields["message"]
        assert error.code == fields.get("code")
        assert error.error_type == fields.get("type")
        assert error.param == fields.get("param")
        assert error.failed_generation == fields.get("failed_generation")
    else:
        assert error.body == body_text  # the raw text, kept whole
        assert body_text.strip() in str(error)
    assert str(status) in str(error)
    for text in (str(error), repr(error), error.message, json.dumps(error.headers)):
        assert FAKE_API_KEY not in text
    with trio.fail_after(5):
        await fake.wait_idle()
    assert fake.stats().responses_completed == 1
    assert len(fake.requests) == 1  # max_retries=0: nothing was retried
