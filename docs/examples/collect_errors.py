"""Keep going when some requests fail: ``on_error="collect"``.

A failed request's error arrives as an event (``event.error``) and stays in ``fanout.results``; the
other requests carry on. Here the second request names a model that does not exist.
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs

MODELS = ["llama-3.1-8b-instant", "no-such-model", "llama-3.3-70b-versatile"]


async def main() -> None:
    messages = [{"role": "user", "content": "Say hello."}]
    requests: list[tgs.ChatRequest] = [{"model": model, "messages": messages} for model in MODELS]
    async with (
        tgs.GroqClient() as client,
        tgs.open_fanout(client, requests, on_error="collect") as fanout,
    ):
        async for event in fanout:
            if event.error is not None:
                print(f"[{event.index}] failed: {type(event.error).__name__}")

    for model, result in zip(MODELS, fanout.results, strict=True):
        if isinstance(result, tgs.ChatCompletion):
            print(f"{model}: {result.text}")
        elif isinstance(result, tgs.APIStatusError):
            print(f"{model}: HTTP {result.status_code} ({result.code})")
        else:
            print(f"{model}: {result!r}")


if __name__ == "__main__":
    trio.run(main)
