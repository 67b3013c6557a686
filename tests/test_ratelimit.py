"""Go durations, retry-after, and the rate-limit record (sans-IO)."""

from __future__ import annotations

import email.utils

import pytest

from trio_groqstream import RateLimits, parse_go_duration
from trio_groqstream._ratelimit import parse_retry_after


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2m59.56s", 179.56),
        ("130ms", 0.13),
        ("7.66s", 7.66),
        ("1m0.363142857s", 60.363142857),
        ("9m38.016s", 578.016),
        ("1h2m3s", 3723.0),
        ("6s", 6.0),
        ("0", 0.0),
        ("17", 17.0),
        ("1.5", 1.5),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("10ns", 1e-8),
        (".5s", 0.5),
        ("-1s", -1.0),
        (" 3s ", 3.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5x", "1m s", "abc", "1.2.3s", "nan", "inf", "5s5"])
def test_malformed_durations_are_none(text: str) -> None:
    assert parse_go_duration(text) is None


def test_retry_after_variants() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after": "2"}, now=now) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, now=now) == 1.5
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "9"}, now=now) == 9.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0
    assert parse_retry_after({"retry-after": "-5"}, now=now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}, now=now) is None
    assert parse_retry_after({}, now=now) is None


def test_rate_limits_from_headers_and_exhaustion() -> None:
    headers = {
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "5997",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-reset-tokens": "garbage",
    }
    limits = RateLimits.from_headers(headers, observed_at=100.0, wall_now=0.0)
    assert limits.present
    assert limits.limit_requests == 14400
    assert limits.remaining_requests == 0
    assert limits.reset_tokens is None
    assert limits.exhausted_until() == pytest.approx(279.56)
    roomy = RateLimits.from_headers(
        {"x-ratelimit-remaining-tokens": "5", "x-ratelimit-reset-tokens": "1s"},
        observed_at=0.0,
        wall_now=0.0,
    )
    assert roomy.exhausted_until() is None
    after_429 = RateLimits.from_headers({"retry-after": "3"}, observed_at=10.0, wall_now=0.0)
    assert after_429.exhausted_until() == 13.0
    assert not RateLimits.from_headers({}, observed_at=0.0, wall_now=0.0).present
    bad = RateLimits.from_headers({"x-ratelimit-limit-requests": "many"}, observed_at=0, wall_now=0)
    assert bad.limit_requests is None
