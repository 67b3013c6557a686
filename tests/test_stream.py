"""open_stream / ChatStream over real HTTP on loopback, against the project's FakeGroq."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import httpx
import pytest
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream._stream import MAX_BATCH
from trio_groqstream.testing import (
    FAKE_API_KEY,
    Drop,
    FakeGroq,
    Reply,
    drop_reply,
    eof_reply,
    in_stream_error_reply,
    non_sse_reply,
    reasoning_reply,
    sse_event,
    text_reply,
    tool_call_reply,
    trickle_reply,
)

#: Multiplies the randomised cancellation rounds (``nox -s soak`` sets 20).
SOAK = int(os.environ.get("TRIO_GROQSTREAM_SOAK", "1"))

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "llama-3.3-70b-versatile"


async def collect(client: tgs.GroqClient, **options: Any) -> tuple[list[str], tgs.ChatStream]:
    texts: list[str] = []
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, **options) as stream:
        async for chunk in stream:
            for choice in chunk.choices:
                texts.append(choice.delta.content or "")
    return texts, stream


async def settle(fake: FakeGroq) -> None:
    """Wait (bounded) until the server has noticed every response end."""
    with trio.fail_after(5):
        await fake.wait_idle()


# --- the happy paths ---------------------------------------------------------------------------


async def test_text_stream_accumulates_multibyte_text(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    text = "Grüße, 世界! 🚀 naïve café — done."
    fake.push(text_reply(text, request_id="req_abc"))
    texts, stream = await collect(client)
    assert "".join(texts) == text
    completion = stream.completion
    assert completion.text == text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.request_id == "req_abc"
    assert stream.request_id == "req_abc"
    assert stream.metrics.chunks == len(texts)
    assert stream.metrics.attempts == 1
    assert stream.metrics.time_to_first_chunk is not None
    assert stream.metrics.duration is not None
    assert stream.rate_limits.remaining_tokens is not None
    assert client.rate_limits == stream.rate_limits
    request = fake.requests[0]
    assert request.json == {"model": MODEL, "messages": MESSAGES, "stream": True}
    await settle(fake)
    assert fake.stats().closed_by_client == 0


async def test_usage_is_counted_once_with_include_usage(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("one two three", include_usage=True))
    _, stream = await collect(client, stream_options={"include_usage": True})
    usage = stream.completion.usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("fragmented", [False, True], ids=["whole", "fragmented"])
async def test_tool_calls(client: tgs.GroqClient, fake: FakeGroq, fragmented: bool) -> None:
    calls = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "Europe/Paris"}')]
    fake.push(tool_call_reply(calls, text_before="Let me check. ", fragmented=fragmented))
    _, stream = await collect(client)
    message = stream.completion.choices[0].message
    assert message.content == "Let me check. "
    assert message.tool_calls is not None
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == calls
    assert all(c.id for c in message.tool_calls)
    assert stream.completion.choices[0].finish_reason == "tool_calls"


async def test_reasoning(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(reasoning_reply("Think step by step.", "42", channel="analysis"))
    _, stream = await collect(client)
    message = stream.completion.choices[0].message
    assert message.reasoning == "Think step by step."
    assert message.content == "42"


@pytest.mark.parametrize(
    "reply",
    [
        text_reply("CRLF line ends everywhere", crlf=True),
        text_reply("comments between events", keepalive_every=1),
        trickle_reply("one byte per write, ünïcödé too"),
    ],
    ids=["crlf", "keepalive", "trickle"],
)
async def test_framing_variants(client: tgs.GroqClient, fake: FakeGroq, reply: Reply) -> None:
    fake.push(reply)
    texts, stream = await collect(client)
    assert "".join(texts) == stream.completion.text
    assert stream.completion.text in (
        "CRLF line ends everywhere",
        "comments between events",
        "one byte per write, ünïcödé too",
    )


async def test_receive_after_end_keeps_raising_end_of_channel(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("a b"))
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        chunks = [chunk async for chunk in stream]
        assert chunks
        with pytest.raises(trio.EndOfChannel):
            await stream.receive()
        await stream.aclose()
        await stream.aclose()  # idempotent
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive()


async def test_request_fields_pass_through_and_none_is_not_sent(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("ok"))
    # Like Groq, the fake refuses a property it does not know, naming it: so it was sent (an
    # unknown field goes through extra_body; as a keyword it would be refused before sending).
    with pytest.raises(tgs.BadRequestError, match="'brand_new_field' is unsupported") as info:
        await collect(
            client,
            temperature=None,
            seed=7,
            request={"extra_body": {"brand_new_field": {"x": [1, 2]}}, "top_p": 0.5},
        )
    assert info.value.param == "brand_new_field"
    body = fake.requests[0].json
    assert "temperature" not in body
    assert body["seed"] == 7
    assert body["top_p"] == 0.5
    assert body["brand_new_field"] == {"x": [1, 2]}
    assert body["stream"] is True


async def test_missing_model_is_a_configuration_error(client: tgs.GroqClient) -> None:
    with pytest.raises(tgs.ConfigurationError, match="model"):
        async with tgs.open_stream(client, messages=MESSAGES):
            pass  # pragma: no cover


# --- errors at the start ------------------------------------------------------------------------


async def test_non_sse_200_raises_with_an_excerpt(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(non_sse_reply())
    with pytest.raises(tgs.UnexpectedContentTypeError) as info:
        async with tgs.open_stream(client, model=MODEL, messages=MESSAGES):
            pass  # pragma: no cover
    assert info.value.content_type.startswith("application/json")
    assert "chat.completion" in info.value.excerpt
    await settle(fake)


# --- errors mid-stream --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["event", "data", "x_groq"])
async def test_in_stream_errors_carry_fields_and_partial_completion(
    client: tgs.GroqClient, fake: FakeGroq, shape: str
) -> None:
    fake.push(
        in_stream_error_reply(
            shape=shape,  # type: ignore[arg-type]
            text_before="Partial answer",
            message="Failed to call a function.",
            code="tool_use_failed",
            failed_generation='{"name": "oops"}',
        )
    )
    with pytest.raises(tgs.StreamAPIError) as info:
        await collect(client)
    error = info.value
    assert "Failed to call a function." in str(error)
    assert error.completion is not None
    assert error.completion.text == "Partial answer"
    if shape != "x_groq":
        assert error.code == "tool_use_failed"
        assert error.failed_generation == '{"name": "oops"}'
    if shape == "event":
        assert error.status_code == 400
    await settle(fake)


async def test_error_event_then_eof_is_an_api_error_not_truncation(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    payload = {"error": {"message": "boom", "type": "server_error", "code": "x"}}
    fake.push(Reply(body=(sse_event(payload, event="error"),)))
    with pytest.raises(tgs.StreamAPIError, match="boom"):
        await collect(client)


async def test_eof_without_done_is_incomplete(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(eof_reply(text_before="cut short"))
    with pytest.raises(tgs.IncompleteStreamError) as info:
        await collect(client)
    assert info.value.completion is not None
    assert info.value.completion.text == "cut short"
    assert isinstance(info.value, tgs.StreamProtocolError)


async def test_done_without_final_blank_line_is_accepted(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    role = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    chunk = {**role, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    fake.push(Reply(body=(sse_event(chunk), b"data: [DONE]")))
    texts, _ = await collect(client)
    assert texts == ["hi"]


async def test_dropped_connection_is_a_connection_error(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(drop_reply(text_before="half of it"))
    with pytest.raises(tgs.APIConnectionError) as info:
        await collect(client)
    assert not isinstance(info.value, tgs.APITimeoutError)
    assert info.value.completion is not None
    assert info.value.completion.text == "half of it"
    cause = info.value.__cause__
    assert isinstance(cause, httpx.RequestError)  # the httpx error, chained, never raised bare
    assert cause.request.url.path == "/openai/v1/chat/completions"  # as aiter_raw would set it


async def test_malformed_json_is_a_protocol_error_with_the_bytes(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(Reply(body=(b'data: {"id": "x", "choices": [\n\n',)))
    with pytest.raises(tgs.StreamProtocolError) as info:
        await collect(client)
    assert '{"id": "x", "choices": [' in info.value.excerpt


async def test_wrongly_typed_chunk_is_a_protocol_error(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(Reply(body=(b'data: {"choices": "not a list"}\n\n',)))
    with pytest.raises(tgs.StreamProtocolError, match=r"chat\.completion\.chunk"):
        await collect(client)


async def test_oversized_event_names_the_cap(fake: FakeGroq) -> None:
    fake.push(Reply(body=(b"data: " + b"x" * 5000, Drop())))
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, max_event_size=1024, max_retries=0
    ) as client:
        with pytest.raises(tgs.EventTooLargeError) as info:
            await collect(client)
    assert info.value.limit == 1024
    assert "1024" in str(info.value)


# --- leaving the block closes the connection ------------------------------------------------------


async def test_break_closes_the_response(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(text_reply("word " * 200, pause=0.01))
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        async for _ in stream:
            break
    await settle(fake)
    assert fake.stats().closed_by_client == 1


async def test_exception_in_block_propagates_unwrapped_and_closes(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("word " * 200, pause=0.01))
    with pytest.raises(KeyError, match="mine") as info:
        async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
            await stream.receive()
            raise KeyError("mine")
    assert info.value.__context__ is None
    await settle(fake)
    assert fake.stats().closed_by_client == 1


async def test_keyboard_interrupt_in_block_propagates_and_closes(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(text_reply("word " * 200, pause=0.01))
    with pytest.raises(KeyboardInterrupt):
        async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
            await stream.receive()
            raise KeyboardInterrupt
    await settle(fake)
    assert fake.stats().closed_by_client == 1


async def test_cancellation_closes_the_response(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(text_reply("word " * 200, pause=0.05))
    with trio.move_on_after(0.2) as scope:
        await collect(client)
    assert scope.cancelled_caught
    await settle(fake)
    assert fake.stats().closed_by_client == 1


async def test_cancelled_receive_loses_nothing(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(text_reply("alpha beta gamma", pause=0.2))
    texts: list[str] = []
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        while True:
            with trio.move_on_after(0.05):
                try:
                    chunk = await stream.receive()
                except trio.EndOfChannel:
                    break
                texts.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(texts) == "alpha beta gamma"


async def test_slow_consumer_applies_backpressure(client: tgs.GroqClient, fake: FakeGroq) -> None:
    # With buffer=1 the channel holds one batch of at most MAX_BATCH chunks; beside it the
    # consumer holds the batch it is reading and the pump the one it is handing over. So a
    # consumer that stops leaves the producer a bounded distance ahead, far short of the end.
    fake.push(text_reply("x " * 2000, pause=0.0005))
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, buffer=1) as stream:
        await stream.receive()
        await trio.testing.wait_all_tasks_blocked(0.2)
        received_early = stream.metrics.chunks
        assert received_early <= 3 * MAX_BATCH
        await trio.testing.wait_all_tasks_blocked(0.2)
        assert stream.metrics.chunks == received_early  # stopped: nothing more was read
        async for _ in stream:
            pass
    assert stream.metrics.chunks > 2000


async def test_hundreds_of_abandoned_streams_leave_nothing_open(fake: FakeGroq) -> None:
    rng = random.Random(1234)
    http_kept: list[int] = []
    async with tgs.GroqClient(
        api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0
    ) as client:
        fake.handler = lambda _request: text_reply("tok " * 30, pause=0.0005)
        for round_number in range(200 * SOAK):
            how = rng.choice(["break", "raise", "cancel", "finish"])
            raised: tuple[object, ...] = ()
            stop_after = rng.randrange(0, 25)
            with trio.move_on_after(rng.uniform(0.0, 0.02) if how == "cancel" else 10):
                try:
                    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
                        count = 0
                        async for _ in stream:
                            count += 1
                            if how in ("break", "raise") and count > stop_after:
                                if how == "raise":
                                    raise ValueError(round_number)
                                break
                except ValueError as exc:  # our own, unwrapped: no ExceptionGroup
                    raised = exc.args
            if how == "raise":
                assert raised == (round_number,)
            http_kept.append(fake.stats().connections_open)
        await settle(fake)
        assert fake.stats().active_responses == 0
        # The pool is still usable afterwards.
        fake.handler = lambda _request: text_reply("still works")
        texts, _ = await collect(client)
        assert "".join(texts) == "still works"
    with trio.fail_after(5):
        await fake.wait_closed()
    stats = fake.stats()
    assert stats.connections_open == 0
    assert 150 * SOAK < stats.requests <= 200 * SOAK + 1  # some rounds were cancelled first
    assert max(http_kept) <= 32 + 1


async def test_server_log_never_prints_the_key(client: tgs.GroqClient, fake: FakeGroq) -> None:
    fake.push(text_reply("ok"))
    await collect(client)
    request = fake.requests[0]
    assert FAKE_API_KEY not in repr(request)
    assert FAKE_API_KEY not in str(request)
    assert FAKE_API_KEY not in repr(client)
    assert json.dumps(request.json).find(FAKE_API_KEY) == -1


async def test_receive_batch_gives_everything_in_order(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    text = "batched " * 300
    fake.push(text_reply(text, pause=0.0002))
    pieces: list[str] = []
    calls = 0
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        first = await stream.receive()  # mixing receive and receive_batch is fine
        pieces.extend(c.delta.content or "" for c in first.choices)
        while True:
            try:
                batch = await stream.receive_batch()
            except trio.EndOfChannel:
                break
            assert batch
            calls += 1
            pieces.extend(c.delta.content or "" for chunk in batch for c in chunk.choices)
    assert "".join(pieces) == text
    assert stream.completion.text == text
    assert calls <= stream.metrics.chunks


async def test_receive_batch_raises_the_stream_error(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.push(eof_reply(text_before="cut"))
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        with pytest.raises(tgs.IncompleteStreamError) as info:
            while True:
                await stream.receive_batch()
    assert info.value.completion is not None
    assert info.value.completion.text == "cut"
