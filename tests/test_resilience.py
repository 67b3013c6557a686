"""Retries, timeouts and rate limits, proved on the fake server under a mock clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    drop_reply,
    headers_never_reply,
    http_error_reply,
    in_stream_error_reply,
    keepalive_only_reply,
    stall_reply,
    text_reply,
)

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "llama-3.3-70b-versatile"


@pytest.fixture
async def client(fake: FakeGroq) -> AsyncIterator[tgs.GroqClient]:
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=2) as c:
        yield c


async def run(client: tgs.GroqClient, **options: Any) -> tgs.ChatStream:
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, **options) as stream:
        async for _ in stream:
            pass
    return stream


async def assert_nothing_open(fake: FakeGroq) -> None:
    with trio.fail_after(30):
        await fake.wait_idle()
    assert fake.stats().active_responses == 0


# --- retries --------------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(429, retry_after=2), text_reply("ok"))
    start = trio.current_time()
    stream = await run(client)
    assert stream.completion.text == "ok"
    assert stream.metrics.attempts == 2
    assert stream.metrics.retry_waits == [2.0]
    assert trio.current_time() - start >= 2.0
    assert len(fake.requests) == 2
    await assert_nothing_open(fake)


async def test_retry_after_ms_wins_over_retry_after(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(429, retry_after=5, retry_after_ms=250), text_reply("ok"))
    stream = await run(client)
    assert stream.metrics.retry_waits == [0.25]


async def test_429_with_a_wait_beyond_the_cap_raises_without_waiting(
    loopback_clock: MockClock, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(429, retry_after=120))
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, max_retry_wait=60
    ) as client:
        start = trio.current_time()
        with pytest.raises(tgs.RateLimitError) as info:
            await run(client)
    error = info.value
    assert trio.current_time() - start < 1  # it did not sleep the 120 s
    assert error.retry_after == 120
    assert "120" in str(error)
    assert "max_retry_wait=60" in str(error)
    assert error.attempts == 1
    assert len(fake.requests) == 1


async def test_498_then_success(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(498), text_reply("flex is back"))
    stream = await run(client)
    assert stream.completion.text == "flex is back"
    assert stream.metrics.attempts == 2
    # No retry-after on a 498: exponential backoff with jitter, within the first step.
    assert 0.25 <= stream.metrics.retry_waits[0] <= 0.5


async def test_503_always_gives_up_after_max_retries(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = lambda _request: http_error_reply(503)
    with pytest.raises(tgs.InternalServerError) as info:
        await run(client)
    error = info.value
    assert error.status_code == 503
    assert error.attempts == 3
    assert len(error.retry_waits) == 2
    assert error.retry_waits[1] > error.retry_waits[0] * 0.99 / 2  # it grows
    assert "after 3 attempts" in str(error)
    assert len(fake.requests) == 3
    await assert_nothing_open(fake)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, tgs.BadRequestError),
        (403, tgs.PermissionDeniedError),
        (404, tgs.NotFoundError),
        (413, tgs.RequestTooLargeError),
        (422, tgs.UnprocessableEntityError),
    ],
)
async def test_client_errors_are_never_retried(
    loopback_clock: MockClock,
    client: tgs.GroqClient,
    fake: FakeGroq,
    status: int,
    error_class: type[tgs.APIStatusError],
) -> None:
    fake.handler = lambda _request: http_error_reply(status)
    with pytest.raises(error_class) as info:
        await run(client)
    assert info.value.status_code == status
    assert info.value.attempts == 1
    assert len(fake.requests) == 1


async def test_401_is_not_retried_and_never_shows_the_key(
    loopback_clock: MockClock, fake: FakeGroq
) -> None:
    secret = "gsk_this_is_a_wrong_secret_key_0042"
    async with tgs.GroqClient(api_key=secret, base_url=fake.base_url) as client:
        with pytest.raises(tgs.AuthenticationError) as info:
            await run(client)
    error = info.value
    assert error.status_code == 401
    assert error.code == "invalid_api_key"
    assert len(fake.requests) == 1
    for text in (str(error), repr(error), repr(error.body), repr(error.headers), repr(client)):
        assert secret not in text
    assert secret not in repr(fake.requests[0])


async def test_dropped_before_content_is_retried(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(drop_reply(text_before=""), text_reply("second time lucky"))
    stream = await run(client)
    assert stream.completion.text == "second time lucky"
    assert stream.metrics.attempts == 2


async def test_in_stream_error_before_content_is_retried(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(
        in_stream_error_reply(shape="data", message="capacity", code="capacity_exceeded"),
        text_reply("recovered"),
    )
    stream = await run(client)
    assert stream.completion.text == "recovered"
    assert stream.metrics.attempts == 2


async def test_in_stream_error_after_content_is_raised_with_the_partial(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(in_stream_error_reply(shape="event", text_before="Half an answer"))
    with pytest.raises(tgs.StreamAPIError) as info:
        await run(client)
    assert info.value.completion is not None
    assert info.value.completion.text == "Half an answer"
    assert info.value.attempts == 1
    assert len(fake.requests) == 1


async def test_per_call_override_of_max_retries(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(503), text_reply("never reached"))
    with pytest.raises(tgs.InternalServerError):
        await run(client, max_retries=0)
    assert len(fake.requests) == 1


async def test_cancelled_backoff_sends_no_further_request(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = lambda _request: http_error_reply(503, retry_after=30)
    with trio.move_on_after(10) as scope:
        await run(client)
    assert scope.cancelled_caught
    await trio.sleep(100)  # long past when the retry would have gone out
    assert len(fake.requests) == 1
    await assert_nothing_open(fake)


# --- timeouts -------------------------------------------------------------------------------------


async def test_stall_after_three_chunks_trips_the_idle_timeout(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(stall_reply(text_before="one two three", after_chunks=3))
    with pytest.raises(tgs.IdleTimeout) as info:
        await run(client, idle_timeout=5)
    error = info.value
    assert isinstance(error, tgs.APITimeoutError)
    assert error.limit == "idle_timeout"
    assert error.seconds == 5
    assert "idle_timeout" in str(error)
    assert error.completion is not None
    assert error.completion.text
    await assert_nothing_open(fake)
    assert fake.stats().closed_by_client == 1


@pytest.mark.parametrize("first_chunk_timeout", [None, 30.0])
async def test_keepalive_comments_do_not_count_as_activity(
    loopback_clock: MockClock,
    client: tgs.GroqClient,
    fake: FakeGroq,
    first_chunk_timeout: float | None,
) -> None:
    fake.push(keepalive_only_reply(interval=0.1))
    start = trio.current_time()
    with pytest.raises(tgs.IdleTimeout):
        await run(client, idle_timeout=1, first_chunk_timeout=first_chunk_timeout)
    assert 1.0 <= trio.current_time() - start < 2.0
    await assert_nothing_open(fake)


async def test_headers_that_never_come_trip_the_first_chunk_timeout(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(headers_never_reply())
    with pytest.raises(tgs.FirstChunkTimeout) as info:
        await run(client, first_chunk_timeout=3)
    assert info.value.seconds == 3
    assert info.value.attempts == 1  # a timeout of ours is not retried
    await assert_nothing_open(fake)
    assert fake.stats().closed_by_client == 1


async def test_total_timeout_covers_the_whole_stream(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("slow " * 50, pause=1.0))
    with pytest.raises(tgs.TotalTimeout) as info:
        await run(client, total_timeout=10, idle_timeout=5)
    assert info.value.completion is not None
    assert 0 < len(info.value.completion.text) < len("slow " * 50)
    await assert_nothing_open(fake)


async def test_total_timeout_covers_retries(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.handler = lambda _request: http_error_reply(503, retry_after=4)
    with pytest.raises(tgs.TotalTimeout):
        await run(client, total_timeout=6)
    assert len(fake.requests) == 2


async def test_no_limits_at_all_still_completes(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("patient", pause=100))
    stream = await run(
        client,
        idle_timeout=None,
        first_chunk_timeout=None,
        total_timeout=None,
        connect_timeout=None,
    )
    assert stream.completion.text == "patient"


async def test_connect_timeout_is_typed_and_retried(
    loopback_clock: MockClock,
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectTimeout("timed out", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with tgs.GroqClient(api_key="gsk_x", http_client=http, max_retries=1) as client:
        with pytest.raises(tgs.ConnectTimeout) as info:
            await run(client, connect_timeout=2)
    assert info.value.limit == "connect_timeout"
    assert calls == 2
    await http.aclose()


async def test_connect_error_is_a_connection_error(
    loopback_clock: MockClock,
) -> None:
    async with tgs.GroqClient(
        api_key="gsk_x", base_url="http://127.0.0.1:9", max_retries=0
    ) as client:
        with pytest.raises(tgs.APIConnectionError) as info:
            await run(client)
    assert "127.0.0.1:9" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.HTTPError)


# --- rate limits ----------------------------------------------------------------------------------


async def test_rate_limit_headers_are_parsed(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    headers = [
        ("x-ratelimit-limit-requests", "14400"),
        ("x-ratelimit-limit-tokens", "6000"),
        ("x-ratelimit-remaining-requests", "14370"),
        ("x-ratelimit-remaining-tokens", "5997"),
        ("x-ratelimit-reset-requests", "2m59.56s"),
        ("x-ratelimit-reset-tokens", "130ms"),
    ]
    fake.push(text_reply("ok", headers=headers))
    stream = await run(client)
    limits = stream.rate_limits
    assert limits.limit_requests == 14400
    assert limits.remaining_tokens == 5997
    assert limits.reset_requests == pytest.approx(179.56)
    assert limits.reset_tokens == pytest.approx(0.13)
    assert client.rate_limits == limits


async def test_client_budget_waits_for_an_exhausted_window(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    headers = [("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "7.5s")]
    fake.push(text_reply("ok", headers=headers))
    await run(client)
    start = trio.current_time()
    waited = await client.wait_for_rate_limits()
    assert waited == pytest.approx(7.5, abs=0.01)
    assert trio.current_time() - start == pytest.approx(7.5, abs=0.01)
    assert await client.wait_for_rate_limits() == 0.0


async def test_a_429_informs_the_client_budget(
    loopback_clock: MockClock, client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(http_error_reply(429, retry_after=3))
    with pytest.raises(tgs.RateLimitError):
        await run(client, max_retries=0)
    assert client.rate_limits is not None
    assert client.rate_limits.retry_after == 3
    assert await client.wait_for_rate_limits() == pytest.approx(3.0, abs=0.01)
