"""Retries and rate limits: what happened, and what the server says is left.

Failures before the first chunk (429, 498, 5xx, a dropped connection...) are retried, waiting as
long as ``retry-after-ms`` / ``retry-after`` ask, up to ``max_retry_wait``, or with jittered
exponential backoff. The stream's metrics say how many attempts it took; ``rate_limits`` holds the
``x-ratelimit-*`` headers of the response that succeeded.
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs


async def main() -> None:
    async with tgs.GroqClient(max_retries=3, max_retry_wait=30) as client:
        async with tgs.open_stream(
            client,
            model="llama-3.1-8b-instant",
            messages=[{"role": "user", "content": "Count to five."}],
        ) as stream:
            async for _chunk in stream:
                pass
        print(stream.completion.text)
        waits = ", ".join(f"{wait:.2f}s" for wait in stream.metrics.retry_waits) or "none"
        print(f"attempts: {stream.metrics.attempts}; waited before retries: {waits}")

        limits = stream.rate_limits
        print(f"requests left today: {limits.remaining_requests} of {limits.limit_requests}")
        print(f"tokens left this minute: {limits.remaining_tokens} of {limits.limit_tokens}")
        print(f"token window resets in: {limits.reset_tokens}s")

        # The client remembers the latest limits; this sleeps only if a window is used up.
        waited = await client.wait_for_rate_limits()
        print(f"waited {waited:.1f}s for the rate-limit window")


if __name__ == "__main__":
    trio.run(main)
