"""The batched receive channel on its own: checkpoints, time slices, batches taken whole."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_groqstream._channel import YIELD_EVERY, BatchedReceiveChannel, Coalescer


def channel(buffer: int = 16, max_batch: int = 64) -> tuple[Coalescer, BatchedReceiveChannel[int]]:
    send, receive = trio.open_memory_channel[list[int]](buffer)
    queue = Coalescer(send, max_batch=max_batch)
    return queue, BatchedReceiveChannel(receive, queue)


async def test_every_item_once_in_order_across_batches() -> None:
    queue, items = channel(buffer=4, max_batch=8)
    got: list[int] = []

    async def produce() -> None:
        for start in range(0, 200, 5):
            await queue.put(list(range(start, start + 5)))
        queue.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async for item in items:
            got.append(item)
    assert got == list(range(200))


async def test_receive_is_a_cancel_point_even_with_items_in_hand() -> None:
    queue, items = channel()
    assert queue.offer(list(range(10)))
    assert await items.receive() == 0
    with trio.CancelScope() as scope:
        scope.cancel()
        await items.receive()  # raises Cancelled before taking anything
    assert scope.cancelled_caught
    assert await items.receive() == 1  # nothing was lost


async def test_a_consumer_of_queued_items_still_lets_others_run() -> None:
    queue, items = channel(buffer=1000, max_batch=64)
    for start in range(0, 64_000, 64):
        assert queue.offer(list(range(start, start + 64)))
    queue.close()
    ran = 0

    async def other() -> None:
        nonlocal ran
        while True:
            ran += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await trio.lowlevel.checkpoint()  # the other task has started
        before = ran
        count = 0
        async for _ in items:
            count += 1
        assert count == 64_000
        # Nothing ever had to wait, yet the other task got turns: the time slice ran out.
        assert ran > before
        nursery.cancel_scope.cancel()


async def test_schedule_points_are_not_per_item() -> None:
    queue, items = channel()
    assert queue.offer(list(range(YIELD_EVERY - 2)))
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await trio.lowlevel.checkpoint()  # the other task has started
        await items.receive()  # takes the batch (no wait: it is queued)
        before = turns
        for _ in range(YIELD_EVERY - 4):
            await items.receive()
        assert turns == before  # items in hand: no schedule point per item
        nursery.cancel_scope.cancel()


async def test_receive_batch_takes_every_queued_batch() -> None:
    queue, items = channel(buffer=16, max_batch=4)
    for start in range(0, 40, 4):
        assert queue.offer(list(range(start, start + 4)))
    assert await items.receive() == 0
    batch = await items.receive_batch()
    assert batch == list(range(1, 40))  # the rest of the batch in hand, and all queued behind


async def test_after_aclose_receive_raises_at_once() -> None:
    queue, items = channel()
    assert queue.offer([1, 2, 3])
    assert await items.receive() == 1
    await items.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await items.receive()
    with pytest.raises(trio.ClosedResourceError):
        await items.receive_batch()
