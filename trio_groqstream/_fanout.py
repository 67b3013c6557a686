"""Many completions at once: fan-out, one merged flow, gather, race, and channel producers.

All of it is structured: every request runs in a nursery owned by the call, so when the call
returns, raises or is cancelled, no request is still running and no connection is still open.

How requests start: one launcher task walks the requests and starts each one only once a
``trio.CapacityLimiter`` token is free (and, by default, once the client's rate-limit windows allow
it). So 10,000 requests with ``max_concurrency=50`` never hold more than 50 tasks or connections,
and memory stays flat however many requests there are.

How chunks travel: each worker forwards what one network read produced as one batch of
:class:`FanoutEvent`s over a bounded channel. The consumer takes them one at a time. A consumer that
stops reading fills the channel, which stops the workers, which stop reading their sockets.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast, overload

import msgspec
import trio

from ._accumulate import Accumulator
from ._client import GroqClient
from ._errors import ConfigurationError, GroqStreamError
from ._params import (
    CALL_OPTIONS,
    CallOptions,
    ChannelParams,
    ChatRequest,
    check_bool,
    check_choice,
    check_count,
    check_requests,
    check_stream_options,
)
from ._pump import Batch, Pump, StreamMetrics, raise_single, reraise
from ._stream import MAX_BATCH, Coalescer, prepare
from ._wire import ChatCompletion, ChatCompletionChunk

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "FanoutEvent",
    "FanoutStream",
    "gather",
    "open_fanout",
    "race",
    "stream_to_channel",
]

OnError = Literal["raise", "collect"]
Request = Mapping[str, Any]
Result = ChatCompletion | GroqStreamError

#: Requests in flight at once unless told otherwise.
DEFAULT_MAX_CONCURRENCY = 8
#: Batches (network reads) the merged channel holds before the workers wait.
DEFAULT_FANOUT_BUFFER = 64


class FanoutEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One item of a fan-out's merged flow: what happened to request number ``index``.

    Exactly one of ``chunk`` (a delta arrived), ``completion`` (that request finished; it is its
    last event) or ``error`` (it failed, with ``on_error="collect"``; also its last event) is set.
    """

    index: int
    chunk: ChatCompletionChunk | None = None
    completion: ChatCompletion | None = None
    error: GroqStreamError | None = None
    #: On a request's last event (``completion`` or ``error``): its stream's timings, counts and
    #: attempts; ``None`` on chunk events and when the request failed before its stream opened.
    metrics: StreamMetrics | None = None

    @property
    def kind(self) -> Literal["chunk", "completion", "error"]:
        """Which of ``chunk``, ``completion`` or ``error`` this event carries."""
        if self.chunk is not None:
            return "chunk"
        return "completion" if self.completion is not None else "error"

    @property
    def text(self) -> str:
        """The content this event adds to its request's first choice (``""`` if none)."""
        chunk = self.chunk
        if chunk is None:
            return ""
        for choice in chunk.choices:
            if choice.index == 0:
                return choice.delta.content or ""
        return ""


_Batch = list[FanoutEvent]


class FanoutStream(trio.abc.ReceiveChannel[FanoutEvent]):
    """The merged, tagged flow of a fan-out; get one from :func:`open_fanout`.

    ``async for event in fanout`` yields :class:`FanoutEvent` items in arrival order (in order
    within each request) and ends when every request has finished. ``receive`` is a checkpoint.

    Attributes:
        results: per request index, its :class:`ChatCompletion`, its error (``collect``), or
            ``None`` while it has not finished. Filled in as the consumer receives the events.
    """

    def __init__(
        self, size: int, receive: trio.MemoryReceiveChannel[_Batch], queue: Coalescer
    ) -> None:
        self._receive = receive
        self._queue = queue
        self._batch: _Batch = []
        self._pos = 0
        self._texts: dict[int, list[str]] = {}
        self._workers = trio.CancelScope()
        self.results: list[Result | None] = [None] * size

    async def receive(self) -> FanoutEvent:
        """The next event; ``trio.EndOfChannel`` once every request has finished. A checkpoint;
        cancelling it loses nothing."""
        if self._pos < len(self._batch):
            await trio.lowlevel.checkpoint()
        if self._pos >= len(self._batch):
            self._batch = await self._receive.receive()
            self._queue.taken()  # at once: from here on no worker may extend it
            self._pos = 0
        event = self._batch[self._pos]
        self._pos += 1
        self._note(event)
        return event

    async def receive_batch(self) -> list[FanoutEvent]:
        """Every event that has arrived and not been received yet (at least one), in order:
        one checkpoint per call rather than per event, for throughput. Ends like
        :meth:`receive`; mixing the two is fine."""
        if self._pos < len(self._batch):
            await trio.lowlevel.checkpoint()
            batch = self._batch[self._pos :]
        else:
            batch = await self._receive.receive()
            self._queue.taken()
        self._batch = []
        self._pos = 0
        for event in batch:
            self._note(event)
        return batch

    def _note(self, event: FanoutEvent) -> None:
        if event.chunk is not None:
            text = event.text
            if text:
                parts = self._texts.get(event.index)
                if parts is None:
                    self._texts[event.index] = [text]
                else:
                    parts.append(text)
        else:
            self.results[event.index] = event.completion or event.error

    def text(self, index: int) -> str:
        """The first choice's text of request ``index`` as received so far (grows live)."""
        return "".join(self._texts.get(index, ()))

    async def aclose(self) -> None:
        """Stop the fan-out early: every request is cancelled and its connection closed."""
        self._workers.cancel()  # first: a worker blocked in send() gets Cancelled, not Broken
        self._receive.close()
        await trio.lowlevel.checkpoint()


async def _launch(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    nursery: trio.Nursery,
    limiter: trio.CapacityLimiter,
    worker: Callable[[int, Request], Awaitable[None]],
    *,
    respect_rate_limits: bool,
) -> None:
    """Start a worker per request as capacity (and the rate-limit budget) allows."""
    for index, request in enumerate(requests):
        token = object()
        await limiter.acquire_on_behalf_of(token)
        try:
            if respect_rate_limits:
                await client.wait_for_rate_limits()
        except BaseException:
            limiter.release_on_behalf_of(token)
            raise
        nursery.start_soon(_run_worker, worker, index, request, limiter, token)


async def _run_worker(
    worker: Callable[[int, Request], Awaitable[None]],
    index: int,
    request: Request,
    limiter: trio.CapacityLimiter,
    token: object,
) -> None:
    try:
        await worker(index, request)
    finally:
        limiter.release_on_behalf_of(token)


_STREAM_OPTIONS = frozenset(CALL_OPTIONS)


def _check(
    max_concurrency: int,
    on_error: str,
    stream_options: Mapping[str, object],
    requests: object = (),
    *,
    buffer: int = 1,
    limiter: object = None,
    respect_rate_limits: object = True,
) -> None:
    """Check every option, and the requests of a list (an iterator is checked as it is
    consumed), when the call is made: a mistake raises before any request starts."""
    check_stream_options(stream_options)
    check_count("max_concurrency", max_concurrency, minimum=1)
    check_choice("on_error", on_error, ("raise", "collect"))
    check_count("buffer", buffer, minimum=1)
    check_bool("respect_rate_limits", respect_rate_limits)
    if limiter is not None and not isinstance(limiter, trio.CapacityLimiter):
        raise ConfigurationError(
            f"limiter={limiter!r} is not allowed: limiter must be a trio.CapacityLimiter or None"
        )
    check_requests(requests)


def _limiter_for(
    max_concurrency: int, limiter: trio.CapacityLimiter | None
) -> trio.CapacityLimiter:
    return limiter if limiter is not None else trio.CapacityLimiter(max_concurrency)


@asynccontextmanager
async def open_fanout(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    on_error: OnError = "raise",
    buffer: int = DEFAULT_FANOUT_BUFFER,
    limiter: trio.CapacityLimiter | None = None,
    respect_rate_limits: bool = True,
    **stream_options: Unpack[CallOptions],
) -> AsyncIterator[FanoutStream]:
    """Stream many completions at once and merge their events into one flow.

    Args:
        client: the client every request goes through.
        requests: chat completion bodies (mappings with ``model``, ``messages``...); each starts
            only when a slot is free.
        max_concurrency: requests in flight at once (ignored when ``limiter`` is given).
        on_error: ``"raise"`` (default): the first failure cancels every other request and the
            ``async with`` raises an ``ExceptionGroup`` of the real failures (use ``except*``).
            ``"collect"``: the others go on; a failure arrives as an event with ``error`` set and
            is kept in ``results``.
        buffer: network reads the merged channel holds before the workers wait (backpressure).
        limiter: a ``trio.CapacityLimiter`` to share one concurrency budget between fan-outs.
        respect_rate_limits: before starting a request, wait while the client's latest
            ``x-ratelimit-*`` headers say a window is used up, instead of firing into 429s.
        stream_options: ``connect_timeout``, ``first_chunk_timeout``, ``idle_timeout``,
            ``total_timeout``, ``max_retries``, ``max_retry_wait`` and ``max_event_size`` for
            every stream (see :func:`open_stream`).

    Every option, and every request of a list, is checked when the call is made; a request
    from an iterator is checked as it is taken. A mistake raises :class:`ConfigurationError`
    naming ``requests[index].field``.

    Leaving the block early, or cancelling it, cancels every request and closes every connection.
    """
    _check(
        max_concurrency,
        on_error,
        stream_options,
        requests,
        buffer=buffer,
        limiter=limiter,
        respect_rate_limits=respect_rate_limits,
    )
    requests = list(requests)
    send, receive = trio.open_memory_channel[_Batch](buffer)
    queue = Coalescer(send, max_batch=MAX_BATCH)
    fanout = FanoutStream(len(requests), receive, queue)
    capacity = _limiter_for(max_concurrency, limiter)

    async def worker(index: int, request: Request) -> None:
        acc = Accumulator()

        async def sink(batch: Batch) -> None:
            for chunk in batch:
                acc.add(chunk)
            await _put(queue, [FanoutEvent(index=index, chunk=chunk) for chunk in batch])

        pump: Pump | None = None
        try:
            pump = Pump(client, *prepare(client, request, stream_options, index), sink)
            await pump.run()
            last = FanoutEvent(index=index, completion=acc.snapshot(), metrics=pump.metrics)
        except GroqStreamError as exc:
            if on_error == "raise":
                raise
            _attach_partial(exc, acc)
            metrics = pump.metrics if pump is not None and pump.started else None
            last = FanoutEvent(index=index, error=exc, metrics=metrics)
        await _put(queue, [last])

    async def launch() -> None:
        with send, fanout._workers:
            async with trio.open_nursery() as workers:
                await _launch(
                    client,
                    requests,
                    workers,
                    capacity,
                    worker,
                    respect_rate_limits=respect_rate_limits,
                )

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(launch)
            try:
                yield fanout
            finally:
                nursery.cancel_scope.cancel()  # first: blocked senders get Cancelled, not Broken
                receive.close()
    except BaseExceptionGroup as group:
        _reraise_fanout(group)


def _reraise_fanout(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Flatten our own nesting: the user gets one group whose leaves are the real failures.

    Only cancellation: re-raise it as is. The caller's own exception alone (from the ``async with``
    block, or a KeyboardInterrupt): re-raise it unwrapped, as a single stream would.
    """
    real = [exc for exc in _leaves(group) if not isinstance(exc, trio.Cancelled)]
    if not real:
        raise_single(group)
    if len(real) == 1 and not isinstance(real[0], GroqStreamError):
        reraise(real[0])
    message = f"{len(real)} of the fan-out's requests failed"
    exceptions = [exc for exc in real if isinstance(exc, Exception)]
    if len(exceptions) == len(real):
        raise ExceptionGroup(message, exceptions) from None
    raise BaseExceptionGroup(message, real) from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterable[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


async def _put(queue: Coalescer, events: _Batch) -> None:
    """Queue without a second schedule point when there is room (the pump's read was one)."""
    try:
        await queue.put(events)
    except trio.BrokenResourceError:
        # The consumer left, and leaving cancelled us first; send_nowait just is not a
        # checkpoint, so let that cancellation show rather than this symptom of it.
        await trio.lowlevel.checkpoint()
        raise


def _attach_partial(exc: GroqStreamError, acc: Accumulator) -> None:
    if exc.completion is None and acc.chunks:
        exc.completion = acc.snapshot()


async def _complete(
    client: GroqClient,
    request: Request,
    stream_options: Mapping[str, Any],
    *,
    on_done: Callable[[ChatCompletion], None] | None = None,
    index: int | None = None,
) -> ChatCompletion:
    """Run one request to its end with no channel and no second task: chunks fold straight into
    the completion. ``on_done`` hears of it at ``[DONE]``, before the body's short drain."""
    acc = Accumulator()

    async def sink(batch: Batch) -> None:
        for chunk in batch:
            acc.add(chunk)

    async def done() -> None:
        if on_done is not None:
            on_done(acc.snapshot())

    try:
        await Pump(
            client, *prepare(client, request, stream_options, index), sink, on_done=done
        ).run()
    except GroqStreamError as exc:
        _attach_partial(exc, acc)
        raise
    return acc.snapshot()


@overload
async def gather(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = ...,
    on_error: Literal["raise"] = ...,
    limiter: trio.CapacityLimiter | None = ...,
    respect_rate_limits: bool = ...,
    **stream_options: Unpack[CallOptions],
) -> list[ChatCompletion]: ...


@overload
async def gather(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = ...,
    on_error: Literal["collect"],
    limiter: trio.CapacityLimiter | None = ...,
    respect_rate_limits: bool = ...,
    **stream_options: Unpack[CallOptions],
) -> list[Result]: ...


async def gather(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    on_error: OnError = "raise",
    limiter: trio.CapacityLimiter | None = None,
    respect_rate_limits: bool = True,
    **stream_options: Unpack[CallOptions],
) -> list[ChatCompletion] | list[Result]:
    """Run many completions concurrently; return them in request order.

    With ``on_error="raise"`` (default) the first failure cancels the rest and an
    ``ExceptionGroup`` of the failures is raised; with ``"collect"`` a failed request's slot holds
    its error instead of a :class:`ChatCompletion`.
    """
    _check(
        max_concurrency,
        on_error,
        stream_options,
        requests,
        limiter=limiter,
        respect_rate_limits=respect_rate_limits,
    )
    requests = list(requests)
    if not requests:
        await trio.lowlevel.checkpoint()
        return []
    results: list[Result | None] = [None] * len(requests)
    capacity = _limiter_for(max_concurrency, limiter)

    async def worker(index: int, request: Request) -> None:
        try:
            results[index] = await _complete(client, request, stream_options, index=index)
        except GroqStreamError as exc:
            if on_error == "raise":
                raise
            results[index] = exc

    try:
        async with trio.open_nursery() as nursery:
            await _launch(
                client, requests, nursery, capacity, worker, respect_rate_limits=respect_rate_limits
            )
    except BaseExceptionGroup as group:
        _reraise_fanout(group)
    return cast("list[Result]", results)  # every slot was filled, or we raised


async def race(
    client: GroqClient, requests: Iterable[ChatRequest], **stream_options: Unpack[CallOptions]
) -> tuple[int, ChatCompletion]:
    """Send every request at once; return ``(index, completion)`` of the first to finish.

    The others are cancelled and their connections closed before this returns: hedged requests
    against tail latency (the same prompt to two models, or twice to one). Failures are tolerated
    while another request can still win; if all fail, an ``ExceptionGroup`` of them is raised.
    """
    _check(1, "raise", stream_options, requests)
    requests = list(requests)
    if not requests:
        raise ConfigurationError("race() needs at least one request")
    winner: tuple[int, ChatCompletion] | None = None
    errors: list[GroqStreamError] = []

    async def runner(index: int, request: Request, cancel_scope: trio.CancelScope) -> None:
        def won(completion: ChatCompletion) -> None:
            nonlocal winner
            if winner is None:
                winner = (index, completion)
                cancel_scope.cancel()  # at [DONE]: the losers go now, not after our drain

        try:
            await _complete(client, request, stream_options, on_done=won, index=index)
        except GroqStreamError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for index, request in enumerate(requests):
            nursery.start_soon(runner, index, request, nursery.cancel_scope)
    if winner is None:
        raise ExceptionGroup(f"all {len(requests)} raced requests failed", errors)
    return winner


async def stream_to_channel(
    client: GroqClient,
    send_channel: trio.abc.SendChannel[ChatCompletionChunk],
    /,
    *,
    task_status: trio.TaskStatus[dict[str, str]] = trio.TASK_STATUS_IGNORED,
    **params: Unpack[ChannelParams],
) -> ChatCompletion:
    """Stream one completion into a channel you own, from a task in your own nursery.

    With ``await nursery.start(stream_to_channel, client, send, ...)``, ``start`` returns once the
    response headers have arrived (it reports them, lower-case names) and raises any HTTP error
    itself. Chunks are then sent one by one; ``send_channel`` is closed when the stream ends, for
    any reason, so give each producer its own ``send.clone()`` when several share one channel.
    Returns the accumulated completion. If the receiver goes away, the stream stops quietly.

    Args:
        client: the client to send through.
        send_channel: where the chunks go; closed when the stream ends.
        task_status: given by ``nursery.start``.
        params: the request fields (as for :func:`open_stream`) and the per-call options
            (``connect_timeout``, ..., ``max_event_size``), all checked before anything is sent.
    """
    acc = Accumulator()

    async def sink(batch: Batch) -> None:
        for chunk in batch:
            acc.add(chunk)
            await send_channel.send(chunk)

    request = cast("dict[str, Any]", params)
    options = {name: request.pop(name) for name in _STREAM_OPTIONS & request.keys()}
    try:
        pump = Pump(client, *prepare(client, request, options), sink)
        await pump.run(task_status=_HeadersStatus(task_status, pump))
    except trio.BrokenResourceError:
        pass  # nobody is listening any more
    except GroqStreamError as exc:
        _attach_partial(exc, acc)
        raise
    finally:
        await _close(send_channel)
    return acc.snapshot()


async def _close(channel: trio.abc.SendChannel[ChatCompletionChunk]) -> None:
    """Close the caller's channel without a schedule point that could swap the exception in
    flight for ``Cancelled`` (a memory channel closes synchronously; others are shielded)."""
    if isinstance(channel, trio.MemorySendChannel):
        channel.close()
        return
    with trio.CancelScope(shield=True):
        await channel.aclose()


class _HeadersStatus:
    """Reports the response headers to ``nursery.start`` once the pump has them."""

    def __init__(self, outer: trio.TaskStatus[dict[str, str]], pump: Pump) -> None:
        self._outer = outer
        self._pump = pump

    def started(self, value: None = None) -> None:
        self._outer.started(self._pump.headers)
