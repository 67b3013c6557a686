"""Stateful rate limits like Groq's: requests and tokens per minute and per day, per model.

Groq's limits behave as buckets that refill continuously, not as windows that reset on the
minute: the wait in a recorded 429 (``Limit 6000, Used 5914, Requested 1822. Please try again in
17.359s``) is exactly the excess, 1736 tokens, at 6000 tokens a minute. So each limit here is a
bucket of ``limit`` units that drains at ``limit / window`` units a second, and:

* a request is admitted when every bucket has room for it, and then fills each one;
* ``x-ratelimit-remaining-*`` is the room left, ``x-ratelimit-reset-*`` the time until the bucket
  is empty again, as a Go duration (``7.66s``, ``2m59.56s``, ``130ms``), like Groq's headers;
* a refused request gets Groq's 429 (``type`` ``"tokens"`` or ``"requests"``, code
  ``rate_limit_exceeded``) with ``retry-after`` in whole seconds, and fills nothing;
* a request needing more tokens than the per-minute limit can ever hold gets Groq's 413.

Window lengths are settable so that a test can compress a minute into a second; with a
``trio.testing.MockClock`` the fake's time is the mock clock's, and tests take no real time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._chunks import HeaderPairs
from ._validate import Problem

__all__ = ["FakeRateLimits", "RateLimiter", "estimate_prompt_tokens", "go_duration"]

_DOCS = "Visit https://console.groq.com/docs/rate-limits for more information."


@dataclass(frozen=True)
class FakeRateLimits:
    """The limits a fake enforces, per model (Groq's limits are per model and organization).

    Each limit is optional (``None``: unlimited). A request costs one request and its tokens:
    the estimated prompt tokens plus the ``max_completion_tokens`` (or ``max_tokens``) it asks
    for, which is what Groq reserves when it admits a request.

    Attributes:
        requests_per_minute: RPM.
        requests_per_day: RPD; reported in ``x-ratelimit-*-requests`` (like Groq) when set, else
            RPM is.
        tokens_per_minute: TPM; reported in ``x-ratelimit-*-tokens`` when set, else TPD is. A
            single request over it gets 413.
        tokens_per_day: TPD.
        minute: How many seconds a "minute" lasts (``1.0`` makes a test 60 times faster).
        day: How many seconds a "day" lasts.
        organization: The organization named in the 429 and 413 messages.
    """

    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_minute: int | None = None
    tokens_per_day: int | None = None
    minute: float = 60.0
    day: float = 86400.0
    organization: str = "org_fake"

    def __post_init__(self) -> None:
        for name in (
            "requests_per_minute",
            "requests_per_day",
            "tokens_per_minute",
            "tokens_per_day",
        ):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(f"{name} must be None or an int >= 1, not {value!r}")
        for name in ("minute", "day"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()``: ``0s``, ``130ms``, ``7.66s``, ``2m59.56s``."""
    ns = round(seconds * 1e9)
    if ns <= 0:
        return "0s"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return _fraction(ns, 1_000) + "µs"
    if ns < 1_000_000_000:
        return _fraction(ns, 1_000_000) + "ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return text + _fraction(rest, 1_000_000_000) + "s"


def _fraction(value: int, unit: int) -> str:
    whole, part = divmod(value, unit)
    if not part:
        return str(whole)
    digits = str(part).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def _text_tokens(value: Any) -> int:
    # A loop with a stack, not recursion: a request may nest as deep as its JSON allows.
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += math.ceil(len(item) / 4)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            if item.get("type") == "image_url":
                total += 85  # a low-detail image, as OpenAI-compatible APIs count it
            else:
                stack.extend(item.values())
    return total


def estimate_prompt_tokens(body: Any) -> int:
    """A stable estimate of a request's prompt tokens: about four characters a token.

    Each message costs four tokens of framing plus its text (content, tool calls, names); the
    tool definitions count as their text. Not a tokenizer: a deterministic, plausible number.
    """
    if not isinstance(body, Mapping):
        return 0
    total = 3
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            total += 4 + (_text_tokens(message) if isinstance(message, Mapping) else 0)
    tools = body.get("tools")
    if isinstance(tools, list):
        total += _text_tokens(tools)
    return total


def requested_tokens(body: Any) -> int:
    """What a request reserves against the token limits: prompt plus the answer it asks for."""
    prompt = estimate_prompt_tokens(body)
    if not isinstance(body, Mapping):
        return prompt
    wanted = body.get("max_completion_tokens", body.get("max_tokens"))
    return prompt + (wanted if isinstance(wanted, int) and wanted > 0 else 0)


@dataclass
class _Bucket:
    name: str  # "tokens per minute (TPM)"
    kind: str  # "tokens" or "requests"
    limit: int
    window: float
    level: float = 0.0
    at: float = 0.0

    @property
    def rate(self) -> float:
        return self.limit / self.window

    def drain(self, now: float) -> None:
        self.level = max(0.0, self.level - (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, cost: int) -> float:
        return max(0.0, (self.level + cost - self.limit) / self.rate)

    def headers(self, suffix: str) -> HeaderPairs:
        return (
            (f"x-ratelimit-limit-{suffix}", str(self.limit)),
            (f"x-ratelimit-remaining-{suffix}", str(max(0, math.floor(self.limit - self.level)))),
            (f"x-ratelimit-reset-{suffix}", go_duration(self.level / self.rate)),
        )


@dataclass
class _ModelLimits:
    requests: list[_Bucket] = field(default_factory=list)
    tokens: list[_Bucket] = field(default_factory=list)


@dataclass(frozen=True)
class Admission:
    """What the limiter decided: the headers to send, and a problem if the request is refused."""

    headers: HeaderPairs
    problem: Problem | None = None
    retry_after: int | None = None


class RateLimiter:
    """The buckets of one fake server, per model. Time is passed in (``trio.current_time()``)."""

    def __init__(self, limits: FakeRateLimits) -> None:
        self.limits = limits
        self._models: dict[str, _ModelLimits] = {}

    def _buckets(self, model: str, now: float) -> _ModelLimits:
        state = self._models.get(model)
        if state is None:
            lim = self.limits
            state = _ModelLimits()
            # The first bucket of each kind is the one Groq reports in the headers.
            for name, kind, limit, window, into in (
                (
                    "requests per day (RPD)",
                    "requests",
                    lim.requests_per_day,
                    lim.day,
                    state.requests,
                ),
                (
                    "requests per minute (RPM)",
                    "requests",
                    lim.requests_per_minute,
                    lim.minute,
                    state.requests,
                ),
                (
                    "tokens per minute (TPM)",
                    "tokens",
                    lim.tokens_per_minute,
                    lim.minute,
                    state.tokens,
                ),
                ("tokens per day (TPD)", "tokens", lim.tokens_per_day, lim.day, state.tokens),
            ):
                if limit is not None:
                    into.append(_Bucket(name, kind, limit, window, at=now))
            self._models[model] = state
        for bucket in (*state.requests, *state.tokens):
            bucket.drain(now)
        return state

    def headers(self, model: str, now: float) -> HeaderPairs:
        """The headers for ``model`` at ``now``, charging nothing (for a refused request)."""
        return self._headers(self._buckets(model, now))

    def admit(self, model: str, tokens: int, now: float) -> Admission:
        """Charge one request of ``tokens`` tokens to ``model`` at time ``now``, if it fits."""
        state = self._buckets(model, now)
        org = self.limits.organization
        tpm = next((b for b in state.tokens if b.name.endswith("(TPM)")), None)
        if tpm is not None and tokens > tpm.limit:
            message = (
                f"Request too large for model `{model}` in organization `{org}` service tier "
                f"`on_demand` on {tpm.name}: Limit {tpm.limit}, Requested {tokens}, please reduce "
                f"your message size and try again. {_DOCS}"
            )
            problem = Problem(message, code="rate_limit_exceeded", status=413, type="tokens")
            return Admission(self._headers(state), problem)
        costs = [(b, 1) for b in state.requests] + [(b, tokens) for b in state.tokens]
        waits = [(bucket.wait_for(cost), bucket, cost) for bucket, cost in costs]
        wait, worst, cost = max(waits, key=lambda item: item[0], default=(0.0, None, 0))
        if worst is not None and wait > 0:
            used = math.ceil(worst.level)
            message = (
                f"Rate limit reached for model `{model}` in organization `{org}` service tier "
                f"`on_demand` on {worst.name}: Limit {worst.limit}, Used {used}, Requested "
                f"{cost}. Please try again in {go_duration(wait)}. {_DOCS}"
            )
            problem = Problem(message, code="rate_limit_exceeded", status=429, type=worst.kind)
            return Admission(self._headers(state), problem, retry_after=math.ceil(wait))
        for bucket, cost in costs:
            bucket.level += cost
        return Admission(self._headers(state))

    @staticmethod
    def _headers(state: _ModelLimits) -> HeaderPairs:
        out: HeaderPairs = ()
        if state.requests:
            out += state.requests[0].headers("requests")
        if state.tokens:
            out += state.tokens[0].headers("tokens")
        return out
