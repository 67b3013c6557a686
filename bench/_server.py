"""A minimal HTTP/1.1 server that answers every POST with a pre-built SSE stream, fast.

Run as its own process (``python -m bench._server``) so that its CPU is never counted in a client's
process time. It prints ``PORT <n>`` once listening on 127.0.0.1 and serves until killed or until
its lifetime bound expires (so a crashed parent cannot leave it running).

The response for a request is chosen by its path, ``/bench/<chunks>/...``: the whole response
(Groq's headers, one HTTP chunk per SSE event, the chunked terminator) is built once per size and
then written with one ``transport.write``. The client still sees one event per HTTP chunk, as from
Groq, since h11 hands each HTTP chunk over as its own ``Data`` event; the server does no per-event
work at all, which keeps it far from being the bottleneck. Connections are kept alive and requests
on one connection are served in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys

from ._data import http_response, make_stream

_PATH = re.compile(rb"^POST /bench/(\d+)/")
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
_BAD = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
_MAX_HEAD = 64 * 1024

_responses: dict[int, bytes] = {}


def _response_for(head: bytes) -> bytes:
    match = _PATH.match(head)
    if match is None:
        return _BAD
    chunks = int(match.group(1))
    response = _responses.get(chunks)
    if response is None:
        response = _responses[chunks] = http_response(make_stream(chunks))
    return response


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
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
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    transport.close()
                return
            head = bytes(buf[: end + 2])
            body_end = end + 4
            length = _LENGTH.search(head)
            if length is not None:
                body_end += int(length.group(1))
                if len(buf) < body_end:
                    return
            elif _CHUNKED.search(head):
                # A chunked request body: small here, so wait for its terminator.
                term = buf.find(b"0\r\n\r\n", end + 4)
                if term < 0:
                    return
                body_end = term + 5
            del buf[:body_end]
            transport.write(_response_for(head))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(port: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.serve_forever(), lifetime)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=1800.0, help="exit after this many s")
    parser.add_argument("--prebuild", type=int, nargs="*", default=[], help="sizes to build now")
    args = parser.parse_args(argv)
    for chunks in args.prebuild:
        _responses[chunks] = http_response(make_stream(chunks))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.lifetime))
    sys.exit(0)


if __name__ == "__main__":
    main()
