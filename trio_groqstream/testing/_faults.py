"""Replies for when things go wrong: HTTP errors, and streams that break, stall or never start.

These are the cases a streaming client is judged on, and the ones a real server will not produce
on demand: a 429 with ``retry-after``, a plain-text 503 from a proxy, a connection reset half-way,
a body that ends without ``[DONE]``, a server that accepts the request and then says nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import msgspec

from ._chunks import (
    DEFAULT_MODEL,
    DEFAULT_REQUEST_ID,
    KEEPALIVE,
    Chunker,
    error_headers,
    merge_headers,
    split_pieces,
    stream_headers,
    stream_reply,
    usage_block,
)
from ._replies import Drop, Part, Pause, Reply, Stall

__all__ = [
    "drop_reply",
    "eof_reply",
    "headers_never_reply",
    "http_error_reply",
    "keepalive_only_reply",
    "non_sse_reply",
    "stall_reply",
]

_MODEL = DEFAULT_MODEL
_TPM = (
    "on tokens per minute (TPM): Limit 6000, Used 5914, Requested 1822. Please try again in "
    "17.359s. Visit https://console.groq.com/docs/rate-limits for more information."
)
# (message, type, code) by status, in the words real Groq uses where they are known.
_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("'messages' : value must be an array", "invalid_request_error", None),
    401: ("Invalid API Key", "invalid_request_error", "invalid_api_key"),
    403: ("Forbidden", "invalid_request_error", "permission_denied"),
    404: (
        f"The model `{_MODEL}-x` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    413: (
        f"Request too large for model `{_MODEL}` in organization `org_fake` service tier "
        "`on_demand` on tokens per minute (TPM): Limit 6000, Requested 14368, please reduce your "
        "message size and try again. Visit https://console.groq.com/docs/rate-limits for more "
        "information.",
        "tokens",
        "rate_limit_exceeded",
    ),
    422: ("Unprocessable Entity", "invalid_request_error", None),
    424: ("Failed Dependency", "invalid_request_error", None),
    429: (
        f"Rate limit reached for model `{_MODEL}` in organization `org_fake` service tier "
        f"`on_demand` {_TPM}",
        "tokens",
        "rate_limit_exceeded",
    ),
    498: (
        "Flex tier capacity exceeded. This model is currently at capacity; please try again.",
        "invalid_request_error",
        "capacity_exceeded",
    ),
    499: ("Request cancelled", "invalid_request_error", None),
    500: ("Internal Server Error", "internal_server_error", None),
    502: ("Bad Gateway", "internal_server_error", None),
    503: ("Service Unavailable", "internal_server_error", None),
}
# Groq's 503 comes from its proxy, as plain text (recording 33), unless a JSON field is asked for.
_PLAIN_503 = "upstream connect error or disconnect/reset before headers. reset reason: overflow"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def http_error_reply(
    status: int,
    *,
    message: str | None = None,
    error_type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    failed_generation: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    text: str | None = None,
    content_type: str | None = None,
    request_id: str = DEFAULT_REQUEST_ID,
) -> Reply:
    """An error answer instead of a stream: Groq's ``{"error": {...}}`` JSON plus a newline.

    ``message``, ``error_type`` and ``code`` default to what Groq sends for ``status`` (for 429:
    type ``"tokens"``, code ``"rate_limit_exceeded"``; for 401: ``"Invalid API Key"``, code
    ``"invalid_api_key"``). The body has a ``content-length``, like Groq's error bodies. A 503
    with none of ``message``, ``error_type``, ``code``, ``param`` is plain text, the proxy's
    words that real Groq sends (recording 33).

    Args:
        retry_after: Add a ``retry-after`` header (seconds; Groq sends whole seconds on 429).
        retry_after_ms: Add a ``retry-after-ms`` header, which OpenAI-style clients also read.
        text: Send this raw text instead of JSON (a proxy's plain-text 503, a CDN's HTML 403).
        content_type: Override the content type (default JSON, or ``text/plain`` with ``text``).
    """
    fields = (message, error_type, code, param, failed_generation)
    if text is None and status == 503 and all(field is None for field in fields):
        text = _PLAIN_503
    if text is not None:
        body = text.encode()
        kind = content_type or "text/plain; charset=utf-8"
    else:
        if status in _DEFAULTS:
            default_message, default_type, default_code = _DEFAULTS[status]
        else:
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
            server_side = status >= 500
            default_message = phrase or f"HTTP {status}"
            default_type = "internal_server_error" if server_side else "invalid_request_error"
            default_code = None
        error: dict[str, Any] = {
            "message": default_message if message is None else message,
            "type": default_type if error_type is None else error_type,
        }
        if param is not None:
            error["param"] = param
        if (code or default_code) is not None:
            error["code"] = code or default_code
        if failed_generation is not None:
            error["failed_generation"] = failed_generation
        body = msgspec.json.encode({"error": error}) + b"\n"
        kind = content_type or "application/json"
    extra: list[tuple[str, str]] = []
    if retry_after is not None:
        extra.append(("retry-after", _number(retry_after)))
    if retry_after_ms is not None:
        extra.append(("retry-after-ms", _number(retry_after_ms)))
    all_headers = error_headers(
        request_id, merge_headers(extra, headers), content_type=kind, rate_limits=status != 401
    )
    return Reply(status=status, headers=all_headers, body=(body,), chunked=False)


def _started(
    text_before: str, *, model: str, request_id: str
) -> tuple[Chunker, list[dict[str, Any]]]:
    chunker = Chunker(model=model, request_id=request_id)
    events = [chunker.role(), *(chunker.chunk({"content": p}) for p in split_pieces(text_before))]
    return chunker, events


def drop_reply(
    text_before: str = "some text",
    *,
    model: str = DEFAULT_MODEL,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
    pause: float | None = None,
) -> Reply:
    """Some chunks, then the connection is cut (no chunked terminator): a network error."""
    _, events = _started(text_before, model=model, request_id=request_id)
    return stream_reply(
        events, headers=stream_headers(request_id, headers), pause=pause, done=False, tail=(Drop(),)
    )


def eof_reply(
    text_before: str = "some text",
    *,
    with_finish: bool = False,
    model: str = DEFAULT_MODEL,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """Some chunks, then a clean end of the HTTP body without ``[DONE]``: a truncated stream.

    Args:
        with_finish: Also send the finish chunk (with usage) before ending, the subtler case.
    """
    chunker, events = _started(text_before, model=model, request_id=request_id)
    if with_finish:
        events.append(chunker.finish("stop", usage_block(len(events) - 1)))
    return stream_reply(events, headers=stream_headers(request_id, headers), done=False)


def stall_reply(
    text_before: str = "some text",
    *,
    after_chunks: int | None = None,
    model: str = DEFAULT_MODEL,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """Some chunks, then silence with the connection open: for idle-timeout tests.

    Args:
        after_chunks: How many data events (the role chunk counts) arrive before the stall;
            by default the role chunk and every piece of ``text_before``. ``0`` stalls right
            after the headers, which tests a first-chunk timeout.
    """
    _, events = _started(text_before, model=model, request_id=request_id)
    if after_chunks is not None:
        if after_chunks < 0:
            raise ValueError(f"after_chunks must be >= 0, not {after_chunks!r}")
        events = events[:after_chunks]
    return stream_reply(
        events, headers=stream_headers(request_id, headers), done=False, tail=(Stall(),)
    )


def keepalive_only_reply(
    interval: float = 0.1,
    *,
    count: int = 10_000,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """Headers, then only ``: keep-alive`` comments every ``interval`` seconds, never an event.

    The bytes keep flowing but no event arrives, so an idle timeout that (rightly) ignores SSE
    comments must still fire. After ``count`` comments the server stalls, so the stream never
    ends on its own.
    """
    body: list[Part] = []
    for _ in range(count):
        body.append(KEEPALIVE)
        body.append(Pause(interval))
    body.append(Stall())
    return Reply(status=200, headers=stream_headers(request_id, headers), body=tuple(body))


def headers_never_reply() -> Reply:
    """The request is accepted, then nothing at all: not even the status line."""
    return Reply(before_headers=(Stall(),))


_COMPLETION = (
    b'{"id":"chatcmpl-x","object":"chat.completion","created":1739948145,'
    b'"model":"llama-3.3-70b-versatile","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"Hello"},"logprobs":null,"finish_reason":"stop"}]}\n'
)


def non_sse_reply(
    body: bytes = _COMPLETION,
    *,
    content_type: str = "application/json",
    status: int = 200,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """A successful answer that is not an event stream (a non-streamed completion, by default)."""
    all_headers = merge_headers(
        (("content-type", content_type), ("x-request-id", request_id)), headers
    )
    return Reply(status=status, headers=all_headers, body=(body,), chunked=False)
