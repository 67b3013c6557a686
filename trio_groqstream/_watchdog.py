"""One task that keeps the first-chunk and idle deadlines of many streams.

Moving a cancel scope's deadline on every event costs more than decoding the event, so a stream
notes the time of its last event in an attribute instead, and a watchdog looks only when a deadline
could have passed. One watchdog serves every stream of a fan-out: a stream starts and stops being
watched with a heap push and a dict update, no task of its own, so its end costs no extra trip
through the scheduler (with a task per stream, leaving its nursery took two whole scheduling
rounds, and a round is long exactly when many streams are busy).
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Protocol

import trio

__all__ = ["Watchdog", "Watched"]


class Watched(Protocol):
    def check(self, now: float) -> float:
        """Time out now if a deadline has passed (and return ``math.inf``); otherwise return
        when to look again: at the earliest moment a deadline could pass."""


class Watchdog:
    """Looks at each watched item when its :meth:`Watched.check` asked to be looked at again.

    Run :meth:`run` in a nursery for as long as items may be watched; :meth:`close` ends it.
    """

    __slots__ = ("_closed", "_heap", "_items", "_live", "_seq", "_sleep")

    def __init__(self) -> None:
        # (when to look, sequence number): an entry whose number no longer names an item in
        # _items is stale (the item was unwatched or looked at again) and is skipped. Entries
        # hold numbers, not items: a stale one must not keep a finished stream alive until its
        # time comes (its pump holds the whole completion through its sink).
        self._heap: list[tuple[float, int]] = []
        self._live: dict[Watched, int] = {}  # item -> the number of its current entry
        self._items: dict[int, Watched] = {}  # and back
        self._seq = itertools.count()
        self._sleep: trio.CancelScope | None = None
        self._closed = False

    def watch(self, item: Watched, at: float) -> None:
        """Look at ``item`` at ``at`` (``math.inf``: never, until it is watched again)."""
        if self._closed:
            raise RuntimeError("this watchdog was closed; nothing it watches would time out")
        self.unwatch(item)
        if at == math.inf:
            return
        seq = next(self._seq)
        self._live[item] = seq
        self._items[seq] = item
        heapq.heappush(self._heap, (at, seq))
        sleep = self._sleep
        if sleep is not None and at < sleep.deadline:
            sleep.deadline = at
        if len(self._heap) > 2 * len(self._live) + 64:
            self._compact()

    def unwatch(self, item: Watched) -> None:
        seq = self._live.pop(item, None)
        if seq is not None:
            del self._items[seq]

    def close(self) -> None:
        """Stop :meth:`run` (once nothing can need watching any more)."""
        self._closed = True
        if self._sleep is not None:
            self._sleep.cancel()

    async def run(self) -> None:
        heap = self._heap
        live = self._live
        items = self._items
        while not self._closed:
            now = trio.current_time()
            # Take what is due first, then look: an item that asks to be looked at again at once
            # (``now + idle == now`` for a tiny idle timeout) waits for the next pass, after a
            # checkpoint, instead of spinning here where nothing else (its socket) can run.
            due = []
            while heap and heap[0][0] <= now:
                due.append(heapq.heappop(heap)[1])
            for seq in due:
                item = items.pop(seq, None)
                if item is None:
                    continue  # stale
                again = item.check(now)
                if again == math.inf:
                    del live[item]
                else:
                    seq = next(self._seq)
                    live[item] = seq
                    items[seq] = item
                    heapq.heappush(heap, (again, seq))
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as self._sleep:
                await trio.sleep_forever()
            self._sleep = None

    def _compact(self) -> None:
        """Drop stale entries: unwatched items leave theirs behind until their time comes."""
        items = self._items
        self._heap[:] = [entry for entry in self._heap if entry[1] in items]
        heapq.heapify(self._heap)
