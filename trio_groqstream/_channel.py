"""The batched receive channel behind ``ChatStream`` and ``FanoutStream``.

Producers hand over *batches* (everything one network read produced) because a memory-channel hop
costs several times what decoding a chunk does; consumers still see one item per ``receive()``.
This room holds the two halves of that hand-over, shared by a single stream and a fan-out:

* :class:`Coalescer`, the producers' side: puts batches on a bounded memory channel, growing the
  batch still queued instead of paying another hop.
* :class:`BatchedReceiveChannel`, the consumers' side: a ``trio.abc.ReceiveChannel`` that hands
  out the items of the batch in hand one at a time, with the full channel contract: any number of
  tasks may receive at once (each item goes to exactly one of them, in order), cancelling a
  ``receive`` loses nothing, and after ``aclose()`` every ``receive`` raises
  ``trio.ClosedResourceError`` at once, even with items still in hand.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Generic, NoReturn, TypeVar

import trio

__all__ = ["BatchedReceiveChannel", "Coalescer"]

T = TypeVar("T")

#: How long a consumer may take items already queued before ``receive`` lets other tasks run.
TIME_SLICE = 0.002
#: ``receive`` reads the clock (for :data:`TIME_SLICE`) once per this many items.
YIELD_EVERY = 64


class Coalescer:
    """Puts batches on a memory channel, growing the last one while it is still queued.

    httpx yields once per HTTP chunk and Groq sends one event per HTTP chunk, so a "batch per
    network read" is usually one chunk, and a producer that finds more bytes already buffered
    would pay a channel hop (several microseconds, far more than decoding) for each of them. But
    while the batch sent last still waits in the channel, nobody has looked at it: extending it
    is free and the consumer sees the same order. The consumer reports each batch it takes
    (:meth:`taken`) right after ``receive`` returns, with no checkpoint between, so a batch is
    never extended once a consumer holds it.

    Nothing ever blocks inside the channel's ``send``: a producer that finds the channel full and
    the last batch full waits for a consumer to take one (:meth:`taken` wakes it) and tries
    again. So the batch sent last is always the channel's last, which keeps this right with many
    producers (fan-out), and a full channel (a slow consumer) is exactly when batches grow
    instead of hops piling up. Memory stays bounded: ``buffer`` batches of at most ``max_batch``
    items (a single put larger than that is queued whole; the pump bounds what one read yields).
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
            # One waiting producer can send now; it passes the turn on (see put). Waking them
            # all would cost a task switch per producer per batch taken, most of them to find
            # no room and wait again: past a few dozen streams that herd kept the channel full.
            self._room.unpark()

    def offer(self, items: list[Any]) -> bool:
        """Queue ``items`` if there is room now (no checkpoint); ``False`` if not.

        Raises ``trio.BrokenResourceError`` once the consumer is gone."""
        last = self._last
        if last is not None and self._sent > self._taken and len(last) + len(items) <= self._max:
            last.extend(items)  # still queued, and the channel's last: nobody has seen it
            return True
        try:
            self._send.send_nowait(items)
        except trio.WouldBlock:
            return False
        self._last = items
        self._sent += 1
        return True

    async def put(self, items: list[Any]) -> None:
        """Queue ``items``, waiting for room; raises ``trio.BrokenResourceError`` once the
        consumer is gone. Not a checkpoint when there is room (the read that produced ``items``
        was one): callers on a hot path call :meth:`offer` first and this only when it fails."""
        while not self.offer(items):
            await self._room.park()  # a checkpoint: cancelling it loses nothing
        if self._room:
            self._room.unpark()  # the next may fit into the batch just sent: its turn

    def close(self) -> None:
        """No more batches: receivers get ``EndOfChannel`` once they have taken the queued ones."""
        self._send.close()


class BatchedReceiveChannel(trio.abc.ReceiveChannel[T], Generic[T]):
    """Items from batches on a memory channel, one per :meth:`receive`.

    Subclasses see every item as it is handed out through :meth:`_note` (a stream folds chunks
    into its completion there) and decide what the end of the channel means in :meth:`_end`
    (``EndOfChannel``, or the error that ended the stream).

    Checkpoints: every ``receive`` is a cancel point (``checkpoint_if_cancelled``: a cancelled
    ``receive`` raises ``Cancelled`` and loses nothing). It is a schedule point whenever it has to
    wait for the producers, and otherwise once the consumer has run for :data:`TIME_SLICE` (read
    every :data:`YIELD_EVERY` items). A schedule point per item would cost several times what
    decoding a chunk does, and worse: Trio gives each task one turn per round, so a consumer that
    follows N producers must take N items per turn or fall behind them; a time slice lets it
    take what they queued, and still lets other tasks run every few milliseconds.

    Several receivers: the batch in hand is shared, and only one receiver at a time waits for the
    next batch (see :meth:`_refill`). So items leave in the order the producers queued them, each
    exactly once, and every receiver sees an increasing subsequence of them.
    """

    def __init__(self, receive: trio.MemoryReceiveChannel[list[T]], queue: Coalescer) -> None:
        self._receive = receive
        self._queue = queue
        self._batch: list[T] = []
        self._pos = 0
        self._closed = False
        self._refilling = False
        self._refilled = trio.lowlevel.ParkingLot()
        self._unyielded = 0
        self._slice_ends = 0.0
        self._stopped = False

    def _note(self, item: T) -> None:
        """Called for every item as it is handed out, in order."""

    def _end(self) -> NoReturn:
        """The producers are done and every item was handed out."""
        raise trio.EndOfChannel

    async def receive(self) -> T:
        """The next item; ``trio.EndOfChannel`` at the end (or the typed error that ended a
        stream), ``trio.ClosedResourceError`` after :meth:`aclose`.

        A cancel point on every call; a schedule point whenever it waits for the producers, and
        otherwise once the consumer has run for :data:`TIME_SLICE` (see the class docstring).
        Cancelling it loses nothing."""
        if self._closed:
            raise trio.ClosedResourceError("this channel was closed")
        await self._tick()
        if self._pos >= len(self._batch):
            await self._refill()
        item = self._batch[self._pos]
        self._pos += 1
        self._note(item)
        return item

    async def __anext__(self) -> T:
        # ``async for`` without the extra frame of ReceiveChannel.__anext__ -> receive() when
        # the next item is in hand and no schedule point is due (the usual case).
        if self._pos < len(self._batch) and self._unyielded < YIELD_EVERY and not self._closed:
            self._unyielded += 1
            await trio.lowlevel.checkpoint_if_cancelled()
            item = self._batch[self._pos]
            self._pos += 1
            self._note(item)
            return item
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def receive_batch(self) -> list[T]:
        """Every item that has arrived and not been received yet (at least one), in order:
        all the batches queued, not just the next.

        For consumers that care about throughput: one checkpoint per call instead of one per
        item. Ends and fails exactly like :meth:`receive`; mixing the two is fine.
        """
        if self._closed:
            raise trio.ClosedResourceError("this channel was closed")
        await trio.lowlevel.checkpoint()
        self._yielded()
        if self._closed:
            raise trio.ClosedResourceError("this channel was closed")
        if self._pos >= len(self._batch):
            await self._refill()
        batch = self._batch[self._pos :] if self._pos else self._batch
        self._batch = []
        self._pos = 0
        # And every batch queued behind it: one consumer may follow many producers, and one
        # call should take what they all sent since the last (bounded by the channel's size).
        receive_nowait = self._receive.receive_nowait
        while True:
            try:
                more = receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break  # the end is raised by the next call, after these items
            self._queue.taken()
            batch.extend(more)
        note = self._note
        for item in batch:
            note(item)
        return batch

    async def _tick(self) -> None:
        """A cancel point; and a schedule point once the consumer's time slice is used up
        (the clock is read only every :data:`YIELD_EVERY` items)."""
        self._unyielded += 1
        if self._unyielded < YIELD_EVERY:
            await trio.lowlevel.checkpoint_if_cancelled()
            return
        self._unyielded = 0
        if perf_counter() < self._slice_ends:
            await trio.lowlevel.checkpoint_if_cancelled()
            return
        await trio.lowlevel.checkpoint()
        self._yielded()
        if self._closed:
            raise trio.ClosedResourceError("this channel was closed")

    def _yielded(self) -> None:
        """Other tasks just ran: a new time slice starts."""
        self._unyielded = 0
        self._slice_ends = perf_counter() + TIME_SLICE

    async def _refill(self) -> None:
        """Take the next batch, waiting for it if none is queued (only while nothing is in hand).

        A batch already queued is taken at once, with no schedule point: one consumer follows
        many producers, so it must be able to take what they all queued in one turn (:meth:`_tick`
        bounds how long that turn lasts). One receiver at a time waits on the channel; the others
        park until it has a batch and then share it. Were two to wait on the channel, Trio could
        run the one handed the later batch first, and items would leave out of order.
        """
        while self._refilling:
            await self._refilled.park()  # a checkpoint: cancelling it loses nothing
            self._yielded()
            if self._pos < len(self._batch):
                return
        if self._stopped:
            self._end()
        try:
            batch = self._receive.receive_nowait()
        except trio.WouldBlock:
            batch = await self._wait_for_batch()
        except trio.EndOfChannel:
            self._end()
        except trio.ClosedResourceError:
            raise trio.ClosedResourceError("this channel was closed") from None
        self._queue.taken()  # at once: from here on no producer may extend it
        self._batch = batch
        self._pos = 0

    async def _wait_for_batch(self) -> list[T]:
        self._refilling = True
        try:
            batch = await self._receive.receive()
        except trio.EndOfChannel:
            self._end()
        except trio.ClosedResourceError:
            raise trio.ClosedResourceError("this channel was closed") from None
        finally:
            self._refilling = False
            if self._refilled:
                self._refilled.unpark_all()  # they run only after the batch is in place
        self._yielded()  # the channel's receive was a full checkpoint
        return batch

    def _stop(self) -> None:
        """The consumers' side failed: drop what is in hand; from now on, receiving ends (with
        :meth:`_end`'s error) instead of taking more."""
        self._stopped = True
        self._batch = []
        self._pos = 0

    def _close(self) -> None:
        """Close the consumers' side: every receive, pending or later, raises at once."""
        self._closed = True
        self._batch = []
        self._pos = 0
        self._receive.close()

    async def aclose(self) -> None:
        """Close the channel; idempotent. A checkpoint."""
        self._close()
        await trio.lowlevel.checkpoint()
