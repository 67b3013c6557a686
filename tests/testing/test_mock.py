"""The in-process fake: the same scripts through httpx.MockTransport."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing

from trio_groqstream.testing import (
    CHAT_COMPLETIONS_PATH,
    FAKE_API_KEY,
    MockGroq,
    Pause,
    Reply,
    drop_reply,
    headers_never_reply,
    http_error_reply,
    mock_transport,
    stall_reply,
    text_reply,
    trickle_reply,
)

from ._support import AUTH, CHAT, streamed_text

URL = f"https://api.groq.com{CHAT_COMPLETIONS_PATH}"
MESSAGES = CHAT


async def read_parts(client: httpx.AsyncClient) -> tuple[httpx.Response, list[bytes]]:
    async with client.stream("POST", URL, json=MESSAGES) as response:
        return response, [part async for part in response.aiter_raw()]


async def test_replies_in_order_then_the_handler() -> None:
    first = text_reply("first")
    async with httpx.AsyncClient(transport=mock_transport(replies=[first])) as client:
        with trio.fail_after(5):
            response, parts = await read_parts(client)
            _, echoed = await read_parts(client)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == first.header("x-request-id")
    assert parts == [part for part in first.body if isinstance(part, bytes)]
    assert streamed_text(b"".join(echoed)) == "You said: hi"


async def test_handler_and_push() -> None:
    mock = MockGroq(lambda request: text_reply(request.path))
    mock.push(text_reply("pushed"))
    async with httpx.AsyncClient(transport=mock.transport) as client:
        with trio.fail_after(5):
            answers = [b"".join((await read_parts(client))[1]) for _ in range(2)]
    assert [streamed_text(a) for a in answers] == ["pushed", CHAT_COMPLETIONS_PATH]
    assert len(mock.requests) == 2
    assert mock.requests[0].json == MESSAGES


async def test_write_size_splits_parts() -> None:
    reply = trickle_reply("añb")
    async with httpx.AsyncClient(transport=mock_transport(replies=[reply])) as client:
        with trio.fail_after(5):
            _, parts = await read_parts(client)
    assert {len(part) for part in parts} == {1}
    assert b"".join(parts) == reply.body_bytes()


async def test_error_reply_has_a_content_length() -> None:
    reply = http_error_reply(429, retry_after=2)
    async with httpx.AsyncClient(transport=mock_transport(replies=[reply])) as client:
        with trio.fail_after(5):
            response = await client.post(URL, json=MESSAGES)
    assert response.status_code == 429
    assert response.headers["content-length"] == str(len(reply.body_bytes()))
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["type"] == "tokens"


async def test_pauses_use_the_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    reply = text_reply("a b", pause=3)
    pauses = sum(isinstance(part, Pause) for part in reply.body)
    delayed = Reply(before_headers=(Pause(4),), body=(b"x",))
    async with httpx.AsyncClient(transport=mock_transport(replies=[reply, delayed])) as client:
        start = trio.current_time()
        with trio.fail_after(60):
            _, parts = await read_parts(client)
            middle = trio.current_time()
            late = await client.post(URL, json=MESSAGES)
    assert b"".join(parts) == reply.body_bytes()
    assert middle - start == pytest.approx(3 * pauses)
    assert trio.current_time() - middle == pytest.approx(4)
    assert late.content == b"x"


async def test_a_stalled_body_closed_early_is_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mock = MockGroq(replies=[stall_reply("a b"), text_reply("done")])
    received = b""
    async with httpx.AsyncClient(transport=mock.transport) as client:
        with trio.move_on_after(30) as gave_up:
            async with client.stream("POST", URL, json=MESSAGES) as response:
                async for part in response.aiter_raw():
                    received += part
        assert mock.open_streams == 0
        with trio.fail_after(5):
            await read_parts(client)
    assert gave_up.cancelled_caught
    assert streamed_text(received) == "a b"
    assert (mock.closed_by_client, mock.open_streams) == (1, 0)


async def test_headers_never_come(autojump_clock: trio.testing.MockClock) -> None:
    async with httpx.AsyncClient(transport=mock_transport(replies=[headers_never_reply()])) as c:
        with trio.move_on_after(30) as gave_up:
            await c.post(URL, json=MESSAGES)
    assert gave_up.cancelled_caught


async def test_drop_raises_a_read_error_after_the_text() -> None:
    mock = MockGroq(replies=[drop_reply("one two")])
    received = b""
    async with httpx.AsyncClient(transport=mock.transport) as client:
        with trio.fail_after(5), pytest.raises(httpx.ReadError, match="dropped"):
            async with client.stream("POST", URL, json=MESSAGES) as response:
                async for part in response.aiter_raw():
                    received += part
    assert streamed_text(received) == "one two"
    assert (mock.closed_by_client, mock.open_streams) == (0, 0)


async def test_auth_is_off_by_default_and_can_be_checked() -> None:
    lenient = MockGroq()
    async with httpx.AsyncClient(transport=lenient.transport) as client:
        assert (await client.post(URL, json=MESSAGES)).status_code == 200
    strict = MockGroq(check_auth=True)
    async with httpx.AsyncClient(transport=strict.transport) as client:
        with trio.fail_after(5):
            refused = await client.post(URL, json=MESSAGES)
            accepted = await client.post(URL, json=MESSAGES, headers=AUTH)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert accepted.status_code == 200
    assert strict.requests[1].bearer_token == FAKE_API_KEY
    assert FAKE_API_KEY not in repr(strict.requests[1])


async def test_unknown_path_is_404() -> None:
    async with httpx.AsyncClient(transport=mock_transport()) as client:
        with trio.fail_after(5):
            response = await client.post("https://api.groq.com/openai/v1/models", json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_url"


def test_push_rejects_non_replies() -> None:
    with pytest.raises(TypeError, match="Reply"):
        MockGroq().push(b"data: {}\n\n")  # type: ignore[arg-type]
