"""Replies from a hostile or broken server: the edges a client's promises are judged at.

Real Groq does none of this, but a proxy, a misconfigured gateway or an attacker on the path can:
keep the body open after ``[DONE]``, flood content-less events, send a compression bomb, nest JSON
a thousand deep, or ask the client to wait for days. A client that promises bounded memory,
bounded waits and typed errors should be tested against each of them.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from typing import Literal

from ._chunks import DEFAULT_MODEL, DEFAULT_REQUEST_ID, DONE, Chunker, stream_headers, stream_reply
from ._faults import http_error_reply
from ._replies import Part, Reply, Stall
from ._scenarios import text_reply

__all__ = [
    "compression_bomb_reply",
    "contentless_flood_reply",
    "deep_json_reply",
    "held_open_reply",
    "retry_after_reply",
    "used_up_window_reply",
]

#: One content-less chunk: valid JSON that decodes to an empty ``chat.completion.chunk``.
EMPTY_EVENT = b"data: {}\n\n"


def held_open_reply(text: str = "A complete answer.", **options: object) -> Reply:
    """A complete answer, ``data: [DONE]`` included, whose body then stays open forever.

    The server never sends the chunked terminator: a client must treat the answer as complete at
    ``[DONE]`` (no timeout may fire afterwards) and must not wait long for the body's end.
    ``options`` go to :func:`~trio_groqstream.testing.text_reply`.
    """
    reply = text_reply(text, **options)  # type: ignore[arg-type]
    return dataclasses.replace(reply, body=(*reply.body, Stall()))


def contentless_flood_reply(
    events: int = 100_000_000,
    *,
    per_write: int = 1_000,
    done: bool = True,
    request_id: str = DEFAULT_REQUEST_ID,
) -> Reply:
    """``data: {}`` over and over (``events`` of them, ``per_write`` per HTTP chunk).

    Each is a valid chunk that carries nothing, so a client that holds content-less chunks back
    while a retry is still possible (as the role chunk is held) must bound what it holds. The
    default is effectively endless; the body is a tuple of references to one block, so building
    it costs almost nothing.
    """
    if events < 0 or per_write < 1:
        raise ValueError("events must be >= 0 and per_write >= 1")
    writes, rest = divmod(events, per_write)
    body: list[Part] = [EMPTY_EVENT * per_write] * writes
    if rest:
        body.append(EMPTY_EVENT * rest)
    if done:
        body.append(DONE)
    return Reply(status=200, headers=stream_headers(request_id), body=tuple(body))


def compression_bomb_reply(
    size: int = 1 << 30,
    *,
    encoding: Literal["gzip", "deflate"] = "gzip",
    event: bytes = EMPTY_EVENT,
    write_size: int = 16 * 1024,
    request_id: str = DEFAULT_REQUEST_ID,
) -> Reply:
    """A ``content-encoding: gzip`` (or ``deflate``) body that inflates to ``size`` bytes of
    ``event`` repeated (about 1,000 times its compressed size), ending in ``data: [DONE]``.

    A client that inflates a whole network read at once turns one read into gigabytes; a bounded
    one decodes it in pieces, with backpressure, or refuses it.
    """
    block = event * max(1, (1 << 20) // len(event))
    count = max(1, size // len(block))
    wbits = 31 if encoding == "gzip" else 15  # gzip wrapper, or zlib's (HTTP "deflate")
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor starts afresh, so each further block compresses to the
    # same bytes: the body is built from references, not by compressing gigabytes.
    middle = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(DONE) + compressor.flush()
    compressed = head + middle * (count - 1) + _fix_trailer(tail, block, count, encoding)
    parts = tuple(
        compressed[start : start + write_size] for start in range(0, len(compressed), write_size)
    )
    headers = (*stream_headers(request_id), ("content-encoding", encoding))
    return Reply(status=200, headers=headers, body=parts)


def _fix_trailer(tail: bytes, block: bytes, count: int, encoding: str) -> bytes:
    """The compressor's checksum covers what it actually saw (two blocks): replace it with the
    checksum of the whole inflated body so that a complete read verifies."""
    if encoding == "gzip":
        crc = 0
        for _ in range(count):
            crc = zlib.crc32(block, crc)
        crc = zlib.crc32(DONE, crc)
        length = (len(block) * count + len(DONE)) & 0xFFFFFFFF
        return tail[:-8] + crc.to_bytes(4, "little") + length.to_bytes(4, "little")
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(DONE, adler)
    return tail[:-4] + adler.to_bytes(4, "big")


def deep_json_reply(
    depth: int = 1_000,
    *,
    model: str = DEFAULT_MODEL,
    request_id: str = DEFAULT_REQUEST_ID,
) -> Reply:
    """A role chunk, then a chunk with a field nested ``depth`` arrays deep (2 KB at 1,000).

    Valid JSON, but a recursive decoder overflows on it; a client must answer with a typed
    protocol error, not a raw ``RecursionError``.
    """
    chunker = Chunker(model=model, request_id=request_id)
    deep = b"[" * depth + b"]" * depth
    event = (
        b'data: {"id":"chatcmpl-deep","object":"chat.completion.chunk","created":1,'
        b'"model":"' + model.encode() + b'","choices":[],"nested":' + deep + b"}\n\n"
    )
    return stream_reply([chunker.role(), event], headers=stream_headers(request_id))


def retry_after_reply(seconds: float = 999_999, *, status: int = 429) -> Reply:
    """A 429 (or ``status``) asking the client to wait ``seconds`` before trying again.

    A client must cap the wait by its own bounds and fail with a typed error that says how long
    the server asked for, instead of stalling every later request.
    """
    return http_error_reply(status, retry_after=seconds)


def used_up_window_reply(
    text: str = "An answer from a used-up window.",
    *,
    reset: str = "9999999h",
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """A normal answer whose ``x-ratelimit-*`` headers say both windows are used up and reset
    only after ``reset`` (a Go duration): a client pacing by them must not wait that long."""
    limits = (
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-requests", reset),
        ("x-ratelimit-reset-tokens", reset),
        *headers,
    )
    return text_reply(text, headers=limits)
