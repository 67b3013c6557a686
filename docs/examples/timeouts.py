"""Timeouts: the library's four deadlines, and your own.

``idle_timeout`` bounds the silence between two events; SSE keep-alive comments do not reset it,
so a server that only pings still trips it. The error carries the text received before the
silence. A deadline of your own (``trio.move_on_after``) is plain cancellation: no exception, and
the connection is closed all the same.
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs

MESSAGES = [{"role": "user", "content": "Tell me a long story about a lighthouse."}]


async def main() -> None:
    async with tgs.GroqClient(
        connect_timeout=5, first_chunk_timeout=30, idle_timeout=10, total_timeout=300
    ) as client:
        try:
            async with tgs.open_stream(
                client, model="llama-3.3-70b-versatile", messages=MESSAGES, idle_timeout=2
            ) as stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        print(choice.delta.content or "", end="", flush=True)
            print()
        except tgs.IdleTimeout as exc:
            kept = exc.completion.text if exc.completion is not None else ""
            print(f"\nno event for {exc.seconds:g}s ({exc.limit}); kept {len(kept)} characters")

        # Your own deadline: cancellation, not an error. Check the scope to know it fired.
        received: list[str] = []
        with trio.move_on_after(60) as scope:
            async with tgs.open_stream(
                client, model="llama-3.1-8b-instant", messages=MESSAGES, total_timeout=None
            ) as stream:
                async for chunk in stream:
                    received.extend(choice.delta.content or "" for choice in chunk.choices)
        text = "".join(received)
        if scope.cancelled_caught:
            print(f"gave up after 60s with {len(text)} characters")
        else:
            print(f"finished: {len(text)} characters")


if __name__ == "__main__":
    trio.run(main)
