"""``open_stream`` and ``ChatStream``: one streamed completion, the Trio way.

The shape (see ``DESIGN.md``)::

    open_stream(...)                      async context manager, owns a nursery
      └── producer task                   reads the response, the only network reader
            aiter_bytes -> SSEDecoder -> CHUNK_DECODER -> [DONE] / error checks
            -> send_channel               one *batch* (a list of chunks) per network read
      consumer: ChatStream.receive()      one chunk at a time; folds it into ``completion``

Why batches: a memory-channel hop (send, receive, task switch) costs several times what decoding a
chunk does, so the producer hands over everything one network read produced in one hop, with
``send_nowait`` when the buffer has room. Backpressure is kept: the channel is bounded in batches
and a batch is at most one read, so a consumer that stops reading stops the socket reads.

Why errors travel beside the channel rather than out of the nursery: the nursery is an
implementation detail of a single stream, so the user must see the one real exception, raised
where they consume (``receive`` / ``async for``), with the partial completion attached. The
producer therefore stores its error and closes the channel; only ``Cancelled`` ever leaves it.

Closing: the producer closes the response in a shielded scope with a short deadline on every path,
and the context manager cancels the producer when the block is left for any reason. After
``[DONE]`` the rest of the body is drained only briefly and boundedly (so a well-behaved connection
can go back to the pool) and never drained without bound.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import httpx
import msgspec
import trio

from ._accumulate import Accumulator
from ._client import MISSING, GroqClient, Missing, StreamSettings, close_response
from ._errors import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    FirstChunkTimeout,
    GroqStreamError,
    IdleTimeout,
    IncompleteStreamError,
    StreamAPIError,
    StreamProtocolError,
    TotalTimeout,
    excerpt,
)
from ._ratelimit import RateLimits
from ._retry import backoff, is_retryable
from ._sse import ServerSentEvent, SSEDecoder
from ._wire import (
    CHUNK_DECODER,
    ERROR_ENVELOPE_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    ErrorObject,
    encode_request,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "DEFAULT_BUFFER",
    "ChatStream",
    "StreamMetrics",
    "open_stream",
    "raise_single",
    "reraise",
]

#: Batches (network reads) the channel holds before the producer waits for the consumer.
DEFAULT_BUFFER = 16
# After [DONE]: read at most this much more, for at most this long, hoping for the body's end so
# the connection can be reused. Groq sends the terminator right after [DONE].
DRAIN_LIMIT = 64 * 1024
DRAIN_TIMEOUT = 0.5

_Batch = list[ChatCompletionChunk]


class StreamMetrics:
    """Timings and counts of one stream, on ``trio.current_time()``'s clock.

    Attributes:
        started_at: when the first request was sent.
        first_chunk_at: when the first chunk arrived (``None`` until then).
        finished_at: when the stream ended, for any reason.
        chunks: chunks received from the server (the held-back role chunk included).
        events: SSE events received (chunks, ``[DONE]``, errors).
        bytes_received: body bytes read.
        attempts: HTTP requests made (1 + retries).
        retry_waits: seconds slept before each retry.
        max_gap: the longest wait between two reads that carried events.
    """

    __slots__ = (
        "_last_event_at",
        "attempts",
        "bytes_received",
        "chunks",
        "events",
        "finished_at",
        "first_chunk_at",
        "max_gap",
        "retry_waits",
        "started_at",
    )

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.first_chunk_at: float | None = None
        self.finished_at: float | None = None
        self.chunks = 0
        self.events = 0
        self.bytes_received = 0
        self.attempts = 0
        self.retry_waits: list[float] = []
        self.max_gap = 0.0
        self._last_event_at: float | None = None

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


class _ConsumerGone(Exception):
    """The consumer closed its end; the producer stops quietly."""


class _Done:
    """Marks ``data: [DONE]`` in a decoded batch."""


_DONE = _Done()


class ChatStream(trio.abc.ReceiveChannel[ChatCompletionChunk]):
    """The chunks of one streamed completion, as a Trio receive channel.

    Get one from :func:`open_stream`. ``receive()`` (and ``async for``) returns chunks in order,
    raises ``trio.EndOfChannel`` (ends the loop) after ``data: [DONE]``, and raises the typed error
    that ended the stream otherwise, with :attr:`completion` attached to it. ``receive`` is a
    checkpoint; cancelling it loses nothing.

    Attributes:
        metrics: :class:`StreamMetrics` of this stream.
        rate_limits: the ``x-ratelimit-*`` headers of the latest response.
        headers: the latest response's headers (lower-case names).
        request_id: ``x-request-id`` of the latest response.
    """

    def __init__(
        self, client: GroqClient, body: bytes, settings: StreamSettings, *, buffer: int
    ) -> None:
        self._client = client
        self._body = body
        self._settings = settings
        send, receive = trio.open_memory_channel[_Batch](buffer)
        self._send = send
        self._receive = receive
        self._batch: _Batch = []
        self._pos = 0
        self._acc = Accumulator()
        self._error: GroqStreamError | None = None
        self._started = False
        self._delivered = False
        self._held: _Batch = []
        self._attempt_events = 0
        self._retries_left = settings.max_retries
        self._finished = False
        self._closed = False
        self._producer_scope = trio.CancelScope()
        self.metrics = StreamMetrics()
        self.rate_limits = RateLimits()
        self.headers: dict[str, str] = {}
        self.request_id: str | None = None

    # --- the consumer's side ----------------------------------------------------------------

    @property
    def completion(self) -> ChatCompletion:
        """The completion accumulated from the chunks received so far."""
        return self._acc.snapshot()

    async def receive(self) -> ChatCompletionChunk:
        """The next chunk. Raises ``trio.EndOfChannel`` after ``[DONE]``, the stream's typed
        error if it failed, ``trio.ClosedResourceError`` after :meth:`aclose`."""
        if self._pos < len(self._batch):
            await trio.lowlevel.checkpoint()
        if self._pos >= len(self._batch):
            try:
                self._batch = await self._receive.receive()
            except trio.EndOfChannel:
                self._raise_end()
            self._pos = 0
        chunk = self._batch[self._pos]
        self._pos += 1
        self._acc.add(chunk)
        return chunk

    async def _receive_batch(self) -> _Batch:
        """Every chunk of the current network read not yet received, folded in; for fan-out,
        which forwards whole reads rather than paying a checkpoint per chunk."""
        if self._pos < len(self._batch):
            await trio.lowlevel.checkpoint()
            batch = self._batch[self._pos :]
        else:
            try:
                batch = await self._receive.receive()
            except trio.EndOfChannel:
                self._raise_end()
        self._batch = []
        self._pos = 0
        add = self._acc.add
        for chunk in batch:
            add(chunk)
        return batch

    def _raise_end(self) -> NoReturn:
        error = self._error
        if error is None:
            raise trio.EndOfChannel
        if error.completion is None:
            error.completion = self._acc.snapshot()
        raise error

    async def aclose(self) -> None:
        """Stop the stream: the producer is cancelled and the response closed. Idempotent."""
        if not self._closed:
            self._closed = True
            self._receive.close()
            self._producer_scope.cancel()
        await trio.lowlevel.checkpoint()

    def _release(self) -> None:
        """The block was left normally: let a producer past ``[DONE]`` finish its short drain,
        stop any other at once."""
        self._receive.close()
        if self._finished:
            self._producer_scope.deadline = min(
                self._producer_scope.deadline, trio.current_time() + DRAIN_TIMEOUT
            )
        else:
            self._producer_scope.cancel()

    # --- the producer's side ----------------------------------------------------------------

    async def _produce(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        settings = self._settings
        try:
            with self._producer_scope, trio.CancelScope() as total:
                self.metrics.started_at = trio.current_time()
                if settings.total_timeout is not None:
                    total.deadline = self.metrics.started_at + settings.total_timeout
                await self._run_attempts(task_status)
            if total.cancelled_caught:
                raise TotalTimeout(settings.total_timeout or 0.0)
        except _ConsumerGone:
            pass
        except GroqStreamError as exc:
            exc.attempts = self.metrics.attempts
            exc.retry_waits = tuple(self.metrics.retry_waits)
            if not self._started:
                raise  # out of nursery.start(): the ``async with`` line raises it
            self._error = exc
        finally:
            self.metrics.finished_at = trio.current_time()
            self._send.close()

    async def _run_attempts(self, task_status: trio.TaskStatus[None]) -> None:
        settings = self._settings
        while True:
            self.metrics.attempts += 1
            try:
                await self._attempt(task_status)
                return
            except GroqStreamError as exc:
                if self._delivered or self._retries_left <= 0 or not is_retryable(exc):
                    raise
                self._retries_left -= 1
                wait = _asked_wait(exc)
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
            await trio.sleep(wait)

    async def _attempt(self, task_status: trio.TaskStatus[None]) -> None:
        """One request. Its watchdog scope enforces two deadlines: ``first_chunk_timeout`` from
        sending to the first event, and ``idle_timeout`` from the last sign of life (the headers,
        then each event) to the next event; whichever comes first fires."""
        settings = self._settings
        self._attempt_events = 0
        first_deadline = math.inf
        idle_deadline = math.inf
        with trio.CancelScope() as watchdog:
            if settings.first_chunk_timeout is not None:
                first_deadline = trio.current_time() + settings.first_chunk_timeout
                watchdog.deadline = first_deadline
            response = await self._client._open_response(
                self._body, connect_timeout=settings.connect_timeout
            )
            iterator = response.aiter_bytes()
            try:
                if settings.idle_timeout is not None:
                    idle_deadline = trio.current_time() + settings.idle_timeout
                    watchdog.deadline = min(first_deadline, idle_deadline)
                self.headers = {name.lower(): value for name, value in response.headers.items()}
                self.request_id = self.headers.get("x-request-id")
                self.rate_limits = self._client._observe_rate_limits(self.headers)
                if not self._started:
                    self._started = True
                    task_status.started()
                await self._pump(iterator, watchdog)
            finally:
                await close_response(response, iterator)
        if watchdog.cancelled_caught:
            if self._attempt_events or idle_deadline < first_deadline:
                raise IdleTimeout(settings.idle_timeout or 0.0)
            raise FirstChunkTimeout(settings.first_chunk_timeout or 0.0)

    async def _pump(self, iterator: AsyncIterator[bytes], watchdog: trio.CancelScope) -> None:
        """Read, decode and hand over until ``[DONE]``, an error, or EOF."""
        decoder = SSEDecoder(max_event_size=self._settings.max_event_size)
        idle = self._settings.idle_timeout
        metrics = self.metrics
        while True:
            try:
                data = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except httpx.HTTPError as exc:
                raise self._broken(exc) from exc
            metrics.bytes_received += len(data)
            events = decoder.feed(data)
            if not events:
                continue  # a partial event, a comment or a blank keep-alive: not activity
            now = trio.current_time()
            watchdog.deadline = now + idle if idle is not None else math.inf
            previous = metrics._last_event_at
            if previous is not None and now - previous > metrics.max_gap:
                metrics.max_gap = now - previous
            metrics._last_event_at = now
            self._attempt_events += len(events)
            metrics.events += len(events)
            batch, outcome = self._decode(events)
            if batch:
                if metrics.first_chunk_at is None:
                    metrics.first_chunk_at = now
                metrics.chunks += len(batch)
                await self._deliver(batch, watchdog)
            if isinstance(outcome, GroqStreamError):
                raise outcome
            if outcome is _DONE:
                await self._finish(iterator, watchdog)
                return
        decoder.end()
        last = decoder.unterminated
        if last is not None:
            # The spec discards an event cut off by EOF. Two such tails are still worth
            # reading: a final "data: [DONE]" that only lacks its blank line, and an error.
            if last.data == "[DONE]":
                await self._finish(None, watchdog)
                return
            if last.event == "error":
                raise self._event_error(last.data)
        raise IncompleteStreamError(
            f"the stream ended after {metrics.chunks} chunks without data: [DONE]; the "
            "completion is truncated (stream.completion / error.completion has the part "
            "received)",
            data=decoder.unterminated.data if decoder.unterminated else b"",
        )

    def _decode(
        self, events: list[ServerSentEvent]
    ) -> tuple[_Batch, _Done | GroqStreamError | None]:
        batch: _Batch = []
        decode = CHUNK_DECODER.decode
        for event in events:
            data = event.data
            if data == "[DONE]":
                return batch, _DONE
            if event.event != "message":
                if event.event == "error":
                    return batch, self._event_error(data)
                continue  # a named event that is not ours (e.g. "ping"): not a chunk
            try:
                chunk = decode(data)
            except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
                return batch, StreamProtocolError(
                    f"a chunk does not match chat.completion.chunk ({exc})", data=data
                )
            except msgspec.DecodeError as exc:
                return batch, StreamProtocolError(f"a chunk is not valid JSON ({exc})", data=data)
            if chunk.error is not None:
                return batch, self._api_error(chunk.error)
            x_groq = chunk.x_groq
            if x_groq is not None and x_groq.error is not None:
                batch.append(chunk)  # deliver what it carried, then fail
                return batch, StreamAPIError(x_groq.error, request_id=x_groq.id or self.request_id)
            batch.append(chunk)
        return batch, None

    def _event_error(self, data: str) -> StreamAPIError:
        try:
            envelope = ERROR_ENVELOPE_DECODER.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
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
        if isinstance(exc, httpx.DecodingError):
            return StreamProtocolError(f"the response body could not be decoded ({exc})")
        return APIConnectionError(
            f"the connection broke after {self.metrics.chunks} chunks ({exc!r}); the partial "
            "completion is attached"
        )

    async def _deliver(self, batch: _Batch, watchdog: trio.CancelScope) -> None:
        if not self._delivered:
            # Until something with content goes out, a failure can still be retried; so hold
            # back chunks that carry nothing (the role chunk) while retries remain.
            if self._retries_left > 0 and not any(map(_has_content, batch)):
                self._held.extend(batch)
                return
            if self._held:
                batch = self._held + batch
                self._held = []
            if not batch:
                return
            self._delivered = True
        elif not batch:
            return
        try:
            self._send.send_nowait(batch)
        except trio.WouldBlock:
            # A slow consumer is not an idle server: stop the idle clock while waiting for room.
            deadline = watchdog.deadline
            watchdog.deadline = math.inf
            try:
                await self._send.send(batch)
            except trio.BrokenResourceError:
                raise _ConsumerGone from None
            idle = self._settings.idle_timeout
            watchdog.deadline = trio.current_time() + idle if idle is not None else deadline
        except trio.BrokenResourceError:
            raise _ConsumerGone from None

    async def _finish(
        self, iterator: AsyncIterator[bytes] | None, watchdog: trio.CancelScope
    ) -> None:
        """``[DONE]`` arrived: deliver anything held, end the channel, then drain briefly."""
        self._retries_left = 0
        await self._deliver([], watchdog)
        self._finished = True
        self._send.close()
        if iterator is None:
            return
        drained = 0
        with trio.move_on_after(DRAIN_TIMEOUT):
            try:
                async for data in iterator:
                    drained += len(data)
                    if drained > DRAIN_LIMIT:
                        break
            except httpx.HTTPError:
                pass  # the stream is complete; a messy ending only costs the connection


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


def _asked_wait(exc: GroqStreamError) -> float | None:
    return exc.retry_after if isinstance(exc, APIStatusError) else None


@asynccontextmanager
async def open_stream(
    client: GroqClient,
    /,
    *,
    request: Mapping[str, Any] | None = None,
    connect_timeout: float | Missing | None = MISSING,
    first_chunk_timeout: float | Missing | None = MISSING,
    idle_timeout: float | Missing | None = MISSING,
    total_timeout: float | Missing | None = MISSING,
    max_retries: int | Missing = MISSING,
    buffer: int = DEFAULT_BUFFER,
    **body: Any,
) -> AsyncIterator[ChatStream]:
    """Stream one chat completion.

    ``async with open_stream(client, model=..., messages=[...]) as stream:`` sends the request and
    waits for the response headers (retrying as the policy allows), then yields a
    :class:`ChatStream`. HTTP errors and failures before the stream starts raise here; errors
    after that raise from ``receive`` / ``async for``.

    Args:
        client: the :class:`GroqClient` to send through.
        request: the chat completions body as a mapping; keyword arguments are merged over it.
            ``stream`` is always set; ``None`` values are not sent.
        connect_timeout: seconds to connect, overriding the client's default (``None``: no
            limit).
        first_chunk_timeout: seconds from sending to the first event (``None``: no limit).
        idle_timeout: seconds allowed between events (``None``: no limit).
        total_timeout: seconds for the whole stream, retries included (``None``: no limit).
        max_retries: retries before the first chunk, overriding the client's.
        buffer: how many network reads may wait for the consumer before reading pauses.

    Leaving the block for any reason closes the response (shielded, bounded) and stops the
    producer; the block's own exception propagates unchanged, never wrapped in a group.
    """
    payload = dict(request or {})
    payload.update(body)
    for field in ("model", "messages"):
        if field not in payload:
            raise ConfigurationError(f"the request needs {field!r} (pass {field}=...)")
    if buffer < 1:
        raise ConfigurationError("buffer must be at least 1")
    settings = client._settings_for(
        connect_timeout=connect_timeout,
        first_chunk_timeout=first_chunk_timeout,
        idle_timeout=idle_timeout,
        total_timeout=total_timeout,
        max_retries=max_retries,
    )
    stream = ChatStream(client, encode_request(payload), settings, buffer=buffer)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(stream._produce)
            try:
                yield stream
            except BaseException:
                stream._receive.close()
                stream._producer_scope.cancel()
                raise
            else:
                stream._release()
    except BaseExceptionGroup as group:
        raise_single(group)


def raise_single(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Re-raise the one real exception of an internal nursery's group.

    A single stream's nursery holds the caller's block and our producer, which raises nothing
    but ``Cancelled``; so the group is the block's exception, possibly beside ``Cancelled``. Hand
    back that exception itself (its context restored), or the group if there really were several.
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
