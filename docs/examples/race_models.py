"""Hedged requests: ask two models the same thing, keep whichever answers first.

``race`` sends every request at once, returns the first completion to finish, and cancels the
others (closing their connections) before it returns. Failures are tolerated while another request
can still win.
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs

MODELS = ["llama-3.3-70b-versatile", "llama-3.1-8b-instant"]


async def main() -> None:
    messages = [{"role": "user", "content": "Give me a one-line definition of a nursery."}]
    requests: list[tgs.ChatRequest] = [{"model": model, "messages": messages} for model in MODELS]
    async with tgs.GroqClient() as client:
        index, completion = await tgs.race(client, requests, total_timeout=30)
    print(f"{MODELS[index]} won: {completion.text}")


if __name__ == "__main__":
    trio.run(main)
