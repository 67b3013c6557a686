"""Breaks of issue 14's performance changes (the shared watchdog, the linear pool, the SSE fast
paths) found in an adversarial review, one test each; each failed on the code as reviewed."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream._pump import Pump
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    RecordedRequest,
    Reply,
    headers_never_reply,
    http_error_reply,
    stall_reply,
    text_reply,
)

MODEL = "llama-3.3-70b-versatile"
REQUEST: tgs.ChatRequest = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def request(prompt: str) -> tgs.ChatRequest:
    return cast("tgs.ChatRequest", {**REQUEST, "messages": [{"role": "user", "content": prompt}]})


def prompt_of(recorded: RecordedRequest) -> str:
    return str(recorded.json["messages"][-1]["content"])


def handler(replies: dict[str, list[Callable[[], Reply]]]) -> Callable[[RecordedRequest], Reply]:
    """Each prompt's replies in turn (the last one again once they run out)."""
    sent: dict[str, int] = {}

    def reply(recorded: RecordedRequest) -> Reply:
        prompt = prompt_of(recorded)
        turn = sent.get(prompt, 0)
        sent[prompt] = turn + 1
        options = replies[prompt]
        return options[min(turn, len(options) - 1)]()

    return reply


@pytest.fixture
async def retrying(fake: FakeGroq) -> AsyncIterator[tgs.GroqClient]:
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=2) as c:
        yield c


async def settle(fake: FakeGroq) -> None:
    with trio.fail_after(10):
        await fake.wait_idle()
    assert fake.stats().active_responses == 0


def with_invalid_utf8(write_size: int | None) -> Reply:
    """A stream whose middle token is one byte that is not UTF-8 (inside a JSON string)."""
    reply = text_reply("aMARKc", pieces=["a", "MARK", "c"])
    body = tuple(
        part.replace(b"MARK", b"\xff") if isinstance(part, bytes) else part for part in reply.body
    )
    return dataclasses.replace(reply, body=body, write_size=write_size)


@pytest.mark.parametrize("write_size", [None, 1], ids=["whole-events", "byte-by-byte"])
async def test_invalid_utf8_in_a_chunk_does_not_depend_on_how_the_reads_fall(
    client: tgs.GroqClient, fake: FakeGroq, write_size: int | None
) -> None:
    # The SSE rules decode an event's data as UTF-8 with replacement (feed() does). The raw
    # payload fast path (a read of whole events) handed msgspec the bytes, which it refuses: the
    # same stream failed or succeeded depending on where TCP cut it.
    fake.push(with_invalid_utf8(write_size))
    with trio.fail_after(30):
        async with tgs.open_stream(client, **REQUEST) as stream:
            async for _ in stream:
                pass
    assert stream.completion.text == "a\ufffdc"


# --- the shared watchdog of a fan-out -------------------------------------------------------------

LONG = "".join(f"w{i} " for i in range(150))  # more chunks than a queued batch holds (64)


async def test_a_slow_fanout_consumer_stops_every_idle_clock(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    # Past one full batch each pump waits in its sink: that wait is the consumer's, not the
    # server's, so the shared watchdog must not count it as idle (here 10 idle periods).
    fake.handler = handler(
        {
            p: [lambda: text_reply(LONG, pieces=[w + " " for w in LONG.split()], pause=0.01)]
            for p in ("a", "b")
        }
    )
    slept = False
    with trio.fail_after(300):
        async with tgs.open_fanout(
            client, [request("a"), request("b")], buffer=1, idle_timeout=2
        ) as fanout:
            async for _event in fanout:
                if not slept:
                    slept = True
                    await trio.sleep(20)
    assert [r.text for r in fanout.results if isinstance(r, tgs.ChatCompletion)] == [LONG, LONG]
    await settle(fake)


async def test_a_request_times_out_on_time_while_its_sibling_waits_to_retry(
    retrying: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = handler(
        {
            "flaky": [lambda: http_error_reply(503, retry_after=4), lambda: text_reply("late")],
            "stuck": [lambda: stall_reply("partial ")],
        }
    )
    start = trio.current_time()
    ends: dict[int, tuple[str, float]] = {}
    with trio.fail_after(300):
        async with tgs.open_fanout(
            retrying, [request("flaky"), request("stuck")], on_error="collect", idle_timeout=3
        ) as fanout:
            async for event in fanout:
                if event.kind != "chunk":
                    ends[event.index] = (event.kind, trio.current_time() - start)
    assert ends[1][0] == "error"
    assert 3 <= ends[1][1] < 3.5  # its own idle period, during the sibling's 4 s wait
    assert ends[0][0] == "completion"
    assert 4 <= ends[0][1] < 5  # the retry's attempt was watched afresh, not timed out
    assert isinstance(fanout.results[1], tgs.IdleTimeout)
    late = fanout.results[0]
    assert isinstance(late, tgs.ChatCompletion)
    assert late.text == "late"
    await settle(fake)


async def test_two_fanouts_sharing_a_limiter_keep_their_own_deadlines(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = handler(
        {
            "stuck": [lambda: stall_reply("partial ")],
            "silent": [headers_never_reply],
            "fine": [lambda: text_reply("fine")],
        }
    )
    limiter = trio.CapacityLimiter(4)
    start = trio.current_time()
    outcomes: dict[str, list[Any]] = {}
    times: dict[str, float] = {}

    async def run(name: str, prompts: list[str], **options: Any) -> None:
        outcomes[name] = await tgs.gather(
            client,
            [request(p) for p in prompts],
            on_error="collect",
            limiter=limiter,
            **options,
        )
        times[name] = trio.current_time() - start

    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run("idle", ["stuck", "fine"], idle_timeout=2, first_chunk_timeout=50)
            )
            nursery.start_soon(
                lambda: run("first", ["silent", "fine"], idle_timeout=None, first_chunk_timeout=7)
            )
    assert isinstance(outcomes["idle"][0], tgs.IdleTimeout)
    assert isinstance(outcomes["first"][0], tgs.FirstChunkTimeout)
    assert [o[1].text for o in outcomes.values()] == ["fine", "fine"]
    assert 2 <= times["idle"] < 2.5
    assert 7 <= times["first"] < 7.5
    await settle(fake)


async def test_leaving_a_fanout_while_a_request_waits_to_retry_returns_at_once(
    retrying: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = handler(
        {
            "flaky": [lambda: http_error_reply(503, retry_after=60), lambda: text_reply("late")],
            "quick": [lambda: text_reply("quick")],
        }
    )
    start = trio.current_time()
    with trio.fail_after(300):
        async with tgs.open_fanout(
            retrying, [request("flaky"), request("quick")], idle_timeout=5
        ) as fanout:
            async for event in fanout:
                if event.kind == "completion":
                    break
    assert event.index == 1
    assert trio.current_time() - start < 1
    await settle(fake)
    assert len(fake.requests) == 2  # the retry never went out


def pumps_alive() -> int:
    gc.collect()
    return sum(isinstance(obj, Pump) for obj in gc.get_objects())


async def test_a_fanout_over_an_iterator_keeps_no_finished_pump(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    # Each finished request left its pump (and through its sink, its whole accumulated text) in
    # the shared watchdog's heap until a compaction: up to 64 + 2 x max_concurrency of them.
    before = pumps_alive()
    seen = 0
    counts: list[int] = []
    with trio.fail_after(60):
        async with tgs.open_fanout(
            client, (request(f"p{i}") for i in range(100)), max_concurrency=2
        ) as fanout:
            async for event in fanout:
                if event.kind == "completion":
                    seen += 1
                    if seen % 20 == 0:
                        counts.append(pumps_alive() - before)
    assert seen == 100
    assert max(counts) <= 4  # the requests running, and at most as many still draining


async def test_a_consumer_raising_mid_fanout_ends_it_at_once_whatever_the_siblings_wait_for(
    retrying: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.handler = handler(
        {
            "flaky": [lambda: http_error_reply(503, retry_after=60), lambda: text_reply("late")],
            "stuck": [lambda: stall_reply("partial ")],
            "silent": [headers_never_reply],
            "quick": [lambda: text_reply("quick")],
        }
    )
    start = trio.current_time()
    with trio.fail_after(300), pytest.raises(ValueError, match="consumer"):
        async with tgs.open_fanout(
            retrying, [request(p) for p in ("flaky", "stuck", "silent", "quick")], idle_timeout=50
        ) as fanout:
            async for event in fanout:
                if event.kind == "completion":
                    raise ValueError("the consumer gave up")
    assert trio.current_time() - start < 1
    await settle(fake)
    assert fake.stats().closed_by_client == 2  # the stalled and the silent one
