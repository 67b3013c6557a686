"""Replay a response recorded from the real Groq API, byte for byte.

A recording is a JSON object with ``status``, ``headers`` (a dict) and ``sse`` (the exact body
text), the format of the transcripts in ``shared/real_groq``. Replaying one through the fake server
tests a client against what Groq really sent, including its quirks, over a real socket.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._replies import Part, Reply

__all__ = ["replay_reply"]

# Framing and hop-by-hop headers describe the recorded connection, not the response: the fake
# server frames the body itself (chunked for streams, content-length for error bodies).
_DROPPED = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})
# A recorder's note in a header value, like "text/plain (assumed)".
_NOTE = re.compile(r"\s*\((?:assumed|guessed|inferred)\)\s*$")
# Blank line = end of an SSE event, whatever the line ending (WHATWG SSE: CRLF, LF or CR).
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _load(recording: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(recording, Mapping):
        return recording
    loaded = json.loads(Path(recording).read_text(encoding="utf-8"))
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{recording}: a recording must be a JSON object")
    return loaded


def _split_events(body: bytes) -> list[bytes]:
    """One part per event, split after each blank line; what follows the last one is kept too."""
    parts: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(body):
        parts.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        parts.append(body[start:])
    return parts


def replay_reply(recording: Mapping[str, Any] | str | os.PathLike[str]) -> Reply:
    """A :class:`Reply` that sends exactly what a recording holds.

    Args:
        recording: The parsed recording, or the path of its JSON file.

    The recorded headers are kept (minus framing and hop-by-hop ones); with no content type, a 200
    gets ``text/event-stream`` and anything else ``application/json``. A 200 event stream is sent
    one event per chunk, as Groq does; any other body is sent whole with a content-length.
    """
    data = _load(recording)
    status = int(data["status"])
    body = str(data.get("sse") or "").encode("utf-8")
    raw_headers = data.get("headers") or {}
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        if name.lower() in _DROPPED:
            continue
        text = str(value)
        if name.lower() == "content-type":
            text = _NOTE.sub("", text)
        headers.append((name, text))
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    if content_type is None:
        content_type = "text/event-stream" if status == 200 else "application/json"
        headers.insert(0, ("content-type", content_type))
    if status == 200 and content_type.lower().startswith("text/event-stream"):
        parts: tuple[Part, ...] = tuple(_split_events(body))
        return Reply(status=status, headers=tuple(headers), body=parts, chunked=True)
    return Reply(status=status, headers=tuple(headers), body=(body,) if body else (), chunked=False)
