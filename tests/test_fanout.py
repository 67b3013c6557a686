"""Fan-out (open_fanout, gather, race, stream_to_channel) over real HTTP on loopback.

What matters here is checked from the server's side: how many responses ran at once, whether the
client stopped reading when its consumer did, and whether cancelling at any stage closed every
connection (``FakeGroq.stats()``). Tests that wait on virtual time use ``loopback_clock`` (see
``conftest.py``): a mock clock that jumps only once the loop has been idle for a few real
milliseconds, so loopback IO is never overtaken by a jump.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

import pytest
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream.testing import (
    DEFAULT_MODELS,
    FAKE_API_KEY,
    FakeGroq,
    Handler,
    Pause,
    RecordedRequest,
    Reply,
    ServerStats,
    echo_text,
    headers_never_reply,
    http_error_reply,
    in_stream_error_reply,
    stall_reply,
    text_reply,
)

MODEL = "llama-3.3-70b-versatile"
#: Multiplies the randomised cancellation rounds (``nox -s soak`` sets 20).
SOAK = int(os.environ.get("TRIO_GROQSTREAM_SOAK", "1"))

MESSAGES = [{"role": "user", "content": "hi"}]


def request(prompt: str, **fields: Any) -> tgs.ChatRequest:
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], **fields}
    return cast("tgs.ChatRequest", body)


def prompt_of(recorded: RecordedRequest) -> str:
    content = recorded.json["messages"][-1]["content"]
    assert isinstance(content, str)
    return content


def echo_slowly(pause: float) -> Handler:
    """Like the default echo handler, with a pause between parts so that responses overlap."""
    return lambda recorded: text_reply(echo_text(prompt_of(recorded)), pause=pause)


def by_prompt(special: Mapping[str, Callable[[], Reply]], default: Handler) -> Handler:
    def handler(recorded: RecordedRequest) -> Reply:
        make = special.get(prompt_of(recorded))
        return make() if make is not None else default(recorded)

    return handler


def stalled(_recorded: RecordedRequest) -> Reply:
    return stall_reply("partial ")


def slow_error(status: int, seconds: float) -> Reply:
    """An HTTP error sent only after ``seconds``, so that its siblings are in flight by then."""
    return dataclasses.replace(http_error_reply(status), before_headers=(Pause(seconds),))


async def settle(fake: FakeGroq) -> ServerStats:
    """Wait (bounded) until the server has seen every response end; nothing may still run."""
    with trio.fail_after(10):
        await fake.wait_idle()
    stats = fake.stats()
    assert stats.active_responses == 0
    return stats


async def close_and_check(client: tgs.GroqClient, fake: FakeGroq) -> None:
    """Close the client: the server must then see every connection closed."""
    await client.aclose()
    with trio.fail_after(10):
        await fake.wait_closed()
    assert fake.stats().connections_open == 0


def count_tasks() -> int:
    """Every task in the run, the root's descendants included."""

    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return walk(root)


# --- many requests --------------------------------------------------------------------------------


async def test_500_requests_through_100_slots(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.handler = echo_slowly(0.001)
    prompts = [f"prompt {i} ünï" for i in range(500)]
    events: defaultdict[int, list[tgs.FanoutEvent]] = defaultdict(list)
    with trio.fail_after(60):
        async with tgs.open_fanout(
            client, [request(p) for p in prompts], max_concurrency=100
        ) as fanout:
            async for event in fanout:
                mine = events[event.index]
                assert not mine or mine[-1].kind == "chunk"  # nothing after the completion
                mine.append(event)
                if event.kind == "chunk":  # text() grows live with each chunk received
                    assert fanout.text(event.index) == "".join(e.text for e in mine)
    for index, prompt in enumerate(prompts):
        mine = events[index]
        kinds = [event.kind for event in mine]
        assert kinds.count("completion") == 1
        assert kinds[-1] == "completion"
        assert "error" not in kinds
        completion = mine[-1].completion
        assert completion is not None
        streamed = "".join(event.text for event in mine[:-1])
        assert streamed == completion.text == echo_text(prompt) == fanout.text(index)
        assert fanout.results[index] == completion
    stats = await settle(fake)
    assert stats.requests == stats.responses_completed == 500
    assert stats.closed_by_client == 0
    assert 1 < stats.max_active_responses <= 100
    assert stats.max_connections_open <= 100
    assert sorted(prompt_of(r) for r in fake.requests) == sorted(prompts)
    await close_and_check(client, fake)


async def test_the_concurrency_cap_is_reached_and_never_exceeded(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = echo_slowly(0.005)
    with trio.fail_after(20):
        results = await tgs.gather(client, [request(f"p{i}") for i in range(20)], max_concurrency=5)
    assert [r.text for r in results if isinstance(r, tgs.ChatCompletion)] == [
        echo_text(f"p{i}") for i in range(20)
    ]
    stats = await settle(fake)
    assert stats.max_active_responses == 5
    assert stats.max_connections_open <= 5


async def test_a_shared_limiter_bounds_two_fanouts_together(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = echo_slowly(0.005)
    limiter = trio.CapacityLimiter(3)
    texts: dict[str, str] = {}

    async def one(name: str) -> None:
        prompts = [f"{name}{i}" for i in range(6)]
        async with tgs.open_fanout(
            client, [request(p) for p in prompts], limiter=limiter, max_concurrency=100
        ) as fanout:
            async for _ in fanout:
                pass
        texts.update((p, fanout.text(i)) for i, p in enumerate(prompts))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "a")
            nursery.start_soon(one, "b")
    assert texts == {p: echo_text(p) for p in texts}
    assert len(texts) == 12
    stats = await settle(fake)
    assert 1 < stats.max_active_responses <= 3


async def test_text_grows_live_and_results_fill_in(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.handler = echo_slowly(0.002)
    prompts = ["alpha beta gamma delta", "one two three four five"]
    seen: dict[int, list[str]] = {0: [], 1: []}
    with trio.fail_after(10):
        async with tgs.open_fanout(client, [request(p) for p in prompts]) as fanout:
            assert fanout.results == [None, None]
            async for event in fanout:
                if event.kind == "chunk":
                    assert fanout.results[event.index] is None
                    seen[event.index].append(fanout.text(event.index))
                else:
                    assert fanout.results[event.index] is event.completion
            assert isinstance(fanout.results[0], tgs.ChatCompletion)
            with pytest.raises(trio.EndOfChannel):
                await fanout.receive()  # ended for good
    for index, prompt in enumerate(prompts):
        snapshots = [s for s in seen[index] if s]
        assert len(set(snapshots)) >= 4  # it grew piece by piece, not all at once
        assert all(echo_text(prompt).startswith(s) for s in snapshots)
        assert snapshots == sorted(snapshots, key=len)
        assert snapshots[-1] == echo_text(prompt)
    with pytest.raises(trio.ClosedResourceError):
        await fanout.receive()  # closed with the block


async def test_no_requests_is_an_empty_fanout(client: tgs.GroqClient, fake: FakeGroq) -> None:
    with trio.fail_after(5):
        async with tgs.open_fanout(client, []) as fanout:
            assert [event async for event in fanout] == []
        assert fanout.results == []
        assert await tgs.gather(client, []) == []
    assert fake.requests == []


# --- gather and race ------------------------------------------------------------------------------


async def test_gather_returns_results_in_request_order(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    # The later the request, the faster its answer: completion order is the reverse of request
    # order, and gather must still return request order.
    count = 6
    finished: list[str] = []

    def handler(recorded: RecordedRequest) -> Reply:
        index = int(prompt_of(recorded).removeprefix("q"))
        return text_reply(echo_text(prompt_of(recorded)), pause=0.004 * (count - index))

    fake.handler = handler
    with trio.fail_after(20):
        results = await tgs.gather(
            client, [request(f"q{i}") for i in range(count)], max_concurrency=count
        )
    for index, result in enumerate(results):
        assert isinstance(result, tgs.ChatCompletion)
        assert result.text == echo_text(f"q{index}")
        finished.append(result.text)
    assert len(finished) == count
    stats = await settle(fake)
    assert stats.max_active_responses > 1


async def test_race_returns_the_fast_one_and_closes_the_others(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = by_prompt(
        {
            "slow": lambda: text_reply(echo_text("slow"), pause=30.0),
            "fast": lambda: text_reply(echo_text("fast"), pause=1.0),
        },
        stalled,
    )
    with trio.fail_after(300):
        index, completion = await tgs.race(
            client, [request("slow"), request("fast"), request("stuck")]
        )
    assert index == 1
    assert completion.text == echo_text("fast")
    stats = await settle(fake)
    assert stats.requests == 3
    assert stats.closed_by_client == 2  # the slow and the stuck one were hung up on
    await close_and_check(client, fake)


async def test_race_tolerates_a_failure_while_another_can_win(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = by_prompt({"bad": lambda: http_error_reply(400)}, echo_slowly(0.002))
    with trio.fail_after(10):
        index, completion = await tgs.race(client, [request("bad"), request("good")])
    assert (index, completion.text) == (1, echo_text("good"))


async def test_race_when_all_fail_raises_every_failure(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = lambda _recorded: http_error_reply(400)
    with trio.fail_after(10), pytest.RaisesGroup(tgs.BadRequestError, tgs.BadRequestError):
        await tgs.race(client, [request("a"), request("b")])
    await settle(fake)


# --- error policies ----------------------------------------------------------------------------


async def test_raise_policy_cancels_the_siblings(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = by_prompt({"bad": lambda: slow_error(400, 5.0)}, stalled)
    prompts = ["a", "b", "bad", "c", "d"]
    received: list[tgs.FanoutEvent] = []
    with trio.fail_after(60):
        with pytest.RaisesGroup(tgs.BadRequestError) as info:
            async with tgs.open_fanout(
                client, [request(p) for p in prompts], max_concurrency=5
            ) as fanout:
                async for event in fanout:
                    received.append(event)
                    if all(fanout.text(i) == "partial " for i in (0, 1, 3, 4)):
                        # Every sibling is mid-stream; the 400 comes while the body is busy
                        # elsewhere (see the test below for a body blocked in receive).
                        await trio.sleep_forever()
    error = info.value.exceptions[0]
    assert isinstance(error, tgs.BadRequestError)
    assert error.status_code == 400
    assert {event.kind for event in received} == {"chunk"}
    assert 2 not in {event.index for event in received}
    stats = await settle(fake)
    assert stats.requests == 5
    assert stats.closed_by_client == 4  # every sibling was cancelled and hung up
    await close_and_check(client, fake)


async def test_raise_policy_never_loses_the_error_while_the_consumer_reads(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    # trio randomises the order of runnable tasks, so the race is run 20 times: a correct
    # fan-out raises every time; the bug lets each round through with probability ~1/2.
    fake.handler = by_prompt({"bad": lambda: http_error_reply(400)}, echo_slowly(0.001))
    for _ in range(20):
        with trio.fail_after(10), pytest.RaisesGroup(tgs.BadRequestError):
            async with tgs.open_fanout(
                client, [request(p) for p in ("a", "bad", "b")], max_concurrency=3
            ) as fanout:
                async for _event in fanout:
                    pass
    await settle(fake)


async def test_gather_raise_policy_cancels_the_siblings(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = by_prompt({"bad": lambda: slow_error(400, 5.0)}, stalled)
    with trio.fail_after(60), pytest.RaisesGroup(tgs.BadRequestError):
        await tgs.gather(client, [request(p) for p in ("a", "bad", "b")], max_concurrency=3)
    stats = await settle(fake)
    assert stats.requests == 3
    assert stats.closed_by_client == 2
    await close_and_check(client, fake)


async def test_collect_policy_delivers_errors_as_events(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = by_prompt(
        {
            "bad": lambda: http_error_reply(400, message="no such thing"),
            "broken": lambda: in_stream_error_reply(
                shape="event", text_before="half an ", code="tool_use_failed"
            ),
        },
        echo_slowly(0.001),
    )
    prompts = ["a", "bad", "b", "broken", "c"]
    events: defaultdict[int, list[tgs.FanoutEvent]] = defaultdict(list)
    with trio.fail_after(10):
        async with tgs.open_fanout(
            client, [request(p) for p in prompts], on_error="collect", max_concurrency=5
        ) as fanout:
            async for event in fanout:
                events[event.index].append(event)

    [bad] = events[1]
    assert bad.kind == "error"
    assert isinstance(bad.error, tgs.BadRequestError)
    assert bad.error.message == "no such thing"
    assert fanout.results[1] is bad.error

    broken = events[3]
    assert [event.kind for event in broken][-1] == "error"
    assert {event.kind for event in broken[:-1]} == {"chunk"}
    error = broken[-1].error
    assert isinstance(error, tgs.StreamAPIError)
    assert error.code == "tool_use_failed"
    assert error.completion is not None
    assert error.completion.text == "half an " == fanout.text(3)
    assert fanout.results[3] is error

    for index in (0, 2, 4):
        assert [event.kind for event in events[index]][-1] == "completion"
        result = fanout.results[index]
        assert isinstance(result, tgs.ChatCompletion)
        assert result.text == echo_text(prompts[index])
    stats = await settle(fake)
    assert stats.responses_completed == 5
    assert stats.closed_by_client == 0


async def test_gather_collect_policy_keeps_the_error_in_its_slot(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = by_prompt({"bad": lambda: http_error_reply(404)}, echo_slowly(0.001))
    prompts = ["a", "bad", "b"]
    with trio.fail_after(10):
        results = await tgs.gather(client, [request(p) for p in prompts], on_error="collect")
    assert isinstance(results[1], tgs.NotFoundError)
    assert results[1].status_code == 404
    for index in (0, 2):
        result = results[index]
        assert isinstance(result, tgs.ChatCompletion)
        assert result.text == echo_text(prompts[index])


# --- deadlines: one watchdog for every stream of a fan-out --------------------------------------


async def test_gather_times_out_only_the_stalled_request_at_its_own_deadline(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = by_prompt({"stuck": lambda: stall_reply("partial ")}, echo_slowly(0.5))
    start = trio.current_time()
    with trio.fail_after(100):
        results = await tgs.gather(
            client,
            [request("one two three"), request("stuck"), request("four five")],
            on_error="collect",
            idle_timeout=5,
        )
    elapsed = trio.current_time() - start
    stuck = results[1]
    assert isinstance(stuck, tgs.IdleTimeout)
    assert stuck.completion is not None
    assert stuck.completion.text == "partial "
    assert [r.text for r in (results[0], results[2]) if isinstance(r, tgs.ChatCompletion)] == [
        echo_text("one two three"),
        echo_text("four five"),
    ]
    assert 5 <= elapsed < 6  # the stall's own idle period, not the slow siblings' pace
    stats = await settle(fake)
    assert stats.closed_by_client == 1
    await close_and_check(client, fake)


async def test_fanout_first_chunk_deadlines_start_with_each_request(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    """Requests started later (one slot) get their own first-chunk deadline, not the first's."""
    fake.handler = lambda _recorded: headers_never_reply()
    times: dict[int, float] = {}
    start = trio.current_time()
    with trio.fail_after(100):
        async with tgs.open_fanout(
            client,
            [request(f"p{i}") for i in range(3)],
            max_concurrency=1,
            on_error="collect",
            first_chunk_timeout=3,
        ) as fanout:
            async for event in fanout:
                assert isinstance(event.error, tgs.FirstChunkTimeout)
                times[event.index] = trio.current_time() - start
    assert sorted(times) == [0, 1, 2]
    for index, elapsed in times.items():
        assert 3 * (index + 1) <= elapsed < 3 * (index + 1) + 0.5
    stats = await settle(fake)
    assert stats.closed_by_client == 3
    await close_and_check(client, fake)


async def test_gather_returns_without_waiting_out_any_deadline(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    """The shared watchdog stops with the last request: nothing sleeps until a deadline."""
    start = trio.current_time()
    with trio.fail_after(100):
        results = await tgs.gather(
            client, [request(f"p{i}") for i in range(4)], idle_timeout=30, first_chunk_timeout=60
        )
    assert [r.text for r in results] == [echo_text(f"p{i}") for i in range(4)]
    assert trio.current_time() - start < 1
    await close_and_check(client, fake)


# --- stream_to_channel -------------------------------------------------------------------------


async def test_stream_to_channel_reports_headers_then_streams_and_closes(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("one two three", request_id="req_s2c"))
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](0)
    texts: list[str] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            headers = await nursery.start(
                partial(tgs.stream_to_channel, client, send, model=MODEL, messages=MESSAGES)
            )
            assert isinstance(headers, dict)
            assert headers["x-request-id"] == "req_s2c"
            assert headers["content-type"].startswith("text/event-stream")
            async with receive:
                async for chunk in receive:  # ends only because the producer closed its end
                    texts.extend(choice.delta.content or "" for choice in chunk.choices)
    assert "".join(texts) == "one two three"
    assert len(texts) >= 5  # role, three pieces, finish: chunk by chunk


async def test_stream_to_channel_returns_the_completion(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("the answer"))
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](100)
    with trio.fail_after(10):
        completion = await tgs.stream_to_channel(client, send, model=MODEL, messages=MESSAGES)
    assert completion.text == "the answer"
    chunks = [chunk async for chunk in receive]
    assert "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices) == (
        "the answer"
    )


async def test_several_producers_share_clones_of_one_channel(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    # The default echo handler answers with the requested model: it tells the streams apart.
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](0)
    texts: defaultdict[str, list[str]] = defaultdict(list)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async with send:
                for i in range(4):
                    await nursery.start(
                        partial(
                            tgs.stream_to_channel,
                            client,
                            send.clone(),
                            model=DEFAULT_MODELS[i].id,
                            messages=[{"role": "user", "content": f"from producer {i}"}],
                        )
                    )
            async with receive:
                async for chunk in receive:
                    texts[chunk.model].extend(c.delta.content or "" for c in chunk.choices)
    assert {model: "".join(parts) for model, parts in texts.items()} == {
        DEFAULT_MODELS[i].id: echo_text(f"from producer {i}") for i in range(4)
    }


async def test_stream_to_channel_http_error_raises_from_start(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(400, message="bad body"))
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](0)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            with pytest.raises(tgs.BadRequestError, match="bad body"):
                await nursery.start(
                    partial(tgs.stream_to_channel, client, send, model=MODEL, messages=MESSAGES)
                )
        with pytest.raises(trio.EndOfChannel):
            await receive.receive()  # the send end was closed all the same
    await settle(fake)


async def test_stream_to_channel_stops_quietly_when_the_receiver_leaves(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("word " * 200, pause=0.002))
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](0)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(tgs.stream_to_channel, client, send, model=MODEL, messages=MESSAGES)
            )
            async with receive:
                await receive.receive()
    stats = await settle(fake)
    assert stats.closed_by_client == 1


# --- backpressure ------------------------------------------------------------------------------


def huge_reply(events: int = 4000, size: int = 16384) -> Reply:
    """A stream of ``events`` content chunks of ``size`` bytes each (64 MB by default), far more
    than loopback's socket buffers hold, sharing one bytes object so it costs no memory here."""
    base = text_reply("x" * size, pieces=["x" * size])
    role, content, *rest = base.body
    return dataclasses.replace(base, body=(role, *([content] * events), *rest))


async def test_a_consumer_that_stops_reading_stops_the_sockets(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = lambda _recorded: huge_reply()
    with trio.fail_after(30):
        async with tgs.open_fanout(
            client, [request(f"p{i}") for i in range(4)], max_concurrency=2, buffer=1
        ) as fanout:
            first = await fanout.receive()
            assert first.kind == "chunk"
            await trio.testing.wait_all_tasks_blocked()
            before = fake.stats()
            await trio.testing.wait_all_tasks_blocked(0.05)
            after = fake.stats()
            # The two running responses are stuck mid-body (the client stopped reading), the
            # other two were never sent, and nothing moved while every task sat blocked.
            assert before == after
            assert after.active_responses == 2
            assert after.responses_completed == 0
            assert after.requests == 2
    stats = await settle(fake)
    assert stats.closed_by_client == 2
    assert stats.requests == 2
    await close_and_check(client, fake)


# --- cancellation at every stage ---------------------------------------------------------------


async def test_cancel_while_waiting_for_capacity(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.handler = stalled
    with trio.fail_after(10), trio.CancelScope() as scope:
        async with tgs.open_fanout(
            client, [request(f"p{i}") for i in range(10)], max_concurrency=2
        ):
            await fake.wait_requests(2)
            await trio.testing.wait_all_tasks_blocked()
            assert len(fake.requests) == 2  # the other eight wait for a slot
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    stats = await settle(fake)
    assert stats.requests == 2
    assert stats.closed_by_client == 2
    await close_and_check(client, fake)


async def test_cancel_while_waiting_for_headers(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.handler = lambda _recorded: headers_never_reply()
    with trio.fail_after(10), trio.CancelScope() as scope:
        async with tgs.open_fanout(client, [request(f"p{i}") for i in range(3)]) as fanout:
            await fake.wait_requests(3)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
            await fanout.receive()
    assert scope.cancelled_caught
    stats = await settle(fake)
    assert stats.requests == 3
    assert stats.closed_by_client == 3
    await close_and_check(client, fake)


async def test_cancel_mid_stream(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.handler = stalled
    with trio.fail_after(10), trio.CancelScope() as scope:
        async with tgs.open_fanout(client, [request(f"p{i}") for i in range(3)]) as fanout:
            async for event in fanout:
                if all(fanout.text(i) == "partial " for i in range(3)):
                    scope.cancel()
                assert event.kind == "chunk"
    assert scope.cancelled_caught
    stats = await settle(fake)
    assert stats.closed_by_client == 3
    await close_and_check(client, fake)


async def test_cancel_during_retry_backoff_sends_nothing_more(
    fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = lambda _recorded: http_error_reply(503, retry_after=30)
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=2
    ) as client:
        with trio.fail_after(300):
            with trio.CancelScope() as scope:
                async with tgs.open_fanout(client, [request(f"p{i}") for i in range(3)]):
                    await fake.wait_requests(3)
                    await trio.sleep(10)  # well inside the 30 s the server asked for
                    assert len(fake.requests) == 3
                    scope.cancel()
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            await trio.sleep(100)  # long past every backoff: a leaked retry would be sent now
        assert len(fake.requests) == 3  # one request per stream, nothing after the cancel
        stats = await settle(fake)
        assert stats.responses_completed == 3
        await close_and_check(client, fake)


async def test_random_cancellation_leaves_nothing_behind(fake: FakeGroq) -> None:
    rng = random.Random(20240611)
    fake.handler = echo_slowly(0.0005)
    baseline = count_tasks()
    outcomes: defaultdict[str, int] = defaultdict(int)
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0
    ) as client:
        for round_number in range(200 * SOAK):
            how = rng.choice(["timer", "cancel", "break", "raise", "finish"])
            stop_after = rng.randrange(0, 40)
            prompts = [f"r{round_number} p{i}" for i in range(5)]
            seen = 0
            completed = False
            raised: tuple[object, ...] = ()
            with trio.fail_after(10):
                with trio.move_on_after(rng.uniform(0.0, 0.02) if how == "timer" else 10) as scope:
                    try:
                        async with tgs.open_fanout(
                            client, [request(p) for p in prompts], max_concurrency=3
                        ) as fanout:
                            async for _ in fanout:
                                seen += 1
                                if seen > stop_after and how in ("cancel", "break", "raise"):
                                    if how == "cancel":
                                        scope.cancel()
                                        await trio.lowlevel.checkpoint()
                                    if how == "raise":
                                        raise ValueError(round_number)
                                    break
                            else:
                                completed = True
                    except ValueError as exc:  # our own, unwrapped
                        raised = exc.args
            if how == "raise":
                assert raised == (round_number,) or scope.cancelled_caught or completed
                outcomes["raised"] += raised == (round_number,)
            else:
                assert raised == ()
            if how == "finish":
                assert completed
            if completed:
                assert [fanout.text(i) for i in range(5)] == [echo_text(p) for p in prompts]
                outcomes["finished"] += 1
            outcomes["cancelled"] += scope.cancelled_caught
        stats = await settle(fake)
        assert stats.closed_by_client > 0  # some rounds really were cut mid-stream
        # The pool is still healthy: a last fan-out works.
        with trio.fail_after(10):
            results = await tgs.gather(client, [request("last one")])
        assert isinstance(results[0], tgs.ChatCompletion)
        assert results[0].text == echo_text("last one")
    with trio.fail_after(10):
        await fake.wait_closed()
    assert fake.stats().connections_open == 0
    await trio.testing.wait_all_tasks_blocked()
    assert count_tasks() == baseline  # no producer, worker or launcher left running
    assert outcomes["cancelled"] > 20
    assert outcomes["raised"] > 20
    assert outcomes["finished"] > 20


# --- misuse ------------------------------------------------------------------------------------


async def test_unknown_stream_option_is_a_configuration_error(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    requests = [request("a")]
    with pytest.raises(tgs.ConfigurationError, match="temperature"):
        async with tgs.open_fanout(client, requests, temperature=0.2):  # type: ignore[call-arg]
            pass  # pragma: no cover
    with pytest.raises(tgs.ConfigurationError, match="bogus"):
        await tgs.gather(client, requests, bogus=1)  # type: ignore[call-overload]
    with pytest.raises(tgs.ConfigurationError, match="bogus"):
        await tgs.race(client, requests, bogus=1)  # type: ignore[call-arg]
    with pytest.raises(tgs.ConfigurationError, match="on_error"):
        await tgs.gather(client, requests, on_error="ignore")  # type: ignore[call-overload]
    with pytest.raises(tgs.ConfigurationError, match="at least one"):
        await tgs.race(client, [])
    assert fake.requests == []


@pytest.mark.parametrize("max_concurrency", [0, -1])
async def test_max_concurrency_below_one_is_a_configuration_error(
    client: tgs.GroqClient, fake: FakeGroq, max_concurrency: int
) -> None:
    with pytest.raises(tgs.ConfigurationError, match="max_concurrency"):
        async with tgs.open_fanout(client, [request("a")], max_concurrency=max_concurrency):
            pass  # pragma: no cover
    with pytest.raises(tgs.ConfigurationError, match="max_concurrency"):
        await tgs.gather(client, [request("a")], max_concurrency=max_concurrency)
    assert fake.requests == []


# --- aclose inside the block -----------------------------------------------------------------


async def test_aclose_inside_the_block_stops_every_request_quietly(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = lambda _recorded: text_reply("word " * 200, pause=0.001)
    finished_body = False
    with trio.fail_after(10):
        async with tgs.open_fanout(client, [request(f"p{i}") for i in range(3)]) as fanout:
            await fanout.receive()
            await fake.wait_requests(3)  # all three are in flight before we hang up
            await fanout.aclose()  # a ReceiveChannel's way to say "no more, thanks"
            await fake.wait_idle()  # the requests stop...
            await trio.testing.wait_all_tasks_blocked()
            finished_body = True  # ...and the block goes on undisturbed
    assert finished_body
    stats = await settle(fake)
    assert stats.closed_by_client == 3
    with pytest.raises(trio.ClosedResourceError):
        await fanout.receive()


async def test_receive_batch_merges_the_same_events(client: tgs.GroqClient, fake: FakeGroq) -> None:
    prompts = [f"batch {i} ✓" for i in range(20)]
    texts: dict[int, str] = {}
    async with tgs.open_fanout(client, [request(p) for p in prompts], max_concurrency=5) as fanout:
        while True:
            try:
                batch = await fanout.receive_batch()
            except trio.EndOfChannel:
                break
            assert batch
            for event in batch:
                texts[event.index] = texts.get(event.index, "") + event.text
    assert texts == {i: echo_text(p) for i, p in enumerate(prompts)}
    assert all(fanout.text(i) == echo_text(p) for i, p in enumerate(prompts))
    assert all(isinstance(result, tgs.ChatCompletion) for result in fanout.results)
