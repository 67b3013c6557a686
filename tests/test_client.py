"""GroqClient: configuration, secrets, the owned or borrowed pool, and HTTP error mapping."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    http_error_reply,
    text_reply,
)

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "llama-3.3-70b-versatile"


async def run(client: tgs.GroqClient) -> tgs.ChatStream:
    async with tgs.open_stream(client, model=MODEL, messages=MESSAGES) as stream:
        async for _ in stream:
            pass
    return stream


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(tgs.ConfigurationError, match="GROQ_API_KEY"):
        tgs.GroqClient()


async def test_config_from_the_environment(fake: FakeGroq, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("GROQ_BASE_URL", fake.base_url)
    monkeypatch.setenv("GROQ_CUSTOM_HEADERS", "X-Team: blue\nX-Trace:  abc \nnot a header")
    async with tgs.GroqClient(default_headers={"x-extra": "1"}) as client:
        assert client.base_url == fake.base_url
        fake.push(text_reply("from env"))
        stream = await run(client)
    assert stream.completion.text == "from env"
    headers = fake.requests[0].headers
    assert headers["x-team"] == "blue"
    assert headers["x-trace"] == "abc"
    assert headers["x-extra"] == "1"
    assert headers["accept"] == "text/event-stream"
    assert headers["user-agent"].startswith("trio-groqstream/")


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_env")
    monkeypatch.setenv("GROQ_BASE_URL", "https://env.example")
    client = tgs.GroqClient(api_key="gsk_arg", base_url="https://arg.example/openai/v1/")
    assert client.base_url == "https://arg.example"


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.0.0.5:8080", "http://[2001:db8::1]"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(tgs.ConfigurationError, match="clear text") as info:
        tgs.GroqClient(api_key="gsk_secret_value", base_url=url)
    assert "gsk_secret_value" not in str(info.value)
    tgs.GroqClient(api_key="gsk_secret_value", base_url=url, allow_insecure_http=True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:9", "https://x.example"]
)
def test_loopback_http_and_https_are_fine(url: str) -> None:
    assert tgs.GroqClient(api_key="gsk_x", base_url=url).base_url == url


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "https://"])
def test_invalid_base_url(url: str) -> None:
    with pytest.raises(tgs.ConfigurationError, match="base_url"):
        tgs.GroqClient(api_key="gsk_x", base_url=url)


def test_negative_retries_rejected() -> None:
    with pytest.raises(tgs.ConfigurationError, match="max_retries"):
        tgs.GroqClient(api_key="gsk_x", max_retries=-1)


async def test_unknown_stream_option_is_rejected() -> None:
    async with tgs.GroqClient(api_key="gsk_x") as client:
        with pytest.raises(tgs.ConfigurationError, match="bogus"):
            client._settings_for(bogus=1)


def test_repr_never_shows_the_key() -> None:
    client = tgs.GroqClient(api_key="gsk_super_secret_123")
    assert "gsk_super_secret_123" not in repr(client)
    assert "gsk_super_secret_123" not in str(client)
    assert "redacted" in repr(client)
    assert "gsk_super_secret_123" not in repr(vars(client))


async def test_borrowed_http_client_is_not_closed(fake: FakeGroq) -> None:
    async with httpx.AsyncClient() as http:
        async with tgs.GroqClient(
            api_key=FAKE_API_KEY, base_url=fake.base_url, http_client=http
        ) as client:
            fake.push(text_reply("borrowed"))
            assert (await run(client)).completion.text == "borrowed"
        assert not http.is_closed
        auth = {"authorization": f"Bearer {FAKE_API_KEY}"}
        response = await http.get(fake.base_url + "/nope", headers=auth)
        assert response.status_code == 404


async def test_owned_client_is_closed_and_then_refuses(fake: FakeGroq) -> None:
    client = tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url)
    async with client:
        fake.push(text_reply("owned"))
        await run(client)
    await client.aclose()  # idempotent
    with pytest.raises(tgs.ConfigurationError, match="closed"):
        await run(client)
    with trio.fail_after(5):
        await fake.wait_closed()
    assert fake.stats().connections_open == 0


async def test_html_error_body_is_kept_as_text(fake: FakeGroq) -> None:
    page = "<html><title>Attention Required! | Cloudflare</title></html>"
    fake.push(http_error_reply(403, text=page, content_type="text/html; charset=UTF-8"))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with pytest.raises(tgs.PermissionDeniedError) as info:
            await run(client)
    assert info.value.body == page
    assert "Attention Required" in str(info.value)


async def test_json_error_body_fields(fake: FakeGroq) -> None:
    fake.push(
        http_error_reply(
            400,
            message="context too long",
            code="context_length_exceeded",
            param="messages",
            request_id="req_01err",
        )
    )
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        with pytest.raises(tgs.BadRequestError) as info:
            await run(client)
    error = info.value
    assert error.code == "context_length_exceeded"
    assert error.param == "messages"
    assert error.request_id == "req_01err"
    assert isinstance(error.body, dict)
    assert "req_01err" in str(error)
    assert "context too long" in str(error)
    assert error.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (409, tgs.ConflictError),
        (424, tgs.APIStatusError),
        (499, tgs.APIStatusError),
        (502, tgs.InternalServerError),
    ],
)
async def test_every_status_maps_to_a_typed_error(
    fake: FakeGroq, status: int, error_class: type[tgs.APIStatusError]
) -> None:
    fake.handler = lambda _request: http_error_reply(status)
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0) as c:
        with pytest.raises(error_class) as info:
            await run(c)
    assert type(info.value) is error_class
    assert info.value.status_code == status


async def test_no_log_record_contains_the_key(
    fake: FakeGroq, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.push(text_reply("logged"), http_error_reply(401))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        await run(client)
        with pytest.raises(tgs.AuthenticationError):
            await run(client)
    assert caplog.records  # httpx and httpcore did log at DEBUG
    for record in caplog.records:
        assert FAKE_API_KEY not in record.getMessage()
        assert FAKE_API_KEY not in repr(record.args)


async def test_error_body_read_is_bounded(fake: FakeGroq) -> None:
    huge = "x" * (1024 * 1024)
    fake.push(http_error_reply(500, text=huge, content_type="text/plain"))
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, max_retries=0) as c:
        with pytest.raises(tgs.InternalServerError) as info:
            await run(c)
    assert isinstance(info.value.body, str)
    assert 0 < len(info.value.body) <= 64 * 1024
    assert len(str(info.value)) < 1000  # the message holds an excerpt, not the body
    with trio.fail_after(5):
        await fake.wait_idle()
