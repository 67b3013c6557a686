"""The reply model: what the fake server (or the mock transport) sends back, step by step.

A :class:`Reply` is plain data, so a test can build one, look at it, push it, and compare what the
client received with :meth:`Reply.body_bytes`. Its body is a sequence of *parts*: bytes to send, or
a fault to act out between them (:class:`Pause`, :class:`Stall`, :class:`Drop`). Each bytes part
leaves as its own HTTP chunk at once, because that is how Groq delivers tokens: one SSE event per
network write, so a client sees the same event boundaries it sees in production.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Drop", "Part", "Pause", "Reply", "Stall"]


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` (with :func:`trio.sleep`) before the next part.

    Under an autojumping ``trio.testing.MockClock`` the wait costs no real time, so timeout tests
    stay fast.
    """

    seconds: float

    def __post_init__(self) -> None:
        if not (self.seconds >= 0 and math.isfinite(self.seconds)):
            raise ValueError(f"Pause needs a finite number of seconds >= 0, not {self.seconds!r}")


@dataclass(frozen=True)
class Stall:
    """Send nothing more, ever: the server waits until the client gives up and closes.

    This is how a test proves that a first-token or idle timeout fires, and that the client then
    closes its connection (see :meth:`FakeGroq.wait_idle` and ``stats().closed_by_client``).
    """


@dataclass(frozen=True)
class Drop:
    """Close the TCP connection abruptly, in the middle of the body (no chunked terminator).

    The client sees a network error while reading, like a reset by a proxy or a crashed upstream.
    """


Part: TypeAlias = bytes | Pause | Stall | Drop
"""One step of a reply body."""


_HeaderPairs: TypeAlias = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response.

    Attributes:
        status: The HTTP status code.
        headers: Response headers, in order. Framing headers (``content-length``,
            ``transfer-encoding``) are set by the server from ``chunked`` and are ignored here.
        body: The parts, sent in order. Each bytes part is one HTTP chunk (one network write).
        before_headers: Pauses (or a stall) before the status line is sent: a slow or silent
            server that has accepted the request. ``(Stall(),)`` means headers never come.
        write_size: Split every bytes part into writes (and chunks) of at most this many bytes;
            ``1`` trickles the body a byte at a time, which exercises every split point of a
            client's SSE decoder over a real socket.
        chunked: ``True`` sends ``transfer-encoding: chunked`` (streams); ``False`` sends a
            ``content-length`` computed from the bytes parts (error bodies, plain JSON).
    """

    status: int = 200
    headers: _HeaderPairs = (("content-type", "text/event-stream"),)
    body: tuple[Part, ...] = ()
    before_headers: tuple[Pause | Stall, ...] = ()
    write_size: int | None = None
    chunked: bool = True

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 999:
            raise ValueError(f"status must be a final status code (200-999), not {self.status!r}")
        if self.write_size is not None and self.write_size < 1:
            raise ValueError(f"write_size must be None or >= 1, not {self.write_size!r}")
        for part in self.body:
            if not isinstance(part, (bytes, Pause, Stall, Drop)):
                raise TypeError(f"a body part must be bytes, Pause, Stall or Drop, not {part!r}")
        for step in self.before_headers:
            if not isinstance(step, (Pause, Stall)):
                raise TypeError(f"before_headers takes Pause or Stall, not {step!r}")

    def body_bytes(self) -> bytes:
        """Every bytes part joined: what a client reads if it reads the whole body.

        Parts after a :class:`Stall` or :class:`Drop` are never sent, so they are left out.
        """
        sent: list[bytes] = []
        for part in self.body:
            if isinstance(part, (Stall, Drop)):
                break
            if isinstance(part, bytes):
                sent.append(part)
        return b"".join(sent)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``None`` if it is not set."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def writes(self, part: bytes) -> list[bytes]:
        """``part`` cut into the writes the server makes for it, honouring :attr:`write_size`."""
        size = self.write_size
        if size is None or len(part) <= size:
            return [part] if part else []
        view = memoryview(part)
        return [bytes(view[start : start + size]) for start in range(0, len(part), size)]
