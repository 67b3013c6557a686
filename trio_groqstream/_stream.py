"""``open_stream`` and ``ChatStream``: one streamed completion, the Trio way.

The shape (see ``DESIGN.md``)::

    open_stream(...)                      async context manager, owns a nursery
      └── producer task: a Pump           the only network reader (see _pump.py)
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

Closing: the pump closes the response in a shielded scope with a short deadline on every path,
and the context manager cancels the producer when the block is left for any reason. After
``[DONE]`` the rest of the body is drained only briefly and boundedly (so a well-behaved connection
can go back to the pool) and never drained without bound.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from ._accumulate import Accumulator
from ._client import MISSING, GroqClient, Missing, StreamSettings
from ._errors import GroqStreamError
from ._params import ChatParams, EncodedRequest, check_count, check_request
from ._pump import DRAIN_TIMEOUT, Batch, Pump, StreamMetrics, raise_single
from ._ratelimit import RateLimits
from ._wire import ChatCompletion, ChatCompletionChunk

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_BUFFER",
    "MAX_BATCH",
    "ChatStream",
    "Coalescer",
    "StreamMetrics",
    "open_stream",
    "prepare",
]

#: Batches (network reads) the channel holds before the producer waits for the consumer.
DEFAULT_BUFFER = 16
#: The most chunks one queued batch grows to (see :class:`Coalescer`); with the buffer, this bounds
#: what a stream holds for a slow consumer.
MAX_BATCH = 64


class Coalescer:
    """Puts batches on a memory channel, growing the last one while it is still queued.

    httpx yields once per HTTP chunk and Groq sends one event per HTTP chunk, so a "batch per
    network read" is usually one chunk, and a producer that finds more bytes already buffered
    would pay a channel hop (several microseconds, far more than decoding) for each of them. But
    while the batch sent last still waits in the channel, nobody has looked at it: extending it
    is free and the consumer sees the same order. The consumer reports each batch it takes
    (:meth:`taken`) right after ``receive`` returns, with no checkpoint between, so a batch is
    never extended once the consumer holds it.

    Nothing ever blocks inside the channel's ``send``: a producer that finds the channel full and
    the last batch full waits for the consumer to take one (:meth:`taken` wakes it) and tries
    again. So the batch sent last is always the channel's last, which keeps this right with many
    producers (fan-out), and a full channel (a slow consumer) is exactly when batches grow
    instead of hops piling up. Memory stays bounded: ``buffer`` batches of at most ``max_batch``
    items.
    """

    __slots__ = ("_last", "_max", "_room", "_send", "_sent", "_taken")

    def __init__(self, send: trio.MemorySendChannel[list[Any]], *, max_batch: int) -> None:
        self._send = send
        self._max = max_batch
        self._room = trio.lowlevel.ParkingLot()
        self._last: list[Any] | None = None
        self._sent = 0
        self._taken = 0

    def taken(self) -> None:
        self._taken += 1
        if self._room:
            self._room.unpark_all()

    async def put(self, items: list[Any]) -> None:
        """Queue ``items``; raises ``trio.BrokenResourceError`` once the consumer is gone."""
        while True:
            last = self._last
            if (
                last is not None
                and self._sent > self._taken
                and len(last) + len(items) <= self._max
            ):
                last.extend(items)  # still queued, and the channel's last: nobody has seen it
                return
            try:
                self._send.send_nowait(items)
            except trio.WouldBlock:
                await self._room.park()  # a checkpoint: cancelling it loses nothing
                continue
            self._last = items
            self._sent += 1
            return


class _ConsumerGone(Exception):
    """The consumer closed its end; the producer stops quietly."""


class ChatStream(trio.abc.ReceiveChannel[ChatCompletionChunk]):
    """The chunks of one streamed completion, as a Trio receive channel.

    Get one from :func:`open_stream`. ``receive()`` (and ``async for``) returns chunks in order,
    raises ``trio.EndOfChannel`` (ends the loop) after ``data: [DONE]``, and raises the typed error
    that ended the stream otherwise, with :attr:`completion` attached to it. ``receive`` is a
    checkpoint; cancelling it loses nothing. ``metrics``, ``rate_limits``, ``headers`` and
    ``request_id`` describe the stream and its latest response.
    """

    def __init__(
        self, client: GroqClient, body: bytes, settings: StreamSettings, *, buffer: int
    ) -> None:
        send, receive = trio.open_memory_channel[Batch](buffer)
        self._send = send
        self._receive = receive
        self._queue = Coalescer(send, max_batch=MAX_BATCH)
        self._pump = Pump(client, body, settings, self._sink, on_done=self._on_done)
        self._batch: Batch = []
        self._pos = 0
        self._acc = Accumulator()
        self._error: GroqStreamError | None = None
        self._closed = False
        self._producer_scope = trio.CancelScope()

    @property
    def metrics(self) -> StreamMetrics:
        """Timings and counts of this stream."""
        return self._pump.metrics

    @property
    def rate_limits(self) -> RateLimits:
        """The ``x-ratelimit-*`` headers of the latest response."""
        return self._pump.rate_limits

    @property
    def headers(self) -> dict[str, str]:
        """The latest response's headers (lower-case names)."""
        return self._pump.headers

    @property
    def request_id(self) -> str | None:
        """``x-request-id`` of the latest response."""
        return self._pump.request_id

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
            self._queue.taken()  # at once: from here on the producer must not extend it
            self._pos = 0
        chunk = self._batch[self._pos]
        self._pos += 1
        self._acc.add(chunk)
        return chunk

    async def receive_batch(self) -> list[ChatCompletionChunk]:
        """Every chunk that has arrived and not been received yet (at least one), in order.

        For consumers that care about throughput: one checkpoint per call instead of one per
        chunk, which matters when a stream runs fast (each checkpoint is a trip through Trio's
        scheduler). Ends and fails exactly like :meth:`receive`; mixing the two is fine.
        """
        if self._pos < len(self._batch):
            await trio.lowlevel.checkpoint()
            batch = self._batch[self._pos :]
        else:
            try:
                batch = await self._receive.receive()
            except trio.EndOfChannel:
                self._raise_end()
            self._queue.taken()  # at once: from here on the producer must not extend it
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
        if self._pump.done:
            self._producer_scope.deadline = min(
                self._producer_scope.deadline, trio.current_time() + DRAIN_TIMEOUT
            )
        else:
            self._producer_scope.cancel()

    # --- the producer's side ----------------------------------------------------------------

    async def _produce(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            with self._producer_scope:
                await self._pump.run(task_status=task_status)
        except _ConsumerGone:
            pass
        except GroqStreamError as exc:
            if not self._pump.started:
                raise  # out of nursery.start(): the ``async with`` line raises it
            self._error = exc
        finally:
            self._send.close()

    async def _sink(self, batch: Batch) -> None:
        try:
            await self._queue.put(batch)
        except trio.BrokenResourceError:
            raise _ConsumerGone from None

    async def _on_done(self) -> None:
        self._send.close()  # the consumer sees the end now, not after the drain


def prepare(
    client: GroqClient,
    request: Mapping[str, Any],
    options: Mapping[str, Any],
    index: int | None = None,
) -> tuple[EncodedRequest, StreamSettings]:
    """Check the per-call options and check and encode the request (errors name
    ``requests[index].field`` when ``index`` is given); see :mod:`._params`."""
    settings = client._settings_for(**options)
    return check_request(request, index), settings


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
    max_retry_wait: float | Missing = MISSING,
    max_event_size: int | Missing = MISSING,
    buffer: int = DEFAULT_BUFFER,
    **body: Unpack[ChatParams],
) -> AsyncIterator[ChatStream]:
    """Stream one chat completion.

    ``async with open_stream(client, model=..., messages=[...]) as stream:`` sends the request and
    waits for the response headers (retrying as the policy allows), then yields a
    :class:`ChatStream`. HTTP errors and failures before the stream starts raise here; errors
    after that raise from ``receive`` / ``async for``.

    Args:
        client: the :class:`GroqClient` to send through.
        request: the chat completions body as a mapping; keyword arguments are merged over it.
        body: the request fields (:class:`ChatParams`: ``model``, ``messages``, ``temperature``,
            ..., and ``extra_body`` / ``extra_headers`` / ``extra_query`` for what this library
            does not know yet). ``None`` values are not sent; ``stream`` is the library's. An
            unknown or ill-typed field raises :class:`ConfigurationError` naming it, before
            anything is sent.
        connect_timeout: seconds to connect, overriding the client's default (``None``: no
            limit).
        first_chunk_timeout: seconds from sending to the first event (``None``: no limit).
        idle_timeout: seconds allowed between events (``None``: no limit).
        total_timeout: seconds for the whole stream, retries included (``None``: no limit).
        max_retries: retries before the first chunk, overriding the client's.
        max_retry_wait: the longest server-requested wait honoured before a retry.
        max_event_size: cap on one SSE event, in bytes.
        buffer: how many network reads may wait for the consumer before reading pauses.

    Every option is checked for type and range when the call is made (a
    :class:`ConfigurationError` naming it), before any request.

    Leaving the block for any reason closes the response (shielded, bounded) and stops the
    producer; the block's own exception propagates unchanged, never wrapped in a group.
    """
    check_count("buffer", buffer, minimum=1)
    options = {
        "connect_timeout": connect_timeout,
        "first_chunk_timeout": first_chunk_timeout,
        "idle_timeout": idle_timeout,
        "total_timeout": total_timeout,
        "max_retries": max_retries,
        "max_retry_wait": max_retry_wait,
        "max_event_size": max_event_size,
    }
    payload, settings = prepare(client, {**(request or {}), **body}, options)
    stream = ChatStream(client, payload, settings, buffer=buffer)
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
