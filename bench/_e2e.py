"""Part (b): one end-to-end client variant, run in its own process.

``python -m bench._e2e VARIANT --port P --streams N --chunks M`` runs N concurrent streams of M
chunks each against the bench server and prints one JSON line: this process's CPU time and wall
time for the run (from the moment its HTTP client exists: imports, interpreter start and the
client's construction are excluded), its peak RSS (its own process, so one variant's memory never
mixes with another's), and what it received, for the parent to verify.

Every variant does the same consumer work per chunk: count it and add up the length of
``choices[0].delta.content``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio

from ._data import MODEL, content_len, make_stream

__all__ = ["VARIANTS", "main"]

MESSAGES = [{"role": "user", "content": "Write a long essay about streaming inference."}]
REQUEST: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}


class Tally:
    """What a variant received, and when its clock started."""

    def __init__(self) -> None:
        self.chunks = 0
        self.text = 0
        self.bytes = 0
        self.cpu0: float | None = None
        self.wall0: float | None = None

    def begin(self) -> None:
        """Start the clocks: called once the variant's client exists. Building an httpx client
        loads the CA bundle (about 40 ms of CPU here, even for http://), a one-time cost that
        every variant pays alike and that would otherwise be charged to the chunks."""
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()


def _base_url(port: int, chunks: int) -> str:
    return f"http://127.0.0.1:{port}/bench/{chunks}"


# --- trio_groqstream ---------------------------------------------------------------------------


async def _tgs(port: int, streams: int, chunks: int, tally: Tally) -> None:
    """``open_stream`` for one stream, ``open_fanout`` for many (all at once)."""
    from trio_groqstream import GroqClient, open_fanout, open_stream

    async with GroqClient(api_key="bench", base_url=_base_url(port, chunks), max_retries=0) as c:
        tally.begin()
        if streams == 1:
            async with open_stream(c, **REQUEST) as stream:
                async for chunk in stream:
                    tally.chunks += 1
                    tally.text += content_len(chunk)
            return
        async with open_fanout(c, [REQUEST] * streams, max_concurrency=streams) as fanout:
            async for event in fanout:
                if event.chunk is not None:
                    tally.chunks += 1
                    tally.text += len(event.text)


async def _tgs_batch(port: int, streams: int, chunks: int, tally: Tally) -> None:
    """As ``tgs``, but consuming with ``receive_batch()``: one checkpoint per batch."""
    import trio

    from trio_groqstream import GroqClient, open_fanout, open_stream

    async with GroqClient(api_key="bench", base_url=_base_url(port, chunks), max_retries=0) as c:
        tally.begin()
        if streams == 1:
            async with open_stream(c, **REQUEST) as stream:
                while True:
                    try:
                        batch = await stream.receive_batch()
                    except trio.EndOfChannel:
                        return
                    for chunk in batch:
                        tally.chunks += 1
                        tally.text += content_len(chunk)
        async with open_fanout(c, [REQUEST] * streams, max_concurrency=streams) as fanout:
            while True:
                try:
                    events = await fanout.receive_batch()
                except trio.EndOfChannel:
                    return
                for event in events:
                    if event.chunk is not None:
                        tally.chunks += 1
                        tally.text += len(event.text)


async def _tgs_gather(port: int, streams: int, chunks: int, tally: Tally) -> None:
    """``gather``: only completions come back, so the chunk count is checked through the usage
    each completion carries (the server states one completion token per content chunk)."""
    from trio_groqstream import ChatCompletion, GroqClient, gather

    async with GroqClient(api_key="bench", base_url=_base_url(port, chunks), max_retries=0) as c:
        tally.begin()
        results = await gather(c, [REQUEST] * streams, max_concurrency=streams)
    for result in results:
        assert isinstance(result, ChatCompletion)
        assert result.usage is not None
        tally.chunks += result.usage.completion_tokens + 2  # + the role and finish chunks
        tally.text += len(result.text)


# --- the official SDK --------------------------------------------------------------------------


async def _sdk(
    port: int, streams: int, chunks: int, tally: Tally, *, gather: bool, default_pool: bool
) -> None:
    from groq import AsyncGroq, DefaultAsyncHttpxClient

    http_client = None
    if not default_pool:
        # The pool GroqClient and the floor use, so that only the SDK's own layers differ. The
        # SDK's default (100 connections, 20 kept alive) is the ``sdk-asyncio-default-pool``
        # variant; at 1,000 streams it spends most of its time in httpcore's pool queue.
        http_client = DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100)
        )
    # A generous timeout: the SDK's default 5 s connect timeout fires at 1,000 streams on a busy
    # 2-core machine (under trio, requests starve in the pool queue), which is not what is measured.
    client = AsyncGroq(
        api_key="bench",
        base_url=_base_url(port, chunks),
        max_retries=0,
        timeout=httpx.Timeout(120.0),
        http_client=http_client,
    )

    tally.begin()

    async def one() -> None:
        stream = await client.chat.completions.create(stream=True, **REQUEST)
        async for chunk in stream:
            tally.chunks += 1
            tally.text += content_len(chunk)

    try:
        if gather:
            await asyncio.gather(*(one() for _ in range(streams)))
        else:
            async with trio.open_nursery() as nursery:
                for _ in range(streams):
                    nursery.start_soon(one)
    finally:
        await client.close()


async def _sdk_asyncio(port: int, streams: int, chunks: int, tally: Tally) -> None:
    await _sdk(port, streams, chunks, tally, gather=True, default_pool=False)


async def _sdk_asyncio_default_pool(port: int, streams: int, chunks: int, tally: Tally) -> None:
    await _sdk(port, streams, chunks, tally, gather=True, default_pool=True)


async def _sdk_trio(port: int, streams: int, chunks: int, tally: Tally) -> None:
    await _sdk(port, streams, chunks, tally, gather=False, default_pool=False)


# --- the floor and the bytes-only reference ----------------------------------------------------


def _http_client() -> httpx.AsyncClient:
    # The same pool settings GroqClient gives its own httpx client, so only the layers above
    # httpx differ between the floor and trio_groqstream.
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        timeout=httpx.Timeout(None),
    )


_HEADERS = {
    "content-type": "application/json",
    "accept": "text/event-stream",
    "authorization": "Bearer bench",
}


async def _raw(port: int, streams: int, chunks: int, tally: Tally, *, decode: bool) -> None:
    from trio_groqstream._wire import CHUNK_DECODER

    url = _base_url(port, chunks) + "/openai/v1/chat/completions"
    body = json.dumps({**REQUEST, "stream": True}).encode()
    decode_chunk = CHUNK_DECODER.decode

    async def one(http: httpx.AsyncClient) -> None:
        async with http.stream("POST", url, content=body, headers=_HEADERS) as response:
            if not decode:
                async for data in response.aiter_bytes():
                    tally.bytes += len(data)
                return
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
                    chunk = decode_chunk(payload)
                    tally.chunks += 1
                    tally.text += content_len(chunk)

    async with _http_client() as http:
        tally.begin()
        if streams == 1:
            await one(http)
            return
        async with trio.open_nursery() as nursery:
            for _ in range(streams):
                nursery.start_soon(one, http)


async def _floor(port: int, streams: int, chunks: int, tally: Tally) -> None:
    await _raw(port, streams, chunks, tally, decode=True)


async def _httpx_bytes(port: int, streams: int, chunks: int, tally: Tally) -> None:
    await _raw(port, streams, chunks, tally, decode=False)


Runner = Callable[[int, int, int, Tally], Awaitable[None]]

#: name -> (runner, event loop)
VARIANTS: dict[str, tuple[Runner, str]] = {
    "floor": (_floor, "trio"),
    "httpx-bytes": (_httpx_bytes, "trio"),
    "tgs": (_tgs, "trio"),
    "tgs-gather": (_tgs_gather, "trio"),
    "tgs-batch": (_tgs_batch, "trio"),
    "sdk-asyncio": (_sdk_asyncio, "asyncio"),
    "sdk-asyncio-default-pool": (_sdk_asyncio_default_pool, "asyncio"),
    "sdk-trio": (_sdk_trio, "trio"),
}


def _preload(variant: str) -> None:
    """Import what the variant needs before the clock starts."""
    if variant.startswith("sdk"):
        import groq
        import groq.types.chat

        _ = groq.AsyncGroq, groq.types.chat.ChatCompletionChunk
    else:
        import trio_groqstream  # noqa: F401


def _maxrss_kib() -> int:
    """This process's peak RSS in KiB.

    ``VmHWM`` from ``/proc/self/status`` where there is one: on Linux ``ru_maxrss`` survives
    ``execve``, so a child started from a big parent would report the parent's peak. Elsewhere
    ``getrusage(RUSAGE_SELF).ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--profile", help="write cProfile stats of the run to this file")
    args = parser.parse_args(argv)
    runner, loop = VARIANTS[args.variant]
    _preload(args.variant)
    expected = make_stream(args.chunks)
    tally = Tally()
    rss_base = _maxrss_kib()
    profiler = cProfile.Profile() if args.profile else None
    error: str | None = None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        if loop == "asyncio":
            asyncio.run(runner(args.port, args.streams, args.chunks, tally))  # type: ignore[arg-type]
        else:
            trio.run(runner, args.port, args.streams, args.chunks, tally)
    except Exception as exc:  # report any failure as data: the parent prints it
        error = f"{type(exc).__name__}: {exc}"[:2000]
        error += "\n" + "".join(traceback.format_exception(exc))[-3000:]
    finally:
        if profiler is not None:
            profiler.disable()
    cpu = time.process_time() - (tally.cpu0 if tally.cpu0 is not None else cpu0)
    wall = time.perf_counter() - (tally.wall0 if tally.wall0 is not None else wall0)
    if profiler is not None:
        profiler.dump_stats(args.profile)
    want_chunks = args.streams * expected.chunks
    want_text = args.streams * expected.text_len
    if args.variant == "httpx-bytes":
        ok = error is None and tally.bytes == args.streams * len(expected.body)
        tally.chunks = want_chunks if ok else 0
        tally.text = want_text if ok else 0
    else:
        ok = error is None and tally.chunks == want_chunks and tally.text == want_text
    result = {
        "variant": args.variant,
        "streams": args.streams,
        "chunks_per_stream": args.chunks,
        "cpu_s": cpu,
        "wall_s": wall,
        "chunks": tally.chunks,
        "text_len": tally.text,
        "expected_chunks": want_chunks,
        "expected_text_len": want_text,
        "ok": ok,
        "rss_base_kib": rss_base,
        "rss_peak_kib": _maxrss_kib(),
        "error": error,
    }
    print(json.dumps(result), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
