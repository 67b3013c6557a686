"""The SSE decoder against the WHATWG rules, at every chunking.

Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

Every conformance case is fed whole, one byte at a time, and split in two at every offset, and all
of them must agree; hypothesis adds random streams, random chunkings, and a naive reference parser
written straight from the spec text.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import pytest
from _real_groq import recording_ids, recording_or_skip, sse_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_groqstream._errors import EventTooLargeError, StreamProtocolError
from trio_groqstream._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

# (event type, data, last event id, retry) -- compact enough for a readable table.
Ev = tuple[str, str, str | None, int | None]

BOM = b"\xef\xbb\xbf"
MiB = 1024 * 1024


def ev(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> Ev:
    return (event, data, id, retry)


def as_ev(event: ServerSentEvent) -> Ev:
    return (event.event, event.data, event.id, event.retry)


class Outcome(NamedTuple):
    events: list[Ev]
    unterminated: Ev | None
    last_event_id: str | None
    reconnection_time: int | None


def run(chunks: Iterable[bytes], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> Outcome:
    """Feed ``chunks`` in order, then signal EOF; ``end()`` must never dispatch."""
    decoder = SSEDecoder(max_event_size=max_event_size)
    events: list[Ev] = []
    for chunk in chunks:
        events.extend(as_ev(event) for event in decoder.feed(chunk))
    assert decoder.end() == []
    unterminated = decoder.unterminated
    return Outcome(
        events,
        as_ev(unterminated) if unterminated is not None else None,
        decoder.last_event_id,
        decoder.reconnection_time,
    )


def chunkings(raw: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Whole, byte by byte, and every two-piece split (including empty first/last pieces)."""
    yield "whole", [raw]
    yield "bytewise", [raw[i : i + 1] for i in range(len(raw))]
    for i in range(len(raw) + 1):
        yield f"split@{i}", [raw[:i], raw[i:]]


def split_at(raw: bytes, points: Iterable[int]) -> list[bytes]:
    cuts = [0, *sorted(points), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(cuts)]


def split_by_sizes(raw: bytes, sizes: Iterable[int]) -> list[bytes]:
    """Consecutive pieces of the given sizes (0 gives an empty read), then whatever is left."""
    chunks = []
    offset = 0
    for size in sizes:
        chunks.append(raw[offset : offset + size])
        offset += size
    chunks.append(raw[offset:])
    return chunks


# --- the conformance table -----------------------------------------------------------------------

CASES = [
    # Line ends: LF, CR, CRLF, and mixtures of them.
    pytest.param(b"data: a\n\n", [ev("a")], id="lf"),
    pytest.param(b"data: a\r\r", [ev("a")], id="cr"),
    pytest.param(b"data: a\r\n\r\n", [ev("a")], id="crlf"),
    pytest.param(b"data: a\rdata: b\r\ndata: c\n\r\n", [ev("a\nb\nc")], id="mixed-line-ends"),
    pytest.param(b"data: a\n\rdata: b\r\n\n", [ev("a"), ev("b")], id="lf-then-cr-is-two-ends"),
    pytest.param(b"data: a\r\n\rdata: b\n\r", [ev("a"), ev("b")], id="crlf-then-cr"),
    pytest.param(b"data: a\r\rdata: b\r\r", [ev("a"), ev("b")], id="cr-only-two-events"),
    pytest.param(b"\n\r\n\r\n\r", [], id="blank-lines-only"),
    pytest.param(b"", [], id="empty-stream"),
    pytest.param(b"data: a\n\r", [ev("a")], id="final-cr-is-the-blank-line"),
    # The byte order mark: one leading BOM is dropped, anything else is content.
    pytest.param(BOM + b"data: a\n\n", [ev("a")], id="leading-bom"),
    pytest.param(BOM + BOM + b"data: a\n\ndata: b\n\n", [ev("b")], id="second-bom-kept"),
    pytest.param(b"data: a\n\n" + BOM + b"data: b\n\n", [ev("a")], id="bom-not-at-start"),
    pytest.param(BOM + b"\n" + b"data: a\n\n", [ev("a")], id="bom-then-blank-line"),
    pytest.param(b"\xef\xbbdata: a\n\ndata: b\n\n", [ev("b")], id="partial-bom-is-content"),
    # Comments.
    pytest.param(b": hi\ndata: a\n: mid\n\n", [ev("a")], id="comments-ignored"),
    pytest.param(b": ping\n\n:\n\n", [], id="comment-block-dispatches-nothing"),
    pytest.param(b":data: x\n\ndata: a\n\n", [ev("a")], id="comment-that-looks-like-data"),
    # Fields without a colon.
    pytest.param(b"data\n\n", [ev("")], id="data-without-colon"),
    pytest.param(b"data\ndata\n\n", [ev("\n")], id="data-without-colon-twice"),
    pytest.param(b"event\ndata: a\n\n", [ev("a")], id="event-without-colon"),
    pytest.param(b"event: x\nevent\ndata: a\n\n", [ev("a")], id="event-without-colon-clears"),
    # Exactly one space after the colon is stripped.
    pytest.param(b"data:a\n\n", [ev("a")], id="no-space"),
    pytest.param(b"data:  a\n\n", [ev(" a")], id="two-spaces-keep-one"),
    pytest.param(b"data:\ta\n\n", [ev("\ta")], id="tab-not-stripped"),
    pytest.param(b"data: a  \n\n", [ev("a  ")], id="trailing-spaces-kept"),
    pytest.param(b"event:  x\ndata: a\n\n", [ev("a", event=" x")], id="event-two-spaces"),
    pytest.param(b"data: a:b: c\n\n", [ev("a:b: c")], id="colons-in-value"),
    # Data lines.
    pytest.param(b"data: a\ndata: b\ndata: c\n\n", [ev("a\nb\nc")], id="multi-line-data"),
    pytest.param(b"data:\n\n", [ev("")], id="empty-data-once"),
    pytest.param(b"data:\ndata:\n\n", [ev("\n")], id="empty-data-twice"),
    pytest.param(b"data: \n\n", [ev("")], id="data-one-space"),
    pytest.param(b"data: a\x00b\n\n", [ev("a\x00b")], id="nul-in-data-kept"),
    pytest.param(b"data:[DONE]\n\n", [ev("[DONE]")], id="done-without-space"),
    pytest.param(b"data: [DONE]\n\n", [ev("[DONE]")], id="done"),
    # Event types.
    pytest.param(b"event: up\ndata: a\n\n", [ev("a", event="up")], id="event-named"),
    pytest.param(
        b"event: x\ndata: a\n\ndata: b\n\n", [ev("a", event="x"), ev("b")], id="event-type-reset"
    ),
    pytest.param(b"event:\ndata: a\n\n", [ev("a")], id="empty-event-type-is-message"),
    pytest.param(b"event: a\nevent: b\ndata: x\n\n", [ev("x", event="b")], id="last-event-wins"),
    pytest.param(b"event: x\n\ndata: a\n\n", [ev("a")], id="event-alone-dispatches-nothing"),
    pytest.param(b"data: a\nevent: e\n\n", [ev("a", event="e")], id="event-after-data"),
    pytest.param(b"event: error\ndata: {}\n\n", [ev("{}", event="error")], id="groq-error-event"),
    # Event ids.
    pytest.param(
        b"id: 7\ndata: a\n\ndata: b\n\n", [ev("a", id="7"), ev("b", id="7")], id="id-persists"
    ),
    pytest.param(
        b"id: 7\ndata: a\n\nid:\ndata: b\n\n",
        [ev("a", id="7"), ev("b", id="")],
        id="id-empty-resets",
    ),
    pytest.param(
        b"id: 7\ndata: a\n\nid\ndata: b\n\n",
        [ev("a", id="7"), ev("b", id="")],
        id="id-no-colon-resets",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [ev("a", id="1"), ev("b", id="1")],
        id="id-with-nul-ignored",
    ),
    pytest.param(b"id: 9\n\ndata: a\n\n", [ev("a", id="9")], id="id-in-block-without-data"),
    pytest.param(b"data: a\nid: 3\n\n", [ev("a", id="3")], id="id-after-data-counts"),
    pytest.param("id: é\ndata: a\n\n".encode(), [ev("a", id="é")], id="id-non-ascii"),
    pytest.param(b"data: a\n\n", [ev("a", id=None)], id="no-id-is-none"),
    # Retry: only ASCII digits.
    pytest.param(b"retry: 1500\ndata: a\n\n", [ev("a", retry=1500)], id="retry"),
    pytest.param(b"retry:0012\ndata: a\n\n", [ev("a", retry=12)], id="retry-leading-zeros"),
    pytest.param(b"retry: 12a\ndata: a\n\n", [ev("a")], id="retry-12a-ignored"),
    pytest.param(b"retry: -1\ndata: a\n\n", [ev("a")], id="retry-negative-ignored"),
    pytest.param(b"retry: \ndata: a\n\n", [ev("a")], id="retry-empty-ignored"),
    pytest.param(b"retry\ndata: a\n\n", [ev("a")], id="retry-no-colon-ignored"),
    pytest.param(b"retry:  12\ndata: a\n\n", [ev("a")], id="retry-extra-space-ignored"),
    pytest.param(b"retry: 1.5\ndata: a\n\n", [ev("a")], id="retry-decimal-ignored"),
    pytest.param(b"retry: +1\ndata: a\n\n", [ev("a")], id="retry-plus-ignored"),
    pytest.param("retry: ١٢\ndata: a\n\n".encode(), [ev("a")], id="retry-arabic-digits-ignored"),
    pytest.param("retry: １２\ndata: a\n\n".encode(), [ev("a")], id="retry-fullwidth-ignored"),
    pytest.param("retry: ²\ndata: a\n\n".encode(), [ev("a")], id="retry-superscript-ignored"),
    pytest.param(
        b"retry: 5\ndata: a\n\ndata: b\n\n", [ev("a", retry=5), ev("b")], id="retry-per-block"
    ),
    pytest.param(
        b"retry: 5\nretry: x\ndata: a\n\n", [ev("a", retry=5)], id="invalid-retry-keeps-earlier"
    ),
    # Unknown fields and case sensitivity.
    pytest.param(b"foo: bar\ndata: a\n\n", [ev("a")], id="unknown-field-ignored"),
    pytest.param(b"foo: bar\n\n", [], id="unknown-field-alone-no-dispatch"),
    pytest.param(
        b"Data: x\nDATA: y\nEvent: e\nID: 1\nRetry: 5\ndata: a\n\n", [ev("a")], id="case-sensitive"
    ),
    pytest.param(b"Data: x\n\n", [], id="Data-is-not-data"),
    pytest.param(b"data : x\ndata: a\n\n", [ev("a")], id="space-before-colon"),
    pytest.param(b" data: x\n\n", [], id="leading-space-field"),
    # EOF: an unterminated event is discarded.
    pytest.param(b"data: a\n\ndata: b\n", [ev("a")], id="eof-after-data-line"),
    pytest.param(b"data: a\n\ndata: b", [ev("a")], id="eof-mid-line"),
    pytest.param(b"data: a\r\n\r\ndata: b\r", [ev("a")], id="eof-after-cr"),
    # Encoding: UTF-8 with replacement, split multi-byte sequences, no Unicode line breaks.
    pytest.param(b"data: \xff\xfeA\n\n", [ev("\ufffd\ufffdA")], id="invalid-utf8-replaced"),
    pytest.param(b"data: \xe2\x82\n\n", [ev("\ufffd")], id="truncated-utf8-replaced"),
    pytest.param(b"data: \xc3\n\xa9\n\n", [ev("\ufffd")], id="utf8-cut-by-line-end"),
    pytest.param("data: € 😀 日本\n\n".encode(), [ev("€ 😀 日本")], id="multibyte-utf8"),
    pytest.param(
        "data: a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei\n\n".encode(),
        [ev("a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei")],
        id="unicode-line-separators-not-split",
    ),
    # A realistic Groq-shaped exchange.
    pytest.param(
        b': keep-alive\n\ndata: {"a":1}\n\nevent: error\ndata: {"error":{}}\n\ndata: [DONE]\n\n',
        [ev('{"a":1}'), ev('{"error":{}}', event="error"), ev("[DONE]")],
        id="groq-shaped",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_conformance_at_every_chunking(raw: bytes, expected: list[Ev]) -> None:
    whole = run([raw])
    assert whole.events == expected
    for name, chunks in chunkings(raw):
        assert run(chunks) == whole, name


# --- named behaviours around the table -----------------------------------------------------------


def test_cr_at_end_of_one_feed_and_lf_at_start_of_next_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Were the LF a second line end, this would be a blank line and dispatch "a" alone.
    assert decoder.feed(b"\ndata: b\r\n") == []
    assert [as_ev(e) for e in decoder.feed(b"\r\n")] == [ev("a\nb")]


def test_empty_feeds_change_nothing() -> None:
    # An empty read between the CR and the LF of one CRLF must not forget the pending CR.
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in [b"", b"data: a\r", b"", b"\n", b"", b"data: b\n", b"", b"\n", b""]:
        events.extend(decoder.feed(chunk))
    assert [as_ev(e) for e in events] == [ev("a\nb")]


def test_bom_split_byte_by_byte_then_a_second_bom() -> None:
    decoder = SSEDecoder()
    for byte in BOM:
        assert decoder.feed(bytes([byte])) == []
    assert [as_ev(e) for e in decoder.feed(b"data: a\n\n")] == [ev("a")]
    # A BOM later in the stream is not special: it makes "\ufeffdata" an unknown field.
    assert decoder.feed(BOM + b"data: b\n\n") == []


def test_event_is_delivered_as_soon_as_its_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert [as_ev(e) for e in decoder.feed(b"data: a\n\n")] == [ev("a")]
    assert decoder.feed(b"data: b\n") == []
    assert [as_ev(e) for e in decoder.feed(b"\n")] == [ev("b")]
    # With CR line ends the second CR completes the event; it does not wait to see an LF.
    assert [as_ev(e) for e in decoder.feed(b"data: c\r\r")] == [ev("c")]
    assert [as_ev(e) for e in decoder.feed(b"\ndata: d\r\n\r\n")] == [ev("d")]


def test_several_events_in_one_feed_come_back_in_order() -> None:
    decoder = SSEDecoder()
    raw = b"".join(b"data: %d\n\n" % i for i in range(50))
    assert [e.data for e in decoder.feed(raw)] == [str(i) for i in range(50)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"data: a\n\ndata: b\n", ev("b"), id="data-line-ended"),
        pytest.param(b"data: a\n\ndata: b", ev("b"), id="data-line-unended"),
        pytest.param(b"data: x\ndata: y", ev("x\ny"), id="two-lines-one-unended"),
        pytest.param(b"event: e\nid: 4\nretry: 9\ndata: z\n", ev("z", "e", "4", 9), id="fields"),
        pytest.param(b"data: [DONE]", ev("[DONE]"), id="done-without-blank-line"),
        pytest.param(b"data:[DONE]\r", ev("[DONE]"), id="done-cr"),
        pytest.param(BOM + b"data: q", ev("q"), id="after-bom"),
    ],
)
def test_unterminated_event_is_discarded_but_kept_aside(raw: bytes, expected: Ev) -> None:
    for name, chunks in chunkings(raw):
        outcome = run(chunks)
        assert outcome.unterminated == expected, name
        assert outcome.events == ([ev("a")] if raw.startswith(b"data: a\n\n") else []), name


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"data: a\n\n", id="complete"),
        pytest.param(b"event: x\nid: 1\n", id="no-data"),
        pytest.param(b"data: a\n\n: comment", id="comment-tail"),
        pytest.param(b"data: a\n\ndata", id="unended-data-without-colon"),
        pytest.param(b"\xef\xbb", id="partial-bom"),
    ],
)
def test_nothing_unterminated(raw: bytes) -> None:
    assert run([raw]).unterminated is None


def test_last_event_id_and_reconnection_time() -> None:
    decoder = SSEDecoder()
    assert (decoder.last_event_id, decoder.reconnection_time) == (None, None)
    decoder.feed(b"id: 1\nretry: 250\n")
    # Both take effect when their line is processed, before any dispatch.
    assert decoder.last_event_id == "1"
    assert decoder.reconnection_time == 250
    decoder.feed(b"\nretry: nope\nid: a\x00b\ndata: x\n\n")
    assert decoder.last_event_id == "1"
    assert decoder.reconnection_time == 250
    decoder.feed(b"id:\nretry: 3000\n\n")
    assert decoder.last_event_id == ""
    assert decoder.reconnection_time == 3000


def test_max_event_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=0)


# --- the size cap --------------------------------------------------------------------------------


def test_default_cap_allows_a_one_mib_data_line() -> None:
    payload = b"x" * MiB
    raw = b"data: " + payload + b"\n\n"
    assert len(raw) < DEFAULT_MAX_EVENT_SIZE
    whole = run([raw])
    assert [len(e[1]) for e in whole.events] == [MiB]
    assert run(split_at(raw, range(0, len(raw), 64 * 1024))) == whole


def test_cap_on_one_long_unfinished_line() -> None:
    decoder = SSEDecoder(max_event_size=100)
    line = b"data: " + b"x" * 200
    for byte in line[:100]:
        assert decoder.feed(bytes([byte])) == []  # 100 pending bytes: at the cap, not past it
    with pytest.raises(EventTooLargeError) as info:
        decoder.feed(line[100:101])
    exc = info.value
    assert exc.limit == 100
    assert "100" in str(exc)
    assert isinstance(exc, StreamProtocolError)
    assert exc.excerpt.startswith("data: xxx")


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["lf", "cr", "crlf"])
def test_cap_on_one_long_line_in_one_feed(end: bytes) -> None:
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(EventTooLargeError, match="1000") as info:
        decoder.feed(b"data: ok" + end + end + b"data: " + b"y" * 2000)
    assert info.value.limit == 1000


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["lf", "cr", "crlf"])
@pytest.mark.parametrize("whole", [True, False], ids=["one-feed", "line-by-line"])
def test_cap_on_many_data_lines_without_blank_line(end: bytes, whole: bool) -> None:
    lines = [b"data: " + b"z" * 20 + end for _ in range(50)]  # ~1400 bytes, never dispatched
    decoder = SSEDecoder(max_event_size=500)

    def feed_all() -> None:
        for chunk in [b"".join(lines)] if whole else lines:
            decoder.feed(chunk)

    with pytest.raises(EventTooLargeError) as info:
        feed_all()
    assert info.value.limit == 500
    assert "500" in str(info.value)


def test_complete_events_under_the_cap_are_fine_whatever_the_read_size() -> None:
    event = b"data: " + b"x" * 80 + b"\n\n"
    decoder = SSEDecoder(max_event_size=100)
    # Twenty events in one read is far over the cap in total, but each event is under it.
    assert len(decoder.feed(event * 20)) == 20
    assert len(decoder.feed(event[:50])) == 0
    assert len(decoder.feed(event[50:] + event)) == 2


def test_cap_counts_the_pending_event_not_the_whole_stream() -> None:
    decoder = SSEDecoder(max_event_size=100)
    count = 0
    for _ in range(1000):  # 1000 * 20 bytes through a 100-byte cap, fed a few bytes at a time
        for piece in (b"data: 0123", b"456789012\n", b"\n"):
            count += len(decoder.feed(piece))
    assert count == 1000


# --- linear time and bounded memory --------------------------------------------------------------
# A quadratic decoder (one that copies or rescans its buffer on each read) needs minutes for these
# inputs; a linear one needs well under a second. The bound only guards against that blow-up.
QUADRATIC_GUARD_SECONDS = 10.0


def test_long_line_fed_one_byte_at_a_time() -> None:
    line = b"data: " + b"x" * (64 * 1024) + b"\n\n"
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    start = time.perf_counter()
    for i in range(len(line)):
        events.extend(decoder.feed(line[i : i + 1]))
    elapsed = time.perf_counter() - start
    assert [len(e.data) for e in events] == [64 * 1024]
    assert elapsed < QUADRATIC_GUARD_SECONDS


def test_eight_mib_line_in_small_reads() -> None:
    # 65536 reads of 128 bytes into one 8 MiB line: re-copying the buffer per read is 256 GiB.
    size = 8 * MiB
    decoder = SSEDecoder(max_event_size=2 * size)
    piece = b"x" * 128
    start = time.perf_counter()
    assert decoder.feed(b"data: ") == []
    for _ in range(size // len(piece)):
        decoder.feed(piece)
    events = decoder.feed(b"\n\n")
    elapsed = time.perf_counter() - start
    assert len(events) == 1
    assert len(events[0].data) == size
    assert elapsed < QUADRATIC_GUARD_SECONDS


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["lf", "cr", "crlf"])
def test_four_mib_stream_in_one_kib_reads(end: bytes) -> None:
    one = b'data: {"choices":[{"delta":{"content":"tok"}}]}' + end + end
    count = 4 * MiB // len(one)
    raw = one * count
    start = time.perf_counter()
    events = run(split_at(raw, range(1024, len(raw), 1024))).events
    elapsed = time.perf_counter() - start
    assert len(events) == count
    assert events[0] == events[-1] == ev('{"choices":[{"delta":{"content":"tok"}}]}')
    assert elapsed < QUADRATIC_GUARD_SECONDS


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        # Lines that end in CR with one LF far away: re-searching for that LF per line is quadratic.
        pytest.param(b"data: x\r\r" * 200_000 + b"\n", 200_000, id="cr-lines-distant-lf"),
        pytest.param(b"data: x\n\n" * 200_000 + b"\r", 200_000, id="lf-lines-distant-cr"),
    ],
)
def test_mixed_line_ends_in_one_read_stay_linear(raw: bytes, count: int) -> None:
    start = time.perf_counter()
    events = SSEDecoder().feed(raw)
    elapsed = time.perf_counter() - start
    assert len(events) == count
    assert elapsed < QUADRATIC_GUARD_SECONDS


def test_memory_stays_bounded_over_a_long_stream() -> None:
    # Deterministic where timing is not: a decoder that kept consumed bytes would hold 1 MiB.
    one = b'data: {"choices":[{"delta":{"content":"tok"}}]}\n\n'
    raw = one * (MiB // len(one))
    decoder = SSEDecoder()
    seen = 0
    tracemalloc.start()
    try:
        for offset in range(0, len(raw), 1024):
            seen += len(decoder.feed(raw[offset : offset + 1024]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == len(raw) // len(one)
    assert peak < 256 * 1024


# --- a reference parser written straight from the spec -------------------------------------------

_SPEC_LINE_END = re.compile(r"\r\n|\r|\n")


def reference_decode(raw: bytes) -> Outcome:
    """Naive and obviously-correct: decode everything, split lines, follow the spec's steps."""
    # "Streams must be decoded using the UTF-8 decode algorithm": errors become U+FFFD and one
    # leading BOM is dropped.
    text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, tail = _SPEC_LINE_END.split(text)  # the tail has no line end: never interpreted
    events: list[Ev] = []
    data_buffer = ""
    event_type = ""
    last_id: str | None = None
    block_retry: int | None = None
    reconnection: int | None = None
    for line in lines:
        if line == "":
            if data_buffer:  # "If the data buffer is an empty string", nothing is dispatched
                # The buffer always ends with the LF its last data line added: drop it.
                events.append((event_type or "message", data_buffer[:-1], last_id, block_retry))
            data_buffer = ""
            event_type = ""
            block_retry = None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data_buffer += value + "\n"
        elif name == "id":
            if "\x00" not in value:
                last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            block_retry = reconnection = int(value)
    # EOF: the pending event is discarded. The decoder keeps it aside, including a final data line
    # that lacked its line end.
    if tail.startswith("data:"):
        value = tail[5:]
        data_buffer += (value[1:] if value.startswith(" ") else value) + "\n"
    unterminated = None
    if data_buffer:
        unterminated = (event_type or "message", data_buffer[:-1], last_id, block_retry)
    return Outcome(events, unterminated, last_id, reconnection)


def test_reference_decoder_agrees_with_the_table() -> None:
    for param in CASES:
        raw, expected = param.values
        assert isinstance(raw, bytes)
        assert reference_decode(raw).events == expected, param.id


# --- hypothesis ----------------------------------------------------------------------------------

_names = st.sampled_from(
    [b"data", b"data", b"data", b"event", b"id", b"retry", b"Data", b"foo", b"", b"dat", b"data "]
)
_values = st.one_of(
    st.text(max_size=8).map(str.encode),
    st.sampled_from(
        [b"", b" ", b"1500", b"007", b"12a", b"-1", "١٢".encode(), b"[DONE]", b"{}", b"a\x00b"]
    ),
    st.sampled_from([b"\xff", b"\xe2\x82", b"\xf0\x9f", BOM, "é€😀\u2028\u0085".encode()]),
)
_separators = st.sampled_from([b":", b": ", b":  ", b""])
_field = st.builds(lambda n, s, v: n + s + (v if s else b""), _names, _separators, _values)
_line = st.one_of(
    _field,
    _field,
    st.just(b""),  # a blank line: dispatch
    _values.map(lambda v: b":" + v),  # a comment
)
_line_end = st.sampled_from([b"\n", b"\r", b"\r\n"])
_tail = st.sampled_from([b"", b"data: tail", b"data", b"id: 5", b"\xef", b":c"])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """Random field lines with random line-end styles, an optional BOM and an optional tail."""
    bom = draw(st.sampled_from([b"", b"", BOM, BOM + BOM, BOM[:2]]))
    lines = draw(st.lists(st.tuples(_line, _line_end), max_size=25))
    return bom + b"".join(line + end for line, end in lines) + draw(_tail)


# Byte soup from the pieces that matter to the parser, for inputs no grammar would think of.
_soup = st.lists(
    st.sampled_from(
        [
            *(b"data", b"event", b"id", b"retry", b":", b" ", b"\r", b"\n", b"\r\n", b"1", b"x"),
            *(b"\x00", BOM, b"\xef", b"\xbb", b"\xff", "é".encode(), "\u2028".encode()),
        ]
    ),
    max_size=60,
).map(b"".join)

_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(raw=event_streams(), data=st.data())
def test_any_chunking_equals_whole_feed(raw: bytes, data: st.DataObject) -> None:
    # Reads of 0 to 6 bytes all the way through, so that cuts (and empty reads) land next to
    # every CR and every BOM byte somewhere in the run.
    rnd = data.draw(st.randoms(use_true_random=False), label="read sizes")
    sizes = [rnd.randint(0, 6) for _ in range(len(raw) // 2 + 4)]
    assert run(split_by_sizes(raw, sizes)) == run([raw])


@_SETTINGS
@given(raw=st.one_of(st.binary(max_size=200), event_streams(), _soup), data=st.data())
def test_matches_reference_on_arbitrary_bytes(raw: bytes, data: st.DataObject) -> None:
    expected = reference_decode(raw)
    assert run([raw]) == expected
    points = data.draw(st.lists(st.integers(0, len(raw)), max_size=8), label="split points")
    assert run(split_at(raw, points)) == expected


@_SETTINGS
@given(raw=event_streams())
def test_bytewise_equals_whole(raw: bytes) -> None:
    assert run(raw[i : i + 1] for i in range(len(raw))) == run([raw])


def run_payloads(chunks: Iterable[bytes]) -> Outcome:
    """Like :func:`run` through ``feed_payloads``: a raw payload counts as a message event whose
    data is the payload decoded (its id is not carried: the pump never reads it)."""
    decoder = SSEDecoder()
    events: list[Ev] = []
    for chunk in chunks:
        for item in decoder.feed_payloads(chunk):
            if isinstance(item, bytes):
                events.append(("message", item.decode("utf-8", "replace"), None, None))
            else:
                events.append(as_ev(item))
    assert decoder.end() == []
    unterminated = decoder.unterminated
    return Outcome(
        events,
        as_ev(unterminated) if unterminated is not None else None,
        decoder.last_event_id,
        decoder.reconnection_time,
    )


def without_ids(outcome: Outcome) -> Outcome:
    """The events as ``run_payloads`` can compare them: a plain message event's id dropped."""
    return outcome._replace(
        events=[
            (event, data, None, None)
            if event == "message" and retry is None
            else (event, data, id_, retry)
            for event, data, id_, retry in outcome.events
        ]
    )


@_SETTINGS
@given(raw=st.one_of(event_streams(), _soup), data=st.data())
def test_feed_payloads_agrees_with_feed_whatever_the_reads(raw: bytes, data: st.DataObject) -> None:
    # Cuts right after blank lines give reads of whole events (the fast path); others do not.
    ends = [i + 2 for i in range(len(raw)) if raw[i : i + 2] == b"\n\n"]
    points = data.draw(
        st.lists(st.sampled_from(ends) if ends else st.just(0), max_size=8)
        | st.lists(st.integers(0, len(raw)), max_size=8),
        label="split points",
    )
    chunks = split_at(raw, points)
    got = run_payloads(chunks)
    assert without_ids(got) == without_ids(run(chunks))


@pytest.mark.parametrize(
    "reads",
    [
        [b"data: a\n\n", b"data: b\n\n\n", b"data: c\n\n"],  # a read ending in three LFs
        [b"data: a\n\n\n\ndata: b\n\n"],  # a blank line between events
        [b"data: a\n\ndata: b\n", b"\n"],  # the second event ends in the next read
        [b"data: a\ndata: b\n\n"],  # two data lines: one event "a\nb"
        [b"event: x\ndata: a\n\ndata: b\n\n"],  # a named event, then a plain one
        [b"data: a\r\n\r\n", b"data: b\n\n"],  # CRLF, then LF
        [b"", b"data: a\n\n", b""],  # empty reads
    ],
)
def test_feed_payloads_edge_reads(reads: list[bytes]) -> None:
    assert without_ids(run_payloads(reads)) == without_ids(run(reads))


# --- real recordings -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", recording_ids(status=200))
def test_real_recordings_decode_into_json_events(name: str) -> None:
    raw = sse_bytes(recording_or_skip(name))
    whole = run([raw])
    assert whole.events, "a recorded stream with no events"
    for event_type, data, event_id, retry in whole.events:
        assert event_type in {"message", "error"}
        assert (event_id, retry) == (None, None)  # Groq sends neither
        if data != "[DONE]":
            payload = json.loads(data)
            assert isinstance(payload, dict)
            if event_type == "error":
                assert "error" in payload
    last = whole.events[-1]
    # A stream ends with [DONE], or with an in-stream error event (which has no [DONE] after it),
    # or -- one recording -- with a [DONE] that lost its blank line.
    assert (
        last[1] == "[DONE]"
        or last[0] == "error"
        or (whole.unterminated is not None and whole.unterminated[1] == "[DONE]")
    )
    assert [e for e in whole.events if e[1] == "[DONE]"] in ([], [ev("[DONE]")])
    # And it decodes identically however the network cut it.
    sizes = [7, 1000] + ([1] if len(raw) < 50_000 else [])
    for size in sizes:
        assert run(split_at(raw, range(size, len(raw), size))) == whole, size
    assert reference_decode(raw) == whole
