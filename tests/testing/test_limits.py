"""Stateful rate limits: the buckets (sans-IO, time passed in), then over HTTP with a mock clock."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream._ratelimit import parse_go_duration
from trio_groqstream.testing import (
    CHAT_COMPLETIONS_PATH,
    FAKE_API_KEY,
    FakeGroq,
    FakeRateLimits,
    MockGroq,
    go_duration,
    text_reply,
)
from trio_groqstream.testing._limits import RateLimiter, estimate_prompt_tokens, requested_tokens

from ._support import AUTH, CHAT, MODEL, load_recording


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1, "0s"),
        (5e-7, "500ns"),
        (0.0000015, "1.5µs"),
        (0.13, "130ms"),
        (0.0015, "1.5ms"),
        (6, "6s"),
        (7.66, "7.66s"),
        (17.359, "17.359s"),
        (179.56, "2m59.56s"),
        (60.363142857, "1m0.363142857s"),
        (578.016, "9m38.016s"),
        (3600, "1h0m0s"),
        (86399.5, "23h59m59.5s"),
    ],
)
def test_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
    if seconds > 0:
        assert parse_go_duration(text) == pytest.approx(seconds)  # the client reads them back


def test_requests_per_minute_refill_continuously() -> None:
    limiter = RateLimiter(FakeRateLimits(requests_per_minute=2, minute=1.0))
    assert limiter.admit(MODEL, 10, now=0.0).problem is None
    assert limiter.admit(MODEL, 10, now=0.0).problem is None
    refused = limiter.admit(MODEL, 10, now=0.0)
    assert refused.problem is not None
    assert (refused.problem.status, refused.problem.type) == (429, "requests")
    assert refused.problem.code == "rate_limit_exceeded"
    assert refused.retry_after == 1  # 500 ms, in whole seconds as Groq sends it
    assert (
        "on requests per minute (RPM): Limit 2, Used 2, Requested 1. Please try again in 500ms."
        in refused.problem.message
    )
    headers = dict(refused.headers)
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "1s"
    assert limiter.admit(MODEL, 10, now=0.49).problem is not None  # a refusal fills nothing
    assert limiter.admit(MODEL, 10, now=0.5).problem is None
    assert limiter.admit("openai/gpt-oss-20b", 10, now=0.5).problem is None  # per model


def test_a_tpm_refusal_reads_like_recording_26() -> None:
    recording = load_recording("26_issue_http429_tpm_rate_limit_json.json")
    limiter = RateLimiter(FakeRateLimits(tokens_per_minute=6000, organization="[nah]"))
    model = "llama3-70b-8192"
    assert limiter.admit(model, 5914, now=0.0).problem is None
    refused = limiter.admit(model, 1822, now=0.0)
    assert refused.problem is not None
    expected = json.loads(recording["sse"])["error"]["message"]
    # The same sentence, with the wait computed (17.36 s) where Groq's clock had moved on.
    assert refused.problem.message == expected.replace(
        "in organization `[nah]`", "in organization `[nah]` service tier `on_demand`"
    ).replace("17.359s", "17.36s")
    assert refused.problem.type == "tokens"
    assert refused.retry_after == 18
    assert dict(refused.headers)["x-ratelimit-remaining-tokens"] == "86"


def test_one_request_over_the_tpm_limit_is_a_413_like_recording_28() -> None:
    recording = load_recording("28_issue_http413_request_too_large.json")
    org = "org_01hw8f0aa0ekmrn70ffm2zkdv1"
    limiter = RateLimiter(FakeRateLimits(tokens_per_minute=6000, organization=org))
    refused = limiter.admit("llama-3.1-70b-versatile", 14368, now=0.0)
    assert refused.problem is not None
    assert refused.problem.status == 413
    expected = json.loads(recording["sse"])["error"]
    assert refused.problem.message == expected["message"].replace(
        f"`{org}`", f"`{org}` service tier `on_demand`"
    )
    assert (refused.problem.type, refused.problem.code) == (expected["type"], expected["code"])
    assert refused.retry_after is None


def test_every_window_counts_and_the_day_is_reported() -> None:
    limits = FakeRateLimits(
        requests_per_minute=100,
        requests_per_day=3,
        tokens_per_minute=1000,
        tokens_per_day=1500,
        minute=1.0,
        day=1000.0,
    )
    limiter = RateLimiter(limits)
    first = dict(limiter.admit(MODEL, 600, now=0.0).headers)
    assert first["x-ratelimit-limit-requests"] == "3"  # RPD, as Groq reports
    assert first["x-ratelimit-remaining-requests"] == "2"
    assert first["x-ratelimit-limit-tokens"] == "1000"  # TPM
    assert first["x-ratelimit-remaining-tokens"] == "400"
    assert first["x-ratelimit-reset-tokens"] == "600ms"
    assert limiter.admit(MODEL, 600, now=1.0).problem is None
    by_day = limiter.admit(MODEL, 600, now=2.0)
    assert by_day.problem is not None
    assert "tokens per day (TPD): Limit 1500" in by_day.problem.message
    assert limiter.admit(MODEL, 1, now=2.0).problem is None
    by_rpd = limiter.admit(MODEL, 1, now=2.0)
    assert by_rpd.problem is not None
    assert "requests per day (RPD)" in by_rpd.problem.message


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        FakeRateLimits(requests_per_minute=0)
    with pytest.raises(ValueError, match="tokens_per_day"):
        FakeRateLimits(tokens_per_day=True)
    with pytest.raises(ValueError, match="minute"):
        FakeRateLimits(minute=0)
    with pytest.raises(TypeError, match="FakeRateLimits"):
        FakeGroq(rate_limits={"rpm": 1})  # type: ignore[arg-type]
    fake = FakeGroq()
    with pytest.raises(TypeError, match="FakeRateLimits"):
        fake.rate_limits = 5  # type: ignore[assignment]


def test_token_estimates_are_stable_and_grow_with_the_prompt() -> None:
    short = estimate_prompt_tokens(CHAT)
    long = estimate_prompt_tokens({**CHAT, "messages": [{"role": "user", "content": "x" * 400}]})
    assert 0 < short < long
    assert long - short == 100 - 1  # "hi" was one token
    assert requested_tokens({**CHAT, "max_completion_tokens": 50}) == short + 50
    assert estimate_prompt_tokens("nonsense") == 0
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    assert estimate_prompt_tokens({"messages": [image]}) > 85
    deep: dict[str, object] = {"content": "abcd"}
    for _ in range(10_000):  # deeper than Python's recursion limit: counted without recursion
        deep = {"content": [deep]}
    assert estimate_prompt_tokens({"messages": [deep]}) == 3 + 4 + 1


# --- over HTTP, on a mock clock ------------------------------------------------------------------


async def test_429_then_admitted_after_retry_after(socket_clock: trio.testing.MockClock) -> None:
    limits = FakeRateLimits(requests_per_minute=2, tokens_per_minute=10_000, minute=60.0)
    async with (
        FakeGroq(rate_limits=limits) as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        with trio.fail_after(300):
            ok = [await http.post(CHAT_COMPLETIONS_PATH, json=CHAT) for _ in range(2)]
            refused = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
            assert refused.status_code == 429
            wait = int(refused.headers["retry-after"])
            assert wait == 30
            await trio.sleep(wait)
            again = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
    assert [r.status_code for r in ok] == [200, 200]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in ok] == ["1", "0"]
    assert ok[1].headers["x-ratelimit-reset-requests"] == "1m0s"
    assert refused.json()["error"]["type"] == "requests"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake.requests) == 4


async def test_the_library_sees_the_limits(socket_clock: trio.testing.MockClock) -> None:
    limits = FakeRateLimits(requests_per_day=1, day=3600.0)
    async with (
        FakeGroq(rate_limits=limits) as fake,
        tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0) as client,
    ):
        fake.push(text_reply("first"))
        with trio.fail_after(60):
            async with tgs.open_stream(
                client, model=MODEL, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                async for _ in stream:
                    pass
            assert stream.rate_limits.remaining_requests == 0
            assert stream.rate_limits.reset_requests == pytest.approx(3600)
            with pytest.raises(tgs.RateLimitError) as info:
                async with tgs.open_stream(
                    client, model=MODEL, messages=[{"role": "user", "content": "hi"}]
                ):
                    pass  # pragma: no cover
    assert info.value.status_code == 429
    assert fake.pending_replies == 0


async def test_limits_can_be_changed_on_a_running_fake() -> None:
    async with (
        FakeGroq() as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        big = {**CHAT, "max_completion_tokens": 5000}
        with trio.fail_after(10):
            assert (await http.post(CHAT_COMPLETIONS_PATH, json=big)).status_code == 200
            fake.rate_limits = FakeRateLimits(tokens_per_minute=1000)
            assert fake.rate_limits.tokens_per_minute == 1000
            too_big = await http.post(CHAT_COMPLETIONS_PATH, json=big)
            fake.rate_limits = None
            assert (await http.post(CHAT_COMPLETIONS_PATH, json=big)).status_code == 200
    assert too_big.status_code == 413
    assert too_big.headers["x-ratelimit-limit-tokens"] == "1000"
    assert too_big.json()["error"]["code"] == "rate_limit_exceeded"
    assert "retry-after" not in too_big.headers


async def test_refusals_report_the_limits_and_cost_nothing() -> None:
    limits = FakeRateLimits(requests_per_minute=1)
    async with (
        FakeGroq(rate_limits=limits) as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        with trio.fail_after(10):
            refused = await http.post(CHAT_COMPLETIONS_PATH, json={**CHAT, "n": 2})
            admitted = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
    assert refused.status_code == 400
    assert refused.headers["x-ratelimit-limit-requests"] == "1"
    assert refused.headers["x-ratelimit-remaining-requests"] == "1"
    assert admitted.status_code == 200
    assert admitted.headers["x-ratelimit-remaining-requests"] == "0"


async def test_the_mock_enforces_the_same_limits(autojump_clock: trio.testing.MockClock) -> None:
    mock = MockGroq(rate_limits=FakeRateLimits(requests_per_minute=1), validate=True)
    async with httpx.AsyncClient(transport=mock.transport, base_url="http://groq") as http:
        first = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
        second = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
        await trio.sleep(60)
        third = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
        invalid = await http.post(CHAT_COMPLETIONS_PATH, json={**CHAT, "model": "nope"})
    assert [r.status_code for r in (first, second, third, invalid)] == [200, 429, 200, 404]
