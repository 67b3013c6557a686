"""The command line under rate limits: it says what it waits for, and sums the run up.

The console script runs against the standalone fake with stateful limits in compressed windows
(4 requests per one-second "minute"), so a dozen prompts must wait on the limit for a second or
two: the pacer's 429s, waits and admissions are real, over HTTP on loopback.
"""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio
import trio.testing
from _cli_support import TIMEOUT, cli, environment, in_terminal, read_records, text

from trio_groqstream import GroqClient, _display
from trio_groqstream._display import LiveDisplay, PaceWait, PlainDisplay
from trio_groqstream._inputs import jobs_from_prompts
from trio_groqstream._run import Run
from trio_groqstream.testing import FAKE_API_KEY, FakeRateLimits, open_fake_groq

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

MODEL = "llama-3.3-70b-versatile"
PROMPTS = [f"prompt number {n}" for n in range(12)]
WAIT_LINE = re.compile(
    rf"^-- waiting for (?:the request limit|the token limit|a 429's retry-after) of {MODEL} "
    r"\((\d+) queued, next start in (\d+\.\d)s\)$",
    re.M,
)
TOTALS = re.compile(
    r"^(\d+) requests, (\d+) tokens \((\d+) prompt \+ (\d+) completion\), "
    r"(\d+) rate-limited \(429\), (\d+\.\d)s waiting on rate limits$",
    re.M,
)


@pytest.fixture
def limited_env() -> Iterator[dict[str, str]]:
    """The environment of a client of a standalone fake allowing 4 requests per second."""
    limits = ["--requests-per-minute", "4", "--minute", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_groqstream.testing", "--port", "0", *limits],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        found = dict(process.stdout.readline().strip().split("=", 1) for _ in range(2))
        yield environment(GROQ_BASE_URL=found["GROQ_BASE_URL"], GROQ_API_KEY=found["GROQ_API_KEY"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


def test_plain_run_says_what_it_waits_for_and_sums_it_up(
    limited_env: dict[str, str], tmp_path: Path
) -> None:
    results = tmp_path / "out.jsonl"
    done = cli("--plain", "-o", str(results), *PROMPTS, env=limited_env)
    out, err = text(done)
    assert done.returncode == 0, err
    assert "-- waiting" not in out  # stdout keeps the answers only
    waits = WAIT_LINE.findall(err)
    assert waits, err
    assert all(int(queued) >= 1 for queued, _ in waits)
    # One line when a wait starts, not one per look (about 10 a second) nor per request.
    assert len(waits) < len(PROMPTS) // 2, err
    assert len(err.splitlines()) == len(waits) + 2  # the waits, the summary, the totals

    records = read_records(results)
    assert sorted(record["index"] for record in records) == list(range(len(PROMPTS)))
    assert all(record["error"] is None for record in records)
    totals = TOTALS.search(err)
    assert totals is not None, err
    sent, tokens, prompt, completion, limited, waited = totals.groups()
    attempts = sum(record["attempts"] for record in records)
    assert int(sent) == attempts  # every attempt, retries too
    assert int(limited) == attempts - len(PROMPTS)  # each retry followed a 429
    assert int(prompt) == sum(record["usage"]["prompt_tokens"] for record in records)
    assert int(completion) == sum(record["usage"]["completion_tokens"] for record in records)
    assert int(tokens) == int(prompt) + int(completion) > 0
    assert float(waited) > 0
    assert err.index("12 done, 0 failed") < err.index(totals.group(0))


def test_live_display_shows_the_wait(limited_env: dict[str, str]) -> None:
    status, screen, _ = in_terminal(*PROMPTS, env=limited_env, columns=140)
    shown = screen.decode(errors="replace")
    assert status == 0, shown
    assert re.search(rf"waiting for (the request limit|a 429's retry-after) of {MODEL}", shown)
    assert TOTALS.search(shown.replace("\r\n", "\n")), shown[-2000:]


def test_a_wait_gets_one_plain_line_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(_display, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    err = io.StringIO()
    display = PlainDisplay([(0, "p")], out=io.StringIO(), stderr=err)
    requests = PaceWait("m", "requests", 0.42, 7)
    display.pacing([requests])
    for _ in range(5):  # the same wait, looked at again and again
        clock[0] += 0.1
        display.pacing([requests._replace(seconds=0.3)])
    display.pacing([requests, PaceWait("m", "tokens", 2.0, 7)])  # another limit: a new wait
    display.pacing([])
    clock[0] += _display.WAIT_GAP + 0.1
    display.pacing([PaceWait("m\x1b[2J", "retry-after", -0.01, 1), requests])  # after a gap
    assert err.getvalue().splitlines() == [
        "-- waiting for the request limit of m (7 queued, next start in 0.4s)",
        "-- waiting for the token limit of m (7 queued, next start in 2.0s)",
        "-- waiting for a 429's retry-after of m (1 queued, next start in 0.0s)",
        "-- waiting for the request limit of m (7 queued, next start in 0.4s)",
    ]


def test_live_progress_shows_what_the_limits_hold_back() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120, height=16)
    display = LiveDisplay([(0, "p")], console=console, stderr=io.StringIO())
    display.pacing([PaceWait("m", "tokens", 1.25, 3)])
    console.print(display.render())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "waiting for the token limit of m (3 queued, next start in 1.2s)" in shown
    display.pacing([])
    console.file = io.StringIO()
    console.print(display.render())
    assert "token limit" not in console.file.getvalue()


class _BrokenStderr(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")


async def test_a_wait_line_that_cannot_be_written_stops_the_run(
    loopback_clock: trio.testing.MockClock,
) -> None:
    jobs = jobs_from_prompts(
        [(f"prompt {n}", p) for n, p in enumerate(PROMPTS)], None, {"model": MODEL}
    )
    display = PlainDisplay(
        [(j.index, j.prompt) for j in jobs], out=io.StringIO(), stderr=_BrokenStderr()
    )
    run = Run(jobs, display, None, concurrency=8)
    limits = FakeRateLimits(requests_per_minute=2, minute=2.0)
    async with (
        open_fake_groq(rate_limits=limits) as fake,
        GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client,
    ):
        with trio.fail_after(60):
            await run.run(client)
    assert run.output_error is not None
    assert run.output_error.errno == 5
    assert run.output_where == "stderr"
    assert run.started < len(PROMPTS)  # the run stopped: nothing more could be shown
    assert run.pacing[MODEL].admitted <= run.started  # the summary still has the totals
