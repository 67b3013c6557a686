"""Builders of realistic Groq streams, the ordinary ones and the ones that go wrong in the middle.

Each builder returns a :class:`Reply` whose bytes look like what Groq sends (see ``GROQ_WIRE.md``):
a role chunk carrying ``x_groq.id``, one chunk per token-ish piece, a finish chunk with usage in
``x_groq.usage`` and at the top level, optionally the ``choices: []`` usage chunk, then
``data: [DONE]``. Options are keyword-only and shared where they mean the same thing:

* ``model``, ``request_id`` (also the ``x-request-id`` header), ``headers`` (extra or replacing)
* ``include_usage``: add the extra usage chunk that ``stream_options.include_usage`` asks for
* ``crlf``: CRLF line endings; ``keepalive_every``: a ``: keep-alive`` comment every N events
* ``pause``: seconds between parts; ``write_size``: split writes (``1`` = byte trickle)
* ``done``: end with ``[DONE]`` (``False`` gives a truncated stream)

HTTP errors and faults are in ``_faults.py``; replaying recorded streams is in ``_replay.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from ._chunks import (
    DEFAULT_MODEL,
    DEFAULT_REQUEST_ID,
    Chunker,
    split_pieces,
    sse_event,
    stream_headers,
    stream_reply,
    usage_block,
)
from ._replies import Reply

__all__ = [
    "in_stream_error_reply",
    "reasoning_reply",
    "text_reply",
    "tool_call_reply",
    "trickle_reply",
]

_TOOL_USE_FAILED = (
    "Failed to call a function. Please adjust your prompt. "
    "See 'failed_generation' for more details."
)


def _events_end(
    chunker: Chunker,
    events: list[dict[str, Any]],
    *,
    completion_tokens: int,
    finish_reason: str,
    include_usage: bool,
    reasoning_tokens: int | None = None,
) -> None:
    usage = usage_block(completion_tokens, reasoning_tokens=reasoning_tokens)
    events.append(chunker.finish(finish_reason, usage))
    if include_usage:
        events.append(chunker.usage_only(usage))


def text_reply(
    text: str,
    *,
    model: str = DEFAULT_MODEL,
    pieces: Sequence[str] | None = None,
    include_usage: bool = False,
    crlf: bool = False,
    keepalive_every: int | None = None,
    finish_reason: str = "stop",
    done: bool = True,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
    write_size: int | None = None,
    pause: float | None = None,
) -> Reply:
    """A plain text answer, one content chunk per piece.

    Args:
        text: The full answer. Multi-byte UTF-8 is sent raw, as Groq does.
        pieces: How to cut ``text`` into deltas; by default words with their trailing
            whitespace. They must join back to ``text``.
        finish_reason: ``"stop"``, or ``"length"`` for an answer cut at ``max_completion_tokens``.
    """
    cut = split_pieces(text) if pieces is None else list(pieces)
    if "".join(cut) != text:
        raise ValueError("pieces must join back to text")
    chunker = Chunker(model=model, request_id=request_id)
    events = [chunker.role(), *(chunker.chunk({"content": piece}) for piece in cut)]
    _events_end(
        chunker,
        events,
        completion_tokens=len(cut),
        finish_reason=finish_reason,
        include_usage=include_usage,
    )
    return stream_reply(
        events,
        headers=stream_headers(request_id, headers),
        crlf=crlf,
        keepalive_every=keepalive_every,
        pause=pause,
        done=done,
        write_size=write_size,
    )


def trickle_reply(text: str, **options: Any) -> Reply:
    """:func:`text_reply` written one byte at a time: every split point of every event."""
    return text_reply(text, write_size=1, **options)


def _argument_fragments(arguments: str) -> list[str]:
    if not arguments:
        return [""]
    size = max(1, math.ceil(len(arguments) / 3))
    return [arguments[start : start + size] for start in range(0, len(arguments), size)]


def tool_call_reply(
    calls: Sequence[tuple[str, str]],
    *,
    text_before: str = "",
    fragmented: bool = False,
    call_ids: Sequence[str] | None = None,
    model: str = DEFAULT_MODEL,
    include_usage: bool = False,
    crlf: bool = False,
    keepalive_every: int | None = None,
    finish_reason: str = "tool_calls",
    done: bool = True,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
    write_size: int | None = None,
    pause: float | None = None,
) -> Reply:
    """Tool calls, after optional text, ending with ``finish_reason: "tool_calls"``.

    Args:
        calls: ``(name, arguments)`` pairs; ``arguments`` is the JSON string the model wrote.
        text_before: Content streamed before the calls (Groq does this, see recording 25).
        fragmented: Groq sends each call whole in one delta. ``True`` sends OpenAI-style
            fragments instead: ``id`` and ``name`` first, then the arguments in about three
            pieces under the same ``index`` and without ``id``. Clients must handle both.
        call_ids: Ids for the calls; by default ``call_fake0``, ``call_fake1``, ...
    """
    ids = [f"call_fake{i}" for i in range(len(calls))] if call_ids is None else list(call_ids)
    if len(ids) != len(calls):
        raise ValueError("call_ids must give one id per call")
    chunker = Chunker(model=model, request_id=request_id)
    text_pieces = split_pieces(text_before)
    events = [chunker.role(content=None)]
    events.extend(chunker.chunk({"content": piece}) for piece in text_pieces)
    tokens = len(text_pieces)
    for index, ((name, arguments), call_id) in enumerate(zip(calls, ids, strict=True)):
        tokens += 1 + len(split_pieces(arguments))
        if not fragmented:
            call = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
                "index": index,
            }
            events.append(chunker.chunk({"tool_calls": [call]}))
            continue
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(chunker.chunk({"tool_calls": [first]}))
        for fragment in _argument_fragments(arguments):
            more = {"index": index, "function": {"arguments": fragment}}
            events.append(chunker.chunk({"tool_calls": [more]}))
    _events_end(
        chunker,
        events,
        completion_tokens=tokens,
        finish_reason=finish_reason,
        include_usage=include_usage,
    )
    return stream_reply(
        events,
        headers=stream_headers(request_id, headers),
        crlf=crlf,
        keepalive_every=keepalive_every,
        pause=pause,
        done=done,
        write_size=write_size,
    )


def reasoning_reply(
    reasoning: str,
    text: str,
    *,
    channel: str | None = None,
    model: str = "qwen/qwen3-32b",
    include_usage: bool = False,
    crlf: bool = False,
    keepalive_every: int | None = None,
    finish_reason: str = "stop",
    done: bool = True,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
    write_size: int | None = None,
    pause: float | None = None,
) -> Reply:
    """A reasoning model's answer (``reasoning_format: "parsed"``): ``delta.reasoning`` pieces,
    then ``delta.content`` pieces.

    Args:
        channel: gpt-oss models add ``"channel": "analysis"`` to every reasoning delta; pass
            ``"analysis"`` to reproduce that.
    """
    chunker = Chunker(model=model, request_id=request_id)
    thought = split_pieces(reasoning)
    answer = split_pieces(text)
    events = [chunker.role()]
    for piece in thought:
        delta = (
            {"reasoning": piece} if channel is None else {"reasoning": piece, "channel": channel}
        )
        events.append(chunker.chunk(delta))
    events.extend(chunker.chunk({"content": piece}) for piece in answer)
    _events_end(
        chunker,
        events,
        completion_tokens=len(thought) + len(answer),
        reasoning_tokens=len(thought),
        finish_reason=finish_reason,
        include_usage=include_usage,
    )
    return stream_reply(
        events,
        headers=stream_headers(request_id, headers),
        crlf=crlf,
        keepalive_every=keepalive_every,
        pause=pause,
        done=done,
        write_size=write_size,
    )


def in_stream_error_reply(
    *,
    shape: Literal["event", "data", "x_groq"],
    text_before: str = "",
    message: str = _TOOL_USE_FAILED,
    error_type: str = "invalid_request_error",
    code: str | None = "tool_use_failed",
    failed_generation: str | None = None,
    status_code: int = 400,
    done: bool = False,
    model: str = DEFAULT_MODEL,
    crlf: bool = False,
    request_id: str = DEFAULT_REQUEST_ID,
    headers: Iterable[tuple[str, str]] = (),
    write_size: int | None = None,
    pause: float | None = None,
) -> Reply:
    """An HTTP 200 stream that reports an error part-way, in one of Groq's three shapes.

    Args:
        shape: ``"event"``: ``event: error`` with ``{"error": {..., "status_code"}}``, then the
            server closes the stream (no finish chunk, no ``[DONE]``), exactly as real Groq does
            for ``tool_use_failed``. ``"data"``: a plain ``data: {"error": {...}}`` event.
            ``"x_groq"``: a chunk whose ``x_groq.error`` is ``message``.
        text_before: Content streamed before the error.
        status_code: Only in the ``"event"`` shape, where Groq includes it.
        done: Send ``[DONE]`` after the error anyway (real Groq does not).
    """
    chunker = Chunker(model=model, request_id=request_id)
    events: list[dict[str, Any] | bytes] = [chunker.role()]
    events.extend(chunker.chunk({"content": piece}) for piece in split_pieces(text_before))
    if shape == "x_groq":
        events.append(chunker.chunk({}, x_groq={"id": request_id, "error": message}))
    else:
        error: dict[str, Any] = {"message": message, "type": error_type}
        if code is not None:
            error["code"] = code
        if failed_generation is not None:
            error["failed_generation"] = failed_generation
        if shape == "event":
            error["status_code"] = status_code
            events.append(sse_event({"error": error}, event="error", crlf=crlf))
        elif shape == "data":
            events.append(sse_event({"error": error}, crlf=crlf))
        else:
            raise ValueError(f"shape must be 'event', 'data' or 'x_groq', not {shape!r}")
    return stream_reply(
        events,
        headers=stream_headers(request_id, headers),
        crlf=crlf,
        pause=pause,
        done=done,
        write_size=write_size,
    )
