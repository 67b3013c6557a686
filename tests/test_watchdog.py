"""The shared watchdog alone: when it looks, waking early for an earlier deadline, forgetting."""

from __future__ import annotations

import gc
import math
import weakref

import pytest
import trio
import trio.lowlevel
import trio.testing

from trio_groqstream._watchdog import Watchdog


class Item:
    """Asks to be looked at at each of ``times`` in turn, then never again."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)
        self.seen: list[float] = []

    def check(self, now: float) -> float:
        self.seen.append(now)
        return self.times.pop(0) if self.times else math.inf


async def test_looks_when_asked_and_again_until_told_never(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dog = Watchdog()
    item = Item(7.0, 9.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dog.run)
        dog.watch(item, 5.0)
        await trio.sleep(100)
        dog.close()
    assert item.seen == [5.0, 7.0, 9.0]


async def test_a_later_item_with_an_earlier_time_wakes_it_early(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dog = Watchdog()
    late, early = Item(), Item()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dog.run)
        dog.watch(late, 50.0)
        await trio.sleep(1)  # the watchdog now sleeps until 50
        dog.watch(early, 3.0)
        await trio.sleep(100)
        dog.close()
    assert early.seen == [3.0]
    assert late.seen == [50.0]


async def test_an_unwatched_item_is_never_looked_at_and_leaves_no_trace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dog = Watchdog()
    kept = Item()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dog.run)
        dog.watch(kept, 1000.0)
        gone = [Item() for _ in range(10_000)]
        for item in gone:  # many short streams, each ending long before its deadline
            dog.watch(item, 500.0)
            dog.unwatch(item)
        assert len(dog._heap) < 200  # stale entries are dropped, not kept until their time
        await trio.sleep(2000)
        dog.close()
    assert all(not item.seen for item in gone)
    assert kept.seen == [1000.0]


async def test_watching_again_replaces_the_earlier_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dog = Watchdog()
    item = Item()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dog.run)
        dog.watch(item, 5.0)
        dog.watch(item, 8.0)  # a retry's new attempt: only its own deadline counts
        await trio.sleep(100)
        dog.close()
    assert item.seen == [8.0]


async def test_close_ends_it_at_once_even_while_it_sleeps() -> None:
    dog = Watchdog()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(dog.run)
            dog.watch(Item(), math.inf)
            dog.watch(Item(), trio.current_time() + 3600)
            await trio.lowlevel.checkpoint()
            dog.close()
    with pytest.raises(RuntimeError, match="closed"):
        dog.watch(Item(), 1.0)


class Eager:
    """Asks to be looked at again at once (``now``), ``times`` times: an idle timeout so short
    that ``now + idle == now`` in floating point does exactly that."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.ticks_seen: list[int] = []
        self.ticks = 0

    def check(self, now: float) -> float:
        self.ticks_seen.append(self.ticks)
        self.left -= 1
        return now if self.left > 0 else math.inf


async def test_an_item_due_again_at_once_lets_other_tasks_run_between_looks() -> None:
    # Looking again in the same pass would spin without a checkpoint: nothing else runs, not
    # even the socket that would bring the headers, and no fail_after can stop it.
    dog = Watchdog()
    item = Eager(20)

    async def ticker() -> None:
        while True:
            item.ticks += 1
            await trio.lowlevel.checkpoint()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            nursery.start_soon(dog.run)
            dog.watch(item, trio.current_time())
            while item.left > 0:
                await trio.lowlevel.checkpoint()
            dog.close()
            nursery.cancel_scope.cancel()
    seen = item.ticks_seen
    assert len(seen) == 20
    # One look per scheduling round, so the ticker ran between every other look (trio shuffles
    # the order inside a round, so two looks in a row may see the same count).
    assert all(later > earlier for earlier, later in zip(seen[:-2], seen[2:], strict=True))


async def test_an_unwatched_item_is_not_kept_alive_by_its_stale_entry() -> None:
    # A stream unwatches itself when it ends; its entry stays in the heap until its time comes
    # (or a compaction). That entry must not keep the stream (its pump, its accumulated
    # completion) alive: a fan-out over an iterator keeps nothing per finished request.
    dog = Watchdog()
    item = Item()
    ref = weakref.ref(item)
    dog.watch(item, trio.current_time() + 3600)
    dog.unwatch(item)
    del item
    gc.collect()
    assert ref() is None
    dog.close()
