"""Fan-out under rate limits: the pacer against the naive strategies (issue 12's targets).

A fake Groq with stateful limits (``FakeRateLimits``: buckets, as Groq's are, with compressed
windows), in a process of its own, serves a fan-out of prompts of mixed sizes,
``max_concurrency=200``, through:

* ``tgs-gather`` / ``tgs-fanout``: ``gather`` / ``open_fanout`` with default settings (paced);
* ``0.1.0``: what 0.1.0 did: start requests as slots free up, pausing only while the latest
  headers said a window was used up; the default two retries honour ``retry-after``;
* ``sdk-loop``: a fixed-concurrency loop as users of the official SDK write it: send, and on a
  429 sleep for ``retry-after`` (or a backoff) and send again, until it works.

For each: the wall time against the shortest time the limits allow (computed from the workload:
the requests and tokens beyond what the buckets hold at the start, at their refill rates), the
429s the server sent, and whether every prompt got exactly one answer (its own).

``python -m bench._pacing`` (about 8 minutes), ``--quick`` (about a minute), ``--json PATH``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import trio

import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeRateLimits,
    RecordedRequest,
    Reply,
    echo_handler,
    open_fake_groq,
)
from trio_groqstream.testing._limits import requested_tokens

from ._report import md_table

MODEL = "llama-3.3-70b-versatile"
CONCURRENCY = 200
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Workload:
    prompts: int
    requests_per_window: int
    tokens_per_window: int
    window: float
    requests_per_day: int
    seed: int = 12


FULL = Workload(prompts=2000, requests_per_window=30, tokens_per_window=6000, window=2.0,
                requests_per_day=1_000_000)  # fmt: skip
QUICK = Workload(prompts=400, requests_per_window=30, tokens_per_window=6000, window=1.0,
                 requests_per_day=1_000_000)  # fmt: skip


@dataclass
class Outcome:
    strategy: str
    seconds: float
    ideal: float
    ratio: float
    requests_sent: int
    rate_limited: int
    rate_limited_pct: float
    completions: int
    exactly_once: bool
    failures: int


def make_requests(work: Workload) -> list[dict[str, Any]]:
    """Prompts of mixed sizes (about 10 to 200 tokens) with answers capped at 20 to 180 tokens:
    on average both limits bind about equally."""
    rng = random.Random(work.seed)
    words = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "refills")
    out = []
    for index in range(work.prompts):
        size = rng.choice((40, 120, 300, 800))
        text = f"[#{index}] " + " ".join(rng.choice(words) for _ in range(size // 5))
        out.append(
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": text}],
                "max_completion_tokens": rng.randrange(20, 181),
            }
        )
    return out


def ideal_seconds(work: Workload, requests: list[dict[str, Any]]) -> float:
    """The shortest time the limits allow: each bucket starts empty and holds its limit, then
    refills at limit/window; the last request can start no sooner than the bucket that is
    slower to let the workload through allows."""
    tokens = sum(requested_tokens({**r, "stream": True}) for r in requests)
    by_requests = (len(requests) - work.requests_per_window) / work.requests_per_window
    by_tokens = (tokens - work.tokens_per_window) / work.tokens_per_window
    return max(by_requests, by_tokens, 0.0) * work.window


def limits_for(work: Workload) -> FakeRateLimits:
    return FakeRateLimits(
        requests_per_minute=work.requests_per_window,
        tokens_per_minute=work.tokens_per_window,
        requests_per_day=work.requests_per_day,
        minute=work.window,
    )


Runner = Callable[[tgs.GroqClient, list[dict[str, Any]]], Awaitable[list[Any]]]


async def run_gather(client: tgs.GroqClient, requests: list[dict[str, Any]]) -> list[Any]:
    return await tgs.gather(client, requests, max_concurrency=CONCURRENCY, on_error="collect")


async def run_fanout(client: tgs.GroqClient, requests: list[dict[str, Any]]) -> list[Any]:
    async with tgs.open_fanout(
        client, requests, max_concurrency=CONCURRENCY, on_error="collect"
    ) as fanout:
        async for _batch in _batches(fanout):
            pass
    return list(fanout.results)


async def _batches(fanout: tgs.FanoutStream) -> Any:
    while True:
        try:
            yield await fanout.receive_batch()
        except trio.EndOfChannel:
            return


async def run_v010(client: tgs.GroqClient, requests: list[dict[str, Any]]) -> list[Any]:
    """0.1.0's launcher: a slot, then a pause only while a window is said to be used up."""
    results: list[Any] = [None] * len(requests)
    limiter = trio.CapacityLimiter(CONCURRENCY)

    async def one(index: int) -> None:
        async with limiter:
            (results[index],) = await tgs.gather(
                client, [requests[index]], on_error="collect", pace=False
            )

    async with trio.open_nursery() as nursery:
        for index in range(len(requests)):
            await limiter.acquire()
            limiter.release()
            latest = client.rate_limits
            until = latest.exhausted_until() if latest is not None else None
            if until is not None:
                await trio.sleep_until(until)
            nursery.start_soon(one, index)
            await trio.lowlevel.checkpoint()
    return results


async def run_sdk_loop(client: tgs.GroqClient, requests: list[dict[str, Any]]) -> list[Any]:
    """A semaphore and a retry loop around each call, honouring retry-after, as SDK users do."""
    results: list[Any] = [None] * len(requests)
    semaphore = trio.Semaphore(CONCURRENCY)

    async def one(index: int) -> None:
        async with semaphore:
            attempt = 0
            while True:
                (result,) = await tgs.gather(
                    client, [requests[index]], pace=False, max_retries=0, on_error="collect"
                )
                if not isinstance(result, tgs.RateLimitError):
                    results[index] = result
                    return
                attempt += 1
                await trio.sleep(result.retry_after or min(8.0, 0.5 * 2**attempt))

    async with trio.open_nursery() as nursery:
        for index in range(len(requests)):
            nursery.start_soon(one, index)
    return results


STRATEGIES: dict[str, Runner] = {
    "tgs-gather": run_gather,
    "tgs-fanout": run_fanout,
    "0.1.0": run_v010,
    "sdk-loop": run_sdk_loop,
}


def _exactly_once(results: list[Any]) -> tuple[int, int, bool]:
    completions = failures = 0
    right = True
    for index, result in enumerate(results):
        if isinstance(result, tgs.ChatCompletion):
            completions += 1
            right = right and f"[#{index}]" in result.text
        else:
            failures += 1
    return completions, failures, right and completions == len(results)


async def serve(work: Workload) -> None:
    """The server process: the fake with the workload's limits. Prints its base URL, serves
    until its stdin closes, then prints ``requests admitted`` and exits."""
    admitted = 0

    def answer(request: RecordedRequest) -> Reply:
        nonlocal admitted
        admitted += 1  # the handler runs only for requests the limiter let through
        return echo_handler(request)

    async with open_fake_groq(answer, rate_limits=limits_for(work)) as fake:
        print(fake.base_url, flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():
            pass
        print(fake.stats().requests, admitted, flush=True)


async def _line(stream: trio.abc.ReceiveStream) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(1)
        if not chunk:
            raise RuntimeError(f"the server process ended early (got {data!r})")
        data += chunk
    return data.decode().strip()


async def measure(name: str, work: Workload, requests: list[dict[str, Any]]) -> Outcome:
    """Run one strategy against a fresh server in its own process (as Groq is: the client's
    event loop never serves the requests it sends)."""
    runner = STRATEGIES[name]
    command = [sys.executable, "-m", "bench._pacing", "--serve", json.dumps(asdict(work))]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        with trio.fail_after(30):
            base_url = await _line(process.stdout)
        async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=base_url) as client:
            started = time.perf_counter()
            with trio.fail_after(max(600.0, 20 * ideal_seconds(work, requests))):
                results = await runner(client, requests)
            seconds = time.perf_counter() - started
        await process.stdin.aclose()
        with trio.fail_after(30):
            sent, admitted = map(int, (await _line(process.stdout)).split())
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
    completions, failures, once = _exactly_once(results)
    ideal = ideal_seconds(work, requests)
    limited = sent - admitted
    return Outcome(
        strategy=name,
        seconds=seconds,
        ideal=ideal,
        ratio=seconds / ideal if ideal else math.nan,
        requests_sent=sent,
        rate_limited=limited,
        rate_limited_pct=100.0 * limited / len(requests),
        completions=completions,
        exactly_once=once and admitted == len(requests),
        failures=failures,
    )


async def run(work: Workload, names: list[str]) -> list[Outcome]:
    requests = make_requests(work)
    outcomes = []
    for name in names:
        print(f"pacing: {name} ...", file=sys.stderr, flush=True)
        outcome = await measure(name, work, requests)
        print(f"pacing: {outcome}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    return outcomes


def report(work: Workload, outcomes: list[Outcome]) -> str:
    head = (
        f"{work.prompts:,} prompts of mixed sizes, max_concurrency={CONCURRENCY}, against "
        f"{work.requests_per_window} requests and {work.tokens_per_window:,} tokens per "
        f"{work.window:g} s window (buckets, as Groq's), {work.requests_per_day:,} requests a day"
    )
    rows = [
        (
            o.strategy,
            f"{o.seconds:.1f}",
            f"{o.ideal:.1f}",
            f"{o.ratio:.3f}",
            f"{o.rate_limited} ({o.rate_limited_pct:.1f}%)",
            f"{o.completions:,}",
            "yes" if o.exactly_once else "NO",
        )
        for o in outcomes
    ]
    table = md_table(
        ("strategy", "seconds", "ideal s", "x ideal", "429s", "completions", "each once"), rows
    )
    return head + "\n\n" + table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._pacing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="400 prompts, 1 s windows")
    parser.add_argument(
        "--strategy", action="append", choices=sorted(STRATEGIES), help="repeatable"
    )
    parser.add_argument("--json", type=Path, help="write the outcomes here too")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the server process (internal)
    args = parser.parse_args(argv)
    if args.serve is not None:
        trio.run(serve, Workload(**json.loads(args.serve)))
        return 0
    work = QUICK if args.quick else FULL
    outcomes = trio.run(run, work, args.strategy or list(STRATEGIES))
    print(report(work, outcomes))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"workload": asdict(work), "outcomes": [asdict(o) for o in outcomes]})
        )
    paced = [o for o in outcomes if o.strategy.startswith("tgs")]
    missed = [o for o in paced if o.ratio > 1.15 or o.rate_limited_pct > 1.0 or not o.exactly_once]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
