"""Handle errors by kind, and keep the partial answer when a stream breaks half-way.

HTTP errors raise from the ``async with`` line; errors after the stream has started raise from the
``async for``. Every error derives from ``GroqStreamError`` and carries the partial completion and
the retry history.
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs


async def main() -> None:
    async with tgs.GroqClient() as client:
        try:
            async with tgs.open_stream(
                client,
                model="llama-3.3-70b-versatile",
                messages=[{"role": "user", "content": "Write a limerick about sockets."}],
            ) as stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        print(choice.delta.content or "", end="", flush=True)
            print()
        except tgs.AuthenticationError:
            print("check GROQ_API_KEY")
        except tgs.RateLimitError as exc:
            print(f"rate limited even after retries; the server asked for {exc.retry_after}s")
        except tgs.APIStatusError as exc:
            print(f"HTTP {exc.status_code}: {exc.message} [request id {exc.request_id}]")
        except tgs.GroqStreamError as exc:
            partial = exc.completion.text if exc.completion is not None else ""
            print(f"\n{type(exc).__name__} after {exc.attempts} attempt(s)")
            print(f"kept the partial answer: {partial!r}")


if __name__ == "__main__":
    trio.run(main)
