"""The producer of one streamed completion: request, retries, deadlines, decoding, hand-over.

A :class:`Pump` is the only code that reads a response body. It sends the request (again, while
the retry policy allows), decodes what arrives, and hands each network read's chunks, as one batch,
to a *sink*: an async callable chosen by whoever runs the pump.

* ``open_stream`` gives it a sink that puts the batch on a bounded memory channel for the
  consumer task: one channel hop per network read, never per chunk.
* ``gather`` folds batches straight into a completion: no channel and no second task at all.
* ``open_fanout`` tags batches and puts them on the fan-out's merged channel: one hop, not two.

The first-chunk and idle deadlines are kept by a :class:`~._watchdog.Watchdog` instead of by
moving a cancel scope's deadline on every event: moving a deadline costs a few microseconds (more
than decoding a chunk), while noting the time of the last event in an attribute costs almost
nothing. The watchdog looks only when a deadline could have passed (:meth:`Pump.check`) and
cancels the attempt if it has. A fan-out shares one watchdog between all its pumps; a pump given
none runs its own.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import NoReturn, cast

import httpx
import msgspec
import trio

from ._client import GroqClient, StreamSettings, close_response, raw_reads
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CompletionTooLargeError,
    FirstChunkTimeout,
    GroqStreamError,
    IdleTimeout,
    IncompleteStreamError,
    StreamAPIError,
    StreamProtocolError,
    TotalTimeout,
    excerpt,
)
from ._inflate import Inflater, inflater_for
from ._pacer import PACED, Ticket
from ._ratelimit import RateLimits
from ._redact import scrub_chain
from ._retry import backoff, is_retryable
from ._sse import ServerSentEvent, SSEDecoder
from ._watchdog import Watchdog
from ._wire import CHUNK_DECODER, ERROR_ENVELOPE_DECODER, ChatCompletionChunk, ErrorObject

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "DRAIN_GRACE",
    "DRAIN_TIMEOUT",
    "Batch",
    "Pump",
    "StreamMetrics",
    "raise_single",
    "reraise",
]

Batch = list[ChatCompletionChunk]
#: Takes one read's chunks; returns whether it had to wait (for the consumer to make room).
Sink = Callable[[Batch], Awaitable[bool]]

# After [DONE]: read at most this much more, for at most this long, hoping for the body's end so
# the connection can go back to the pool. Groq sends the terminator right after [DONE].
DRAIN_LIMIT = 64 * 1024
DRAIN_TIMEOUT = 0.5
# Once the caller has what it waited for (a block left, gather's results), drains still running
# get this much longer: enough for a body's end already on its way, too short to be felt.
DRAIN_GRACE = 0.05
# Content-less chunks (the role chunk) are held back while a retry is still possible, so that a
# retried request does not repeat them. At most this many: past it the request counts as
# delivered, so a server streaming endless empty chunks cannot grow the client without bound.
MAX_HELD = 256


class StreamMetrics:
    """Timings and counts of one stream, on ``trio.current_time()``'s clock.

    Attributes:
        started_at: when the first request was sent.
        first_chunk_at: when the first chunk arrived (``None`` until then).
        finished_at: when the stream ended, for any reason.
        chunks: chunks received from the server.
        events: SSE events received (chunks, ``[DONE]``, errors).
        bytes_received: body bytes read.
        attempts: HTTP requests made (1 + retries).
        retry_waits: seconds slept before each retry.
        max_gap: the longest wait between two reads that carried events.
    """

    __slots__ = (
        "attempts",
        "bytes_received",
        "chunks",
        "events",
        "finished_at",
        "first_chunk_at",
        "last_event_at",
        "max_gap",
        "retry_waits",
        "started_at",
    )

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.first_chunk_at: float | None = None
        self.finished_at: float | None = None
        self.last_event_at: float | None = None
        self.chunks = 0
        self.events = 0
        self.bytes_received = 0
        self.attempts = 0
        self.retry_waits: list[float] = []
        self.max_gap = 0.0

    @property
    def time_to_first_chunk(self) -> float | None:
        """Seconds from the first request to the first chunk (retries included)."""
        if self.first_chunk_at is None or self.started_at is None:
            return None
        return self.first_chunk_at - self.started_at

    @property
    def duration(self) -> float | None:
        """Seconds from the first request to the end of the stream (``None`` while running)."""
        if self.finished_at is None or self.started_at is None:
            return None
        return self.finished_at - self.started_at

    def __repr__(self) -> str:
        return (
            f"StreamMetrics(chunks={self.chunks}, attempts={self.attempts}, "
            f"time_to_first_chunk={self.time_to_first_chunk}, duration={self.duration})"
        )


class _Done:
    """Marks ``data: [DONE]`` in a decoded batch."""


_DONE = _Done()


async def _nothing() -> None:
    """The default ``on_done``: nothing to announce."""


async def _nowhere(batch: Batch) -> bool:
    """The sink of a pump that folds instead (see ``fold``)."""
    return False


class Pump:
    """Runs one streamed request to its end and feeds its chunks to ``sink``.

    Args:
        client: sends the requests.
        body: the encoded request body.
        settings: timeouts and retry policy.
        sink: receives each network read's chunks, in order, and returns whether it waited. It
            may block (that is backpressure; the idle clock stops meanwhile) and may raise to
            stop the pump.
        fold: instead of a sink, a plain function given each chunk, in order, that never
            blocks (``gather`` folds straight into a completion): no await per read at all.
        offer: tried before the sink with each batch: takes it now and returns ``True``, or
            returns ``False`` and the sink is awaited at once with that same batch (with an
            offer, the sink only ever sees batches the offer just refused: a fan-out's sink
            queues what its offer already tagged). When there is room (the usual case) a read
            then costs no coroutine of the sink's.
        on_done: awaited once ``[DONE]`` has arrived and every chunk went to the sink, outside
            every deadline and before the short drain of the body's end: the moment to tell the
            consumer it is over (and to give back a concurrency slot).
        watchdog: keeps the first-chunk and idle deadlines; one running in a nursery of the
            caller's, shared by many pumps. Without one, :meth:`run` runs its own.

    :meth:`run` raises the typed error that ended the stream (with ``attempts`` and
    ``retry_waits`` set); whatever the sink raises passes through unchanged. Once ``[DONE]`` has
    arrived the stream is complete: no deadline fires after it and nothing the drain meets can
    fail it.
    """

    def __init__(
        self,
        client: GroqClient,
        body: bytes,
        settings: StreamSettings,
        sink: Sink = _nowhere,
        *,
        fold: Callable[[ChatCompletionChunk], None] | None = None,
        offer: Callable[[Batch], bool] | None = None,
        on_done: Callable[[], Awaitable[None]] = _nothing,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._client = client
        self._body = body
        self._settings = settings
        self._sink = sink
        self._fold = fold
        self._offer = offer
        self._on_done = on_done
        self._retries_left = settings.max_retries
        self._delivered = False
        self._held: Batch = []
        self._events_before = 0
        self._first_deadline = math.inf
        self._waiting_on_sink = False
        self._timed_out: APITimeoutError | None = None
        self._watchdog = watchdog
        self._attempt_scope = trio.CancelScope()
        self._to_drain: tuple[httpx.Response, AsyncIterator[bytes]] | None = None
        self._sent: httpx.Request | None = None
        self._total = trio.CancelScope()  # the total deadline's scope, once running
        self.started = False
        self.done = False
        self.metrics = StreamMetrics()
        self.rate_limits = RateLimits()
        self.headers: dict[str, str] = {}
        self.request_id: str | None = None
        # Fan-out workers' pumps wait for the client's pacer before each attempt; others only
        # tell it what they send and hear.
        self._paced = PACED.get()
        self._ticket: Ticket | None = None
        self._last_chunk: ChatCompletionChunk | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Stream to the end. ``task_status.started()`` is called once the first response's
        headers are in (so ``nursery.start`` raises HTTP errors itself)."""
        if self._watchdog is None:
            await self._run_watched(task_status)
            return
        settings = self._settings
        metrics = self.metrics
        try:
            try:
                with trio.CancelScope() as total:
                    self._total = total
                    metrics.started_at = trio.current_time()
                    if settings.total_timeout is not None:
                        total.deadline = metrics.started_at + settings.total_timeout
                    await self._run_attempts(task_status)
                if total.cancelled_caught and not self.done:
                    raise TotalTimeout(settings.total_timeout or 0.0)
            except GroqStreamError as exc:
                exc.attempts = metrics.attempts
                exc.retry_waits = tuple(metrics.retry_waits)
                raise
            finally:
                if metrics.finished_at is None:
                    metrics.finished_at = trio.current_time()
            await self._on_done()
            await self._drain()
        finally:
            if self._to_drain is not None:
                await close_response(*self._to_drain)
                self._to_drain = None

    async def _run_watched(self, task_status: trio.TaskStatus[None]) -> None:
        """:meth:`run` with a watchdog of its own beside it, for a pump that shares none (kept
        apart so that a fan-out's pumps, which share one, resume through one frame less)."""
        self._watchdog = watchdog = Watchdog()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watchdog.run)
                try:
                    await self.run(task_status=task_status)
                finally:
                    watchdog.close()
        except BaseExceptionGroup as group:
            raise_single(group)

    async def _run_attempts(self, task_status: trio.TaskStatus[None]) -> None:
        settings = self._settings
        pacer = self._client._pacer
        while True:
            if self._paced:
                ticket = await pacer.admit(self._body, max_wait=settings.max_retry_wait)
            else:
                ticket = pacer.record(self._body)
            self._ticket = ticket
            self.metrics.attempts += 1
            try:
                await self._attempt(task_status)
                self._learn_usage(ticket)
                return
            except GroqStreamError as exc:
                rate_limited = isinstance(exc, APIStatusError) and exc.status_code == 429
                if isinstance(exc, APIStatusError) and rate_limited:
                    self._client._observe_rate_limits(exc.headers, ticket)
                    ticket.rejected(exc, max_wait=settings.max_retry_wait)
                if self._delivered or self._retries_left <= 0 or not is_retryable(exc):
                    raise
                self._retries_left -= 1
                wait = exc.retry_after if isinstance(exc, APIStatusError) else None
                if wait is None:
                    wait = backoff(settings.max_retries - self._retries_left)
                elif wait > settings.max_retry_wait:
                    exc.message += (
                        f"; the server asked to wait {wait:g}s before retrying, longer than "
                        f"max_retry_wait={settings.max_retry_wait:g}s, so it was not retried"
                    )
                    raise
                self.metrics.retry_waits.append(wait)
                self._held.clear()
                if rate_limited and self._paced:
                    wait = 0.0  # the pacer holds the retry (and every other start) that long
            finally:
                ticket.finished()
            await trio.sleep(wait)

    def _learn_usage(self, ticket: Ticket) -> None:
        last = self._last_chunk
        if last is None:
            return
        usage = last.usage or (last.x_groq.usage if last.x_groq is not None else None)
        if usage is not None:
            ticket.used(usage.prompt_tokens, usage.completion_tokens)

    async def _attempt(self, task_status: trio.TaskStatus[None]) -> None:
        """One request, watched by the watchdog (see :meth:`check`)."""
        settings = self._settings
        self._events_before = self.metrics.events
        self._timed_out = None
        self.metrics.last_event_at = None
        first = settings.first_chunk_timeout
        idle = settings.idle_timeout
        now = trio.current_time()
        self._first_deadline = now + first if first is not None else math.inf
        watchdog = self._watchdog
        assert watchdog is not None
        with trio.CancelScope() as self._attempt_scope:
            # Before the headers only the first-chunk deadline runs; but they start the idle
            # clock, and that is never earlier than now + idle.
            watchdog.watch(
                self, min(self._first_deadline, now + idle if idle is not None else math.inf)
            )
            try:
                try:
                    response = await self._client._open_response(
                        self._body, connect_timeout=settings.connect_timeout
                    )
                except GroqStreamError:
                    raise
                except Exception as exc:  # a custom transport's own failure: still ours to type
                    raise self._transport_failed(exc) from exc
                iterator: AsyncIterator[bytes] | None = None
                keep = False
                try:
                    iterator = raw_reads(response)  # inflated here, boundedly: see _inflate.py
                    self._sent = response.request
                    self.metrics.last_event_at = trio.current_time()  # headers: a sign of life
                    self.headers = {k.lower(): v for k, v in response.headers.items()}
                    self.request_id = self.headers.get("x-request-id")
                    self.rate_limits = self._client._observe_rate_limits(self.headers, self._ticket)
                    if not self.started:
                        self.started = True
                        task_status.started()
                    inflater = inflater_for(self.headers.get("content-encoding", ""))
                    source = iterator if inflater is None else _Inflating(iterator, inflater)
                    keep = await self._pump(source)
                finally:
                    if keep:  # complete, but the body has not ended: drained after on_done
                        assert iterator is not None
                        self._to_drain = (response, iterator)
                    else:
                        await close_response(response, iterator)
            finally:
                watchdog.unwatch(self)
        if not self.done and self._timed_out is not None:
            raise self._timed_out

    def check(self, now: float) -> float:
        """For the watchdog: cancel the attempt once ``first_chunk_timeout`` passes without an
        event, or ``idle_timeout`` passes after the last sign of life (the headers, then each
        event), whichever comes first; else say when to look again. Time spent waiting for the
        sink does not count as idle."""
        if self.done:
            return math.inf
        idle = self._settings.idle_timeout
        metrics = self.metrics
        first = self._first_deadline if metrics.events == self._events_before else math.inf
        quiet = math.inf
        if idle is not None and metrics.last_event_at is not None:
            quiet = now + idle if self._waiting_on_sink else metrics.last_event_at + idle
        deadline = min(first, quiet)
        if now >= deadline:
            if deadline == first and quiet > first:
                self._timed_out = FirstChunkTimeout(self._settings.first_chunk_timeout or 0.0)
            else:
                self._timed_out = IdleTimeout(idle or 0.0)
            self._attempt_scope.cancel()
            return math.inf
        # Deadlines only move later, except when the headers arrive and start the idle clock:
        # so never wait longer than one idle period before looking again.
        return min(deadline, now + idle) if idle is not None else deadline

    async def _pump(self, iterator: AsyncIterator[bytes]) -> bool:
        """Read, decode and hand over until ``[DONE]``, an error, or EOF. Returns whether the
        body is still open after ``[DONE]`` (it is then drained once the consumer knows)."""
        decoder = SSEDecoder(max_event_size=self._settings.max_event_size)
        feed = decoder.feed_payloads
        decode = self._decode
        now_fn = trio.lowlevel.current_clock().current_time  # one frame, not four
        metrics = self.metrics
        fold = self._fold
        offer = self._offer
        sink = self._sink
        body_left = self._settings.max_completion_size
        while True:
            try:
                data = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except httpx.HTTPError as exc:
                raise self._broken(exc) from exc
            except GroqStreamError:
                raise
            except Exception as exc:  # a custom transport's own failure: still ours to type
                raise self._transport_failed(exc) from exc
            size = len(data)
            metrics.bytes_received += size
            body_left -= size
            if body_left < 0:
                raise CompletionTooLargeError(self._settings.max_completion_size)
            events = feed(data)
            if not events:
                continue  # a partial event, a comment or a blank keep-alive: not activity
            now = now_fn()
            previous = metrics.last_event_at
            if previous is not None and now - previous > metrics.max_gap:
                metrics.max_gap = now - previous
            metrics.last_event_at = now
            metrics.events += len(events)
            batch, outcome = decode(events)
            if outcome is _DONE:
                # Complete, as far as the server goes: a slow consumer taking the last chunks
                # must not turn it into a TotalTimeout (the idle clock already stops for it).
                self._total.deadline = math.inf
            if batch:
                if metrics.first_chunk_at is None:
                    metrics.first_chunk_at = now
                metrics.chunks += len(batch)
                self._last_chunk = batch[-1]  # its usage teaches the pacer
                if not self._delivered:
                    batch = self._release(batch)
                if not batch:
                    pass
                elif fold is not None:
                    for chunk in batch:
                        fold(chunk)
                elif offer is not None and offer(batch):
                    pass  # taken, no await
                else:
                    self._waiting_on_sink = True  # the idle clock stops while the sink waits
                    if await sink(batch):  # it waited: that time was not the server's
                        metrics.last_event_at = now_fn()
                    self._waiting_on_sink = False
            if isinstance(outcome, GroqStreamError):
                raise outcome
            if outcome is _DONE:
                await self._finish()
                return True
        decoder.end()
        last = decoder.unterminated
        if last is not None:
            # The spec discards an event cut off by EOF. Two such tails are still worth
            # reading: a final "data: [DONE]" that only lacks its blank line, and an error.
            if last.data == "[DONE]":
                await self._finish()
                return False
            if last.event == "error":
                raise self._event_error(last.data)
        raise IncompleteStreamError(
            f"the stream ended after {metrics.chunks} chunks without data: [DONE]; the "
            "completion is truncated (error.completion has the part received)",
            data=last.data if last is not None else b"",
        )

    def _decode(
        self, events: list[ServerSentEvent | bytes]
    ) -> tuple[Batch, _Done | GroqStreamError | None]:
        batch: Batch = []
        decode = CHUNK_DECODER.decode
        data: bytes | str
        for event in events:
            if type(event) is ServerSentEvent:
                data = event.data
                if data == "[DONE]":
                    return batch, _DONE
                if event.event != "message":
                    if event.event == "error":
                        return batch, self._event_error(data)
                    continue  # a named event that is not ours (e.g. "ping"): not a chunk
            else:
                # A plain message event's payload (the usual case): bytes, or a bytearray from
                # a custom transport that yields those (msgspec reads either).
                data = cast("bytes", event)
                if data == b"[DONE]":
                    return batch, _DONE
            try:
                chunk = decode(data)
            except (msgspec.DecodeError, RecursionError):
                retried = self._undecodable(data)
                if isinstance(retried, StreamProtocolError):
                    return batch, retried
                chunk = retried
            if chunk.error is not None:
                return batch, self._api_error(chunk.error)
            x_groq = chunk.x_groq
            if x_groq is not None and x_groq.error is not None:
                batch.append(chunk)  # deliver what it carried, then fail
                return batch, StreamAPIError(x_groq.error, request_id=x_groq.id or self.request_id)
            batch.append(chunk)
        return batch, None

    def _undecodable(self, data: bytes | str) -> ChatCompletionChunk | StreamProtocolError:
        """A payload msgspec refused, looked at again. The SSE rules decode an event's data as
        UTF-8 with replacement (``feed`` does); a raw payload (``feed_payloads``'s fast path) is
        bytes, which msgspec refuses when they are not UTF-8: so the outcome would depend on
        where the reads fall. Replace as the rules do and try again; else say what is wrong."""
        text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
        try:
            return CHUNK_DECODER.decode(text)
        except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
            return StreamProtocolError(
                f"a chunk does not match chat.completion.chunk ({exc})", data=data
            )
        except msgspec.DecodeError as exc:
            return StreamProtocolError(f"a chunk is not valid JSON ({exc})", data=data)
        except RecursionError:
            return StreamProtocolError("a chunk nests its JSON too deeply to decode", data=data)

    def _event_error(self, data: str) -> StreamAPIError:
        try:
            envelope = ERROR_ENVELOPE_DECODER.decode(data)
        except (msgspec.DecodeError, RecursionError):
            return StreamAPIError(excerpt(data) or "event: error without details")
        if envelope.error is None:
            return StreamAPIError(excerpt(data))
        return self._api_error(envelope.error)

    def _api_error(self, error: ErrorObject) -> StreamAPIError:
        return StreamAPIError(
            error.message or "Groq reported an error without a message",
            error_type=error.type,
            code=error.code,
            failed_generation=error.failed_generation,
            status_code=error.status_code,
            request_id=self.request_id,
        )

    def _broken(self, exc: httpx.HTTPError) -> GroqStreamError:
        scrub_chain(exc)  # tracebacks print the chained original
        if isinstance(exc, httpx.RequestError) and self._sent is not None:
            try:
                exc.request  # noqa: B018  (set by httpx's aiter_raw, which raw_reads skips)
            except RuntimeError:
                exc.request = self._sent
        if isinstance(exc, httpx.DecodingError):
            return StreamProtocolError(f"the response body could not be decoded ({exc})")
        return APIConnectionError(
            f"the connection broke after {self.metrics.chunks} chunks ({exc!r}); the partial "
            "completion is attached"
        )

    def _transport_failed(self, exc: Exception) -> GroqStreamError:
        scrub_chain(exc)  # tracebacks print the chained original
        return APIConnectionError(
            f"the HTTP transport failed after {self.metrics.chunks} chunks ({exc!r}); the "
            "partial completion is attached, and the original error is the __cause__"
        )

    def _release(self, batch: Batch) -> Batch:
        """What of ``batch`` goes out now, while nothing has been delivered yet.

        Until something with content goes out, a failure can still be retried; so chunks that
        carry nothing (the role chunk) are held back while retries remain, at most ``MAX_HELD``.
        """
        held = self._held
        if (
            self._retries_left > 0
            and len(held) + len(batch) <= MAX_HELD
            and not any(map(_has_content, batch))
        ):
            held.extend(batch)
            return []
        if held:
            batch = held + batch
            self._held = []
        if batch:
            self._delivered = True
        return batch

    async def _deliver(self, batch: Batch) -> None:
        if not self._delivered:
            batch = self._release(batch)
        if not batch:
            return
        if self._fold is not None:
            for chunk in batch:
                self._fold(chunk)
            return
        if self._offer is not None and self._offer(batch):
            return
        self._waiting_on_sink = True
        if await self._sink(batch):
            self.metrics.last_event_at = trio.current_time()
        self._waiting_on_sink = False

    async def _finish(self) -> None:
        """``[DONE]`` arrived: deliver anything held; from here on the stream is complete."""
        self._retries_left = 0
        await self._deliver([])
        self.done = True
        self.metrics.finished_at = trio.current_time()  # done for the user; the drain is ours

    async def _drain(self) -> None:
        """Read the rest of a complete body briefly and boundedly, hoping for its end so the
        connection can go back to the pool. Nothing found here can fail the stream."""
        if self._to_drain is None:
            return
        iterator = self._to_drain[1]
        drained = 0
        # The stream is complete: a messy end (a reset, a transport's error) only costs the
        # connection, which is then closed instead of pooled.
        with trio.move_on_after(DRAIN_TIMEOUT), contextlib.suppress(Exception):
            async for data in iterator:
                drained += len(data)
                if drained > DRAIN_LIMIT:
                    break


class _Inflating:
    """The body's raw reads, inflated in bounded pieces (see :mod:`._inflate`).

    Each piece is one "read" for the pump, so it is decoded and delivered, with backpressure,
    before the next is inflated; a checkpoint between pieces keeps a bomb cancellable.
    """

    __slots__ = ("_inflater", "_pieces", "_raw")

    def __init__(self, raw: AsyncIterator[bytes], inflater: Inflater) -> None:
        self._raw = raw
        self._inflater = inflater
        self._pieces: Iterator[bytes] = iter(())

    def __aiter__(self) -> _Inflating:
        return self

    async def __anext__(self) -> bytes:
        piece = next(self._pieces, None)
        if piece is not None:
            await trio.lowlevel.checkpoint()
            return piece
        while True:
            data = await self._raw.__anext__()
            self._pieces = self._inflater.feed(data)
            piece = next(self._pieces, None)
            if piece is not None:
                return piece


def _has_content(chunk: ChatCompletionChunk) -> bool:
    if chunk.usage is not None:
        return True
    for choice in chunk.choices:
        delta = choice.delta
        if (
            delta.content
            or delta.reasoning
            or delta.tool_calls
            or delta.executed_tools
            or delta.function_call is not None
            or choice.finish_reason is not None
        ):
            return True
    return False


def raise_single(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Re-raise the one real exception of an internal nursery's group.

    Our internal nurseries hold one piece of real work beside helpers that raise nothing but
    ``Cancelled`` (a producer, a watchdog); so the group is that work's exception, possibly beside
    ``Cancelled``. Hand back that exception itself, or the group if there really were several.
    """
    real = [exc for exc in group.exceptions if not isinstance(exc, trio.Cancelled)]
    if len(real) > 1:
        raise group
    reraise(real[0] if real else group.exceptions[0])


def reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` out of an ``except`` block without chaining it to the group it came in."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context
