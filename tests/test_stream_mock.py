"""open_stream over httpx.MockTransport (the in-process tier): the same scripts, no sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

import trio_groqstream as tgs
from trio_groqstream.testing import (
    MockGroq,
    drop_reply,
    in_stream_error_reply,
    stall_reply,
    text_reply,
    tool_call_reply,
)

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "llama-3.3-70b-versatile"


@pytest.fixture
def mock() -> MockGroq:
    return MockGroq()


@pytest.fixture
async def mock_client(mock: MockGroq) -> AsyncIterator[tgs.GroqClient]:
    async with (
        httpx.AsyncClient(transport=mock.transport) as http,
        tgs.GroqClient(api_key="gsk_mock", http_client=http, max_retries=0) as client,
    ):
        yield client


async def run(client: tgs.GroqClient, **options: Any) -> tgs.ChatStream:
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, **options) as stream:
        async for _ in stream:
            pass
    return stream


async def test_text_and_tool_calls(mock: MockGroq, mock_client: tgs.GroqClient) -> None:
    mock.push(text_reply("in process, ünïcödé"), tool_call_reply([("f", '{"x": 1}')]))
    assert (await run(mock_client)).completion.text == "in process, ünïcödé"
    calls = (await run(mock_client)).completion.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.function.name, c.function.arguments) for c in calls] == [("f", '{"x": 1}')]
    assert mock.requests[0].json["stream"] is True


async def test_errors_are_typed(mock: MockGroq, mock_client: tgs.GroqClient) -> None:
    mock.push(drop_reply(text_before="partial"), in_stream_error_reply(shape="data"))
    with pytest.raises(tgs.APIConnectionError) as dropped:
        await run(mock_client)
    assert dropped.value.completion is not None
    assert dropped.value.completion.text == "partial"
    with pytest.raises(tgs.StreamAPIError, match="Failed to call a function"):
        await run(mock_client)


async def test_idle_timeout_closes_the_mock_stream(
    autojump_clock: MockClock, mock: MockGroq, mock_client: tgs.GroqClient
) -> None:
    # No sockets here, so pytest-trio's autojump_clock is safe.
    mock.push(stall_reply("a b c"))
    with pytest.raises(tgs.IdleTimeout):
        await run(mock_client, idle_timeout=3)
    assert mock.open_streams == 0
    assert mock.closed_by_client == 1


async def test_break_closes_the_mock_stream(mock: MockGroq, mock_client: tgs.GroqClient) -> None:
    mock.push(text_reply("w " * 100))
    async with tgs.open_stream(mock_client, model=MODEL, messages=MESSAGES) as stream:
        async for _ in stream:
            break
    await trio.lowlevel.checkpoint()
    assert mock.open_streams == 0
    assert mock.closed_by_client == 1
