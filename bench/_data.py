"""The benchmark's byte stream: realistic Groq chunks, generated deterministically.

Every chunk has the shape recorded from the real API (compact JSON, Groq's key order, ``logprobs:
null``, ``x_groq.id`` on the first chunk, usage in both ``x_groq.usage`` and ``usage`` on the last)
and is about 290 bytes on the wire, the size of a one-token content delta of a model with a long
name. Content tokens come from a seeded PRNG over a word list that includes escapes and multi-byte
UTF-8, so every decoder also pays for JSON escapes and for UTF-8 split across reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec

__all__ = [
    "MODEL",
    "READ_MODES",
    "REQUEST_ID",
    "Stream",
    "content_len",
    "http_response",
    "make_stream",
    "reads_for",
    "split_reads",
]

MODEL = "meta-llama/llama-4-scout-17b-16e-instruct"
REQUEST_ID = "req_01kh52ndshfr2azv0xe6tnv4fx"
_COMPLETION_ID = "chatcmpl-7eb08824-fb8d-47af-a1f0-3aa786f2d1f3"
_CREATED = 1770770839
_FINGERPRINT = "fp_f8b414701e"
_DONE = b"data: [DONE]\n\n"

# Token-like pieces: mostly short ASCII words, some punctuation and JSON escapes (quotes,
# newlines), some multi-byte UTF-8 (2, 3 and 4 bytes) so 64-byte reads split characters.
_PIECES = [
    " the", " of", " and", " to", " a", " in", " is", " that", " for", " it", " as", " with",
    " stream", "ing", " model", " token", " latency", " Groq", " inference", " language",
    ",", ".", ":", " (", ")", " \"", "\"", "\n", "\n\n", "**", " -", " 1", "2", "0",
    " café", " naïve", " —", " 日本", "語", " 🙂", " <b>", " &",
]  # fmt: skip

_encoder = msgspec.json.Encoder()


def _json(payload: object) -> bytes:
    # Groq's JSON comes from Go, which escapes <, > and & (outside strings JSON never has them).
    raw = _encoder.encode(payload)
    return raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def _chunk(
    delta: dict[str, object],
    *,
    finish_reason: str | None = None,
    x_groq: dict[str, object] | None = None,
    usage: dict[str, object] | None = None,
) -> bytes:
    payload: dict[str, object] = {
        "id": _COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": MODEL,
        "system_fingerprint": _FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if x_groq is not None:
        payload["x_groq"] = x_groq
    if usage is not None:
        payload["usage"] = usage
    return b"data: " + _json(payload) + b"\n\n"


@dataclass(frozen=True)
class Stream:
    """One generated completion.

    Attributes:
        events: the SSE events, each ``data: {...}\\n\\n``; the last is ``data: [DONE]``.
        chunks: how many chunk events there are (``[DONE]`` excluded).
        text_len: the length, in characters, of the completion's text (all content deltas).
        body: the whole ``text/event-stream`` body.
    """

    events: tuple[bytes, ...]
    chunks: int
    text_len: int

    @property
    def body(self) -> bytes:
        return b"".join(self.events)

    @property
    def mean_chunk_bytes(self) -> float:
        return sum(map(len, self.events[:-1])) / self.chunks


@lru_cache(maxsize=8)
def make_stream(chunks: int, *, seed: int = 0) -> Stream:
    """A completion of ``chunks`` chunks (at least 2): a role chunk, ``chunks - 2`` content deltas
    and a finish chunk carrying usage, then ``[DONE]``. The same arguments give the same bytes."""
    if chunks < 2:
        raise ValueError("a stream needs at least a role chunk and a finish chunk")
    rng = random.Random(seed)
    events = [_chunk({"role": "assistant", "content": ""}, x_groq={"id": REQUEST_ID, "seed": 7})]
    text_len = 0
    for _ in range(chunks - 2):
        piece = rng.choice(_PIECES)
        text_len += len(piece)
        events.append(_chunk({"content": piece}))
    usage: dict[str, object] = {
        "queue_time": 0.041905864,
        "prompt_tokens": 45,
        "prompt_time": 0.003940145,
        "completion_tokens": chunks - 2,
        "completion_time": 2.652230333,
        "total_tokens": 45 + chunks - 2,
        "total_time": 2.656170478,
    }
    events.append(
        _chunk({}, finish_reason="stop", x_groq={"id": REQUEST_ID, "usage": usage}, usage=usage)
    )
    events.append(_DONE)
    return Stream(events=tuple(events), chunks=chunks, text_len=text_len)


def split_reads(body: bytes, size: int) -> list[bytes]:
    """The body as a network would deliver it in reads of ``size`` bytes."""
    return [body[i : i + size] for i in range(0, len(body), size)]


#: Read patterns of the decode benchmark: fixed-size reads, and one event per read (what a client
#: sees from Groq, which sends each event in its own HTTP chunk).
READ_MODES = {"16KiB": 16 * 1024, "64B": 64, "1event": 0}


def reads_for(stream: Stream, mode: str) -> list[bytes]:
    """The stream's body cut as ``mode`` (a key of :data:`READ_MODES`) says."""
    size = READ_MODES[mode]
    return list(stream.events) if size == 0 else split_reads(stream.body, size)


_HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
    b"x-ratelimit-limit-requests: 14400\r\n"
    b"x-ratelimit-limit-tokens: 6000\r\n"
    b"x-ratelimit-remaining-requests: 14399\r\n"
    b"x-ratelimit-remaining-tokens: 5987\r\n"
    b"x-ratelimit-reset-requests: 2m59.56s\r\n"
    b"x-ratelimit-reset-tokens: 7.66s\r\n"
    b"x-request-id: " + REQUEST_ID.encode() + b"\r\n"
    b"\r\n"
)


def http_response(stream: Stream) -> bytes:
    """A whole HTTP/1.1 response: Groq's headers, then one HTTP chunk per SSE event (as Groq
    flushes each event), then the chunked terminator."""
    parts = [_HEADERS]
    for event in stream.events:
        parts.append(b"%x\r\n%s\r\n" % (len(event), event))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def content_len(chunk: Any) -> int:
    """Characters of content a chunk (the SDK's or ours) adds to its first choice: the
    correctness tally every variant keeps."""
    choices = chunk.choices
    if choices:
        content = choices[0].delta.content
        if content:
            return len(content)
    return 0
