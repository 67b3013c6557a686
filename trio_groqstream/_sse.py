"""A sans-IO Server-Sent Events decoder: bytes in, events out, no awaits.

It follows the WHATWG HTML standard, section 9.2.6 "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
working on bytes so that a CR at the end of one read pairs with an LF at the start of the next, and
so that only CR, LF and CRLF end a line (``str.splitlines`` would also split on U+2028, U+0085...).

Cost is linear in the input: the unread tail lives in one ``bytearray`` that is scanned from where
the previous scan stopped, and complete lines are cut out of it once. The bytes of one pending event
(its unfinished line plus the data lines already seen) are capped, because a peer that never sends a
line end would otherwise grow the buffer until the process dies.
"""

from __future__ import annotations

import msgspec

from ._errors import EventTooLargeError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent"]

# Large enough for a 1 MiB data line with room to spare (a tool call's arguments or a compound
# model's search results can be big), small enough that a runaway peer is stopped early.
DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
# Bytes of CR and LF as ints: ``13 in data`` is one memchr, ten times cheaper than ``b"\r" in data``
# (which goes through the general substring search), and it runs on every read.
_CR = 13
_LF = 10


class ServerSentEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One dispatched event.

    Attributes:
        event: the event type, ``"message"`` unless an ``event:`` field named another.
        data: the data lines joined with ``"\\n"``.
        id: the last event ID at dispatch time (it persists across events, as the spec says), or
            ``None`` if the stream never set one.
        retry: the reconnection time in milliseconds, if this event's block set one.
    """

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None


_Events = list[ServerSentEvent] | list[ServerSentEvent | bytes]


class SSEDecoder:
    """Incremental decoder of one ``text/event-stream`` body.

    Feed it bytes as they arrive; each call returns the events completed by those bytes, so an event
    is delivered as soon as its blank line arrives and never held for the next read. Call
    :meth:`end` at EOF.

    Args:
        max_event_size: cap, in bytes, on one pending event (its unfinished line plus its data so
            far). Past it :meth:`feed` raises :class:`~trio_groqstream.EventTooLargeError`.
    """

    __slots__ = (
        "_buf",
        "_clean",
        "_data",
        "_data_size",
        "_event",
        "_last_id",
        "_max_event_size",
        "_retry",
        "_skip_lf",
        "_started",
        "reconnection_time",
        "unterminated",
    )

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self._max_event_size = max_event_size
        self._buf = bytearray()  # the unfinished line; it never holds a CR or LF
        self._skip_lf = False  # the last line ended with CR: an LF right after it belongs to it
        self._started = False  # the leading BOM question has been settled
        # Started, and nothing pending (no partial line, CR, data, event type or retry): a read
        # of whole events may take the fast path.
        self._clean = False
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._retry: int | None = None
        self._last_id: str | None = None
        #: The reconnection time (ms) most recently set by a ``retry:`` field, if any.
        self.reconnection_time: int | None = None
        #: After :meth:`end`: the event that was still missing its blank line at EOF, which the spec
        #: discards. Kept so a lenient caller can look at it (a final ``data: [DONE]`` without its
        #: blank line, for instance).
        self.unterminated: ServerSentEvent | None = None

    @property
    def last_event_id(self) -> str | None:
        """The last event ID buffer (what a reconnecting client sends as ``Last-Event-ID``)."""
        return self._last_id

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Consume the next bytes of the body; return the events they complete, in order."""
        if self._clean and data.endswith(b"\n\n") and _CR not in data:
            # The fast path (nearly every read of a real stream): whole events ending the read,
            # LF only, nothing pending. Each piece before a "\n\n" ends an event, and the usual
            # piece is one "data: ..." line, which becomes an event at once.
            return self._events_lf_only(data[:-2].split(b"\n\n"))
        if not data:
            # An empty read completes nothing, and must not clear ``_skip_lf``: the LF of a CRLF
            # split over reads may still come in the next non-empty one.
            return []
        if self._buf or not self._started:
            buf = self._buf
            buf += data
            if not self._started:
                # One leading UTF-8 BOM is dropped (spec: "one leading U+FEFF BOM character, if
                # present, is ignored"); it may arrive split over several reads.
                if len(buf) < 3 and _BOM.startswith(buf):
                    return []
                if buf.startswith(_BOM):
                    del buf[:3]
                self._started = True
            elif _LF not in data and _CR not in data:
                # Still inside one long line: keep it, copy nothing, rescan nothing.
                self._check_size(len(buf))
                return []
            data = bytes(buf)
            buf.clear()
        events: list[ServerSentEvent] = []
        start = 0
        if self._skip_lf:
            # The previous read ended with CR; an LF starting this one completes that CRLF.
            self._skip_lf = False
            if data[:1] == b"\n":
                start = 1
        if _CR in data:
            start = self._lines_any_ending(data, start, events)
        else:
            start = self._lines_lf_only(data, start, events)
        if start < len(data):
            self._buf += data[start:] if start else data
            self._check_size(len(self._buf))
        elif self._data_size:
            self._check_size(0)
        self._clean = not (
            self._buf or self._skip_lf or self._data or self._event or self._retry is not None
        )
        return events

    def feed_payloads(self, data: bytes) -> list[ServerSentEvent | bytes]:
        """Like :meth:`feed`, but a plain message event (one ``data:`` line, no event type, in a
        read of whole events) comes out as its raw payload bytes, undecoded.

        For a caller that parses JSON from bytes anyway (msgspec does, and checks UTF-8 itself):
        the event object and the text it would hold are never made. Other events, and every
        event of a read that is not whole, come out as :class:`ServerSentEvent`.
        """
        # Whole events only (the read ends with a blank line): checked before the split, so a
        # read cut mid-event (coalesced reads at speed, or a trickle) is not split for nothing.
        if self._clean and data.endswith(b"\n\n") and _CR not in data:
            pieces = data.split(b"\n\n")
            pieces.pop()  # the empty tail after the last blank line: no copy of data[:-2]
            out: list[ServerSentEvent | bytes] = []
            for piece in pieces:
                if piece.startswith(b"data: ") and _LF not in piece:
                    out.append(piece[6:])
                    continue
                for line in piece.split(b"\n"):
                    self._process_line(line, out)
                self._dispatch(out)
            return out
        return list(self.feed(data))

    def _events_lf_only(self, pieces: list[bytes]) -> list[ServerSentEvent]:
        """Complete events, LF only, from a clean state: see :meth:`_lines_lf_only`."""
        events: list[ServerSentEvent] = []
        last_id = self._last_id
        for piece in pieces:
            if piece.startswith(b"data: ") and _LF not in piece:
                events.append(
                    ServerSentEvent(data=piece[6:].decode("utf-8", "replace"), id=last_id)
                )
                continue
            for line in piece.split(b"\n"):
                self._process_line(line, events)
            self._dispatch(events)
            last_id = self._last_id
        return events

    def _lines_lf_only(self, data: bytes, start: int, events: list[ServerSentEvent]) -> int:
        """The fast path (nearly every real stream): no CR, so only LF ends lines.

        The text is cut at blank lines first: each piece before a "\\n\\n" is a run of lines
        followed by a blank line, so it ends an event. The usual piece is one ``data: ...``
        line, which becomes an event at once; anything else goes line by line. Complete lines
        after the last blank line are interpreted too, so the decoder's state is always exactly
        what the spec's line-by-line reading gives; only the unfinished line is left over.
        """
        if start:
            data = data[start:]
        pieces = data.split(b"\n\n")
        rest = pieces.pop()
        process = self._process_line
        # Lines of an unfinished event seen before this read? Then its first piece must be read
        # line by line; after any dispatch the state is clean again.
        clean = not (self._data or self._event or self._retry is not None)
        for piece in pieces:
            if clean and piece.startswith(b"data: ") and _LF not in piece:
                events.append(
                    ServerSentEvent(data=piece[6:].decode("utf-8", "replace"), id=self._last_id)
                )
                continue
            for line in piece.split(b"\n"):
                process(line, events)
            self._dispatch(events)
            clean = True
        end = rest.rfind(b"\n")
        if end >= 0:
            for line in rest[:end].split(b"\n"):
                process(line, events)
        return len(data) - len(rest) + end + 1 + start

    def _check_size(self, pending_line: int) -> None:
        if pending_line + self._data_size > self._max_event_size:
            raise EventTooLargeError(self._max_event_size, data=bytes(self._buf[:200]))

    def _lines_any_ending(self, data: bytes, start: int, events: list[ServerSentEvent]) -> int:
        """Split on CR, LF and CRLF; return the offset of the unfinished line.

        Each of the two searches only moves forward, so a read full of CR-only lines stays linear.
        """
        n = len(data)
        lf = data.find(b"\n", start)
        cr = data.find(b"\r", start)
        while lf >= 0 or cr >= 0:
            if cr < 0 or 0 <= lf < cr:
                self._process_line(data[start:lf], events)
                start = lf + 1
                lf = data.find(b"\n", start)
                continue
            self._process_line(data[start:cr], events)
            start = cr + 1
            if start == n:
                self._skip_lf = True  # the LF of this CRLF may start the next read
            elif lf == start:
                start += 1
                lf = data.find(b"\n", start)
            cr = data.find(b"\r", start)
        return start

    def _process_line(self, line: bytes, events: _Events) -> None:
        # The spec, line by line. The hot case (a data line) comes first.
        if line[:5] == b"data:":
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data.append(value.decode("utf-8", "replace"))
            self._data_size += len(value) + 1
            return
        if not line:
            self._dispatch(events)
            return
        if line[0] == 0x3A:  # ":" a comment
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
            self._data_size += len(value) + 1
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            # "If the field value consists of only ASCII digits": bytes.isdigit is ASCII-only.
            self._retry = self.reconnection_time = int(value)
        # Any other field is ignored.

    def _dispatch(self, events: _Events) -> None:
        data = self._data
        if data:
            events.append(
                ServerSentEvent(
                    data=data[0] if len(data) == 1 else "\n".join(data),
                    event=self._event or "message",
                    id=self._last_id,
                    retry=self._retry,
                )
            )
            self._data = []
            self._data_size = 0
        # With an empty data buffer nothing is dispatched, but the event type is still reset.
        self._event = ""
        self._retry = None

    def end(self) -> list[ServerSentEvent]:
        """Signal EOF. The spec discards an event still missing its blank line, so this returns
        no events; the discarded one (if it had data) is kept in :attr:`unterminated`."""
        data = self._data
        line = bytes(self._buf)
        if not self._started and _BOM.startswith(line):
            line = b""
        # A final line without its line end is incomplete too, and never interpreted; but a data
        # line there still says what the discarded event would have been.
        if line.startswith(b"data:"):
            value = line[6:] if line[5:6] == b" " else line[5:]
            data = [*data, value.decode("utf-8", "replace")]
        if data:
            self.unterminated = ServerSentEvent(
                data="\n".join(data),
                event=self._event or "message",
                id=self._last_id,
                retry=self._retry,
            )
        self._buf.clear()
        self._started = True
        self._skip_lf = False
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry = None
        return []
