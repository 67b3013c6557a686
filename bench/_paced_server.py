"""A paced Groq-like server for the live-streams benchmark: events at a fixed rate per stream.

Run as its own process (``python -m bench._paced_server``), pinned to one core (``--cpu``) so that
it never competes with the client it serves. It prints ``PORT <n>`` once listening on 127.0.0.1 and
serves until killed or until its lifetime bound expires (so a crashed parent cannot leave it
running).

``POST /live/<rate>/<chunks>/<start>/...`` answers at once with Groq's headers, then with a
completion of ``chunks`` chunks (the bytes of ``_data.make_stream``) at ``rate`` events per second
from ``start`` (a ``time.monotonic_ns()``): event ``k`` is due ``k / rate`` seconds after it. All
the streams of a trial share one start, as the answers to requests sent together start together,
so a client that is slow to open its streams cannot spread its load out by it: a request that
arrives after the start gets the events already due at once, and finishes late. Each event is its
own HTTP chunk, as Groq flushes them, and carries the time it was written,
``time.monotonic_ns()``, in the chunk's ``created`` field. ``CLOCK_MONOTONIC`` is system-wide on
Linux, so a client process on the same machine reads the lag of each event at its application as
its own ``time.monotonic_ns()`` minus that stamp.

One ticker task walks the open streams once per tick (1 ms by default) and writes, per stream,
every event that has come due since the last tick in one ``transport.write`` (each still its own
HTTP chunk), stamped with the time of that write. Writes never wait for the client: a client
that falls behind leaves its bytes in the socket buffers and in the transport's, and the stamps
show how long they waited. A server that falls behind its own schedule (its core is busy) shows
in the stamps too: the client checks the last stamp of each stream against the schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import time

from ._data import http_response, make_stream

_PATH = re.compile(rb"^POST /live/(\d+)/(\d+)/(\d+)/")
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_BAD = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
_MAX_HEAD = 64 * 1024
# make_stream stamps every chunk with this fixed "created"; the paced server replaces it.
_CREATED = b'"created":1770770839,'
_END = b"0\r\n\r\n"


#: ``--bare-headers``: answer without Groq's ``x-ratelimit-*`` headers, as a proxy or another
#: OpenAI-compatible server would (clients that pace by those headers must not stall on it).
BARE_HEADERS = False


class _Template:
    """One completion, cut around its ``created`` value so each event is stamped on write."""

    __slots__ = ("done", "head", "parts")

    def __init__(self, chunks: int) -> None:
        stream = make_stream(chunks)
        response = http_response(stream)
        self.head = response[: response.index(b"\r\n\r\n") + 4]
        if BARE_HEADERS:
            lines = self.head.split(b"\r\n")
            self.head = b"\r\n".join(x for x in lines if not x.startswith(b"x-ratelimit-"))
        self.parts: list[tuple[int, bytes, bytes]] = []
        for event in stream.events[:-1]:
            before, sep, after = event.partition(_CREATED)
            assert sep, "make_stream's chunks carry the fixed created stamp"
            prefix = before + b'"created":'
            suffix = b"," + after
            self.parts.append((len(prefix) + len(suffix), prefix, suffix))
        done = stream.events[-1]
        self.done = b"%x\r\n%s\r\n" % (len(done), done) + _END


_templates: dict[int, _Template] = {}


class _Stream:
    __slots__ = ("next", "rate", "start", "template", "transport")

    def __init__(
        self, transport: asyncio.Transport, template: _Template, rate: int, start: int
    ) -> None:
        self.transport = transport
        self.template = template
        self.rate = rate
        self.start = start
        self.next = 0


class _Server:
    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.streams: list[_Stream] = []
        self.behind_ns = 0  # the worst lateness of a tick, for the report

    def add(self, stream: _Stream) -> None:
        stream.transport.write(stream.template.head)
        self.streams.append(stream)

    async def run(self) -> None:
        tick_ns = int(self.tick * 1e9)
        next_tick = time.monotonic_ns()
        while True:
            now = time.monotonic_ns()
            if self.streams:
                self.behind_ns = max(self.behind_ns, now - next_tick)
                self._write_due(now)
            next_tick = max(next_tick + tick_ns, now)
            await asyncio.sleep(max(0.0, (next_tick - time.monotonic_ns()) / 1e9))

    def _write_due(self, now: int) -> None:
        keep: list[_Stream] = []
        stamp = b"%d" % now
        digits = len(stamp)
        for stream in self.streams:
            transport = stream.transport
            if transport.is_closing():
                continue
            parts = stream.template.parts
            elapsed = now - stream.start
            due = min(len(parts), elapsed * stream.rate // 1_000_000_000 + 1) if elapsed >= 0 else 0
            if due > stream.next:
                out = []
                for size, prefix, suffix in parts[stream.next : due]:
                    out.append(b"%x\r\n%s%s%s\r\n" % (size + digits, prefix, stamp, suffix))
                stream.next = due
                if due == len(parts):
                    out.append(stream.template.done)
                transport.write(b"".join(out))
            if stream.next < len(parts):
                keep.append(stream)
        self.streams = keep


class _Connection(asyncio.Protocol):
    def __init__(self, server: _Server) -> None:
        self._server = server
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        transport = self._transport
        assert transport is not None
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                transport.close()
            return
        head = bytes(buf[: end + 2])
        length = _LENGTH.search(head)
        body_end = end + 4 + (int(length.group(1)) if length else 0)
        if len(buf) < body_end:
            return
        del buf[:body_end]
        match = _PATH.match(head)
        if match is None:
            transport.write(_BAD)
            return
        rate, chunks, start = (int(group) for group in match.groups())
        template = _templates.get(chunks)
        if template is None:
            template = _templates[chunks] = _Template(chunks)
        # One request at a time per connection: the next one comes after this stream's end.
        self._server.add(_Stream(transport, template, rate, start))


async def _serve(port: int, lifetime: float, tick: float) -> None:
    loop = asyncio.get_running_loop()
    state = _Server(tick)
    server = await loop.create_server(lambda: _Connection(state), "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    ticker = asyncio.ensure_future(state.run())
    try:
        async with server:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.serve_forever(), lifetime)
    finally:
        ticker.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this many s")
    parser.add_argument("--tick", type=float, default=0.001, help="seconds between writes")
    parser.add_argument("--cpu", type=int, help="pin this process to this CPU (Linux)")
    parser.add_argument("--prebuild", type=int, nargs="*", default=[], help="sizes to build now")
    parser.add_argument(
        "--bare-headers", action="store_true", help="no x-ratelimit-* headers in the answers"
    )
    args = parser.parse_args(argv)
    global BARE_HEADERS
    BARE_HEADERS = args.bare_headers
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    for chunks in args.prebuild:
        _templates[chunks] = _Template(chunks)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.lifetime, args.tick))
    sys.exit(0)


if __name__ == "__main__":
    main()
