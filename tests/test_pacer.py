"""The pacer: windows, estimates corrected by usage, 429 back-off and probing, per-model
separation, bounded waits; its logic on trio's mock clock, then its promises over loopback HTTP
against the fake's stateful limits."""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
from collections.abc import Mapping
from functools import partial
from typing import Any, cast

import msgspec
import pytest
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream._pacer import (
    DEFAULT_COMPLETION_TOKENS,
    Pacer,
    Ticket,
    _rejection,
    estimate_request,
)
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    FakeRateLimits,
    Reply,
    http_error_reply,
    open_fake_groq,
    text_reply,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

MODEL = "llama-3.3-70b-versatile"


def body(prompt: str = "hi", *, model: str = MODEL, **fields: Any) -> bytes:
    request = {"model": model, "messages": [{"role": "user", "content": prompt}], **fields}
    return msgspec.json.encode(request)


def limits(**fields: Any) -> tgs.RateLimits:
    return tgs.RateLimits(observed_at=trio.current_time(), **fields)


def too_many(
    wait: float | None,
    *,
    kind: str | None = "requests",
    message: str | None = None,
    limit: int = 30,
) -> tgs.RateLimitError:
    """A 429 as Groq words it (retry-after in whole seconds, the precise wait in the message)."""
    if message is None:
        message = (
            f"Rate limit reached for model `{MODEL}` in organization `org_x` on {kind} per "
            f"minute: Limit {limit}, Used {limit}, Requested 1. Please try again in {wait}s."
        )
    error = {"message": message, "code": "rate_limit_exceeded"}
    if kind is not None:
        error["type"] = kind
    return tgs.RateLimitError(
        message,
        status_code=429,
        body={"error": error},
        retry_after=None if wait is None else float(math.ceil(wait)),
    )


async def admit(pacer: Pacer, request: bytes | None = None, *, max_wait: float = 60) -> Ticket:
    with trio.fail_after(3600):  # on the mock clock: a hang fails at once
        return await pacer.admit(request or body(), max_wait=max_wait)


# --- estimates ----------------------------------------------------------------------------------


def test_estimate_reads_model_prompt_and_answer_cap() -> None:
    model, chars, cap = estimate_request(body("x" * 100, max_completion_tokens=50))
    assert (model, cap) == (MODEL, 50)
    assert 100 <= chars <= 110  # the content as sent, quotes included
    assert estimate_request(body(max_tokens=7))[2] == 7
    assert estimate_request(b"not json") == ("", 8, None)
    # Content parts, a null content, no messages: still a cost, never an error.
    parts = msgspec.json.encode(
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}
    )
    assert estimate_request(parts)[1] > 0
    assert estimate_request(b'{"model":"m","messages":[{"role":"assistant","content":null}]}')[
        1
    ] == len("null")
    assert estimate_request(b'{"model":"m"}') == ("m", 0, None)


async def test_estimates_are_corrected_by_usage(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer()
    pace = pacer._for(MODEL)
    prompt = body("y" * 400)
    _, chars, _ = estimate_request(prompt)
    assert pace.cost(chars, None) == math.ceil(chars / 4 + DEFAULT_COMPLETION_TOKENS)
    assert pace.cost(chars, 10) == math.ceil(chars / 4 + 10)  # the cap Groq reserves
    for _ in range(40):  # the server counts 2 characters a token; answers are 12 tokens
        ticket = await admit(pacer, prompt)
        ticket.used(prompt_tokens=chars // 2, completion_tokens=12)
        ticket.finished()
    assert pace.cost(chars, None) == pytest.approx(chars / 2 + 12, rel=0.05)


# --- windows ------------------------------------------------------------------------------------


async def test_a_used_up_window_holds_requests_until_its_reset(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    first = await admit(pacer)
    first.observe(limits(remaining_tokens=0, limit_tokens=6000, reset_tokens=7.5))
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(admit, pacer)
        await trio.testing.wait_all_tasks_blocked()
        state = pacer.states()[MODEL]
        assert state.waiting_for == "tokens"
        assert state.until == pytest.approx(start + 7.5, abs=0.02)
        assert state.queued == 1
    assert trio.current_time() - start == pytest.approx(7.5, abs=0.02)
    state = pacer.states()[MODEL]
    assert (state.queued, state.waiting_for, state.until) == (0, None, None)
    assert state.admitted == 2
    assert state.waited == pytest.approx(7.5, abs=0.02)


async def test_requests_sent_since_the_headers_count_against_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    probe = await admit(pacer, body(max_completion_tokens=100))
    probe.observe(limits(remaining_tokens=350, limit_tokens=1000, reset_tokens=4.0))
    start = trio.current_time()
    for _ in range(3):  # about 101 tokens each: three fit in 350
        await admit(pacer, body(max_completion_tokens=100))
    assert trio.current_time() == start
    assert pacer.states()[MODEL].remaining_tokens == pytest.approx(350 - 3 * 101, abs=2)
    await admit(pacer, body(max_completion_tokens=100))
    assert trio.current_time() - start == pytest.approx(4.0, abs=0.02)


async def test_fresh_headers_release_what_they_reflect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    tickets = [await admit(pacer, body(max_completion_tokens=100)) for _ in range(3)]
    tickets[0].observe(limits(remaining_tokens=150, limit_tokens=1000, reset_tokens=60.0))
    # Two sent after the headers, about 206 tokens: nothing left for another.
    remaining = pacer.states()[MODEL].remaining_tokens
    assert remaining is not None
    assert remaining < 0
    # The last one's headers say 900 are left: they count everything sent up to it.
    tickets[2].observe(limits(remaining_tokens=900, limit_tokens=1000, reset_tokens=6.0))
    # An older response arriving late changes nothing.
    tickets[1].observe(limits(remaining_tokens=0, limit_tokens=1000, reset_tokens=60.0))
    start = trio.current_time()
    await admit(pacer, body(max_completion_tokens=100))
    assert trio.current_time() == start
    assert pacer.states()[MODEL].remaining_tokens == pytest.approx(900 - 101, abs=2)


async def test_a_bucket_is_used_as_it_refills(autojump_clock: trio.testing.MockClock) -> None:
    # Groq's limits refill continuously: (limit - remaining) / reset is the same on every
    # response (100 tokens a second here). Once that is seen, room is counted on as it comes.
    pacer = Pacer()
    for remaining in (5000, 4000, 3000):
        ticket = await admit(pacer, body(max_completion_tokens=100))
        ticket.observe(
            limits(
                remaining_tokens=remaining, limit_tokens=6000, reset_tokens=(6000 - remaining) / 100
            )
        )
    last = await admit(pacer, body(max_completion_tokens=100))
    last.observe(limits(remaining_tokens=0, limit_tokens=6000, reset_tokens=60.0))
    start = trio.current_time()
    await admit(pacer, body(max_completion_tokens=100))  # ~103 tokens: about a second
    assert 1.0 <= trio.current_time() - start <= 1.1


async def test_a_window_that_resets_at_once_is_not_taken_for_a_bucket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    for remaining, reset in ((5000, 50.0), (4000, 20.0), (3000, 3.0)):
        ticket = await admit(pacer)
        ticket.observe(limits(remaining_tokens=remaining, limit_tokens=6000, reset_tokens=reset))
    assert pacer._for(MODEL).refill_rate("tokens") is None
    last = await admit(pacer)
    last.observe(limits(remaining_tokens=0, limit_tokens=6000, reset_tokens=9.0))
    start = trio.current_time()
    await admit(pacer)
    assert trio.current_time() - start == pytest.approx(9.0, abs=0.02)


async def test_a_request_larger_than_the_whole_limit_is_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Waiting cannot make it fit: send it, and let the server's 413 say so.
    pacer = Pacer()
    probe = await admit(pacer)
    probe.observe(limits(remaining_tokens=10, limit_tokens=100, reset_tokens=30.0))
    start = trio.current_time()
    await admit(pacer, body(max_completion_tokens=5000))
    assert trio.current_time() == start


# --- 429s ---------------------------------------------------------------------------------------


def test_what_a_429_says() -> None:
    assert _rejection(too_many(1.36, kind="tokens")) == ("tokens", 1.36, 30, True)
    untyped = too_many(0.5, message="on requests per minute (RPM): Limit 30. try again in 0.5s")
    assert _rejection(untyped) == ("requests", 0.5, 30, True)
    # The message's wait refines the header's whole seconds, but never contradicts it.
    exc = too_many(None, kind=None, message="Please try again in 17.359s.")
    exc.retry_after = 2.0
    assert _rejection(exc) == (None, 2.0, None, False)
    exc.retry_after = 18.0
    assert _rejection(exc)[1] == pytest.approx(17.359)
    exc.retry_after = None
    assert _rejection(exc)[1] == pytest.approx(17.359)
    assert _rejection(too_many(None, kind=None, message="slow down"))[:2] == (None, None)
    day = too_many(None, message="on requests per day (RPD): Limit 14400, Used 14400")
    assert _rejection(day) == ("requests", None, 14400, False)


async def test_a_429_holds_every_start_of_its_model(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    ticket = await admit(pacer)
    ticket.rejected(too_many(2.5, kind="tokens"), max_wait=60)
    assert pacer.states()[MODEL].rate_limited == 1
    start = trio.current_time()
    await admit(pacer)
    assert trio.current_time() - start == pytest.approx(2.5, abs=0.02)
    other = trio.current_time()
    await admit(pacer, body(model="other-model"))  # other models are not held
    assert trio.current_time() == other


async def test_models_are_paced_separately(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer()
    blocked = await admit(pacer, body(model="a"))
    blocked.observe(limits(remaining_requests=0, limit_requests=10, reset_requests=30.0))
    free = await admit(pacer, body(model="b"))
    free.observe(limits(remaining_requests=9, limit_requests=10, reset_requests=3.0))
    done: list[str] = []

    async def one(model: str) -> None:
        await admit(pacer, body(model=model))
        done.append(model)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "a")
        nursery.start_soon(one, "b")
        await trio.testing.wait_all_tasks_blocked()
        assert done == ["b"]
        assert pacer.states()["a"].waiting_for == "requests"
        assert pacer.states()["b"].waiting_for is None
    assert done == ["b", "a"]
    assert set(pacer.states()) == {"a", "b"}


class Bucket:
    """A server-side limit as Groq's fake keeps it: ``limit`` requests, refilled continuously
    over ``window`` seconds (or, with ``fixed``, all at once at each window's end)."""

    def __init__(self, limit: int, window: float, *, fixed: bool = False) -> None:
        self.limit = limit
        self.window = window
        self.fixed = fixed
        self.level = 0.0
        self.at = 0.0
        self.refused = 0

    def ask(self) -> float:
        """0 if a request is accepted now, else how long until it would be."""
        now = trio.current_time()
        if self.fixed:
            if now >= self.at + self.window:
                self.at += self.window * ((now - self.at) // self.window)
                self.level = 0.0
            if self.level + 1 <= self.limit:
                self.level += 1
                return 0.0
            self.refused += 1
            return self.at + self.window - now
        rate = self.limit / self.window
        self.level = max(0.0, self.level - (now - self.at) * rate)
        self.at = now
        if self.level + 1 <= self.limit + 1e-9:
            self.level += 1
            return 0.0
        self.refused += 1
        return (self.level + 1 - self.limit) / rate


async def run_against(pacer: Pacer, server: Bucket, requests: int, *, workers: int = 20) -> float:
    """Send ``requests`` through the pacer from ``workers`` tasks, each retrying its 429s
    (after a small network delay), like a fan-out; return the time taken."""
    start = trio.current_time()
    todo = iter(range(requests))

    async def worker() -> None:
        for _ in todo:
            while True:
                ticket = await admit(pacer)
                await trio.sleep(0.001)  # to the server
                wait = server.ask()
                await trio.sleep(0.001)  # and back
                if not wait:
                    ticket.observe(limits(remaining_requests=10**6, limit_requests=10**6))
                    break
                ticket.rejected(too_many(round(wait, 4)), max_wait=60)

    async with trio.open_nursery() as nursery:
        for _ in range(workers):
            nursery.start_soon(worker)
    return trio.current_time() - start


@pytest.mark.parametrize("fixed", [False, True], ids=["bucket", "fixed-window"])
async def test_an_unstated_request_limit_is_learned_from_429s(
    autojump_clock: trio.testing.MockClock, fixed: bool
) -> None:
    # 30 requests per 2 s, stated nowhere but in 429s: the shortest time for 600 requests is
    # (600 - 30) / 15 = 38 s. Blindly, 20 workers would collide hundreds of times.
    server = Bucket(30, 2.0, fixed=fixed)
    pacer = Pacer()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep, 0)

        async def early() -> None:
            await trio.sleep(2)
            counts.append(server.refused)

        counts: list[int] = []
        nursery.start_soon(early)
        took = await run_against(pacer, server, 600)
    ideal = (600 - 30) / 15
    assert took <= 1.2 * ideal, (took, ideal)
    # The first burst, sent knowing nothing, collides (at most 20 workers' worth); after that,
    # a few 429s to measure the pace, and hardly any once it is known.
    assert counts[0] <= 30
    assert server.refused - counts[0] <= 3
    state = pacer.states()[MODEL]
    assert state.rate_limited == server.refused
    assert state.requests_per_second is not None
    assert 10 <= state.requests_per_second <= 17


async def test_a_per_minute_request_limit_shares_the_token_limits_minute(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The token headers show a bucket of 6,000 refilling at 3,000 a second: a 2 s "minute".
    # "requests per minute (RPM): Limit 30" then means 15 a second, from the first 429 on.
    pacer = Pacer()
    for remaining in (5000, 4000, 3000):
        ticket = await admit(pacer)
        ticket.observe(
            limits(
                remaining_tokens=remaining,
                limit_tokens=6000,
                reset_tokens=(6000 - remaining) / 3000,
            )
        )
    burst = [await admit(pacer) for _ in range(5)]
    burst[-1].rejected(too_many(0.05, kind="requests", limit=30), max_wait=60)
    state = pacer.states()[MODEL]
    assert state.requests_per_second == pytest.approx(15 * 0.97)


async def test_a_learned_pace_is_probed_up_again(autojump_clock: trio.testing.MockClock) -> None:
    # A pace learned too low (from an unrepresentative epoch) climbs back while no 429 comes.
    server = Bucket(1000, 1.0)
    pacer = Pacer()
    pace = pacer._for(MODEL)
    ticket = await admit(pacer)
    ticket.observe(limits(remaining_requests=10**6))
    pace.request_rate = 5.0
    await run_against(pacer, server, 1000, workers=5)
    assert server.refused == 0
    assert pace.request_rate > 15.0


async def test_explicit_limits_spread_starts_and_probe_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer({MODEL: tgs.Limits(requests=10, per=1.0)})
    start = trio.current_time()
    times = []
    for _ in range(21):
        await admit(pacer)
        times.append(trio.current_time() - start)
    # No burst, and no blind probe either: evenly spaced at a little under 10 a second.
    gaps = {round(b - a, 4) for a, b in itertools.pairwise(times)}
    assert gaps == {round(1 / (10 * 0.97), 4)}
    assert pacer.states()[MODEL].requests_per_second == pytest.approx(9.7)
    # Other models are learned, not limited.
    assert pacer.states().get("other") is None
    other = trio.current_time()
    await admit(pacer, body(model="other"))
    assert trio.current_time() == other


async def test_explicit_token_limits() -> None:
    pacer = Pacer(tgs.Limits(tokens=1000, per=10.0))
    pace = pacer._for(MODEL)
    assert pace.token_rate == pytest.approx(97.0)
    assert pace.request_rate is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"m": 5}, "limits['m'] must be a Limits"),
        (5, "limits must be a Limits"),
    ],
)
def test_limits_are_checked(value: object, fragment: str) -> None:
    with pytest.raises(tgs.ConfigurationError, match=fragment.replace("[", r"\[")):
        Pacer(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [{"requests": 0}, {"tokens": -1}, {"requests": True}, {"per": 0}, {"per": math.inf}],
)
def test_limits_values_are_checked(fields: Mapping[str, Any]) -> None:
    with pytest.raises(tgs.ConfigurationError):
        tgs.Limits(**fields)


# --- bounded waits ------------------------------------------------------------------------------


async def test_a_wait_past_max_wait_fails_at_once_and_is_forgotten(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    ticket = await admit(pacer)
    ticket.observe(
        limits(remaining_requests=0, limit_requests=14400, reset_requests=9999999 * 3600)
    )
    start = trio.current_time()
    with pytest.raises(tgs.RateLimitError) as info:
        await admit(pacer, max_wait=60)
    assert trio.current_time() == start
    assert "used-up request window" in str(info.value)
    assert "max_retry_wait=60s" in str(info.value)
    assert info.value.retry_after == pytest.approx(9999999 * 3600, rel=1e-6)
    # Refused, and forgotten: the next request goes out and hears from the server afresh.
    await admit(pacer, max_wait=60)
    assert trio.current_time() == start


async def test_a_retry_after_past_max_wait_does_not_hold_anyone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    ticket = await admit(pacer)
    ticket.rejected(too_many(999999), max_wait=60)
    start = trio.current_time()
    await admit(pacer, max_wait=60)
    assert trio.current_time() == start
    # Within the cap, it holds; a later caller with a smaller cap is refused, then not held.
    ticket.rejected(too_many(30), max_wait=60)
    with pytest.raises(tgs.RateLimitError, match="retry-after"):
        await admit(pacer, max_wait=5)
    await admit(pacer, max_wait=5)
    assert trio.current_time() == start


async def test_the_wait_for_a_turn_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer()
    first = await admit(pacer)
    first.rejected(too_many(10), max_wait=60)
    with trio.move_on_after(3):
        await admit(pacer)
    state = pacer.states()[MODEL]
    assert (state.queued, state.waiting_for) == (0, None)
    assert not pacer._for(MODEL).lock.locked()
    start = trio.current_time()
    await admit(pacer)
    assert trio.current_time() - start == pytest.approx(7.0, abs=0.02)


async def test_requests_are_admitted_in_arrival_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer(tgs.Limits(requests=5, per=1.0))
    order: list[int] = []

    async def one(index: int) -> None:
        await admit(pacer)
        order.append(index)

    async with trio.open_nursery() as nursery:
        for index in range(10):
            nursery.start_soon(one, index)
            await trio.testing.wait_all_tasks_blocked()
    assert order == list(range(10))


async def admit_twenty(nursery: trio.Nursery, pacer: Pacer) -> list[Ticket]:
    """Start 20 admissions at once; returns the tickets, in the order they are admitted."""
    tickets: list[Ticket] = []

    async def one() -> None:
        tickets.append(await admit(pacer))

    for _ in range(20):
        nursery.start_soon(one)
    await trio.testing.wait_all_tasks_blocked()
    return tickets


async def test_before_any_headers_only_a_few_go_out_blind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    async with trio.open_nursery() as nursery:
        tickets = await admit_twenty(nursery, pacer)
        assert len(tickets) == 8
        assert pacer.states()[MODEL].queued == 12
        tickets[0].finished()  # no headers at all (a server that sends none): go on
    assert len(tickets) == 20


async def test_a_first_answer_stating_no_limits_releases_the_others_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pacer = Pacer()
    async with trio.open_nursery() as nursery:
        tickets = await admit_twenty(nursery, pacer)
        assert len(tickets) == 8
        tickets[3].observe(tgs.RateLimits())  # not the first request's answer: still held
        await trio.testing.wait_all_tasks_blocked()
        assert len(tickets) == 8
        tickets[0].observe(tgs.RateLimits())  # its headers came, and they state no limits
        await trio.testing.wait_all_tasks_blocked()
        assert len(tickets) == 20  # not held until that stream ends


async def test_wait_for_room(autojump_clock: trio.testing.MockClock) -> None:
    pacer = Pacer()
    assert await pacer.wait_for_room() == 0.0
    ticket = await admit(pacer)
    ticket.rejected(too_many(4), max_wait=60)
    assert await pacer.wait_for_room("other") == 0.0
    assert await pacer.wait_for_room() == pytest.approx(4.0, abs=0.02)
    assert await pacer.wait_for_room(MODEL) == 0.0


# --- over loopback HTTP, against the fake's stateful limits --------------------------------------

LOOPBACK_AUTOJUMP = 0.02


@pytest.fixture
def loopback_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=LOOPBACK_AUTOJUMP)


def requests_(count: int, **fields: Any) -> list[tgs.ChatRequest]:
    return [
        cast(
            "tgs.ChatRequest",
            {"model": MODEL, "messages": [{"role": "user", "content": f"prompt {i}"}], **fields},
        )
        for i in range(count)
    ]


async def test_a_server_stating_no_limits_gets_a_whole_fan_out_at_once(
    loopback_clock: trio.testing.MockClock,
) -> None:
    """No x-ratelimit headers (a proxy, another OpenAI-compatible server): the first answer's
    headers release the requests held back, without waiting for that stream to end."""

    def bare(_recorded: object) -> Reply:
        reply = text_reply("one two three four", pause=10.0)
        headers = tuple(h for h in reply.headers if not h[0].startswith("x-ratelimit"))
        return dataclasses.replace(reply, headers=headers)

    async with (
        open_fake_groq() as fake,
        tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0) as client,
    ):
        fake.handler = bare
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(tgs.gather, client, requests_(20), max_concurrency=20))
            with trio.fail_after(100):
                await fake.wait_requests(20)
            assert trio.current_time() - start < 10  # before the first answer's second part
            assert fake.stats().responses_completed == 0
        assert client.pacing[MODEL].rate_limited == 0


async def test_a_paced_gather_avoids_the_429s_an_unpaced_one_collects(
    loopback_clock: trio.testing.MockClock,
) -> None:
    fake_limits = FakeRateLimits(
        requests_per_minute=10, tokens_per_minute=4000, requests_per_day=10**6, minute=1.0
    )
    counts = {}
    for pace in (True, False):
        async with (
            open_fake_groq(rate_limits=fake_limits) as fake,
            tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=50) as client,
        ):
            with trio.fail_after(120):
                results = await tgs.gather(
                    client, requests_(60, max_completion_tokens=30), max_concurrency=30, pace=pace
                )
            assert [r.text.startswith("You said: prompt") for r in results] == [True] * 60
            counts[pace] = fake.stats().requests - 60
            assert client.pacing[MODEL].rate_limited == counts[pace]
    assert counts[True] <= 15
    assert counts[False] > 3 * counts[True], counts


async def test_the_pacing_wait_counts_toward_total_timeout(
    loopback_clock: trio.testing.MockClock, fake: FakeGroq, client: tgs.GroqClient
) -> None:
    fake.push(
        text_reply(
            "ok",
            headers=[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "20s")],
        )
    )
    await tgs.gather(client, requests_(1))
    start = trio.current_time()
    with pytest.raises(ExceptionGroup) as info:
        await tgs.gather(client, requests_(1), total_timeout=5)
    assert info.group_contains(tgs.TotalTimeout)
    assert trio.current_time() - start == pytest.approx(5.0, abs=0.1)
    assert len(fake.requests) == 1  # the second was never sent


async def test_a_huge_retry_after_stalls_nothing(
    loopback_clock: trio.testing.MockClock, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(429, retry_after=999999))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        start = trio.current_time()
        with trio.fail_after(5):
            results = await tgs.gather(client, requests_(3), on_error="collect")
        error = results[0]
        assert isinstance(error, tgs.RateLimitError)
        assert "999999" in str(error)
        assert all(isinstance(r, tgs.ChatCompletion) for r in results[1:])
        # The next gather is not held either.
        with trio.fail_after(5):
            await tgs.gather(client, requests_(2))
        assert trio.current_time() - start < 1


async def test_a_huge_reset_fails_the_next_request_then_is_forgotten(
    loopback_clock: trio.testing.MockClock, fake: FakeGroq
) -> None:
    fake.push(
        text_reply(
            "ok",
            headers=[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "9999999h"),
            ],
        )
    )
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with trio.fail_after(5):
            first = await tgs.gather(client, requests_(2), on_error="collect", max_concurrency=1)
            assert isinstance(first[0], tgs.ChatCompletion)
            error = first[1]
            assert isinstance(error, tgs.RateLimitError)
            assert "3.6e+10s" in str(error)
            assert "max_retry_wait=60s" in str(error)
            second = await tgs.gather(client, requests_(2))
        assert len(second) == 2
        assert len(fake.requests) == 3  # the refused one was never sent


async def test_pace_false_and_open_stream_are_not_held_but_teach_the_pacer(
    loopback_clock: trio.testing.MockClock, fake: FakeGroq, client: tgs.GroqClient
) -> None:
    resets = iter(["30s", "40s", "50s"])  # a window that empties, not a bucket: no steady refill

    def used_up(_request: object) -> Reply:
        reset = next(resets)
        return text_reply(
            "ok",
            headers=[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", reset)],
        )

    fake.handler = used_up
    async with tgs.open_stream(client, model=MODEL, messages=[{"role": "user", "content": "x"}]):
        pass
    start = trio.current_time()
    await tgs.gather(client, requests_(2), pace=False)
    assert trio.current_time() - start < 1
    state = client.pacing[MODEL]
    assert state.admitted == 3
    with trio.move_on_after(1):
        await tgs.gather(client, requests_(1))
    assert client.pacing[MODEL].waiting_for is None  # given up: no longer queued
    assert len(fake.requests) == 3


async def test_client_limits_option(loopback_clock: trio.testing.MockClock, fake: FakeGroq) -> None:
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, limits=tgs.Limits(requests=60, per=60.0)
    ) as client:
        start = trio.current_time()
        await tgs.gather(client, requests_(4))
        assert trio.current_time() - start == pytest.approx(3 / 0.97, abs=0.2)
        assert client.pacing[MODEL].requests_per_second == pytest.approx(0.97)
    with pytest.raises(tgs.ConfigurationError):
        tgs.GroqClient(api_key=FAKE_API_KEY, limits={"m": 3})  # type: ignore[dict-item]
