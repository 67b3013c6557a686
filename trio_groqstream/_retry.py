"""The retry policy: which failures are worth another request, and how long to wait first.

Pure functions, so every rule is tested without a clock. The caller retries only while nothing has
been delivered to the consumer: a streamed POST cannot be resumed, and replaying text the user has
already seen would be worse than failing.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConnectTimeout,
    GroqStreamError,
    IncompleteStreamError,
    StreamAPIError,
)

__all__ = ["BACKOFF_BASE", "BACKOFF_MAX", "RETRY_STATUSES", "backoff", "is_retryable"]

#: 408 timeout, 409 conflict, 429 rate limited, 498 flex capacity, and transient server failures.
#: Never 400/401/403/404/422, nor 413: a request over the per-minute limit can never succeed.
RETRY_STATUSES = frozenset({408, 409, 429, 498, 500, 502, 503, 504})
#: Exponential backoff: the first retry waits about BACKOFF_BASE, doubling up to BACKOFF_MAX.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0


def is_retryable(exc: GroqStreamError) -> bool:
    """Whether a failure that happened before any chunk was delivered is worth retrying."""
    if isinstance(exc, APIStatusError):
        return exc.status_code in RETRY_STATUSES
    if isinstance(exc, APITimeoutError):
        # A connect timeout is a network hiccup; the other deadlines are the caller's own limits,
        # and retrying would silently multiply them.
        return isinstance(exc, ConnectTimeout)
    # Connection errors, an error Groq reported before any content, and a body that ended before
    # any content: all transient from the caller's point of view.
    return isinstance(exc, (APIConnectionError, StreamAPIError, IncompleteStreamError))


def backoff(retry_number: int, *, random_fraction: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry_number`` (1-based) when the server named no
    wait: exponential, with "equal jitter" (between half and all of the step) so that a fan-out
    that failed at once does not retry in lockstep."""
    step = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (retry_number - 1))
    return step * (0.5 + 0.5 * random_fraction())
