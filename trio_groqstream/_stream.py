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
from ._channel import BatchedReceiveChannel, Coalescer
from ._client import MISSING, GroqClient, Missing, StreamSettings, check_client
from ._errors import ConfigurationError, GroqStreamError
from ._params import ChatParams, EncodedRequest, check_count, check_request
from ._pump import DRAIN_GRACE, Batch, Pump, StreamMetrics, raise_single
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
    "StreamMetrics",
    "encode_body",
    "open_stream",
    "prepare",
]

#: Batches (network reads) the channel holds before the producer waits for the consumer.
DEFAULT_BUFFER = 16
#: The most chunks one queued batch grows to (see :class:`Coalescer`); with the buffer, this bounds
#: what a stream holds for a slow consumer.
MAX_BATCH = 64


class _ConsumerGone(Exception):
    """The consumer closed its end; the producer stops quietly."""


class ChatStream(BatchedReceiveChannel[ChatCompletionChunk]):
    """The chunks of one streamed completion, as a Trio receive channel.

    Get one from :func:`open_stream`. ``receive()`` (and ``async for``) returns chunks in order,
    raises ``trio.EndOfChannel`` (ends the loop) after ``data: [DONE]``, and raises the typed error
    that ended the stream otherwise, with :attr:`completion` attached to it. ``receive`` is a
    cancel point (a schedule point at least once per batch); cancelling it loses nothing. Several
    tasks may receive at once: each chunk goes to
    exactly one of them, in order (:attr:`completion` still folds every chunk once, in order).
    After :meth:`aclose`, or once the ``async with`` block is left, ``receive`` raises
    ``trio.ClosedResourceError``. ``metrics``, ``rate_limits``, ``headers`` and ``request_id``
    describe the stream and its latest response.
    """

    def __init__(
        self, client: GroqClient, body: bytes, settings: StreamSettings, *, buffer: int
    ) -> None:
        send, receive = trio.open_memory_channel[Batch](buffer)
        queue = Coalescer(send, max_batch=MAX_BATCH)
        super().__init__(receive, queue)
        self._pump = Pump(
            client, body, settings, self._sink, offer=self._offer, on_done=self._on_done
        )
        self._acc = Accumulator()
        self._error: GroqStreamError | None = None
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

    @property
    def error(self) -> GroqStreamError | None:
        """The typed error that ended the stream, as soon as it happened (``None`` while it
        runs or when it completed). ``receive`` raises it once the chunks before it are taken;
        here it stays reachable when the ``async with`` block raised something else first."""
        return self._error

    # --- the consumer's side ----------------------------------------------------------------

    @property
    def completion(self) -> ChatCompletion:
        """The completion accumulated from the chunks received so far."""
        return self._acc.snapshot()

    def _note(self, item: ChatCompletionChunk) -> None:
        try:
            self._acc.add(item)
        except GroqStreamError as exc:  # a chunk the completion cannot hold: the stream fails
            exc.completion = self._acc.snapshot()
            self._error = exc
            self._stop()
            self._producer_scope.cancel()
            raise

    def _end(self) -> NoReturn:
        error = self._error
        if error is None:
            raise trio.EndOfChannel
        if error.completion is None:
            error.completion = self._acc.snapshot()
        raise error

    async def aclose(self) -> None:
        """Stop the stream: the producer is cancelled and the response closed. Idempotent."""
        self._close()
        self._producer_scope.cancel()
        await trio.lowlevel.checkpoint()

    def _release(self) -> None:
        """The block was left normally: give a producer past ``[DONE]`` a short grace to see
        its body's end (so the connection can be reused), stop any other at once."""
        self._close()
        if self._pump.done:
            self._producer_scope.deadline = min(
                self._producer_scope.deadline, trio.current_time() + DRAIN_GRACE
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
        except Exception as exc:
            if not isinstance(exc, GroqStreamError):
                # Not one of ours (a bug, or something the pump did not expect): the consumer
                # must still see a typed failure, never an end that looks complete.
                error = GroqStreamError(f"the stream's producer failed unexpectedly: {exc!r}")
                error.__cause__ = exc
                exc = error
            if not self._pump.started:
                raise exc  # out of nursery.start(): the ``async with`` line raises it
            self._error = exc
        finally:
            self._queue.close()

    def _offer(self, batch: Batch) -> bool:
        """The hot path: room at once, no await (else the sink waits, or says who left)."""
        try:
            return self._queue.offer(batch)
        except trio.BrokenResourceError:
            return False

    async def _sink(self, batch: Batch) -> bool:
        try:
            await self._queue.put(batch)
        except trio.BrokenResourceError:
            raise _ConsumerGone from None
        return True

    async def _on_done(self) -> None:
        self._queue.close()  # the consumer sees the end now, not after the drain


def prepare(
    client: GroqClient, request: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[EncodedRequest, StreamSettings]:
    """Check the per-call options, then check and encode the request (see :mod:`._params`)."""
    check_client(client)
    settings = client._settings_for(**options)
    return encode_body(request), settings


def encode_body(request: object, *, index: int | None = None) -> EncodedRequest:
    """Check and encode one request body; errors name ``requests[index].field`` in a fan-out."""
    return check_request(request, index)


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
    max_completion_size: int | Missing = MISSING,
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
        max_completion_size: cap on the body of this stream, in bytes.
        buffer: how many network reads may wait for the consumer before reading pauses.

    Every option is checked for type and range when the call is made (a
    :class:`ConfigurationError` naming it), before any request.

    Leaving the block for any reason closes the response (shielded, bounded) and stops the
    producer; the block's own exception propagates unchanged, never wrapped in a group.
    """
    check_count("buffer", buffer, minimum=1)
    if request is not None and not isinstance(request, Mapping):
        raise ConfigurationError(
            f"request= must be a mapping of request fields, not {type(request).__name__}"
        )
    options = {
        "connect_timeout": connect_timeout,
        "first_chunk_timeout": first_chunk_timeout,
        "idle_timeout": idle_timeout,
        "total_timeout": total_timeout,
        "max_retries": max_retries,
        "max_retry_wait": max_retry_wait,
        "max_event_size": max_event_size,
        "max_completion_size": max_completion_size,
    }
    payload, settings = prepare(client, {**(request or {}), **body}, options)
    stream = ChatStream(client, payload, settings, buffer=buffer)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(stream._produce)
            try:
                yield stream
            except BaseException:
                stream._close()
                stream._producer_scope.cancel()
                raise
            else:
                stream._release()
    except BaseExceptionGroup as group:
        raise_single(group)
