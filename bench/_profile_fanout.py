"""Where ``open_fanout``'s per-event path spends its time, against the floor, on a fixed workload.

``python -m bench._profile_fanout`` runs S streams x C chunks through each client, in process,
over an ``httpx.MockTransport`` whose body yields one event per read with a schedule point before
each (what a live stream does: every event is its own network read and wakes its reader once).
No sockets and no pacing, so the numbers are CPU time that other load on the machine moves little:
the median of interleaved rounds of ``time.process_time()`` per event.

It reports three things:

* **Clients**: µs of CPU per event for the floor (httpx + split + msgspec, one task per stream),
  ``gather``, ``open_stream`` x N, ``open_fanout`` with ``async for`` and with ``receive_batch()``.
  The socket, httpcore and h11 are not in it (the same for every client), so differences are
  what the library adds, in µs, and ratios here are larger than over a real network.
* **Ablations**: ``open_fanout`` + ``async for`` again with one piece of its per-event work
  replaced by a no-op (monkeypatched in this process only; the library is not edited). The
  difference from the unpatched run is what that piece costs per event, scheduling effects
  included.
* **Pieces**: the same pieces timed alone in a tight loop (no scheduling around them).

``--cprofile`` also writes the top functions by own time for the floor and the fan-out.
Run ``python -m bench._profile_fanout --help`` for the sizes and rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import time
import timeit
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, cast

import httpx
import trio

from trio_groqstream import ChatRequest

from . import _live
from ._data import MODEL, REQUEST_ID, content_len, make_stream
from ._report import md_table, median

__all__ = ["main"]

REQUEST: ChatRequest = cast(
    "ChatRequest", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
)
URL = "https://groq.invalid/openai/v1"
_HEADERS = {
    "content-type": "text/event-stream",
    "x-request-id": REQUEST_ID,
    "x-ratelimit-limit-requests": "14400",
    "x-ratelimit-remaining-requests": "14399",
}


# Bound at import: the "receive() a cancel point only" ablation patches trio.lowlevel.checkpoint,
# and the body's schedule point per read (the wake-up a socket read costs) must stay.
_read_wakeup = trio.lowlevel.checkpoint


class _LiveBody(httpx.AsyncByteStream):
    """One event per read, with a schedule point before each, as from a socket at live pace."""

    def __init__(self, events: tuple[bytes, ...]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self._events:
            await _read_wakeup()
            yield event

    async def aclose(self) -> None:
        pass


def _http(chunks: int) -> httpx.AsyncClient:
    events = make_stream(chunks).events

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=_HEADERS, stream=_LiveBody(events))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=None)


class _Tally:
    def __init__(self) -> None:
        self.chunks = 0
        self.text = 0


# --- the clients -------------------------------------------------------------------------------


async def _floor(streams: int, chunks: int, tally: _Tally) -> None:
    from trio_groqstream._wire import CHUNK_DECODER

    decode = CHUNK_DECODER.decode
    body = json.dumps({**REQUEST, "stream": True}).encode()

    async def one(http: httpx.AsyncClient) -> None:
        async with http.stream("POST", URL + "/chat/completions", content=body) as response:
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
                    chunk = decode(payload)
                    tally.chunks += 1
                    tally.text += content_len(chunk)

    async with _http(chunks) as http, trio.open_nursery() as nursery:
        for _ in range(streams):
            nursery.start_soon(one, http)


def _client(http: httpx.AsyncClient) -> Any:
    from trio_groqstream import GroqClient

    return GroqClient(api_key="bench", base_url=URL, http_client=http, max_retries=0)


async def _fanout(streams: int, chunks: int, tally: _Tally) -> None:
    from trio_groqstream import open_fanout

    async with (
        _http(chunks) as http,
        _client(http) as client,
        open_fanout(client, [REQUEST] * streams, max_concurrency=streams) as fanout,
    ):
        async for event in fanout:
            if event.chunk is not None:
                tally.chunks += 1
                tally.text += content_len(event.chunk)


async def _fanout_batch(streams: int, chunks: int, tally: _Tally) -> None:
    from trio_groqstream import open_fanout

    async with (
        _http(chunks) as http,
        _client(http) as client,
        open_fanout(client, [REQUEST] * streams, max_concurrency=streams) as fanout,
    ):
        while True:
            try:
                events = await fanout.receive_batch()
            except trio.EndOfChannel:
                return
            for event in events:
                if event.chunk is not None:
                    tally.chunks += 1
                    tally.text += content_len(event.chunk)


async def _gather(streams: int, chunks: int, tally: _Tally) -> None:
    from trio_groqstream import gather

    async with _http(chunks) as http, _client(http) as client:
        results = await gather(client, [REQUEST] * streams, max_concurrency=streams)
    tally.chunks += streams * chunks  # checked through the text below
    tally.text += sum(len(r.text) for r in results)


async def _streams(streams: int, chunks: int, tally: _Tally) -> None:
    from trio_groqstream import open_stream

    async def one(client: Any) -> None:
        async with open_stream(client, **REQUEST) as stream:
            async for chunk in stream:
                tally.chunks += 1
                tally.text += content_len(chunk)

    async with _http(chunks) as http, _client(http) as client, trio.open_nursery() as nursery:
        for _ in range(streams):
            nursery.start_soon(one, client)


Runner = Callable[[int, int, _Tally], Awaitable[None]]

CLIENTS: dict[str, Runner] = {
    "floor": _floor,
    "gather": _gather,
    "streams": _streams,
    "fanout": _fanout,
    "fanout-batch": _fanout_batch,
}


# --- ablations: one piece of the fan-out's per-event work made a no-op ------------------------


class _SplitEvent:
    __slots__ = ("data", "event")

    def __init__(self, data: bytes | str) -> None:
        self.data = data
        self.event = "message"


class _SplitDecoder:
    """What the floor does, shaped as the pump's SSEDecoder: split on blank lines, strip
    ``data: ``, keep the payload as bytes (msgspec decodes bytes directly)."""

    def __init__(self, **_: object) -> None:
        self._tail = b""
        self.unterminated = None

    def feed(self, data: bytes) -> list[_SplitEvent]:
        if self._tail:
            data = self._tail + data
        parts = data.split(b"\n\n")
        self._tail = parts.pop()
        return [_SplitEvent("[DONE]" if p == b"data: [DONE]" else p[6:]) for p in parts]

    def feed_payloads(self, data: bytes) -> list[bytes]:
        if self._tail:
            data = self._tail + data
        parts = data.split(b"\n\n")
        self._tail = parts.pop()
        return [p[6:] for p in parts]

    def end(self) -> list[_SplitEvent]:
        return []


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def _ablation(name: str) -> contextlib.AbstractContextManager[None]:
    from trio_groqstream import _accumulate, _channel, _fanout, _pump

    if name == "no Accumulator.add":
        return _patched(_accumulate.Accumulator, "add", lambda self, chunk: None)
    if name == "no FanoutStream._note":
        return _patched(_fanout.FanoutStream, "_note", lambda self, event: None)
    if name == "receive() a cancel point only":
        # trio.lowlevel.checkpoint is looked up at call time by BatchedReceiveChannel.receive
        # (the only caller between events); checkpoint_if_cancelled keeps the cancel point and
        # drops the schedule point.
        return _patched(trio.lowlevel, "checkpoint", trio.lowlevel.checkpoint_if_cancelled)
    if name == "taken() wakes one producer":
        # Coalescer.taken wakes every parked producer for each batch a consumer takes.
        def taken(self: Any) -> None:
            self._taken += 1
            if self._room:
                self._room.unpark(count=1)

        return _patched(_channel.Coalescer, "taken", taken)
    if name == "bare split instead of SSEDecoder":
        return _patched(_pump, "SSEDecoder", _SplitDecoder)
    raise ValueError(name)


ABLATIONS = (
    "no Accumulator.add",
    "no FanoutStream._note",
    "receive() a cancel point only",
    "taken() wakes one producer",
    "bare split instead of SSEDecoder",
)


# --- running ------------------------------------------------------------------------------------


def _run_once(runner: Runner, streams: int, chunks: int) -> float:
    """CPU µs per event of one run; checks what arrived."""
    expected = make_stream(chunks)
    tally = _Tally()
    gc.collect()
    cpu0 = time.process_time()
    trio.run(runner, streams, chunks, tally)
    cpu = time.process_time() - cpu0
    if tally.text != streams * expected.text_len:
        raise AssertionError(f"{runner.__name__}: got {tally.text} chars")
    return cpu / (streams * chunks) * 1e6


def _run_live(port: int, variant: str, streams: int, rate: int, chunks: int) -> float:
    """CPU µs per event of one trial against the paced server (``_live.trial``)."""
    result = _live.trial(_live.VARIANTS[variant][0], port, streams, rate, chunks)
    if not result["intact"]:
        raise AssertionError(f"{variant}: {result['error'] or 'wrong chunks or text'}")
    if not result["keeps_up"]:
        print(f"  ({variant} fell behind: p99 {result['p99_ms']:.0f} ms)", file=sys.stderr)
    return float(result["cpu_s"]) / (streams * chunks) * 1e6


def measure(
    streams: int, chunks: int, rounds: int, live: tuple[int, int] | None
) -> dict[str, list[float]]:
    """Interleaved rounds of every client and every ablation; ``live`` = (port, rate) of a paced
    server to use instead of the in-process mock."""
    names = list(CLIENTS) + [f"fanout, {a}" for a in ABLATIONS]
    samples: dict[str, list[float]] = {name: [] for name in names}

    def once(name: str) -> float:
        variant = name.split(",")[0]
        if live is not None:
            return _run_live(live[0], variant, streams, live[1], chunks)
        return _run_once(CLIENTS[variant], streams, chunks)

    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            if name in CLIENTS:
                samples[name].append(once(name))
            else:
                with _ablation(name.removeprefix("fanout, ")):
                    samples[name].append(once(name))
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)
    return samples


def pieces(n: int = 20_000) -> dict[str, float]:
    """µs per call of the per-event pieces, alone in a tight loop (best of 5)."""
    from trio_groqstream import FanoutEvent
    from trio_groqstream._accumulate import Accumulator
    from trio_groqstream._channel import Coalescer
    from trio_groqstream._fanout import FanoutStream
    from trio_groqstream._sse import SSEDecoder
    from trio_groqstream._wire import CHUNK_DECODER

    stream = make_stream(3)
    event = stream.events[1]
    chunk = CHUNK_DECODER.decode(event[6:-2])
    out: dict[str, float] = {}

    def best(stmt: Callable[[], object]) -> float:
        return min(timeit.repeat(stmt, number=n, repeat=5)) / n * 1e6

    out["CHUNK_DECODER.decode (the floor does it too)"] = best(
        lambda: CHUNK_DECODER.decode(event[6:-2])
    )
    out["bare split + strip (the floor's framing)"] = best(lambda: event.split(b"\n\n")[0][6:])
    decoder = SSEDecoder()
    out["SSEDecoder.feed, one event"] = best(lambda: decoder.feed(event))
    acc = Accumulator()
    out["Accumulator.add"] = best(lambda: acc.add(chunk))
    out["[FanoutEvent(index=, chunk=)] for a 1-chunk batch"] = best(
        lambda: [FanoutEvent(index=3, chunk=c) for c in [chunk]]
    )
    fe = FanoutEvent(index=3, chunk=chunk)
    out["FanoutEvent.text"] = best(lambda: fe.text)
    send, receive = trio.open_memory_channel[Any](10**9)
    fan = FanoutStream(receive, Coalescer(send, max_batch=64), results=None)
    out["FanoutStream._note"] = best(lambda: fan._note(fe))

    async def clock() -> None:
        out["trio.current_time()"] = best(trio.current_time)

    trio.run(clock)

    from ._micro import MICROS, run_micros

    for name, value in run_micros(n, 3).items():
        if name in ("checkpoint", "hop_1_nowait"):
            out[f"trio: {MICROS[name][0]}"] = value
    return out


def profile(streams: int, chunks: int, top: int, live: tuple[int, int] | None) -> str:
    """The top functions by own time for the floor and the fan-out (cProfile)."""
    text = []
    for name in ("floor", "fanout"):
        profiler = cProfile.Profile()
        tally = _Tally()
        profiler.enable()
        if live is not None:
            _live.trial(_live.VARIANTS[name][0], live[0], streams, live[1], chunks)
        else:
            trio.run(CLIENTS[name], streams, chunks, tally)
        profiler.disable()
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf)
        stats.sort_stats("tottime").print_stats(top)
        text.append(f"## {name}: {streams} x {chunks} events under cProfile\n\n{buf.getvalue()}")
    return "\n".join(text)


def render(samples: dict[str, list[float]], parts: dict[str, float], args: Any, where: str) -> str:
    floor = median(samples["floor"])
    fanout = median(samples["fanout"])
    rows = []
    for name, values in samples.items():
        m = median(values)
        rows.append(
            [
                name,
                m,
                f"{min(values):.2f}-{max(values):.2f}",
                m - floor,
                m / floor,
                (m - fanout) if name.startswith("fanout, ") else None,
            ]
        )
    lines = [
        f"# open_fanout's per-event path: {args.streams} streams x {args.chunks} chunks, "
        f"{where}, median of {args.rounds} interleaved rounds",
        "",
        md_table(
            [
                "client",
                "CPU µs/event",
                "min-max",
                "minus floor",
                "x floor",
                "minus fanout (what the piece costs)",
            ],
            rows,
        ),
        "",
        "Pieces alone, µs per call (best of 5):",
        "",
        md_table(["piece", "µs"], [[k, v] for k, v in parts.items()]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._profile_fanout", description=__doc__)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cprofile", action="store_true", help="also the top functions")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--live",
        type=int,
        metavar="RATE",
        help="stream from the paced server at RATE events/s per stream (server and this process "
        "pinned to two CPUs) instead of the in-process mock: CPU per event with the real "
        "socket wake-ups; keep --streams well under what the clients follow live",
    )
    args = parser.parse_args(argv)
    import trio_groqstream  # noqa: F401  (imported before any clock starts)

    server = None
    live = None
    where = "in-process mock body, one event per read"
    if args.live:
        from ._live_run import PacedServer, cpus

        server_cpu, client_cpu = cpus()
        server = PacedServer(server_cpu, [args.chunks])
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        live = (server.port, args.live)
        where = f"paced server at {args.live} events/s per stream over loopback"
    try:
        samples = measure(args.streams, args.chunks, args.rounds, live)
        report = render(samples, pieces(), args, where)
        if args.cprofile:
            report += "\n" + profile(args.streams, args.chunks, args.top, live)
    finally:
        if server is not None:
            server.stop()
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
