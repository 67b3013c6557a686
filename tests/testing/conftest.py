"""Fixtures for the tests of trio_groqstream.testing."""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def socket_clock() -> trio.testing.MockClock:
    """A mock clock for tests that also use real loopback sockets.

    pytest-trio's ``autojump_clock`` jumps the instant every task is blocked, which can be while
    loopback bytes are still in flight; this one first waits for 20 real milliseconds of idleness,
    so it only skips waits that are really waits (a Pause, a stall, a timeout).
    """
    return trio.testing.MockClock(autojump_threshold=0.02)
