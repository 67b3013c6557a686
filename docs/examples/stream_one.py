"""Stream one chat completion: print the text as it arrives, then what the stream measured.

Run it with ``GROQ_API_KEY`` set (``GROQ_BASE_URL`` points it at another server).
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs


async def main() -> None:
    async with tgs.GroqClient() as client:  # GROQ_API_KEY, GROQ_BASE_URL
        async with tgs.open_stream(
            client,
            model="llama-3.3-70b-versatile",
            messages=[{"role": "user", "content": "Explain structured concurrency briefly."}],
        ) as stream:
            async for chunk in stream:  # a tgs.ChatCompletionChunk
                for choice in chunk.choices:  # never choices[0]: it can be empty
                    print(choice.delta.content or "", end="", flush=True)
        print()

    # Still there after the block: the accumulated completion and the stream's measurements.
    completion = stream.completion
    print(f"finish reason: {completion.choices[0].finish_reason}")
    if completion.usage is not None:
        print(
            f"tokens: {completion.usage.prompt_tokens} in, {completion.usage.completion_tokens} out"
        )
    print(f"request id: {stream.request_id}")
    print(f"time to first chunk: {stream.metrics.time_to_first_chunk:.3f}s")


if __name__ == "__main__":
    trio.run(main)
