"""Breaks of issue 14's performance changes (the shared watchdog, the linear pool, the SSE fast
paths) found in an adversarial review, one test each; each failed on the code as reviewed."""

from __future__ import annotations

import dataclasses

import pytest
import trio

import trio_groqstream as tgs
from trio_groqstream.testing import FakeGroq, Reply, text_reply

MODEL = "llama-3.3-70b-versatile"
REQUEST: tgs.ChatRequest = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def with_invalid_utf8(write_size: int | None) -> Reply:
    """A stream whose middle token is one byte that is not UTF-8 (inside a JSON string)."""
    reply = text_reply("aMARKc", pieces=["a", "MARK", "c"])
    body = tuple(
        part.replace(b"MARK", b"\xff") if isinstance(part, bytes) else part for part in reply.body
    )
    return dataclasses.replace(reply, body=body, write_size=write_size)


@pytest.mark.parametrize("write_size", [None, 1], ids=["whole-events", "byte-by-byte"])
async def test_invalid_utf8_in_a_chunk_does_not_depend_on_how_the_reads_fall(
    client: tgs.GroqClient, fake: FakeGroq, write_size: int | None
) -> None:
    # The SSE rules decode an event's data as UTF-8 with replacement (feed() does). The raw
    # payload fast path (a read of whole events) handed msgspec the bytes, which it refuses: the
    # same stream failed or succeeded depending on where TCP cut it.
    fake.push(with_invalid_utf8(write_size))
    with trio.fail_after(30):
        async with tgs.open_stream(client, **REQUEST) as stream:
            async for _ in stream:
                pass
    assert stream.completion.text == "a\ufffdc"
