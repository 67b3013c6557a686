"""Test your own code against a fake Groq: scripted answers, stalls and errors, no account needed.

``open_fake_groq()`` runs a real HTTP/1.1 server on 127.0.0.1. Point a ``GroqClient`` at
``fake.base_url`` with ``FAKE_API_KEY``; each request gets the next reply given to ``push()``, then
the handler's (by default an echo: ``"You said: <last user message>"``). The server also tells
whether your code closed its connection when it gave up, which nothing on the client side can.
"""

from __future__ import annotations

import httpx
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY,
    MockGroq,
    echo_text,
    http_error_reply,
    open_fake_groq,
    stall_reply,
    text_reply,
)

# --- the application code under test -------------------------------------------------------------


async def summarize(client: tgs.GroqClient, text: str) -> str | None:
    """Summarize ``text``; ``None`` if Groq goes quiet (the app then offers to try again)."""
    messages = [
        {"role": "system", "content": "Summarize the user's text in one sentence."},
        {"role": "user", "content": text},
    ]
    try:
        async with tgs.open_stream(
            client, model="llama-3.1-8b-instant", messages=messages, idle_timeout=5
        ) as stream:
            async for _chunk in stream:
                pass
    except tgs.IdleTimeout:
        return None
    return stream.completion.text


# --- its checks ----------------------------------------------------------------------------------


async def check_with_the_server() -> None:
    async with (
        open_fake_groq() as fake,
        tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client,
    ):
        # The default handler echoes the last user message.
        assert await summarize(client, "hello") == echo_text("hello")

        # A scripted answer; the request the app sent is recorded.
        fake.push(text_reply("Trio is a friendly async library."))
        assert await summarize(client, "A long text about Trio.") == (
            "Trio is a friendly async library."
        )
        assert fake.requests[-1].json["messages"][0]["role"] == "system"

        # Silence after a few words: the app gives up, and the server saw it hang up.
        fake.push(stall_reply("Trio is"))
        assert await summarize(client, "Another text.") is None
        with trio.fail_after(5):
            await fake.wait_idle()  # until the server has noticed
        assert fake.stats().closed_by_client == 1

        # A 429 that asks for a 2 s wait, then success: retried without the app noticing.
        fake.push(http_error_reply(429, retry_after=2), text_reply("Fine now."))
        assert await summarize(client, "Once more.") == "Fine now."
        assert fake.pending_replies == 0


async def check_in_process() -> None:
    # MockGroq answers through httpx.MockTransport: the same scripts, no socket at all.
    mock = MockGroq(replies=[text_reply("In process."), stall_reply("In pro")])
    async with (
        httpx.AsyncClient(transport=mock.transport) as http,
        tgs.GroqClient(api_key=FAKE_API_KEY, http_client=http) as client,
    ):
        assert await summarize(client, "Text.") == "In process."
        assert await summarize(client, "Text.") is None
    assert mock.closed_by_client == 1  # the stalled body was closed, not abandoned
    assert mock.open_streams == 0


async def main() -> None:
    await check_with_the_server()
    await check_in_process()
    print("all checks passed")


if __name__ == "__main__":
    # A mock clock that skips the waits (the stall, the 429's retry-after) once the program has
    # been idle for 20 real milliseconds: loopback bytes in flight are never overtaken.
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0.02))
