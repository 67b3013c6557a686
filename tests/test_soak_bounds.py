"""Peak memory against hostile servers, measured in a fresh process (the soak session only).

Each case runs in its own interpreter so that ``ru_maxrss`` is that case's peak: a compression
bomb inflating to 1 GiB, endless content-less chunks, and endless content (the completion cap).
Every case must end in a typed error or a normal completion, with peak RSS under 200 MB.
Run with ``nox -s soak`` (or ``TRIO_GROQSTREAM_SOAK=1 pytest tests/test_soak_bounds.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not os.environ.get("TRIO_GROQSTREAM_SOAK"), reason="a soak run: set TRIO_GROQSTREAM_SOAK=1"
)

PEAK_RSS_LIMIT_MB = 200

PROBE = """
import resource, sys
import trio
import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY, compression_bomb_reply, contentless_flood_reply, open_fake_groq, text_reply,
)

def reply(case):
    if case == "gzip-bomb":
        return compression_bomb_reply(1 << 30, encoding="gzip")
    if case == "deflate-bomb":
        return compression_bomb_reply(1 << 30, encoding="deflate")
    if case == "flood":
        return contentless_flood_reply(10**9)
    block = text_reply(" ".join(["endless"] * 2_000), done=False)  # one write of ~600 KB
    return type(block)(headers=block.headers, body=(block.body_bytes(),) * 1_000)

async def main(case):
    async with open_fake_groq() as fake:
        fake.push(reply(case))
        async with tgs.GroqClient(
            api_key=FAKE_API_KEY, base_url=fake.base_url, total_timeout=30, max_retries=2
        ) as client:
            try:
                async with tgs.open_stream(
                    client, model="llama-3.3-70b-versatile",
                    messages=[{"role": "user", "content": "hi"}],
                ) as stream:
                    async for _ in stream:
                        pass
                outcome = "completed"
            except tgs.GroqStreamError as exc:
                outcome = type(exc).__name__
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(outcome, peak)

trio.run(main, sys.argv[1])
"""


@pytest.mark.parametrize("case", ["gzip-bomb", "deflate-bomb", "flood", "endless-content"])
def test_peak_memory_stays_bounded(case: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, case], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, peak = done.stdout.split()
    assert outcome in {
        "completed",
        "StreamProtocolError",
        "TotalTimeout",
        "CompletionTooLargeError",
    }
    assert int(peak) < PEAK_RSS_LIMIT_MB, f"{case}: peak RSS {peak} MB ({outcome})"
