"""Live streams, the client side: how many paced streams one client follows without falling behind.

``python -m bench._live VARIANT --port P --rate R --seconds S --cpu C`` pins itself to CPU ``C``
and searches, in this one process, for the largest number of concurrent streams it keeps up with:
each trial opens N streams at once against the paced server (``_paced_server.py``, ``R`` events per
second per stream, streams of about ``S`` seconds) and records, for every event, its lag: the
moment the application got it (``time.monotonic_ns()``) minus the server's write stamp (the
chunk's ``created``). A trial *keeps up* when every chunk arrived intact, the p99 lag is under
50 ms, and no stream finished more than 10% late (its last event reached the application more than
a tenth of the stream's nominal duration after the server's schedule said it was written).

The search doubles N until a trial fails, then bisects until the bounds are within ``--tolerance``
of each other. A trial that fails while this process waited for its CPU more than 5% of the time
(other processes ran on its core: ``/proc/thread-self/schedstat``) is run again, twice at most.
Every trial prints one JSON line on stderr; the last line on stdout is the summary, for
``_live_run.py``.

Every variant does the same consumer work per chunk: count it, add up its content's length and
record its lag. ``gather`` hands back only completions, at the end: its lag is each stream's
finish (when ``gather`` returned) against the schedule of the last stream's last event.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import trio

from trio_groqstream import ChatRequest

from ._data import MODEL, content_len, make_stream
from ._e2e import _HEADERS, _http_client

__all__ = [
    "ABLATIONS",
    "KEEP_UP_LATE",
    "KEEP_UP_P99_MS",
    "VARIANTS",
    "Recorder",
    "describe",
    "known",
    "main",
]

MESSAGES = [{"role": "user", "content": "Write a long essay about streaming inference."}]
REQUEST: ChatRequest = cast("ChatRequest", {"model": MODEL, "messages": MESSAGES})

#: "Keeps up": p99 lag under this many milliseconds...
KEEP_UP_P99_MS = 50.0
#: ...and no stream finishing later than this fraction of its duration after its schedule.
KEEP_UP_LATE = 0.10
#: A failed trial during which this process waited this share of the time for its CPU (other
#: processes ran on it) was disturbed, not beaten: it is run again, up to RETRIES times.
DISTURBED = 0.05
RETRIES = 2

monotonic_ns = time.monotonic_ns


class Recorder:
    """What one trial received: per-event lags and, per stream, when its last chunk was written
    and when the application got it."""

    def __init__(self, streams: int) -> None:
        self.lags: list[int] = []
        self.last_stamp = [0] * streams
        self.arrival = [0] * streams
        self.chunks = 0
        self.text = 0

    def note(self, index: int, chunk: Any) -> None:
        """The consumer's work per chunk, the same for every variant."""
        now = monotonic_ns()
        stamp = chunk.created
        self.lags.append(now - stamp)
        self.last_stamp[index] = stamp
        self.arrival[index] = now
        self.chunks += 1
        self.text += content_len(chunk)


def _base_url(port: int, rate: int, chunks: int, start: int) -> str:
    return f"http://127.0.0.1:{port}/live/{rate}/{chunks}/{start}"


def setup_allowance(streams: int) -> float:
    """Seconds from a trial's start to its streams' first events: time to open the connections
    (about half a millisecond of CPU each with httpx), as Groq's time to first token gives."""
    return 0.2 + 0.002 * streams


# --- the variants ------------------------------------------------------------------------------


async def _floor(url: str, streams: int, rec: Recorder) -> None:
    """httpx + the bare split + msgspec, one task per stream: the least work that still gets typed
    chunks to the application."""
    from trio_groqstream._wire import CHUNK_DECODER

    body = json.dumps({**REQUEST, "stream": True}).encode()
    decode = CHUNK_DECODER.decode
    url += "/openai/v1/chat/completions"

    async def one(http: httpx.AsyncClient, index: int) -> None:
        async with http.stream("POST", url, content=body, headers=_HEADERS) as response:
            tail = b""
            async for data in response.aiter_bytes():
                if tail:
                    data = tail + data
                events = data.split(b"\n\n")
                tail = events.pop()
                for event in events:
                    payload = event[6:]
                    if payload == b"[DONE]":
                        break
                    rec.note(index, decode(payload))

    async with _http_client() as http, trio.open_nursery() as nursery:
        for index in range(streams):
            nursery.start_soon(one, http, index)


async def _fanout(url: str, streams: int, rec: Recorder) -> None:
    """``open_fanout`` read with ``async for``."""
    from trio_groqstream import GroqClient, open_fanout

    async with (
        GroqClient(api_key="bench", base_url=url, max_retries=0) as client,
        open_fanout(client, [REQUEST] * streams, max_concurrency=streams) as fanout,
    ):
        async for event in fanout:
            if event.chunk is not None:
                rec.note(event.index, event.chunk)


async def _fanout_batch(url: str, streams: int, rec: Recorder) -> None:
    """``open_fanout`` read with ``receive_batch()``."""
    from trio_groqstream import GroqClient, open_fanout

    async with (
        GroqClient(api_key="bench", base_url=url, max_retries=0) as client,
        open_fanout(client, [REQUEST] * streams, max_concurrency=streams) as fanout,
    ):
        while True:
            try:
                events = await fanout.receive_batch()
            except trio.EndOfChannel:
                return
            for event in events:
                if event.chunk is not None:
                    rec.note(event.index, event.chunk)


async def _gather(url: str, streams: int, rec: Recorder) -> None:
    """``gather``: completions only, all at the end. Its lag is the moment it returned against
    the schedule of the last stream's last chunk; every stream "finished" then."""
    from trio_groqstream import GroqClient, gather

    async with GroqClient(api_key="bench", base_url=url, max_retries=0) as client:
        results = await gather(client, [REQUEST] * streams, max_concurrency=streams)
        now = monotonic_ns()  # before the client closes its pool, which the others do not time
    for index, result in enumerate(results):
        assert result.usage is not None
        rec.arrival[index] = now
        rec.chunks += result.usage.completion_tokens + 2  # + the role and finish chunks
        rec.text += len(result.text)


async def _streams(url: str, streams: int, rec: Recorder) -> None:
    """``open_stream`` x N in a nursery, each read with ``async for``."""
    from trio_groqstream import GroqClient, open_stream

    async def one(client: GroqClient, index: int) -> None:
        async with open_stream(client, **REQUEST) as stream:
            async for chunk in stream:
                rec.note(index, chunk)

    async with (
        GroqClient(api_key="bench", base_url=url, max_retries=0) as client,
        trio.open_nursery() as nursery,
    ):
        for index in range(streams):
            nursery.start_soon(one, client, index)


async def _sdk(url: str, streams: int, rec: Recorder) -> None:
    """The official SDK under trio, one task per stream, with GroqClient's pool limits."""
    from groq import AsyncGroq, DefaultAsyncHttpxClient

    client = AsyncGroq(
        api_key="bench",
        base_url=url,
        max_retries=0,
        timeout=httpx.Timeout(120.0),
        http_client=DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100)
        ),
    )

    async def one(index: int) -> None:
        stream = await client.chat.completions.create(stream=True, **cast(Any, REQUEST))
        async for chunk in stream:
            rec.note(index, chunk)

    try:
        async with trio.open_nursery() as nursery:
            for index in range(streams):
                nursery.start_soon(one, index)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await client.close()


Runner = Callable[[str, int, Recorder], Awaitable[None]]

#: name -> (runner, what it is)
VARIANTS: dict[str, tuple[Runner, str]] = {
    "floor": (_floor, "floor: httpx + bare split + msgspec, one task per stream"),
    "fanout": (_fanout, "`open_fanout`, `async for`"),
    "fanout-batch": (_fanout_batch, "`open_fanout`, `receive_batch()`"),
    "gather": (_gather, "`gather`"),
    "streams": (_streams, "`open_stream` x N in a nursery"),
    "sdk-trio": (_sdk, "official SDK under trio, one task per stream"),
}


#: ``VARIANT:KEY`` runs the variant with one piece of the library's per-event work replaced in
#: this process (``_profile_fanout._ablation``), to see what a change would buy before making it.
ABLATIONS = {
    "cancel-point": "receive() a cancel point only",
    "split": "bare split instead of SSEDecoder",
    "no-acc": "no Accumulator.add",
    "no-note": "no FanoutStream._note",
    "wake-one": "taken() wakes one producer",
}


def known(name: str) -> bool:
    base, _, key = name.partition(":")
    return base in VARIANTS and (not key or key in ABLATIONS)


def describe(name: str) -> str:
    base, _, key = name.partition(":")
    text = VARIANTS[base][1]
    return f"{text}, {ABLATIONS[key]} (patched)" if key else text


# --- one trial, and the search -----------------------------------------------------------------


def _percentile(ordered: list[int], q: float) -> int:
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def judge(
    rec: Recorder, streams: int, chunks: int, rate: int, start: int, error: str | None
) -> dict[str, Any]:
    """The verdict of one trial, with the figures behind it."""
    expected = make_stream(chunks)
    span_ns = (chunks - 1) * 1_000_000_000 // rate  # first to last event, on schedule
    due = start + span_ns  # when every stream's last event is due
    intact = (
        error is None
        and rec.chunks == streams * expected.chunks
        and rec.text == streams * expected.text_len
    )
    late = server_late = 0.0
    for arrival in rec.arrival:
        if arrival:
            late = max(late, (arrival - due) / span_ns)
    for stamp in rec.last_stamp:
        if stamp:
            server_late = max(server_late, (stamp - due) / span_ns)
    # gather has one "event": the moment it returned, against the last chunks' schedule.
    ends = [max(rec.arrival) - due] if max(rec.arrival) else []
    lags = sorted(rec.lags) if rec.lags else ends
    p99_ms = _percentile(lags, 0.99) / 1e6
    keeps_up = intact and p99_ms < KEEP_UP_P99_MS and late <= KEEP_UP_LATE
    return {
        "streams": streams,
        "keeps_up": keeps_up,
        "intact": intact,
        "error": error,
        "p50_ms": _percentile(lags, 0.5) / 1e6,
        "p99_ms": p99_ms,
        "max_ms": (lags[-1] / 1e6) if lags else 0.0,
        "late": late,
        "server_late": server_late,
    }


def _run_delay() -> int:
    """Nanoseconds this thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def trial(runner: Runner, port: int, streams: int, rate: int, chunks: int) -> dict[str, Any]:
    """Run N streams once; give up (a failure) when they run far past their schedule."""
    rec = Recorder(streams)
    setup = setup_allowance(streams)
    limit = setup + 2.0 + 1.5 * chunks / rate
    error: str | None = None
    start = 0

    async def bounded() -> None:
        nonlocal start
        start = monotonic_ns() + int(setup * 1e9)
        with trio.move_on_after(limit) as scope:
            await runner(_base_url(port, rate, chunks, start), streams, rec)
        if scope.cancelled_caught:
            raise TimeoutError(f"not done after {limit:g}s")

    gc.collect()
    cpu0, wall0, delay0 = time.process_time(), time.perf_counter(), _run_delay()
    try:
        trio.run(bounded)
    except Exception as exc:  # a failed trial is data: the report shows it
        leaves = getattr(exc, "exceptions", None) or [exc]
        error = f"{type(exc).__name__}: {exc}; " + "; ".join(
            f"{type(leaf).__name__}: {leaf}" for leaf in leaves[:3]
        )
        error = error[:500]
    result = judge(rec, streams, chunks, rate, start, error)
    result["cpu_s"] = time.process_time() - cpu0
    result["wall_s"] = time.perf_counter() - wall0
    # The share of the trial this process spent waiting for its CPU: other load on the machine.
    result["stolen"] = (_run_delay() - delay0) / 1e9 / result["wall_s"]
    return result


def search(
    run: Callable[[int], dict[str, Any]], *, start: int, cap: int, tolerance: float
) -> tuple[int, list[dict[str, Any]]]:
    """The largest N for which ``run(N)`` keeps up: double from ``start`` until a failure, then
    bisect until the failing bound is within ``tolerance`` of the passing one."""
    trials: list[dict[str, Any]] = []

    def keeps_up(n: int) -> bool:
        for _ in range(1 + RETRIES):
            result = run(n)
            trials.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
            if result["keeps_up"] or result["stolen"] < DISTURBED:
                break
            result["disturbed"] = True
        return bool(result["keeps_up"])

    passed, failed = 0, cap + 1
    n = max(1, min(start, cap))
    while True:
        if keeps_up(n):
            passed = n
            if n >= cap:
                return passed, trials
            n = min(cap, n * 2)
        else:
            failed = n
            break
    while failed - passed > max(1, int(passed * tolerance)):
        mid = (passed + failed) // 2
        if keeps_up(mid):
            passed = mid
        else:
            failed = mid
    return passed, trials


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "variant", help=f"one of {', '.join(VARIANTS)}, or VARIANT:{'|'.join(ABLATIONS)}"
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=int, required=True, help="events per second per stream")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each stream")
    parser.add_argument("--start", type=int, default=8, help="first N of the search")
    parser.add_argument("--cap", type=int, default=1024, help="largest N tried")
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--cpu", type=int, help="pin this process to this CPU (Linux)")
    parser.add_argument("--streams", type=int, help="one trial of this many streams, no search")
    args = parser.parse_args(argv)
    if not known(args.variant):
        parser.error(f"unknown variant {args.variant!r}")
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    base, _, key = args.variant.partition(":")
    runner = VARIANTS[base][0]
    if args.variant == "sdk-trio":  # import before any clock starts
        import groq  # noqa: F401
    else:
        import trio_groqstream  # noqa: F401
    chunks = max(2, round(args.seconds * args.rate))

    def run(n: int) -> dict[str, Any]:
        return trial(runner, args.port, n, args.rate, chunks)

    patch: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if key:
        from ._profile_fanout import _ablation

        patch = _ablation(ABLATIONS[key])
    with patch:
        if args.streams:
            trials = [run(args.streams)]
            best = args.streams if trials[0]["keeps_up"] else 0
        else:
            best, trials = search(run, start=args.start, cap=args.cap, tolerance=args.tolerance)
    print(
        json.dumps(
            {
                "variant": args.variant,
                "rate": args.rate,
                "chunks": chunks,
                "best": best,
                "trials": trials,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
