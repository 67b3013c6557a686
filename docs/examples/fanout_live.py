"""Fan out several prompts at once and watch their answers arrive, merged into one flow.

Each event is tagged with the index of its request. Events of one request arrive in order; events
of different requests interleave as the network delivers them.
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs

PROMPTS = [
    "Why is the sky blue?",
    "Write a haiku about Trio.",
    "Explain server-sent events in one sentence.",
]


async def main() -> None:
    requests: list[tgs.ChatRequest] = [
        {"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": prompt}]}
        for prompt in PROMPTS
    ]
    async with (
        tgs.GroqClient() as client,
        tgs.open_fanout(client, requests, max_concurrency=8) as fanout,
    ):
        async for event in fanout:
            if event.chunk is not None and event.text:
                print(f"[{event.index}] +{event.text!r}")
            elif event.completion is not None:
                print(f"[{event.index}] finished ({event.completion.choices[0].finish_reason})")

    for index, prompt in enumerate(PROMPTS):
        print(f"{prompt}\n  -> {fanout.text(index)}")  # each request's text, as received


if __name__ == "__main__":
    trio.run(main)
