"""Request fields, per-stream options, and what is (not) sent.

Every keyword that is not a stream option is a field of the request body, checked before anything
is sent (a typo raises ConfigurationError naming the closest known field); a field Groq adds before
this library knows it goes in ``extra_body``. A field set to ``None`` is left out rather than sent
as ``null`` (Groq rejects unknown or null properties with a 400), which lets a function pass its
optional parameters straight through.
"""

from __future__ import annotations

from typing import Any

import trio

import trio_groqstream as tgs

# A base request, shared by several calls; keyword arguments are merged over it.
BASE: dict[str, Any] = {
    "model": "llama-3.1-8b-instant",
    "max_completion_tokens": 200,
    "stream_options": {"include_usage": True},  # adds a final usage-only chunk
}


async def ask(
    client: tgs.GroqClient, prompt: str, *, temperature: float | None = None
) -> tgs.ChatCompletion:
    async with tgs.open_stream(
        client,
        request=BASE,
        messages=[{"role": "user", "content": prompt}],
        temperature=temperature,  # None: not sent at all, so Groq's default applies
        seed=7,
        service_tier="auto",  # every documented field is a typed keyword
        extra_body={"citation_options": "disabled"},  # sent as given, unchecked
        first_chunk_timeout=10,  # stream options override the client's defaults...
        max_retries=1,  # ...for this stream only
    ) as stream:
        async for _chunk in stream:
            pass
    return stream.completion


async def main() -> None:
    async with tgs.GroqClient(idle_timeout=20) as client:
        completion = await ask(client, "Name three prime numbers.")
    print(completion.text)
    print(f"model: {completion.model}")
    if completion.usage is not None:  # counted once, however many chunks repeated it
        print(f"total tokens: {completion.usage.total_tokens}")


if __name__ == "__main__":
    trio.run(main)
