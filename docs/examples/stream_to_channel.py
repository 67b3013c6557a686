"""Several producers, one consumer: ``stream_to_channel`` in your own nursery.

``await nursery.start(stream_to_channel, ...)`` returns once the response headers are in (it hands
them back), so an HTTP error raises right there, before anything is consumed. Each producer gets
its own ``send.clone()`` and closes it when its stream ends; the consumer's loop ends when the last
clone is closed. The channel is unbuffered, so a slow consumer holds every producer back, and
through them the sockets.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial

import trio

import trio_groqstream as tgs

MODELS = ["llama-3.1-8b-instant", "llama-3.3-70b-versatile"]


async def main() -> None:
    send, receive = trio.open_memory_channel[tgs.ChatCompletionChunk](0)
    texts: defaultdict[str, list[str]] = defaultdict(list)
    async with tgs.GroqClient() as client, trio.open_nursery() as nursery:
        async with send:  # our own handle goes once every producer holds a clone
            for model in MODELS:
                headers = await nursery.start(
                    partial(
                        tgs.stream_to_channel,
                        client,
                        send.clone(),
                        model=model,
                        messages=[{"role": "user", "content": "What is a channel?"}],
                    )
                )
                print(f"{model}: started, request id {headers.get('x-request-id')}")
        async with receive:
            async for chunk in receive:  # chunks of both streams, as they arrive
                for choice in chunk.choices:
                    texts[chunk.model].append(choice.delta.content or "")
    for model, parts in texts.items():
        print(f"{model}: {''.join(parts)}")


if __name__ == "__main__":
    trio.run(main)
