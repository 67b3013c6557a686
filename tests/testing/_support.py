"""Helpers for the tests of ``trio_groqstream.testing``: a raw HTTP/1.1 client, SSE splitting, and
the recorded real Groq responses."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_groqstream.testing import FAKE_API_KEY, Reply

ENV_VAR = "TRIO_GROQSTREAM_REAL_GROQ"
REAL_GROQ = Path(
    os.environ.get(ENV_VAR) or Path(__file__).resolve().parents[2] / ".." / "shared" / "real_groq"
)
MISSING = "real_groq-missing"
_BLANK_LINE = re.compile(rb"\r\n\r\n|\n\n")
AUTH = {"authorization": f"Bearer {FAKE_API_KEY}"}
MODEL = "llama-3.3-70b-versatile"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
"""A valid streaming chat request, as Groq requires it (the fake refuses an invalid one)."""
CHAT_BODY = json.dumps(CHAT, separators=(",", ":")).encode()


def recording_names() -> list[str]:
    """File names to parametrize over; ``[MISSING]`` (which skips) when the folder is absent."""
    names = sorted(path.name for path in REAL_GROQ.glob("*.json")) if REAL_GROQ.is_dir() else []
    return names or [MISSING]


def load_recording(name: str) -> dict[str, Any]:
    """One recording by file name; skips the test when the recordings are not on this machine
    (they live beside the project, in ``../shared/real_groq``, not in it)."""
    path = REAL_GROQ / name
    if name == MISSING or not path.is_file():
        pytest.skip(f"no recorded Groq response {name} at {REAL_GROQ} (set {ENV_VAR})")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def request_bytes(
    body: bytes = CHAT_BODY,
    *,
    path: str = "/openai/v1/chat/completions",
    method: str = "POST",
    key: str | None = FAKE_API_KEY,
    extra: str = "",
) -> bytes:
    auth = f"authorization: Bearer {key}\r\n" if key is not None else ""
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{auth}{extra}"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    status_line: bytes = b""
    chunks: list[bytes] = field(default_factory=list)  # one entry per HTTP chunk, framing removed
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


class RawClient:
    """An HTTP/1.1 client that keeps chunk boundaries, to check the server's framing exactly."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def _fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError("server closed the connection")
        self._buffer += data

    async def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_head(self) -> RawResponse:
        status_line = await self._line()
        headers: list[tuple[str, str]] = []
        while line := await self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return RawResponse(
            status=int(status_line.split()[1]), headers=headers, status_line=status_line
        )

    async def read_next_chunk(self, response: RawResponse) -> bytes:
        """Read one HTTP chunk (``b""`` for the terminator)."""
        size = int((await self._line()).split(b";")[0], 16)
        data = await self._exactly(size)
        assert await self._exactly(2) == b"\r\n"
        if size:
            response.chunks.append(data)
        return data

    async def read_response(self) -> RawResponse:
        response = await self.read_head()
        if response.header("transfer-encoding") == "chunked":
            while await self.read_next_chunk(response):
                pass
            response.body = b"".join(response.chunks)
        else:
            response.body = await self._exactly(int(response.header("content-length") or 0))
        return response

    async def exchange(self, request: bytes) -> RawResponse:
        await self.stream.send_all(request)
        return await self.read_response()

    async def at_eof(self) -> bool:
        """Whether the server closed the connection (reads until EOF; call only when idle)."""
        try:
            await self._fill()
        except (EOFError, trio.BrokenResourceError):
            return True
        return False


def split_events(body: bytes) -> list[bytes]:
    """Split an SSE body after each blank line (LF or CRLF), keeping the bytes."""
    events: list[bytes] = []
    start = 0
    for match in _BLANK_LINE.finditer(body):
        events.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        events.append(body[start:])
    return events


def data_payloads(reply: Reply) -> list[Any]:
    """The JSON of every ``data:`` event of a reply (``"[DONE]"`` kept as a string)."""
    out: list[Any] = []
    for event in split_events(reply.body_bytes()):
        for line in event.splitlines():
            if line.startswith(b"data: "):
                value = line[len(b"data: ") :]
                out.append("[DONE]" if value == b"[DONE]" else json.loads(value))
    return out


def streamed_text(body: bytes) -> str:
    """The content an SSE body spells out, joined from every chunk's ``delta.content``."""
    text: list[str] = []
    for event in split_events(body):
        for line in event.splitlines():
            if line.startswith(b"data: {"):
                for choice in json.loads(line[len(b"data: ") :]).get("choices", []):
                    text.append(choice["delta"].get("content") or "")
    return "".join(text)
