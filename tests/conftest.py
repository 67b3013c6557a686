"""Shared fixtures.

Time: tests that wait on deadlines use ``loopback_clock``, a ``MockClock`` that jumps to the next
deadline once the run loop has been idle for a few real milliseconds. pytest-trio's own
``autojump_clock`` jumps the instant the loop would block, which is right for pure-trio code but
wrong beside a real socket: waiting a microsecond for loopback bytes would leap over a timeout.
"""

from __future__ import annotations

import pytest
import trio.testing

# Real idle time before the mock clock jumps. Loopback IO answers well within this; only a real
# wait (a Pause, a stall, a sleep) lasts long enough to trigger a jump.
AUTOJUMP_THRESHOLD = 0.02


@pytest.fixture
def loopback_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD)
