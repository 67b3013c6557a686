"""Part (c): the trio primitives a streaming client pays for per chunk, measured alone.

These explain the end-to-end numbers: a chunk that crosses a memory channel on its own costs a
send, a receive and two task switches; a ``receive`` that is a checkpoint costs a trip through the
scheduler even when the item is already there; and moving a ``CancelScope``'s deadline re-registers
it with the runner.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Awaitable, Callable

import trio

__all__ = ["MICROS", "run_micros"]


async def _checkpoint(n: int) -> None:
    checkpoint = trio.lowlevel.checkpoint
    for _ in range(n):
        await checkpoint()


async def _checkpoint_if_cancelled(n: int) -> None:
    check = trio.lowlevel.checkpoint_if_cancelled
    for _ in range(n):
        await check()


async def _deadline_set(n: int) -> None:
    now = trio.current_time
    with trio.CancelScope() as scope:
        for _ in range(n):
            scope.deadline = now() + 30.0
        await trio.lowlevel.checkpoint()


async def _channel(n: int, batch: int, buffer: int) -> None:
    """A producer sends ``n`` items in lists of ``batch``; a consumer takes the lists and walks
    them. Per item: the share of one send, one receive and the task switches between them."""
    send, receive = trio.open_memory_channel[list[int]](buffer)
    item = list(range(batch))

    async def produce() -> None:
        async with send:
            for _ in range(n // batch):
                await send.send(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async with receive:
            async for got in receive:
                for _ in got:
                    pass


async def _channel_nowait(n: int, batch: int, buffer: int) -> None:
    """As ``_channel`` but the producer uses ``send_nowait`` and waits only when the buffer is
    full, as trio_groqstream's producer does."""
    send, receive = trio.open_memory_channel[list[int]](buffer)
    item = list(range(batch))

    async def produce() -> None:
        async with send:
            for _ in range(n // batch):
                try:
                    send.send_nowait(item)
                except trio.WouldBlock:
                    await send.send(item)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async with receive:
            async for got in receive:
                for _ in got:
                    pass


Micro = Callable[[int], Awaitable[None]]

MICROS: dict[str, tuple[str, Micro]] = {
    "checkpoint": ("await trio.lowlevel.checkpoint() (one schedule point)", _checkpoint),
    "checkpoint_if_cancelled": (
        "await trio.lowlevel.checkpoint_if_cancelled() (cancel point only)",
        _checkpoint_if_cancelled,
    ),
    "deadline_set": ("CancelScope.deadline = current_time() + 30", _deadline_set),
    "hop_1": ("memory channel, 1 item per send (buffer 16)", lambda n: _channel(n, 1, 16)),
    "hop_1_nowait": (
        "memory channel, send_nowait else send, 1 item per send (buffer 16)",
        lambda n: _channel_nowait(n, 1, 16),
    ),
    "hop_16": ("memory channel, 16 items per send (buffer 16)", lambda n: _channel(n, 16, 16)),
}


def run_micros(n: int, rounds: int) -> dict[str, float]:
    """Median µs per operation of each micro-benchmark (CPU time), over ``rounds`` rounds."""
    samples: dict[str, list[float]] = {name: [] for name in MICROS}
    for _ in range(rounds):
        for name, (_doc, fn) in MICROS.items():
            gc.collect()
            start = time.process_time()
            trio.run(fn, n)
            samples[name].append((time.process_time() - start) / n * 1e6)
    return {name: _median(values) for name, values in samples.items()}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
