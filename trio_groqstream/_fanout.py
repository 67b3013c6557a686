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
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    Sized,
)
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast, overload

import msgspec
import trio

from ._accumulate import Accumulator
from ._channel import BatchedReceiveChannel, Coalescer
from ._client import GroqClient, StreamSettings, check_client
from ._errors import ConfigurationError, GroqStreamError
from ._pacer import PACED
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
from ._pump import DRAIN_GRACE, Batch, Pump, StreamMetrics, reraise
from ._stream import MAX_BATCH, encode_body, prepare
from ._watchdog import Watchdog
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


class FanoutStream(BatchedReceiveChannel[FanoutEvent]):
    """The merged, tagged flow of a fan-out; get one from :func:`open_fanout`.

    ``async for event in fanout`` yields :class:`FanoutEvent` items in arrival order (in order
    within each request) and ends when every request has finished. ``receive`` is a cancel point
    (a schedule point at least once per batch); cancelling it loses nothing. Several tasks may
    receive at once: each event goes to exactly one of them, and each sees every request's events
    in order. After :meth:`aclose` (or once
    the ``async with`` block is left) ``receive`` raises ``trio.ClosedResourceError``.

    What it keeps: the text of each request still running (for :meth:`text`), and, when results
    are kept (``keep_results``; by default when ``requests`` is a sequence), every request's
    outcome in :attr:`results`. A fan-out over an iterator keeps nothing per finished request,
    so its memory stays flat however many requests and tokens flow through it.
    """

    def __init__(
        self,
        receive: trio.MemoryReceiveChannel[_Batch],
        queue: Coalescer,
        *,
        results: list[Result | None] | None,
    ) -> None:
        super().__init__(receive, queue)
        self._texts: dict[int, list[str]] = {}
        self._results = results
        self._workers = trio.CancelScope()

    @property
    def results(self) -> list[Result | None]:
        """Per request index, its :class:`ChatCompletion`, its error (``collect``), or ``None``
        while it has not finished; filled in as the consumer receives the events.

        Raises :class:`ConfigurationError` when results are not kept (``keep_results=False``,
        the default for an iterator of requests): read each outcome from its final event."""
        if self._results is None:
            raise ConfigurationError(
                "this fan-out keeps no results (its requests came from an iterator, or "
                "keep_results=False): read each outcome from its completion or error event, or "
                "pass keep_results=True"
            )
        return self._results

    def _note(self, item: FanoutEvent) -> None:
        if item.chunk is not None:
            text = item.text
            if text:
                parts = self._texts.get(item.index)
                if parts is None:
                    self._texts[item.index] = [text]
                else:
                    parts.append(text)
            return
        self._texts.pop(item.index, None)
        if self._results is not None:
            self._results[item.index] = item.completion or item.error

    def text(self, index: int) -> str:
        """The first choice's text of request ``index`` as received so far (grows live).

        Once the request has finished, its text stays available only where results are kept."""
        parts = self._texts.get(index)
        if parts is not None:
            return "".join(parts)
        if self._results is not None and 0 <= index < len(self._results):
            result = self._results[index]
            completion = result.completion if isinstance(result, GroqStreamError) else result
            if completion is not None and completion.choices:
                return completion.choices[0].message.content or ""
        return ""

    async def aclose(self) -> None:
        """Stop the fan-out early: every request is cancelled and its connection closed."""
        self._workers.cancel()  # first: a blocked worker gets Cancelled, not BrokenResourceError
        self._close()
        await trio.lowlevel.checkpoint()


Worker = Callable[[int, bytes, Callable[[], None]], Awaitable[None]]


class _Launcher:
    """Starts one worker per request as capacity (and the rate-limit budget) allows, and says
    when every request has finished.

    Requests are taken from the iterable lazily, one at a time, each checked and encoded just
    before it starts, so a generator of a million requests runs in flat memory. A worker calls
    its ``finished`` callback as soon as its outcome is known (at ``[DONE]``, before the drain of
    the body's end): that gives back its concurrency slot at once, and once the iterable is
    exhausted and every started request has finished, ``on_all_done`` runs.

    Its workers share one :class:`Watchdog` for their deadlines, run beside them in the same
    nursery: a request's end then costs no task of its own to wind down.
    """

    def __init__(
        self,
        client: GroqClient,
        bodies: Iterator[bytes],
        limiter: trio.CapacityLimiter,
        worker: Worker,
        *,
        pace: bool,
        on_all_done: Callable[[], None],
    ) -> None:
        self._client = client
        self._bodies = bodies
        self._limiter = limiter
        self._worker = worker
        self._pace = pace
        self._on_all_done = on_all_done
        self._running = 0
        self._exhausted = False
        self.watchdog = Watchdog()
        #: Exceptions raised by the caller's side (a bad request, the request iterator itself).
        self.own_error: BaseException | None = None

    async def run(
        self,
        nursery: trio.Nursery,
        *,
        start: Callable[[trio.Nursery, int, bytes, object], None] | None = None,
    ) -> None:
        nursery.start_soon(self.watchdog.run)
        try:
            await _launch(
                self._client,
                self._bodies,
                nursery,
                self._limiter,
                start or self._start,
                pace=self._pace,
            )
        except BaseException as exc:
            self.own_error = exc
            raise
        self._exhausted = True
        if not self._running:
            self._all_done()

    def _all_done(self) -> None:
        self.watchdog.close()  # no attempt is left to watch
        self._on_all_done()

    def _start(self, nursery: trio.Nursery, index: int, body: bytes, token: object) -> None:
        self._running += 1
        nursery.start_soon(self._run_worker, index, body, token)

    async def _run_worker(self, index: int, body: bytes, token: object) -> None:
        released = False

        def finished() -> None:
            nonlocal released
            if not released:
                released = True
                self._limiter.release_on_behalf_of(token)
                self._running -= 1
                if self._exhausted and not self._running:
                    self._all_done()

        try:
            await self._worker(index, body, finished)
        finally:
            if not released:  # failed or cancelled before its outcome was known
                released = True
                self._limiter.release_on_behalf_of(token)
                self._running -= 1


async def _launch(
    client: GroqClient,
    bodies: Iterable[bytes],
    nursery: trio.Nursery,
    limiter: trio.CapacityLimiter,
    start: Callable[[trio.Nursery, int, bytes, object], None],
    *,
    pace: bool,
) -> None:
    """Start a worker per request body as capacity allows. With ``pace``, each worker's requests
    then wait for the client's pacer (:mod:`._pacer`) before they are sent, inside their own
    ``total_timeout``, holding their slot: that wait is a request's, not the launcher's."""
    for index, body in enumerate(bodies):
        token = object()
        await limiter.acquire_on_behalf_of(token)
        # The worker's task copies this context when it is spawned: its pumps read PACED.
        reset = PACED.set(pace)
        try:
            start(nursery, index, body, token)
        finally:
            PACED.reset(reset)


def _bodies(requests: Iterable[Request]) -> Iterator[bytes]:
    """The encoded request bodies: a sequence is checked whole before anything starts, any other
    iterable one request at a time as it is consumed."""
    if isinstance(requests, Sequence):
        return iter([encode_body(request, index=i) for i, request in enumerate(requests)])
    return (encode_body(request, index=i) for i, request in enumerate(requests))


_STREAM_OPTIONS = frozenset(CALL_OPTIONS)
#: What a limiter must do: a ``trio.CapacityLimiter``, or a wrapper around one (the CLI counts).
_LIMITER_METHODS = ("acquire_on_behalf_of", "release_on_behalf_of")


def _check(
    max_concurrency: int,
    on_error: str,
    stream_options: Mapping[str, object],
    requests: object = (),
    *,
    client: object = None,
    buffer: int = 1,
    limiter: object = None,
    pace: object = True,
    keep_results: object = None,
) -> None:
    """Check every option when the call is made, before any request (the requests themselves
    are checked by :func:`_bodies`: a sequence whole, an iterator as it is consumed)."""
    check_client(client)
    check_stream_options(stream_options)
    check_count("max_concurrency", max_concurrency, minimum=1)
    check_choice("on_error", on_error, ("raise", "collect"))
    check_count("buffer", buffer, minimum=1)
    check_bool("pace", pace)
    if keep_results is not None:
        check_bool("keep_results", keep_results)
    if limiter is not None and not (
        isinstance(limiter, trio.CapacityLimiter)
        or all(callable(getattr(limiter, m, None)) for m in _LIMITER_METHODS)
    ):
        raise ConfigurationError(
            f"limiter={limiter!r} is not allowed: limiter must be a trio.CapacityLimiter (or "
            "an object with its acquire_on_behalf_of and release_on_behalf_of) or None"
        )
    check_requests(requests)


def _limiter_for(
    max_concurrency: int, limiter: trio.CapacityLimiter | None
) -> trio.CapacityLimiter:
    return limiter if limiter is not None else trio.CapacityLimiter(max_concurrency)


def _linger(scope: trio.CancelScope) -> None:
    """Let drains still reading a finished body's end run briefly, then stop them."""
    scope.deadline = min(scope.deadline, trio.current_time() + DRAIN_GRACE)


@asynccontextmanager
async def open_fanout(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    on_error: OnError = "raise",
    buffer: int = DEFAULT_FANOUT_BUFFER,
    limiter: trio.CapacityLimiter | None = None,
    pace: bool = True,
    keep_results: bool | None = None,
    **stream_options: Unpack[CallOptions],
) -> AsyncIterator[FanoutStream]:
    """Stream many completions at once and merge their events into one flow.

    Args:
        client: the client every request goes through.
        requests: chat completion bodies (mappings with ``model``, ``messages``...); each starts
            only when a slot is free. A sequence is checked whole before the first request
            starts; any other iterable is consumed lazily, one request as each slot frees up.
        max_concurrency: requests in flight at once (ignored when ``limiter`` is given).
        on_error: ``"raise"`` (default): the first failure cancels every other request and the
            ``async with`` raises an ``ExceptionGroup`` of the real failures (use ``except*``).
            ``"collect"``: the others go on; a failure arrives as an event with ``error`` set and
            is kept in ``results``.
        buffer: network reads the merged channel holds before the workers wait (backpressure).
        limiter: a ``trio.CapacityLimiter`` to share one concurrency budget between fan-outs.
            A request holds its slot until its outcome is known, including while it waits for
            the consumer to make room: never wait on the same limiter in the task that consumes
            this fan-out (it could wait for a slot that only its own reading frees).
        pace: start each request only when the client's rate limits leave room for it, spread
            over the window (see ``client.pacing``), instead of firing into 429s. ``False``
            for callers with their own scheduling.
        keep_results: keep every request's outcome in :attr:`FanoutStream.results`. By default
            results are kept when ``requests`` is a sequence, and not for an iterator.
        stream_options: ``connect_timeout``, ``first_chunk_timeout``, ``idle_timeout``,
            ``total_timeout``, ``max_retries``, ``max_retry_wait``, ``max_event_size`` and
            ``max_completion_size`` for every stream (see :func:`open_stream`); each option is
            checked when the call is made.

    A request's slot is given back, and its completion event sent, as soon as its ``[DONE]``
    arrives; the short drain of its body's end happens after, off the critical path. Leaving the
    block early, or cancelling it, cancels every request and closes every connection. A bad
    request raises :class:`ConfigurationError` itself (naming ``requests[i]``), never wrapped.
    """
    _check(
        max_concurrency,
        on_error,
        stream_options,
        requests,
        client=client,
        buffer=buffer,
        limiter=limiter,
        pace=pace,
        keep_results=keep_results,
    )
    settings = client._settings_for(**stream_options)
    bodies = _bodies(requests)
    keep = isinstance(requests, Sequence) if keep_results is None else keep_results
    results: list[Result | None] | None = None
    if keep:
        results = [None] * len(requests) if isinstance(requests, Sized) else []
    send, receive = trio.open_memory_channel[_Batch](buffer)
    queue = Coalescer(send, max_batch=MAX_BATCH)
    offer = queue.offer
    fanout = FanoutStream(receive, queue, results=results)
    capacity = _limiter_for(max_concurrency, limiter)

    async def worker(index: int, body: bytes, finished: Callable[[], None]) -> None:
        if results is not None and index >= len(results):
            results.append(None)
        acc = Accumulator()
        add = acc.add
        pump: Pump

        unsent: _Batch = []  # tagged by take_now, which found no room for them

        def take_now(batch: Batch) -> bool:
            """The hot path: fold, tag and queue with no await when there is room."""
            nonlocal unsent
            for chunk in batch:
                add(chunk)
            events = [FanoutEvent(index=index, chunk=chunk) for chunk in batch]
            try:
                if offer(events):
                    return True
            except trio.BrokenResourceError:
                pass  # the consumer left: sink shows it
            unsent = events
            return False

        async def sink(batch: Batch) -> bool:
            # The pump awaits this only with the batch take_now just refused: it is in unsent,
            # folded and tagged already.
            nonlocal unsent
            events, unsent = unsent, []
            await _put(queue, events)  # waits for room; shows a consumer that left
            return True

        async def done() -> None:
            completion = acc.snapshot()
            await _put(
                queue, [FanoutEvent(index=index, completion=completion, metrics=pump.metrics)]
            )
            finished()

        pump = Pump(
            client,
            body,
            settings,
            sink,
            offer=take_now,
            on_done=done,
            watchdog=launcher.watchdog,
        )
        try:
            await pump.run()
        except GroqStreamError as exc:
            if on_error == "raise":
                raise
            _attach_partial(exc, acc)
            metrics = pump.metrics if pump.started else None
            await _put(queue, [FanoutEvent(index=index, error=exc, metrics=metrics)])
            finished()

    finished_all = False

    def all_done() -> None:
        nonlocal finished_all
        finished_all = True
        queue.close()  # the consumer sees the end now, not after the last drain

    launcher = _Launcher(
        client,
        bodies,
        capacity,
        worker,
        pace=pace,
        on_all_done=all_done,
    )

    async def launch() -> None:
        with send, fanout._workers:
            async with trio.open_nursery() as workers:
                await launcher.run(workers)

    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(launch)
            try:
                yield fanout
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                fanout._close()
                if body_error is None and finished_all:
                    _linger(nursery.cancel_scope)
                else:  # first: blocked senders get Cancelled, not Broken
                    nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        _reraise_fanout(group, own=(body_error, launcher.own_error))


def _reraise_fanout(
    group: BaseExceptionGroup[BaseException], *, own: Iterable[BaseException | None] = ()
) -> NoReturn:
    """Flatten our own nesting: the user gets one group whose leaves are the real failures.

    The same rules for every fan-out API. Only cancellation: re-raise it bare (``except
    trio.Cancelled`` around a fan-out works). The caller's own exception alone (the ``async
    with`` block's, a bad request's ``ConfigurationError``, the request iterator's, or a
    ``KeyboardInterrupt``): re-raise it bare, as a single stream would. Otherwise the real
    failures, the caller's own among them, in one group.
    """
    leaves = list(_leaves(group))
    real = [exc for exc in leaves if not isinstance(exc, trio.Cancelled)]
    if not real:
        reraise(leaves[0])
    mine = [exc for exc in own if exc is not None]
    if len(real) == 1 and (
        not isinstance(real[0], GroqStreamError) or any(real[0] is exc for exc in mine)
    ):
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
    body: bytes,
    settings: StreamSettings,
    *,
    on_done: Callable[[ChatCompletion], None] | None = None,
    watchdog: Watchdog | None = None,
) -> ChatCompletion:
    """Run one request to its end with no channel and no second task: chunks fold straight into
    the completion. ``on_done`` hears of it at ``[DONE]``, before the body's short drain."""
    acc = Accumulator()
    completion: ChatCompletion | None = None

    async def done() -> None:
        nonlocal completion
        completion = acc.snapshot()
        if on_done is not None:
            on_done(completion)

    try:
        await Pump(client, body, settings, fold=acc.add, on_done=done, watchdog=watchdog).run()
    except GroqStreamError as exc:
        _attach_partial(exc, acc)
        raise
    assert completion is not None  # run() returns only once [DONE] has arrived
    return completion


@overload
async def gather(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = ...,
    on_error: Literal["raise"] = ...,
    limiter: trio.CapacityLimiter | None = ...,
    pace: bool = ...,
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
    pace: bool = ...,
    **stream_options: Unpack[CallOptions],
) -> list[Result]: ...


async def gather(
    client: GroqClient,
    requests: Iterable[ChatRequest],
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    on_error: OnError = "raise",
    limiter: trio.CapacityLimiter | None = None,
    pace: bool = True,
    **stream_options: Unpack[CallOptions],
) -> list[ChatCompletion] | list[Result]:
    """Run many completions concurrently; return them in request order.

    With ``on_error="raise"`` (default) the first failure cancels the rest and an
    ``ExceptionGroup`` of the failures is raised; with ``"collect"`` a failed request's slot holds
    its error instead of a :class:`ChatCompletion`. ``requests`` may be any iterable: a sequence
    is checked whole before the first request starts, an iterator as it is consumed. Returns as
    soon as the last ``[DONE]`` has arrived (the drains of finished bodies are cut short).
    """
    _check(
        max_concurrency,
        on_error,
        stream_options,
        requests,
        client=client,
        limiter=limiter,
        pace=pace,
    )
    settings = client._settings_for(**stream_options)
    bodies = _bodies(requests)
    results: list[Result | None] = []
    capacity = _limiter_for(max_concurrency, limiter)
    workers_scope = trio.CancelScope()

    async def worker(index: int, body: bytes, finished: Callable[[], None]) -> None:
        def done(completion: ChatCompletion) -> None:
            results[index] = completion
            finished()

        try:
            await _complete(client, body, settings, on_done=done, watchdog=launcher.watchdog)
        except GroqStreamError as exc:
            if on_error == "raise":
                raise
            results[index] = exc
            finished()

    def start(nursery: trio.Nursery, index: int, body: bytes, token: object) -> None:
        results.append(None)
        launcher._start(nursery, index, body, token)

    launcher = _Launcher(
        client,
        bodies,
        capacity,
        worker,
        pace=pace,
        on_all_done=lambda: _linger(workers_scope),
    )
    try:
        with workers_scope:
            async with trio.open_nursery() as nursery:
                await launcher.run(nursery, start=start)
    except BaseExceptionGroup as group:
        _reraise_fanout(group, own=(launcher.own_error,))
    return cast("list[Result]", results)  # every slot was filled, or we raised


async def race(
    client: GroqClient, requests: Iterable[ChatRequest], **stream_options: Unpack[CallOptions]
) -> tuple[int, ChatCompletion]:
    """Send every request at once; return ``(index, completion)`` of the first to finish.

    The others are cancelled and their connections closed before this returns: hedged requests
    against tail latency (the same prompt to two models, or twice to one). Failures are tolerated
    while another request can still win; if all fail, an ``ExceptionGroup`` of them is raised.
    Anything else (cancellation, ``KeyboardInterrupt``) comes out by the rules of :func:`gather`.
    """
    _check(1, "raise", stream_options, requests, client=client)
    settings = client._settings_for(**stream_options)
    bodies = list(_bodies(requests))
    if not bodies:
        raise ConfigurationError("race() needs at least one request")
    winner: tuple[int, ChatCompletion] | None = None
    errors: list[GroqStreamError] = []

    async def runner(index: int, body: bytes, cancel_scope: trio.CancelScope) -> None:
        def won(completion: ChatCompletion) -> None:
            nonlocal winner
            if winner is None:
                winner = (index, completion)
                # At [DONE] the losers go now; the winner's own drain gets the short grace.
                _linger(cancel_scope)
                for other, other_scope in scopes.items():
                    if other != index:
                        other_scope.cancel()

        with trio.CancelScope() as scopes[index]:
            try:
                await _complete(client, body, settings, on_done=won)
            except GroqStreamError as exc:
                errors.append(exc)

    scopes: dict[int, trio.CancelScope] = {}
    try:
        async with trio.open_nursery() as nursery:
            for index, body in enumerate(bodies):
                nursery.start_soon(runner, index, body, nursery.cancel_scope)
    except BaseExceptionGroup as group:
        _reraise_fanout(group)
    if winner is None:
        raise ExceptionGroup(f"all {len(bodies)} raced requests failed", errors)
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
    any reason (at ``[DONE]``, before the short drain of the body's end), so give each producer
    its own ``send.clone()`` when several share one channel. Returns the accumulated completion.
    If the receiver goes away, the stream stops quietly.

    Args:
        client: the client to send through.
        send_channel: where the chunks go; closed when the stream ends.
        task_status: given by ``nursery.start``.
        params: the request fields (as for :func:`open_stream`) and the per-call options
            (``connect_timeout``, ..., ``max_completion_size``), all checked before anything is
            sent.
    """
    if not all(callable(getattr(send_channel, name, None)) for name in ("send", "aclose")):
        raise ConfigurationError(
            f"send_channel must be a trio SendChannel (from trio.open_memory_channel, say), "
            f"not {type(send_channel).__name__}"
        )
    acc = Accumulator()

    async def sink(batch: Batch) -> bool:
        for chunk in batch:
            acc.add(chunk)
            await send_channel.send(chunk)
        return True  # it may have waited: a channel does not say

    async def done() -> None:
        await _close(send_channel)

    request = cast("dict[str, Any]", params)
    options = {name: request.pop(name) for name in _STREAM_OPTIONS & request.keys()}
    try:
        pump = Pump(client, *prepare(client, request, options), sink, on_done=done)
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
