"""Shared fixtures: a fake Groq server per test, a client for it, and a loopback-safe clock.

Time: tests that wait on deadlines use ``loopback_clock``, a ``MockClock`` that jumps to the next
deadline once the run loop has been idle for a few real milliseconds. pytest-trio's own
``autojump_clock`` jumps the instant the loop would block, which is right for pure-trio code but
wrong beside a real socket: waiting a microsecond for loopback bytes would leap over a timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio.testing

import trio_groqstream as tgs
from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, open_fake_groq

# Real idle time before the mock clock jumps. Loopback IO answers well within this; only a real
# wait (a Pause, a stall, a sleep) lasts long enough to trigger a jump.
AUTOJUMP_THRESHOLD = 0.02


@pytest.fixture
def loopback_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGroq]:
    """The project's fake Groq: real HTTP/1.1 on 127.0.0.1, a fresh port per test."""
    async with open_fake_groq() as server:
        yield server


@pytest.fixture
async def client(fake: FakeGroq) -> AsyncIterator[tgs.GroqClient]:
    """A client of ``fake`` that never retries (tests of retries make their own)."""
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0) as c:
        yield c
