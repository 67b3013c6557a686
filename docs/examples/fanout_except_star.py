# mypy: ignore-errors
# mypy cannot parse except* while the project targets Python 3.10; without the line above, this
# file passes mypy --strict --python-version 3.11.
"""The default error policy: the first failure cancels the rest, and ``except*`` sorts them out.

With ``on_error="raise"`` (the default) a failed request cancels its siblings, and the ``async
with`` raises an ``ExceptionGroup`` of the real failures; cancelled siblings are not in it. One
``except*`` clause per kind of failure handles each kind once, however many requests hit it.
(``except*`` needs Python 3.11; on 3.10 use ``exceptiongroup.catch``.)
"""

from __future__ import annotations

import trio

import trio_groqstream as tgs

MODELS = ["llama-3.1-8b-instant", "no-such-model"]


async def main() -> None:
    messages = [{"role": "user", "content": "Say hello."}]
    requests = [{"model": model, "messages": messages} for model in MODELS]
    async with tgs.GroqClient() as client:
        try:
            async with tgs.open_fanout(client, requests) as fanout:
                async for event in fanout:
                    if event.completion is not None:
                        print(f"[{event.index}] done: {event.completion.text}")
        except* tgs.NotFoundError as group:
            for error in group.exceptions:
                print(f"unknown model, not retried: {error}")
        except* tgs.APIConnectionError as group:
            print(f"{len(group.exceptions)} request(s) could not reach Groq")


if __name__ == "__main__":
    trio.run(main)
