"""Every promise at its edge: hostile servers, raising transports, second consumers, odd input.

One section per promise (the hardening issue's points); each test fails on the code before it.
Real HTTP on loopback against the fake's hostile replies, plus in-process transports where the
fault is the transport's own.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio.testing import MockClock

import trio_groqstream as tgs
from trio_groqstream._channel import Coalescer
from trio_groqstream._inflate import PIECE_SIZE
from trio_groqstream._pump import DRAIN_TIMEOUT, MAX_HELD
from trio_groqstream._stream import DEFAULT_BUFFER
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    Stall,
    compression_bomb_reply,
    contentless_flood_reply,
    deep_json_reply,
    held_open_reply,
    stall_reply,
    text_reply,
)
from trio_groqstream.testing._hostile import EMPTY_EVENT

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "user", "content": "hi"}]
REQUEST: tgs.ChatRequest = {"model": MODEL, "messages": MESSAGES}
LONG_TEXT = " ".join(f"word{i}" for i in range(300))


async def assert_nothing_open(fake: FakeGroq) -> None:
    with trio.fail_after(30):
        await fake.wait_idle()
    assert fake.stats().active_responses == 0


# --- 1. A finished stream stays finished ----------------------------------------------------


async def test_open_stream_held_open_after_done_is_complete_not_idle(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(held_open_reply("all of it"))
    start = trio.current_time()
    async with tgs.open_stream(client, **REQUEST, idle_timeout=0.1, total_timeout=0.3) as stream:
        chunks = [chunk async for chunk in stream]
        await trio.sleep(1)  # past the drain, the idle and the total deadline
        with pytest.raises(trio.EndOfChannel):
            await stream.receive()  # still simply over: no deadline fired in the drain
    assert chunks
    assert stream.completion.text == "all of it"
    assert stream.error is None
    assert trio.current_time() - start < 1 + DRAIN_TIMEOUT  # leaving did not wait for the drain
    await assert_nothing_open(fake)


async def test_gather_returns_at_done_not_after_each_drain(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(*(held_open_reply(f"answer {i}") for i in range(4)))
    start = trio.current_time()
    results = await tgs.gather(client, [REQUEST] * 4, max_concurrency=1, idle_timeout=0.1)
    elapsed = trio.current_time() - start
    assert [r.text for r in results] == [f"answer {i}" for i in range(4)]
    assert elapsed < DRAIN_TIMEOUT  # before: 4 x the drain (2 s)
    await assert_nothing_open(fake)


async def test_gather_total_timeout_expiring_in_the_drain_is_not_a_failure(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(held_open_reply("done"))
    [result] = await tgs.gather(client, [REQUEST], total_timeout=0.2)
    assert result.text == "done"


async def test_fanout_completion_and_slot_come_at_done(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(*(held_open_reply(f"answer {i}") for i in range(3)))
    start = trio.current_time()
    done_at: list[float] = []
    async with tgs.open_fanout(
        client, [REQUEST] * 3, max_concurrency=1, idle_timeout=0.1
    ) as fanout:
        async for event in fanout:
            assert event.error is None
            if event.completion is not None:
                done_at.append(trio.current_time() - start)
    assert len(done_at) == 3
    assert done_at[-1] < DRAIN_TIMEOUT  # one slot, three requests, no drain in between
    assert [fanout.text(i) for i in range(3)] == [f"answer {i}" for i in range(3)]
    await assert_nothing_open(fake)


async def test_stream_to_channel_closes_the_channel_at_done(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(held_open_reply("to the channel"))
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](100)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(tgs.stream_to_channel, client, send, **REQUEST, idle_timeout=0.1)
        )
        start = trio.current_time()
        chunks = [chunk async for chunk in receive]
        assert trio.current_time() - start < DRAIN_TIMEOUT  # the end came at [DONE]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "to the channel"
    )


# --- 2. A failure always reaches the consumer -----------------------------------------------


class _RaisingStream(httpx.AsyncByteStream):
    def __init__(self, parts: list[bytes], error: BaseException) -> None:
        self._parts = parts
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            yield part
        raise self._error


def _raising_client(error: BaseException) -> tgs.GroqClient:
    body = text_reply("partial answer", done=False).body_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_RaisingStream([body], error),
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return tgs.GroqClient(api_key="gsk_test", base_url="https://api.groq.test", http_client=http)


async def test_a_transport_raising_mid_body_fails_the_loop_typed() -> None:
    async with (
        _raising_client(RuntimeError("transport bug")) as client,
        tgs.open_stream(client, **REQUEST) as stream,
    ):
        with pytest.raises(tgs.APIConnectionError) as info:
            async for _ in stream:
                pass
    error = info.value
    assert isinstance(error.__cause__, RuntimeError)
    assert error.completion is not None
    assert error.completion.text == "partial answer"
    assert stream.error is error


async def test_the_producers_error_stays_reachable_when_the_body_raises() -> None:
    async with _raising_client(RuntimeError("transport bug")) as client:
        with pytest.raises(ValueError, match="the body's own"):
            async with tgs.open_stream(client, **REQUEST) as stream:
                await trio.testing.wait_all_tasks_blocked()  # the producer has failed by now
                assert stream.error is not None
                raise ValueError("the body's own")
    assert isinstance(stream.error, tgs.APIConnectionError)


async def test_gather_types_a_transport_failure() -> None:
    async with _raising_client(RuntimeError("transport bug")) as client:
        [result] = await tgs.gather(client, [REQUEST], on_error="collect")
    assert isinstance(result, tgs.APIConnectionError)
    assert isinstance(result.__cause__, RuntimeError)


# --- 3. The receive-channel contract --------------------------------------------------------


async def test_concurrent_receivers_on_one_stream_lose_nothing(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply(LONG_TEXT))
    seen: list[list[str]] = [[], [], []]
    async with tgs.open_stream(client, **REQUEST) as stream:

        async def receiver(mine: list[str]) -> None:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    mine.append(chunk.choices[0].delta.content.strip())

        async with trio.open_nursery() as nursery:
            for mine in seen:
                nursery.start_soon(receiver, mine)
    position = {word: n for n, word in enumerate(LONG_TEXT.split())}
    every = sorted(position[word] for mine in seen for word in mine)
    assert every == list(range(len(position)))  # each chunk exactly once
    for mine in seen:
        assert [position[w] for w in mine] == sorted(position[w] for w in mine)  # in order
    assert stream.completion.text == LONG_TEXT


async def test_concurrent_receivers_on_a_fanout_lose_nothing(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    words = LONG_TEXT.split()[:60]
    text = " ".join(words)
    fake.push(*(text_reply(text) for _ in range(20)))
    got: list[list[tuple[int, tgs.FanoutEvent]]] = [[], [], []]
    counter = iter(range(1_000_000))
    async with tgs.open_fanout(client, [REQUEST] * 20, max_concurrency=20) as fanout:

        async def receiver(mine: list[tuple[int, tgs.FanoutEvent]]) -> None:
            async for event in fanout:
                mine.append((next(counter), event))  # no checkpoint since receive returned
                await trio.lowlevel.checkpoint()  # a worker's own async work on the event

        async with trio.open_nursery() as nursery:
            for mine in got:
                nursery.start_soon(receiver, mine)
    events = [event for _, event in sorted(pair for mine in got for pair in mine)]
    completions = [e for e in events if e.completion is not None]
    assert len(completions) == 20
    assert all(c.completion is not None and c.completion.text == text for c in completions)
    for index in range(20):
        assert "".join(e.text for e in events if e.index == index and e.chunk) == text
        last = [n for n, e in enumerate(events) if e.index == index][-1]
        assert events[last].completion is not None  # the completion is its request's last
    for mine in got:  # each receiver sees each request's words in order
        for index in range(20):
            mine_words = [e.text.strip() for _, e in mine if e.index == index and e.text]
            assert mine_words == [w for w in words if w in mine_words]
    assert all(mine for mine in got)  # every receiver took part


def _one_read_reply(words: int) -> Any:
    reply = text_reply(" ".join(["w"] * words))
    return type(reply)(status=200, headers=reply.headers, body=(reply.body_bytes(), Stall()))


async def test_receive_after_aclose_raises_even_with_a_batch_in_hand(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(_one_read_reply(50))  # one network read: one batch of 50+ chunks
    async with tgs.open_stream(client, **REQUEST) as stream:
        await stream.receive()
        await stream.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive()
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_batch()
    await assert_nothing_open(fake)


async def test_receive_after_the_block_raises_closed(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(_one_read_reply(50))
    async with tgs.open_stream(client, **REQUEST) as stream:
        await stream.receive()
    with pytest.raises(trio.ClosedResourceError):
        await stream.receive()


async def test_fanout_receive_after_aclose_raises_closed(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(_one_read_reply(50), _one_read_reply(50))
    async with tgs.open_fanout(client, [REQUEST] * 2) as fanout:
        await fanout.receive()
        await fanout.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await fanout.receive()
    with pytest.raises(trio.ClosedResourceError):
        await fanout.receive()
    await assert_nothing_open(fake)


# --- 4. The same error, whatever the timing -------------------------------------------------


@pytest.mark.parametrize("error", [KeyboardInterrupt(), TypeError("not ours")])
async def test_race_and_gather_unwrap_alike(error: BaseException) -> None:
    outcomes: list[type[BaseException]] = []
    for call in (tgs.gather, tgs.race):
        async with _raising_client(error) as client:
            try:
                await call(client, [REQUEST])
            except BaseException as exc:  # what comes out is the subject
                outcomes.append(type(exc))
    # A KeyboardInterrupt is the caller's and comes out bare from both; a TypeError raised by a
    # transport is typed as a connection failure, which fails the request: a group from both.
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else ExceptionGroup
    assert outcomes == [expected, expected]


async def test_a_groq_error_from_the_fanout_body_comes_out_as_itself(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("a"), text_reply("b"))
    mine = tgs.StreamAPIError("raised by the caller")
    with pytest.raises(tgs.StreamAPIError) as info:
        async with tgs.open_fanout(client, [REQUEST] * 2) as fanout:
            await fanout.receive()
            raise mine
    assert info.value is mine
    await assert_nothing_open(fake)


@pytest.mark.parametrize("api", ["open_fanout", "gather", "race"])
async def test_outer_cancellation_is_plain_cancelled(
    api: str, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(*(stall_reply("waiting") for _ in range(3)))
    seen: list[BaseException] = []

    async def run() -> None:
        if api == "open_fanout":
            async with tgs.open_fanout(client, [REQUEST] * 3) as fanout:
                async for _ in fanout:
                    pass
        elif api == "gather":
            await tgs.gather(client, [REQUEST] * 3)
        else:
            await tgs.race(client, [REQUEST] * 3)

    with trio.CancelScope() as scope:

        async def cancel_when_streaming() -> None:
            await fake.wait_requests(3)
            scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when_streaming)
            try:
                await run()
            except BaseException as exc:
                seen.append(exc)
                raise
    assert len(seen) == 1
    assert isinstance(seen[0], trio.Cancelled)
    await assert_nothing_open(fake)


async def test_a_bad_request_in_an_iterator_is_a_bare_configuration_error(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("a"), text_reply("b"))

    def requests() -> Iterator[tgs.ChatRequest]:
        yield REQUEST
        yield REQUEST
        yield {"model": MODEL}  # type: ignore[typeddict-item]  # no messages

    with pytest.raises(tgs.ConfigurationError, match=r"requests\[2\]"):
        await tgs.gather(client, requests())
    with pytest.raises(tgs.ConfigurationError, match=r"requests\[1\]"):
        async with tgs.open_fanout(client, [REQUEST, {"model": MODEL}]):  # type: ignore[typeddict-item]
            pass  # a sequence is checked before anything starts
    await assert_nothing_open(fake)


# --- 5. Memory is bounded by default --------------------------------------------------------


async def test_held_back_chunks_are_bounded(fake: FakeGroq) -> None:
    # Endless content-less chunks with retries left: they used to be held back forever.
    reply = contentless_flood_reply(MAX_HELD * 4, per_write=10, done=False)
    fake.push(type(reply)(status=200, headers=reply.headers, body=(*reply.body, Stall())))
    async with (
        tgs.GroqClient(
            api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=2, idle_timeout=None
        ) as client,
        tgs.open_stream(client, **REQUEST) as stream,
    ):
        with trio.fail_after(10):
            received = 0
            while received < MAX_HELD * 2:
                received += len(await stream.receive_batch())
    assert received >= MAX_HELD * 2


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_ends_in_a_typed_error_in_bounded_batches(
    client: tgs.GroqClient, fake: FakeGroq, encoding: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.push(compression_bomb_reply(256 << 20, encoding=encoding))
    per_read = PIECE_SIZE // len(EMPTY_EVENT) + 1  # the most one inflated piece can hold
    handed_over: list[int] = []  # what each read became, as the pump handed it over
    offer = Coalescer.offer

    def watched(queue: Coalescer, items: list[Any]) -> bool:
        handed_over.append(len(items))
        return offer(queue, items)

    monkeypatch.setattr(Coalescer, "offer", watched)
    largest = 0
    with trio.fail_after(60):
        async with tgs.open_stream(client, **REQUEST) as stream:
            with pytest.raises(tgs.StreamProtocolError, match="compression bomb"):
                while True:
                    largest = max(largest, len(await stream.receive_batch()))
    assert handed_over
    assert max(handed_over) <= per_read  # one read never becomes more than one piece
    # receive_batch takes everything queued: at most the channel's batches, each bounded.
    assert 0 < largest <= DEFAULT_BUFFER * per_read
    await assert_nothing_open(fake)


async def test_a_compressed_answer_still_streams(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(compression_bomb_reply(1 << 20, event=b'data: {"choices":[]}\n\n'))
    async with tgs.open_stream(client, **REQUEST) as stream:
        chunks = [chunk async for chunk in stream]
    assert len(chunks) == (1 << 20) // len(b'data: {"choices":[]}\n\n')


async def test_an_encoding_we_cannot_bound_is_refused(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    reply = text_reply("x")
    fake.push(type(reply)(headers=(*reply.headers, ("content-encoding", "br")), body=reply.body))
    with pytest.raises(tgs.StreamProtocolError, match="'br'"):
        async with tgs.open_stream(client, **REQUEST) as stream:
            async for _ in stream:
                pass


async def test_the_completion_size_is_capped(fake: FakeGroq) -> None:
    fake.push(text_reply(LONG_TEXT * 10))
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, max_completion_size=20_000
    ) as client:
        assert client.settings.max_completion_size == 20_000
        assert tgs.GroqClient(api_key="k").settings.max_completion_size < 1 << 30  # finite default
        with pytest.raises(tgs.CompletionTooLargeError, match="max_completion_size=20000"):
            async with tgs.open_stream(client, **REQUEST) as stream:
                async for _ in stream:
                    pass
    assert stream.error is not None
    assert stream.error.completion is not None
    assert stream.error.completion.text  # the part received is attached


async def test_deeply_nested_json_is_a_protocol_error(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(deep_json_reply(), deep_json_reply())
    with pytest.raises(tgs.StreamProtocolError, match="too deeply"):
        async with tgs.open_stream(client, **REQUEST) as stream:
            async for _ in stream:
                pass
    [result] = await tgs.gather(client, [REQUEST], on_error="collect")
    assert isinstance(result, tgs.StreamProtocolError)


async def test_a_fanout_over_an_iterator_is_lazy_and_keeps_nothing(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    pulled = 0

    def requests() -> Iterator[tgs.ChatRequest]:
        nonlocal pulled
        for _ in range(200):
            pulled += 1
            yield REQUEST

    completions = 0
    async with tgs.open_fanout(client, requests(), max_concurrency=4, buffer=1) as fanout:
        async for event in fanout:
            if completions == 0:
                assert pulled < 50  # consumed as slots free up, not all up front
            if event.completion is not None:
                completions += 1
                assert event.completion.text == "You said: hi"
    assert completions == 200
    assert fanout._texts == {}  # nothing kept per finished request
    with pytest.raises(tgs.ConfigurationError, match="keep_results=True"):
        _ = fanout.results


async def test_a_fanout_over_a_list_keeps_its_results(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    async with tgs.open_fanout(client, [REQUEST] * 3) as fanout:
        async for _ in fanout:
            pass
    assert [r.text for r in fanout.results if isinstance(r, tgs.ChatCompletion)] == [
        "You said: hi"
    ] * 3
    assert fanout.text(2) == "You said: hi"


async def test_race_returns_at_the_winners_done_and_closes_the_losers(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(held_open_reply("the winner"), stall_reply("a loser"))
    start = trio.current_time()
    index, completion = await tgs.race(client, [REQUEST, REQUEST])
    assert index in (0, 1)  # whichever request the fake answered first
    assert completion.text == "the winner"
    assert trio.current_time() - start < DRAIN_TIMEOUT  # not held by the winner's open body
    await assert_nothing_open(fake)  # the loser's connection and the winner's are both closed
