"""Groq's rate-limit headers, parsed; and the retry waits they imply.

Pure functions of headers and clock readings passed in: no trio, no httpx, so every rule is tested
with plain calls. Groq states its windows as Go durations (``2m59.56s``, ``130ms``, ``7.66s``) and
``retry-after`` as whole seconds; OpenAI-style servers may add ``retry-after-ms``, which is more
precise and therefore preferred.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping

import msgspec

__all__ = ["RateLimits", "parse_go_duration", "parse_retry_after"]

# Go's time.ParseDuration units, in seconds; Go accepts both "µs" (U+00B5) and "μs" (U+03BC).
_UNITS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)")


def parse_go_duration(text: str) -> float | None:
    """Parse a Go duration (``1h2m3.5s``, ``130ms``, ``0``) into seconds; ``None`` if malformed.

    A bare number is taken as seconds, which is what a plain ``retry-after``-like value means.
    """
    text = text.strip()
    if not text:
        return None
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    try:
        return sign * _finite(float(text))
    except ValueError:
        pass
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        return None
    return sign * total


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """The wait, in seconds, that the server asked for, or ``None`` if it named none.

    ``retry-after-ms`` first (milliseconds), then ``retry-after`` as seconds or an HTTP date (taken
    relative to ``now``, a ``time.time()`` reading). Negative waits count as zero.
    """
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, _finite(float(value)) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, _finite(float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


class RateLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one response said about the caller's rate limits (``None`` where a header was absent).

    Attributes:
        limit_requests: requests allowed per window (per day on Groq).
        limit_tokens: tokens allowed per window (per minute on Groq).
        remaining_requests: requests left in the current window.
        remaining_tokens: tokens left in the current window.
        reset_requests: seconds until the request window frees up.
        reset_tokens: seconds until the token window frees up.
        retry_after: the wait a 429 asked for, in seconds.
        observed_at: the ``trio.current_time()`` at which the headers arrived, so the resets can be
            turned into deadlines.
    """

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None
    retry_after: float | None = None
    observed_at: float = 0.0

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], *, observed_at: float, wall_now: float
    ) -> RateLimits:
        """Parse the ``x-ratelimit-*`` and ``retry-after`` headers; malformed values become
        ``None`` rather than errors (they are advice, never worth failing a stream over)."""
        return cls(
            limit_requests=_int(headers.get("x-ratelimit-limit-requests")),
            limit_tokens=_int(headers.get("x-ratelimit-limit-tokens")),
            remaining_requests=_int(headers.get("x-ratelimit-remaining-requests")),
            remaining_tokens=_int(headers.get("x-ratelimit-remaining-tokens")),
            reset_requests=_duration(headers.get("x-ratelimit-reset-requests")),
            reset_tokens=_duration(headers.get("x-ratelimit-reset-tokens")),
            retry_after=parse_retry_after(headers, now=wall_now),
            observed_at=observed_at,
        )

    @property
    def present(self) -> bool:
        """Whether the response carried any rate-limit information at all."""
        return any(
            value is not None
            for value in (
                self.limit_requests,
                self.limit_tokens,
                self.remaining_requests,
                self.remaining_tokens,
                self.reset_requests,
                self.reset_tokens,
                self.retry_after,
            )
        )

    def exhausted_until(self) -> float | None:
        """The clock time until which starting a new request is pointless (a window is used up),
        or ``None`` if there is room."""
        until: float | None = None
        for remaining, reset in (
            (self.remaining_requests, self.reset_requests),
            (self.remaining_tokens, self.reset_tokens),
        ):
            if remaining is not None and remaining <= 0 and reset is not None:
                candidate = self.observed_at + reset
                until = candidate if until is None else max(until, candidate)
        if self.retry_after is not None:
            candidate = self.observed_at + self.retry_after
            until = candidate if until is None else max(until, candidate)
        return until


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _duration(value: str | None) -> float | None:
    return None if value is None else parse_go_duration(value)
