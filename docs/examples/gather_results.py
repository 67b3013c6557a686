"""Run a batch of prompts concurrently and get the completions back in request order."""

from __future__ import annotations

import trio

import trio_groqstream as tgs

WORDS = ["latency", "throughput", "backpressure", "jitter"]


async def main() -> None:
    requests: list[tgs.ChatRequest] = [
        {
            "model": "llama-3.1-8b-instant",
            "messages": [{"role": "user", "content": f"Define {word} in ten words."}],
            "max_completion_tokens": 60,
        }
        for word in WORDS
    ]
    async with tgs.GroqClient() as client:
        # At most 2 in flight; the first failure would cancel the rest and raise.
        results = await tgs.gather(client, requests, max_concurrency=2)
    for word, result in zip(WORDS, results, strict=True):
        # With the default on_error="raise" every slot holds a completion; the isinstance check
        # narrows the type (the slot could hold an error with on_error="collect").
        assert isinstance(result, tgs.ChatCompletion)
        print(f"{word}: {result.text}")


if __name__ == "__main__":
    trio.run(main)
