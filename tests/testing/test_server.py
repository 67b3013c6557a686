"""The fake Groq server over loopback sockets: framing, routing, keep-alive, faults, counters."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing

from trio_groqstream.testing import (
    CHAT_COMPLETIONS_PATH,
    FAKE_API_KEY,
    FakeGroq,
    Pause,
    RecordedRequest,
    Reply,
    drop_reply,
    headers_never_reply,
    http_error_reply,
    open_fake_groq,
    replay_reply,
    stall_reply,
    text_reply,
    trickle_reply,
)

from ._support import (
    AUTH,
    CHAT,
    RawClient,
    load_recording,
    recording_names,
    request_bytes,
    streamed_text,
)

MESSAGES = CHAT
GROQ_401 = (
    b'{"error":{"message":"Invalid API Key","type":"invalid_request_error",'
    b'"code":"invalid_api_key"}}\n'
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGroq]:
    async with open_fake_groq() as server:
        yield server


@pytest.fixture
async def client(fake: FakeGroq) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH, timeout=None) as http:
        yield http


async def read_stream(client: httpx.AsyncClient, body: object = MESSAGES) -> tuple[int, bytes]:
    async with client.stream("POST", CHAT_COMPLETIONS_PATH, json=body) as response:
        return response.status_code, b"".join([part async for part in response.aiter_raw()])


def byte_parts(reply: Reply) -> list[bytes]:
    return [part for part in reply.body if isinstance(part, bytes)]


# --- what goes over the wire ---------------------------------------------------------------------


async def test_streams_the_reply_bytes(fake: FakeGroq, client: httpx.AsyncClient) -> None:
    reply = text_reply("Grüße, world 🌍", request_id="req_streamed")
    fake.push(reply)
    with trio.fail_after(5):
        async with client.stream("POST", CHAT_COMPLETIONS_PATH, json=MESSAGES) as response:
            received = b"".join([part async for part in response.aiter_raw()])
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req_streamed"
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    assert received == reply.body_bytes()


async def test_each_bytes_part_is_one_http_chunk(fake: FakeGroq) -> None:
    reply = text_reply("one two three")
    fake.push(reply)
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes())
        await raw.stream.aclose()
    assert response.chunks == byte_parts(reply)


async def test_write_size_one_trickles_bytes(fake: FakeGroq, client: httpx.AsyncClient) -> None:
    reply = trickle_reply("añb c")
    fake.push(reply, reply)
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes())
        await raw.stream.aclose()
        status, received = await read_stream(client)
    assert {len(chunk) for chunk in response.chunks} == {1}
    assert response.body == reply.body_bytes() == received
    assert status == 200


async def test_error_replies_have_a_content_length(fake: FakeGroq) -> None:
    fake.push(http_error_reply(429, retry_after=3))
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes())
        await raw.stream.aclose()
    assert response.status == 429
    assert response.header("transfer-encoding") is None
    assert response.header("content-length") == str(len(response.body))
    assert response.header("retry-after") == "3"
    assert json.loads(response.body)["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("name", recording_names())
async def test_replays_recordings_exactly_over_the_socket(fake: FakeGroq, name: str) -> None:
    recording = load_recording(name)
    reply = replay_reply(recording)
    fake.push(reply)
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes())
        await raw.stream.aclose()
    assert response.status == recording["status"]
    assert response.body == recording["sse"].encode("utf-8")
    if reply.chunked:
        assert response.chunks == byte_parts(reply)


# --- routing and the key -------------------------------------------------------------------------


async def test_default_handler_echoes(fake: FakeGroq, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        status, received = await read_stream(client)
    assert status == 200
    assert streamed_text(received) == "You said: hi"


async def test_pushed_replies_come_first_in_order(
    fake: FakeGroq, client: httpx.AsyncClient
) -> None:
    fake.push(text_reply("first"), text_reply("second"))
    assert fake.pending_replies == 2
    with trio.fail_after(5):
        answers = [(await read_stream(client))[1] for _ in range(3)]
    assert [streamed_text(answer) for answer in answers] == ["first", "second", "You said: hi"]
    assert fake.pending_replies == 0


async def test_handler_is_settable_and_its_errors_become_500(
    fake: FakeGroq, client: httpx.AsyncClient
) -> None:
    fake.handler = lambda request: text_reply(f"model={request.json['model']}")
    with trio.fail_after(5):
        _, received = await read_stream(client)
    assert streamed_text(received) == "model=llama-3.3-70b-versatile"

    def broken(request: RecordedRequest) -> Reply:
        raise RuntimeError("bug in the test")

    fake.handler = broken
    with trio.fail_after(5):
        response = await client.post(CHAT_COMPLETIONS_PATH, json=MESSAGES)
    assert response.status_code == 500
    assert "bug in the test" in response.json()["error"]["message"]
    assert [str(e) for e in fake.handler_errors] == ["bug in the test"]


@pytest.mark.parametrize("key", ["gsk_wrong_0123456789", None])
async def test_a_wrong_or_missing_key_gets_groqs_401(fake: FakeGroq, key: str | None) -> None:
    fake.push(text_reply("kept for later"))
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes(key=key))
        await raw.stream.aclose()
    assert response.status == 401
    assert response.body == GROQ_401
    assert not any(name.startswith("x-ratelimit") for name, _ in response.headers)
    if key is not None:
        assert key not in repr(response)
        assert fake.requests[0].bearer_token == key
    assert fake.pending_replies == 1  # a refused request does not use up the script


async def test_auth_can_be_turned_off() -> None:
    async with open_fake_groq(check_auth=False) as fake:
        with trio.fail_after(5):
            raw = await RawClient.connect(fake.port)
            response = await raw.exchange(request_bytes(key=None))
            await raw.stream.aclose()
    assert response.status == 200


async def test_a_custom_key(client: httpx.AsyncClient) -> None:
    async with open_fake_groq(api_key="gsk_custom") as other:
        with trio.fail_after(5):
            response = await client.post(f"{other.base_url}{CHAT_COMPLETIONS_PATH}", json={})
    assert response.status_code == 401  # the client sends FAKE_API_KEY
    assert other.api_key == "gsk_custom"


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/openai/v1/chat/complete"), ("GET", CHAT_COMPLETIONS_PATH)]
)
async def test_unknown_urls_get_404(fake: FakeGroq, method: str, path: str) -> None:
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes(method=method, path=path))
        await raw.stream.aclose()
    assert response.status == 404
    error = json.loads(response.body)["error"]
    assert error["code"] == "unknown_url"
    assert f"{method} {path}" in error["message"]


async def test_requests_are_recorded_without_showing_the_key(
    fake: FakeGroq, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        await read_stream(client)
        await client.post(f"{CHAT_COMPLETIONS_PATH}?x=1", content=b"not json")
    first, second = fake.requests
    assert first.method == "POST"
    assert first.path == CHAT_COMPLETIONS_PATH
    assert first.json == MESSAGES
    assert first.headers["content-type"] == "application/json"
    assert first.headers["authorization"] == "<redacted>"
    assert first.bearer_token == FAKE_API_KEY
    assert FAKE_API_KEY not in repr(first)
    assert FAKE_API_KEY not in str(first)
    assert (second.query, second.body, second.json) == ("x=1", b"not json", None)


async def test_a_malformed_request_gets_400(fake: FakeGroq) -> None:
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(b"NOT HTTP AT ALL\r\n\r\n")
        assert await raw.at_eof()
        await raw.stream.aclose()
    assert response.status == 400


async def test_bodyless_answers_keep_the_connection_usable(fake: FakeGroq) -> None:
    fake.push(Reply(status=204, body=(b"ignored",)))
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        head = await raw.exchange(request_bytes(method="HEAD"))
        no_content = await raw.exchange(request_bytes())
        echoed = await raw.exchange(request_bytes())
        await raw.stream.aclose()
    assert (head.status, no_content.status, echoed.status) == (404, 204, 200)
    assert head.body == no_content.body == b""
    assert streamed_text(echoed.body) == "You said: hi"


async def test_expect_100_continue_is_answered(fake: FakeGroq) -> None:
    request = request_bytes(extra="expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        await raw.stream.send_all(head + b"\r\n\r\n")
        interim = await raw.read_head()
        await raw.stream.send_all(body)
        response = await raw.read_response()
        await raw.stream.aclose()
    assert interim.status == 100
    assert streamed_text(response.body) == "You said: hi"


# --- connections ---------------------------------------------------------------------------------


async def test_keep_alive_serves_many_requests_on_one_connection(
    fake: FakeGroq, client: httpx.AsyncClient
) -> None:
    with trio.fail_after(5):
        for _ in range(3):
            assert (await read_stream(client))[0] == 200
        await fake.wait_idle()  # the client can finish reading before the server's task resumes
    stats = fake.stats()
    assert stats.connections_opened == 1
    assert stats.requests == stats.responses_completed == 3
    assert stats.closed_by_client == 0


async def test_pipelined_requests_are_answered_in_order(fake: FakeGroq) -> None:
    fake.push(text_reply("first"), text_reply("second"))
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        await raw.stream.send_all(request_bytes() + request_bytes())
        one = await raw.read_response()
        two = await raw.read_response()
        await raw.stream.aclose()
    assert (streamed_text(one.body), streamed_text(two.body)) == ("first", "second")
    assert fake.stats().connections_opened == 1


async def test_connection_close_is_honoured(fake: FakeGroq) -> None:
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes(extra="connection: close\r\n"))
        assert await raw.at_eof()
        await raw.stream.aclose()
        await fake.wait_closed()
    assert response.header("connection") == "close"
    assert fake.stats().responses_completed == 1


async def test_a_full_read_then_close_is_not_an_early_close(fake: FakeGroq) -> None:
    with trio.fail_after(5):
        for _ in range(20):  # the close races the server's last write: try it many times
            raw = await RawClient.connect(fake.port)
            await raw.exchange(request_bytes())
            await raw.stream.aclose()
        await fake.wait_closed()
    stats = fake.stats()
    assert stats.responses_completed == 20
    assert stats.closed_by_client == 0
    assert stats.connections_open == 0


async def test_closing_mid_stall_is_seen_at_once(
    fake: FakeGroq, client: httpx.AsyncClient, socket_clock: trio.testing.MockClock
) -> None:
    fake.push(stall_reply("a b"))
    received = b""
    with trio.move_on_after(30) as gave_up:
        async with client.stream("POST", CHAT_COMPLETIONS_PATH, json=MESSAGES) as response:
            async for part in response.aiter_raw():
                received += part
    assert gave_up.cancelled_caught
    assert streamed_text(received) == "a b"
    with trio.fail_after(5):
        await fake.wait_idle()
        await fake.wait_closed()  # the client did not put the broken connection back in its pool
    stats = fake.stats()
    assert stats.closed_by_client == 1
    assert stats.active_responses == 0
    assert stats.responses_completed == 0


async def test_closing_while_headers_never_come_is_counted(
    fake: FakeGroq, client: httpx.AsyncClient, socket_clock: trio.testing.MockClock
) -> None:
    fake.push(headers_never_reply())
    with trio.move_on_after(30) as gave_up:
        await client.post(CHAT_COMPLETIONS_PATH, json=MESSAGES)
    assert gave_up.cancelled_caught
    with trio.fail_after(5):
        await fake.wait_idle()
    assert fake.stats().closed_by_client == 1


async def test_counters_track_concurrent_stalls(fake: FakeGroq) -> None:
    fake.push(stall_reply(), headers_never_reply(), stall_reply(after_chunks=0))
    with trio.fail_after(5):
        clients = [await RawClient.connect(fake.port) for _ in range(3)]
        for raw in clients:
            await raw.stream.send_all(request_bytes())
        await fake.wait_requests(3)
        await trio.testing.wait_all_tasks_blocked()
        busy = fake.stats()
        for raw in clients:
            await raw.stream.aclose()
        await fake.wait_idle()
        await fake.wait_closed()
    assert busy.active_responses == busy.max_active_responses == 3
    assert busy.connections_open == 3
    stats = fake.stats()
    assert stats.closed_by_client == 3
    assert stats.max_active_responses == 3
    assert (stats.active_responses, stats.connections_open) == (0, 0)


async def test_a_reset_from_the_client_is_counted(fake: FakeGroq) -> None:
    fake.push(stall_reply())
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        await raw.stream.send_all(request_bytes())
        await raw.read_head()
        raw.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await raw.stream.aclose()  # SO_LINGER 0: close() sends RST, not FIN
        await fake.wait_idle()
    assert fake.stats().closed_by_client == 1


async def test_a_request_awaited_before_it_is_sent(fake: FakeGroq) -> None:
    async def send_later() -> None:
        await trio.testing.wait_all_tasks_blocked()
        raw = await RawClient.connect(fake.port)
        await raw.exchange(request_bytes())
        await raw.stream.aclose()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_later)
            await fake.wait_requests(1)
            assert len(fake.requests) == 1


async def test_groq_only_status_codes_have_no_reason_phrase(fake: FakeGroq) -> None:
    fake.push(http_error_reply(498))
    with trio.fail_after(5):
        raw = await RawClient.connect(fake.port)
        response = await raw.exchange(request_bytes())
        await raw.stream.aclose()
    assert response.status_line == b"HTTP/1.1 498 "
    assert json.loads(response.body)["error"]["code"] == "capacity_exceeded"


async def test_drop_cuts_the_connection(fake: FakeGroq, client: httpx.AsyncClient) -> None:
    fake.push(drop_reply("one two three"))
    received = b""
    with trio.fail_after(5), pytest.raises(httpx.TransportError):
        async with client.stream("POST", CHAT_COMPLETIONS_PATH, json=MESSAGES) as response:
            async for part in response.aiter_raw():
                received += part
    assert streamed_text(received) == "one two three"
    with trio.fail_after(5):
        await fake.wait_closed()
    stats = fake.stats()
    assert (stats.responses_completed, stats.closed_by_client) == (0, 0)


async def test_pauses_take_virtual_time(
    fake: FakeGroq, client: httpx.AsyncClient, socket_clock: trio.testing.MockClock
) -> None:
    reply = text_reply("a b c", pause=2.5)
    pauses = sum(isinstance(part, Pause) for part in reply.body)
    fake.push(reply, Reply(before_headers=(Pause(7),), body=(b"x",)))
    start = trio.current_time()
    with trio.fail_after(60):
        _, received = await read_stream(client)
        middle = trio.current_time()
        late = await client.post(CHAT_COMPLETIONS_PATH, json=MESSAGES)
    assert received == reply.body_bytes()
    assert middle - start == pytest.approx(2.5 * pauses)
    assert trio.current_time() - middle == pytest.approx(7)
    assert late.content == b"x"


# --- lifetime ------------------------------------------------------------------------------------


async def test_exit_does_not_hang_on_stalled_connections() -> None:
    with trio.fail_after(5):
        async with open_fake_groq() as fake:
            fake.push(headers_never_reply(), stall_reply())
            clients = [await RawClient.connect(fake.port) for _ in range(2)]
            for raw in clients:
                await raw.stream.send_all(request_bytes())
            await fake.wait_requests(2)
        for raw in clients:
            await raw.stream.aclose()
    stats = fake.stats()
    assert (stats.connections_open, stats.active_responses) == (0, 0)
    assert stats.closed_by_client == 0  # the server left; the clients did not


async def test_an_error_in_the_block_comes_out_unwrapped() -> None:
    error = KeyError("boom")
    with pytest.raises(KeyError) as caught:
        async with open_fake_groq():
            raise error
    assert caught.value is error


async def test_outside_cancellation_passes_through(socket_clock: trio.testing.MockClock) -> None:
    with trio.move_on_after(1) as scope:
        async with open_fake_groq():
            await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_many_streams_over_many_connections(fake: FakeGroq) -> None:
    connections, per_connection = 100, 5
    all_connected = trio.Event()
    all_done = trio.Event()
    connected = finished = 0
    bodies: set[bytes] = set()

    async def one_connection() -> None:
        nonlocal connected, finished
        raw = await RawClient.connect(fake.port)
        connected += 1
        if connected == connections:
            all_connected.set()
        await all_connected.wait()
        for _ in range(per_connection):
            bodies.add((await raw.exchange(request_bytes())).body)
        finished += 1
        if finished == connections:
            all_done.set()
        await all_done.wait()
        await raw.stream.aclose()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(connections):
                nursery.start_soon(one_connection)
        await fake.wait_closed()
    stats = fake.stats()
    assert stats.responses_completed == connections * per_connection
    assert stats.max_connections_open == connections
    assert stats.closed_by_client == 0
    assert len(bodies) == connections * per_connection  # a fresh id on every answer
    assert {streamed_text(body) for body in bodies} == {"You said: hi"}
