"""Building blocks of a Groq stream: SSE framing, chunk JSON, usage, headers.

The scenario builders (``_scenarios.py``) compose these. Everything here copies what the recorded
real streams show (``GROQ_WIRE.md``): compact JSON with Groq's key order, ``<``, ``>`` and ``&``
escaped Go-style, raw UTF-8 for everything else, ``x_groq.id`` equal to the ``x-request-id``
header, and the same deterministic ids and timestamps on every run so byte-level assertions hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ._replies import Part, Pause, Reply

__all__ = [
    "COMPLETION_ID",
    "CREATED",
    "DEFAULT_MODEL",
    "DEFAULT_REQUEST_ID",
    "DONE",
    "FINGERPRINT",
    "KEEPALIVE",
    "Chunker",
    "HeaderPairs",
    "error_headers",
    "merge_headers",
    "split_pieces",
    "sse_event",
    "stream_headers",
    "stream_reply",
    "usage_block",
]

HeaderPairs = tuple[tuple[str, str], ...]

DEFAULT_MODEL = "llama-3.3-70b-versatile"
DEFAULT_REQUEST_ID = "req_fake0000000000000000000000"  # same shape as Groq's: req_ + 26 characters
COMPLETION_ID = "chatcmpl-fa4e0000-0000-4000-8000-000000000000"
CREATED = 1739948145
FINGERPRINT = "fp_fake00000"

DONE = b"data: [DONE]\n\n"
"""The event that ends every complete Groq stream."""

KEEPALIVE = b": keep-alive\n\n"
"""An SSE comment: keeps the connection busy without being an event."""

_encoder = msgspec.json.Encoder()
_PIECE = re.compile(r"\S+\s*|\s+")


def _json(payload: Any) -> bytes:
    # Groq's JSON comes from Go, which escapes these three for HTML safety. Outside strings JSON
    # never contains them, so a byte replace cannot break the structure.
    raw = _encoder.encode(payload)
    if b"<" in raw or b">" in raw or b"&" in raw:
        raw = raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
    return raw


def sse_event(
    payload: Mapping[str, Any] | str, *, event: str | None = None, crlf: bool = False
) -> bytes:
    """One SSE event: ``data: <compact JSON>`` and a blank line.

    Args:
        payload: A JSON object (encoded compactly, in insertion order) or a ready string such as
            ``"[DONE]"``. A string with newlines becomes several ``data:`` lines, as SSE requires.
        event: An ``event:`` field to put first (Groq names in-stream errors ``event: error``).
        crlf: End lines with CRLF instead of LF, to test a client's line splitting.
    """
    eol = b"\r\n" if crlf else b"\n"
    lines: list[bytes] = []
    if event is not None:
        lines.append(b"event: " + event.encode())
    if isinstance(payload, str):
        lines.extend(b"data: " + line.encode() for line in payload.split("\n"))
    else:
        lines.append(b"data: " + _json(payload))
    lines.append(b"")
    return eol.join(lines) + eol


def split_pieces(text: str) -> list[str]:
    """Cut text the way a tokenizer roughly does: words with their trailing whitespace."""
    return _PIECE.findall(text)


def usage_block(
    completion_tokens: int, *, prompt_tokens: int = 18, reasoning_tokens: int | None = None
) -> dict[str, Any]:
    """Groq's usage object (key order as sent), with deterministic timings in float seconds."""
    prompt_time = 0.0031
    completion_time = round(0.0042 * completion_tokens, 6)
    usage: dict[str, Any] = {
        "queue_time": 0.0123,
        "prompt_tokens": prompt_tokens,
        "prompt_time": prompt_time,
        "completion_tokens": completion_tokens,
        "completion_time": completion_time,
        "total_tokens": prompt_tokens + completion_tokens,
        "total_time": round(prompt_time + completion_time, 6),
    }
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


class Chunker:
    """Makes the chunk objects of one completion, all sharing its id, model and request id."""

    def __init__(
        self,
        *,
        model: str,
        request_id: str,
        completion_id: str = COMPLETION_ID,
        created: int = CREATED,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.request_id = request_id
        self.completion_id = completion_id
        self.created = created
        self.seed = seed

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
        }

    def chunk(
        self,
        delta: Mapping[str, Any],
        *,
        finish_reason: str | None = None,
        x_groq: Mapping[str, Any] | None = None,
        usage: Mapping[str, Any] | None = None,
        logprobs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One chunk with a single choice (index 0), then ``x_groq`` and ``usage`` if given."""
        out = self._head()
        out["choices"] = [
            {
                "index": 0,
                "delta": dict(delta),
                "logprobs": None if logprobs is None else dict(logprobs),
                "finish_reason": finish_reason,
            }
        ]
        if x_groq is not None:
            out["x_groq"] = dict(x_groq)
        if usage is not None:
            out["usage"] = dict(usage)
        return out

    def role(self, *, content: str | None = "") -> dict[str, Any]:
        """The first chunk: the assistant role, and ``x_groq.id`` (with the ``seed``, if any)."""
        x_groq: dict[str, Any] = {"id": self.request_id}
        if self.seed is not None:
            x_groq["seed"] = self.seed
        return self.chunk({"role": "assistant", "content": content}, x_groq=x_groq)

    def finish(self, finish_reason: str, usage: Mapping[str, Any]) -> dict[str, Any]:
        """The last choice chunk: empty delta, the reason, and usage in both places (2026 style)."""
        return self.chunk(
            {},
            finish_reason=finish_reason,
            x_groq={"id": self.request_id, "usage": dict(usage)},
            usage=usage,
        )

    def usage_only(self, usage: Mapping[str, Any]) -> dict[str, Any]:
        """The extra ``choices: []`` chunk sent with ``stream_options.include_usage``."""
        out = self._head()
        out["choices"] = []
        out["usage"] = dict(usage)
        out["service_tier"] = "on_demand"
        return out


def merge_headers(base: Iterable[tuple[str, str]], extra: Iterable[tuple[str, str]]) -> HeaderPairs:
    """``base`` with each header of ``extra`` replacing its namesake (case-insensitive) or added."""
    merged = list(base)
    for name, value in extra:
        key = name.lower()
        kept = [i for i, (old, _) in enumerate(merged) if old.lower() == key]
        if kept:
            merged[kept[0]] = (name, value)
            for i in reversed(kept[1:]):
                del merged[i]
        else:
            merged.append((name, value))
    return tuple(merged)


_RATE_LIMITS: HeaderPairs = (
    ("x-ratelimit-limit-requests", "14400"),
    ("x-ratelimit-limit-tokens", "6000"),
    ("x-ratelimit-remaining-requests", "14399"),
    ("x-ratelimit-remaining-tokens", "5987"),
    ("x-ratelimit-reset-requests", "2m59.56s"),
    ("x-ratelimit-reset-tokens", "7.66s"),
)


def stream_headers(request_id: str, extra: Iterable[tuple[str, str]] = ()) -> HeaderPairs:
    """The headers of a successful stream, with ``extra`` merged in."""
    base = (
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        *_RATE_LIMITS,
        ("x-request-id", request_id),
    )
    return merge_headers(base, extra)


def error_headers(
    request_id: str,
    extra: Iterable[tuple[str, str]] = (),
    *,
    content_type: str = "application/json",
    rate_limits: bool = True,
) -> HeaderPairs:
    """The headers of an error answer. A 401 has no rate-limit headers, so they are optional."""
    base = (
        ("content-type", content_type),
        ("cache-control", "private, max-age=0, no-store, no-cache, must-revalidate"),
        *(_RATE_LIMITS if rate_limits else ()),
        ("x-request-id", request_id),
    )
    return merge_headers(base, extra)


def stream_reply(
    events: Sequence[Mapping[str, Any] | bytes],
    *,
    headers: HeaderPairs,
    crlf: bool = False,
    keepalive_every: int | None = None,
    pause: float | None = None,
    done: bool = True,
    write_size: int | None = None,
    tail: Sequence[Part] = (),
) -> Reply:
    """Frame ``events`` (chunk objects, or bytes already framed) as a 200 SSE reply.

    Args:
        keepalive_every: Put a ``: keep-alive`` comment after every N events.
        pause: A :class:`Pause` of this many seconds between consecutive parts.
        done: End with ``data: [DONE]``.
        tail: Parts appended after everything else (a ``Drop()`` or ``Stall()``).
    """
    if keepalive_every is not None and keepalive_every < 1:
        raise ValueError(f"keepalive_every must be None or >= 1, not {keepalive_every!r}")
    keepalive = KEEPALIVE.replace(b"\n", b"\r\n") if crlf else KEEPALIVE
    framed = [
        event if isinstance(event, bytes) else sse_event(event, crlf=crlf) for event in events
    ]
    if done:
        framed.append(sse_event("[DONE]", crlf=crlf))
    parts: list[bytes] = []
    for n, event in enumerate(framed, start=1):
        parts.append(event)
        if keepalive_every is not None and n % keepalive_every == 0 and n < len(framed):
            parts.append(keepalive)
    body: list[Part] = []
    for part in parts:
        if pause is not None and body:
            body.append(Pause(pause))
        body.append(part)
    body.extend(tail)
    return Reply(status=200, headers=headers, body=tuple(body), write_size=write_size)
