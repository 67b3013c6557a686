"""The retry policy (sans-IO)."""

from __future__ import annotations

import pytest

import trio_groqstream as tgs
from trio_groqstream._retry import BACKOFF_MAX, backoff, is_retryable


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, True),
        (413, False),
        (422, False),
        (429, True),
        (498, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_statuses(status: int, retried: bool) -> None:
    cls = tgs._errors.status_error_class(status)
    assert is_retryable(cls("x", status_code=status)) is retried


def test_other_failures() -> None:
    assert is_retryable(tgs.APIConnectionError("reset"))
    assert is_retryable(tgs.ConnectTimeout(5))
    assert is_retryable(tgs.StreamAPIError("capacity"))
    assert is_retryable(tgs.IncompleteStreamError("cut"))
    assert not is_retryable(tgs.FirstChunkTimeout(5))
    assert not is_retryable(tgs.IdleTimeout(5))
    assert not is_retryable(tgs.TotalTimeout(5))
    assert not is_retryable(tgs.StreamProtocolError("bad json"))
    assert not is_retryable(tgs.ConfigurationError("bad"))


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    assert backoff(1, random_fraction=lambda: 0.0) == 0.25
    assert backoff(1, random_fraction=lambda: 1.0) == 0.5
    assert backoff(3, random_fraction=lambda: 1.0) == 2.0
    assert backoff(30, random_fraction=lambda: 1.0) == BACKOFF_MAX
    assert BACKOFF_MAX / 2 <= backoff(30) <= BACKOFF_MAX
