"""Bounded decompression of a response body: compressed bytes in, pieces of bounded size out.

httpx inflates each network read whole, so one 64 KB read of a gzip bomb becomes tens of
megabytes (and millions of events) before the reader can say no. This inflater yields a read's
content in pieces of at most :data:`PIECE_SIZE` bytes, lazily, so the reader decodes and delivers
each piece (with backpressure) before inflating the next; and it refuses a body that inflates far
beyond what text compresses to, so a bomb ends in a typed error instead of minutes of busy work.

Pure: no IO, no awaits. We ask servers for ``identity`` (compression buys a token stream little
and proxies that compress tend to buffer it); this is for servers that compress anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from ._errors import StreamProtocolError

__all__ = ["PIECE_SIZE", "Inflater", "inflater_for"]

#: The most bytes one piece of inflated content holds.
PIECE_SIZE = 64 * 1024
# SSE of JSON chunks compresses about 10 to 30 times; a deflate bomb about 1,000 times. Past the
# floor, a body inflating more than MAX_RATIO times its compressed size is refused.
RATIO_FLOOR = 2 * 1024 * 1024
MAX_RATIO = 200


class Inflater:
    """Inflates one ``gzip`` or ``deflate`` body, boundedly (see the module docstring)."""

    __slots__ = ("_gzip", "_in", "_out", "_prefix", "_raw_fallback", "_zlib")

    def __init__(self, encoding: str) -> None:
        # gzip: the gzip wrapper; deflate: zlib's wrapper, or raw deflate as some servers send.
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else 15)
        self._gzip = encoding == "gzip"
        self._raw_fallback = not self._gzip
        self._prefix = bytearray()
        self._in = 0
        self._out = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the content ``data`` inflates to, in pieces of at most :data:`PIECE_SIZE`."""
        self._in += len(data)
        if self._raw_fallback:
            # Until the first output, "deflate" may still turn out to be raw deflate: keep what
            # was fed (boundedly) to feed it again to a raw decompressor.
            self._prefix += data
            if len(self._prefix) > PIECE_SIZE:
                self._raw_fallback = False
                self._prefix = bytearray()
        while data:
            try:
                piece = self._zlib.decompress(data, PIECE_SIZE)
            except zlib.error as exc:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    data, self._prefix = bytes(self._prefix), bytearray()
                    continue
                raise StreamProtocolError(f"the compressed body is corrupt ({exc})") from exc
            if piece and self._raw_fallback:
                self._raw_fallback = False
                self._prefix = bytearray()
            data = self._zlib.unconsumed_tail
            if self._gzip and self._zlib.eof and self._zlib.unused_data:
                # Another gzip member follows (a concatenation is a valid gzip body).
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
            elif self._zlib.eof:
                data = b""  # bytes after the end of the compressed body mean nothing
            if piece:
                self._out += len(piece)
                if self._out > RATIO_FLOOR and self._out > MAX_RATIO * self._in:
                    raise StreamProtocolError(
                        f"the response body inflates more than {MAX_RATIO} times its "
                        f"compressed size ({self._in} bytes became over {self._out}): refused "
                        "as a compression bomb"
                    )
                yield piece


def inflater_for(content_encoding: str) -> Inflater | None:
    """The inflater for a ``content-encoding`` header, ``None`` for identity.

    Raises :class:`StreamProtocolError` for an encoding we cannot inflate boundedly.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return Inflater("gzip" if codings[0] != "deflate" else "deflate")
    raise StreamProtocolError(
        f"the response body is encoded as {content_encoding!r}, which this client does not "
        "decode (it asks for identity and decodes gzip and deflate)"
    )
