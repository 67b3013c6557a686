"""An adversarial review of two hot-path changes: the pump reading the transport's stream
straight (``raw_reads``) and the offer tried before the sink (``Pump(offer=...)``)."""

from __future__ import annotations

import gc
import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel
import trio.testing

import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY,
    Drop,
    FakeGroq,
    MockGroq,
    Pause,
    Reply,
    drop_reply,
    eof_reply,
    held_open_reply,
    sse_event,
    text_reply,
)

MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "user", "content": "hi"}]
WORDS = [f"w{i} " for i in range(40)]


def paused(reply: Reply, seconds: float = 1.0) -> Reply:
    """``reply`` with a pause before every part: the reader waits at each one."""
    body: list[Any] = []
    for part in reply.body:
        body += [Pause(seconds), part]
    return Reply(status=reply.status, headers=reply.headers, body=tuple(body))


def gzipped(reply: Reply) -> Reply:
    """``reply``'s body as one gzip member, cut into six writes."""
    raw = b"".join(part for part in reply.body if isinstance(part, bytes))
    packed = gzip.compress(raw)
    size = len(packed) // 6 + 1  # six writes: deflate holds its output until the last
    parts = tuple(packed[i : i + size] for i in range(0, len(packed), size))
    return Reply(headers=(*reply.headers, ("content-encoding", "gzip")), body=parts)


async def read_all(client: tgs.GroqClient) -> str:
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        async for _ in stream:
            pass
        return stream.completion.text or ""


# --- raw_reads ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_sequential_streams_share_one_connection(fake: FakeGroq, encoding: str) -> None:
    reply = text_reply("".join(WORDS), pieces=WORDS)
    fake.push(*[gzipped(reply) if encoding == "gzip" else reply] * 3)
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(10):
            for _ in range(3):
                assert await read_all(client) == "".join(WORDS)
    stats = fake.stats()
    assert stats.requests == 3
    assert stats.connections_opened == 1  # each body's end was read: the connection went back


async def test_a_body_held_open_after_done_is_closed_and_the_next_stream_still_works(
    fake: FakeGroq,
) -> None:
    fake.push(held_open_reply("first answer"), text_reply("second answer"))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(20):
            assert await read_all(client) == "first answer"
            assert await read_all(client) == "second answer"
            await fake.wait_idle()
    assert fake.stats().active_responses == 0


async def test_every_cancel_point_closes_the_body(autojump_clock: trio.testing.MockClock) -> None:
    # A mock transport, so the clock is trio's alone: cancel the whole stream after each
    # of the reply's pauses in turn, and every body handed out must be closed.
    words = WORDS[:6]
    reply = paused(text_reply("".join(words), pieces=words))
    pauses = sum(isinstance(part, Pause) for part in reply.body)
    mock = MockGroq()
    texts: list[str] = []
    for deadline in [k + 0.5 for k in range(pauses + 2)]:
        mock.push(reply)
        async with tgs.GroqClient(
            api_key=FAKE_API_KEY, http_client=httpx.AsyncClient(transport=mock.transport)
        ) as client:
            with trio.move_on_after(deadline):
                texts.append(await read_all(client))
        assert mock.open_streams == 0, deadline
    assert texts == ["".join(words)] * 2  # the last two deadlines came after the end
    assert mock.closed_by_client == pauses  # each of the others cut its body short


class _BreaksAfterOne(httpx.AsyncByteStream):
    """One event, then a read error raised bare, as a custom transport may raise it."""

    def __init__(self, first: bytes) -> None:
        self._first: bytes | None = first
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        raise httpx.ReadError("the custom transport lost the connection")

    async def aclose(self) -> None:
        self.closed = True


async def test_a_bare_read_error_from_a_custom_transport_gets_its_request() -> None:
    reply = text_reply("half", pieces=["half"], done=False)
    streams: list[_BreaksAfterOne] = []

    def answer(request: httpx.Request) -> httpx.Response:
        streams.append(_BreaksAfterOne(reply.body[0]))  # type: ignore[arg-type]
        return httpx.Response(200, headers=reply.headers, stream=streams[-1])

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, http_client=http, max_retries=0) as client:
        with pytest.raises(tgs.APIConnectionError) as info:
            await read_all(client)
    cause = info.value.__cause__
    assert isinstance(cause, httpx.ReadError)
    assert cause.request.url.path == "/openai/v1/chat/completions"
    assert len(streams) == 1
    assert streams[0].closed
    await http.aclose()


async def _read_it(response: httpx.Response) -> None:
    await response.aread()


async def _close_it(response: httpx.Response) -> None:
    await response.aclose()


@pytest.mark.parametrize(
    ("hook", "refusal"),
    [(_read_it, httpx.StreamConsumed), (_close_it, httpx.StreamClosed)],
    ids=["reads", "closes"],
)
@pytest.mark.parametrize("transport", ["loopback", "mock"])
async def test_a_response_hook_that_took_the_body_is_a_typed_error(
    fake: FakeGroq, hook: Any, refusal: type[Exception], transport: str
) -> None:
    # A borrowed client whose response hook reads (or closes) every body: nothing is left to
    # stream. aiter_raw refused that; reading the transport's stream again hung on a loopback
    # connection by then back in the pool (or would read the next response on it), and passed
    # for a server's truncated stream on a mock transport.
    reply = text_reply("an answer")
    mock = MockGroq(replies=[reply])
    fake.push(reply)
    http = httpx.AsyncClient(
        event_hooks={"response": [hook]},
        transport=mock.transport if transport == "mock" else None,
    )
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, http_client=http, max_retries=0
    ) as client:
        with trio.fail_after(10), pytest.raises(tgs.APIConnectionError) as info:
            await read_all(client)
    assert isinstance(info.value.__cause__, refusal)
    await http.aclose()
    assert mock.open_streams == 0


# --- offer ----------------------------------------------------------------------------------


async def test_a_dropped_role_chunk_retry_delivers_the_role_once(fake: FakeGroq) -> None:
    fake.push(drop_reply(""), text_reply("after the retry"))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=2) as c:
        with trio.fail_after(10):
            async with tgs.open_stream(c, model=MODEL, messages=MESSAGES, buffer=1) as stream:
                chunks = [chunk async for chunk in stream]
    roles = [ch.choices[0].delta.role for ch in chunks if ch.choices and ch.choices[0].delta.role]
    assert roles == ["assistant"]
    assert stream.completion.text == "after the retry"
    assert stream.metrics.attempts == 2


@pytest.mark.parametrize("mode", ["async-for", "receive_batch", "two-receivers"])
async def test_a_full_fanout_loses_duplicates_and_reorders_nothing(
    fake: FakeGroq, mode: str
) -> None:
    n = 6
    texts = {"".join(f"r{i}w{j} " for j in range(30)) for i in range(n)}
    for text in sorted(texts):
        fake.push(text_reply(text, pieces=[f"{w} " for w in text.split()]))
    requests: list[Any] = [{"model": MODEL, "messages": MESSAGES} for _ in range(n)]
    seen: dict[int, list[str]] = {i: [] for i in range(n)}
    done: dict[int, str] = {}
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(20):
            async with tgs.open_fanout(client, requests, buffer=1, max_concurrency=n) as fan:

                def note(event: tgs.FanoutEvent) -> None:
                    if event.chunk is not None and event.chunk.choices:
                        seen[event.index].append(event.chunk.choices[0].delta.content or "")
                    if event.completion is not None:
                        done[event.index] = event.completion.text or ""

                async def slow_receiver() -> None:
                    async for event in fan:
                        note(event)
                        await (
                            trio.lowlevel.checkpoint()
                        )  # slower than the producers: the channel fills

                if mode == "async-for":
                    await slow_receiver()
                elif mode == "receive_batch":
                    while True:
                        try:
                            events = await fan.receive_batch()
                        except trio.EndOfChannel:
                            break
                        for event in events:
                            note(event)
                        await trio.lowlevel.checkpoint()
                else:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(slow_receiver)
                        nursery.start_soon(slow_receiver)
    assert sorted(done) == list(range(n))
    for i in range(n):
        assert "".join(seen[i]) == done[i]  # every chunk once, in order, and in the completion
    assert set(done.values()) == texts  # each reply whole, once


async def test_leaving_a_full_fanout_raises_nothing(fake: FakeGroq) -> None:
    n = 4
    for _ in range(n):
        fake.push(text_reply("".join(WORDS), pieces=WORDS))
    requests: list[Any] = [{"model": MODEL, "messages": MESSAGES} for _ in range(n)]
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(10):
            async with tgs.open_fanout(client, requests, buffer=1) as fan:
                got = await fan.receive()
                assert got.index in range(n)
            await fake.wait_idle()
    assert fake.stats().active_responses == 0


async def test_leaving_a_full_stream_raises_nothing(fake: FakeGroq) -> None:
    words = [f"w{i} " for i in range(400)]  # more than the channel holds (1 batch of 64)
    fake.push(text_reply("".join(words), pieces=words))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(10):
            async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, buffer=1) as s:
                await s.receive()
                with trio.move_on_after(0.05):  # not synchronisation: lets the channel fill
                    await trio.sleep_forever()
            assert s._pump.done is False  # left while the producer waited on the sink
            await fake.wait_idle()
    assert fake.stats().active_responses == 0


async def test_role_chunks_held_until_done_reach_a_full_fanout_once(fake: FakeGroq) -> None:
    # Only a role chunk, then [DONE]: the pump holds the role chunk (retries remain) and
    # delivers it from _finish, through the offer or, the channel being full, the sink.
    n = 8
    role_only = text_reply("x")
    reply = Reply(headers=role_only.headers, body=(role_only.body[0], sse_event("[DONE]")))
    fake.push(*[reply] * n)
    requests: list[Any] = [{"model": MODEL, "messages": MESSAGES} for _ in range(n)]
    chunks: dict[int, int] = dict.fromkeys(range(n), 0)
    roles: dict[int, str | None] = {}
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=2) as c:
        with trio.fail_after(10):
            async with tgs.open_fanout(c, requests, buffer=1, max_concurrency=n) as fan:
                async for event in fan:
                    if event.chunk is not None:
                        chunks[event.index] += 1
                    if event.completion is not None:
                        roles[event.index] = event.completion.choices[0].message.role
                    await trio.lowlevel.checkpoint()
    assert chunks == dict.fromkeys(range(n), 1)
    assert roles == dict.fromkeys(range(n), "assistant")


async def test_a_borrowed_client_reuses_its_connection(fake: FakeGroq) -> None:
    fake.push(*[text_reply("".join(WORDS), pieces=WORDS)] * 3)
    async with (
        httpx.AsyncClient() as http,
        tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, http_client=http) as client,
    ):
        with trio.fail_after(10):
            for _ in range(3):
                assert await read_all(client) == "".join(WORDS)
    assert fake.stats().connections_opened == 1


def gzipped_paused(reply: Reply) -> Reply:
    """``reply``'s body gzipped, with a pause before each of its writes."""
    packed = gzipped(reply)
    return paused(Reply(headers=packed.headers, body=packed.body))


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_every_cancel_point_on_loopback_closes_the_body_and_leaves_no_generator(
    fake: FakeGroq, loopback_clock: trio.testing.MockClock, encoding: str
) -> None:
    words = WORDS[:4]
    plain = text_reply("".join(words), pieces=words)
    reply = gzipped_paused(plain) if encoding == "gzip" else paused(plain)
    pauses = sum(isinstance(part, Pause) for part in reply.body)
    texts: list[str] = []
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        for deadline in [k + 0.5 for k in range(pauses + 2)]:
            fake.push(reply)
            with trio.move_on_after(deadline):
                texts.append(await read_all(client))
            with trio.fail_after(5):
                await fake.wait_idle()
            assert fake.stats().active_responses == 0, deadline
        gc.collect()  # a body iterator left unfinished would warn here (encode/httpx#3686)
        await trio.lowlevel.checkpoint()
    assert texts == ["".join(words)] * 2
    assert fake.stats().closed_by_client == pauses


async def test_a_body_ending_without_done_still_gives_its_connection_back(
    fake: FakeGroq,
) -> None:
    fake.push(eof_reply("cut short"), text_reply("whole"))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(10):
            with pytest.raises(tgs.IncompleteStreamError) as info:
                await read_all(client)
            assert info.value.completion is not None
            assert info.value.completion.text == "cut short"
            assert await read_all(client) == "whole"
    assert fake.stats().connections_opened == 1  # the body's end was read: reusable


async def test_a_gzip_body_dropped_mid_stream_keeps_its_request_and_closes(
    fake: FakeGroq,
) -> None:
    dropped = drop_reply("half of it")
    packed = gzip.compress(b"".join(part for part in dropped.body if isinstance(part, bytes)))
    fake.push(
        Reply(headers=(*dropped.headers, ("content-encoding", "gzip")), body=(packed, Drop()))
    )
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0) as c:
        with trio.fail_after(10), pytest.raises(tgs.APIConnectionError) as info:
            await read_all(c)
        await fake.wait_idle()
    cause = info.value.__cause__
    assert isinstance(cause, httpx.RequestError)
    assert cause.request.url.path == "/openai/v1/chat/completions"
    assert fake.stats().active_responses == 0


async def test_a_consumer_slower_than_the_idle_timeout_stops_the_idle_clock(
    fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    # More chunks than the channel holds: the producer waits in the sink (the offer found no
    # room) while the consumer sleeps far past idle_timeout; that wait is not the server's.
    words = [f"w{i} " for i in range(400)]
    fake.push(text_reply("".join(words), pieces=words))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(1000):
            async with tgs.open_stream(
                client, model=MODEL, messages=MESSAGES, buffer=1, idle_timeout=1
            ) as stream:
                await stream.receive()
                await trio.sleep(100)
                assert stream.metrics.chunks < len(words)  # it was waiting on the sink
                async for _ in stream:
                    await trio.sleep(0.01)
    assert stream.completion.text == "".join(words)


@pytest.mark.parametrize("on_error", ["raise", "collect"])
async def test_leaving_a_full_fanout_leaks_no_broken_resource(
    fake: FakeGroq, on_error: str
) -> None:
    n = 4
    words = [f"w{i} " for i in range(300)]
    for _ in range(n):
        fake.push(text_reply("".join(words), pieces=words))
    requests: list[Any] = [{"model": MODEL, "messages": MESSAGES} for _ in range(n)]
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(10):
            async with tgs.open_fanout(
                client,
                requests,
                buffer=1,
                on_error=on_error,  # type: ignore[arg-type]
            ) as fan:
                first = await fan.receive()
                await trio.testing.wait_all_tasks_blocked(0.05)  # the producers fill it
            await fake.wait_idle()
    assert first.chunk is not None  # left mid-stream
    assert fake.stats().active_responses == 0
