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


class _ByteArrays(httpx.AsyncByteStream):
    """A custom transport's body that yields bytearrays (httpx allows any bytes-like chunk)."""

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for read in self._reads:
            yield bytearray(read)  # type: ignore[misc]


@pytest.mark.parametrize("size", [None, 7])
async def test_a_transport_yielding_bytearrays_streams_as_usual(size: int | None) -> None:
    body = (
        b'data: {"id":"a","choices":[{"index":0,"delta":{"role":"assistant"}}]}\n\n'
        b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"Hel\xff"}}]}\n\n'
        b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"lo"},'
        b'"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    events = [part + b"\n\n" for part in body.split(b"\n\n") if part]
    reads = events if size is None else [body[i : i + size] for i in range(0, len(body), size)]

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=_ByteArrays(reads))

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        tgs.GroqClient(api_key="k", base_url="https://api.example", http_client=http) as client,
        tgs.open_stream(client, model="m", messages=[{"role": "user", "content": "x"}]) as stream,
    ):
        texts = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert "".join(t for t in texts if t) == "Hel\ufffdlo"  # the same whether reads are whole
    assert stream.completion.text == "Hel\ufffdlo"
