"""GroqClient: configuration, secrets, the owned or borrowed pool, and HTTP error mapping."""

from __future__ import annotations

import json
import logging
import math
import traceback
from urllib.parse import quote

import httpx
import pytest
import trio
from test_redact import ODD_KEY, every_form

import trio_groqstream as tgs
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    Reply,
    http_error_reply,
    in_stream_error_reply,
    open_fake_groq,
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


# --- options are checked when the client is made ------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("connect_timeout", -5, "connect_timeout=-5 is not allowed"),
        ("first_chunk_timeout", math.nan, "first_chunk_timeout=nan"),
        ("idle_timeout", "5", "idle_timeout='5'"),
        ("total_timeout", True, "total_timeout=True"),
        ("max_retries", 2.5, "max_retries=2.5 is not allowed: max_retries must be an int >= 0"),
        ("max_retries", True, "max_retries=True"),
        ("max_retry_wait", -1.0, "max_retry_wait=-1.0"),
        ("max_event_size", 0, "max_event_size=0"),
        ("max_keepalive_connections", -1, "max_keepalive_connections=-1"),
        ("allow_insecure_http", "yes", "allow_insecure_http='yes'"),
        ("default_headers", {"Authorization": "Bearer x"}, "may not set authorization"),
        ("default_headers", {"x-a": "1\r\nx-b: 2"}, "CR, LF or NUL"),
        ("default_headers", {"x-a": 1}, "must be str"),
        ("default_headers", {"Content-Length": "1"}, "set by the HTTP layer"),
        ("default_headers", ["x-a: 1"], "must be a mapping"),
        ("base_url", 5, "base_url must be a str"),
    ],
)
def test_client_options_are_checked(option: str, value: object, expected: str) -> None:
    with pytest.raises(tgs.ConfigurationError) as info:
        tgs.GroqClient(api_key="gsk_x", **{option: value})  # type: ignore[arg-type]
    assert expected in str(info.value)


def test_a_sync_httpx_client_is_refused() -> None:
    with httpx.Client() as sync, pytest.raises(tgs.ConfigurationError) as info:
        tgs.GroqClient(api_key="gsk_x", http_client=sync)  # type: ignore[arg-type]
    assert "httpx.Client" in str(info.value)
    assert "httpx.AsyncClient" in str(info.value)


async def test_a_bad_per_call_override_is_named_and_nothing_is_sent(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    with pytest.raises(tgs.ConfigurationError, match=r"first_chunk_timeout=-5 is not allowed"):
        async with tgs.open_stream(client, model=MODEL, messages=MESSAGES, first_chunk_timeout=-5):
            pass  # pragma: no cover
    assert fake.requests == []


# --- the key --------------------------------------------------------------------------------------

KEY = "gsk_" + "K3y" * 18  # the shape of a real key: gsk_ and 52 more characters


@pytest.mark.parametrize("padding", ["\n", "\r\n", " ", "\t\n", " \r\n\n"], ids=repr)
async def test_surrounding_whitespace_is_stripped(
    fake: FakeGroq, monkeypatch: pytest.MonkeyPatch, padding: str
) -> None:
    fake.push(text_reply("a"), text_reply("b"))
    key = FAKE_API_KEY
    async with tgs.GroqClient(api_key=key + padding, base_url=fake.base_url) as client:
        await run(client)
    monkeypatch.setenv("GROQ_API_KEY", " " + key + padding)
    async with tgs.GroqClient(base_url=fake.base_url) as client:
        await run(client)
    assert [r.bearer_token for r in fake.requests] == [key, key]


@pytest.mark.parametrize(
    "inside", [" ", "\n", "\r", "\t", "\x00", "\x7f", "\u2028", "\u200b", "\u2026", "é"]
)
@pytest.mark.parametrize("source", ["argument", "environment"])
def test_a_key_with_whitespace_or_control_inside_is_refused_unechoed(
    monkeypatch: pytest.MonkeyPatch, inside: str, source: str
) -> None:
    half = KEY[:30]
    bad = half + inside + KEY[30:]
    if source == "environment":
        if inside == "\x00":
            pytest.skip("an environment variable cannot hold NUL")
        monkeypatch.setenv("GROQ_API_KEY", bad)
    with pytest.raises(tgs.ConfigurationError) as info:
        tgs.GroqClient(api_key=bad if source == "argument" else None)
    shown = str(info.value) + repr(info.value) + repr(info.value.args)
    assert half not in shown
    assert KEY[30:] not in shown
    assert "GROQ_API_KEY" in shown if source == "environment" else "api_key" in shown
    assert info.value.attempts == 1


@pytest.mark.parametrize("bad", ["", "  \n", None])
def test_an_empty_key_is_missing(monkeypatch: pytest.MonkeyPatch, bad: str | None) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(tgs.ConfigurationError, match="no API key"):
        tgs.GroqClient(api_key=bad)


def test_a_key_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(tgs.ConfigurationError, match="api_key must be a str, not bytes"):
        tgs.GroqClient(api_key=b"gsk_x")  # type: ignore[arg-type]


# --- redaction ------------------------------------------------------------------------------------


def assert_hidden(text: str, key: str = ODD_KEY) -> None:
    for form in every_form(key):
        assert form not in text, (form, text)


async def test_an_error_body_that_echoes_the_key_is_redacted(fake: FakeGroq) -> None:
    echoed = f"Invalid API Key {ODD_KEY!r} ({json.dumps(ODD_KEY)}) {quote(ODD_KEY)}"
    fake.push(http_error_reply(401, message=echoed, failed_generation=ODD_KEY))
    async with tgs.GroqClient(api_key=ODD_KEY, base_url=fake.base_url) as client:
        with pytest.raises(tgs.AuthenticationError) as info:
            await run(client)
    error = info.value
    assert "Invalid API Key" in str(error)
    assert_hidden(str(error) + repr(error.args) + error.message)
    assert_hidden(json.dumps(error.body) + repr(error.body) + str(error.failed_generation))
    assert_hidden("".join(traceback.format_exception(error)))


async def test_an_in_stream_error_that_echoes_the_key_is_redacted() -> None:
    async with open_fake_groq(check_auth=False) as fake:
        await in_stream_errors_echoing_the_key(fake)


async def in_stream_errors_echoing_the_key(fake: FakeGroq) -> None:
    fake.push(
        in_stream_error_reply(
            shape="event", message=f"bad key {ODD_KEY}", failed_generation=f"key={ODD_KEY}"
        ),
        in_stream_error_reply(shape="x_groq", message=f"bad key {ODD_KEY}"),
    )
    async with tgs.GroqClient(api_key=ODD_KEY, base_url=fake.base_url, max_retries=0) as client:
        for _ in range(2):
            with pytest.raises(tgs.StreamAPIError) as info:
                await run(client)
            error = info.value
            assert "bad key <redacted>" in str(error)
            assert_hidden(str(error) + repr(error) + error.message + str(error.failed_generation))


async def test_a_chained_exception_that_shows_the_key_is_redacted() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"proxy said: {request.headers['authorization']}")

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(explode)) as http,
        tgs.GroqClient(
            api_key=ODD_KEY, base_url="https://api.example", http_client=http, max_retries=0
        ) as client,
    ):
        with pytest.raises(tgs.APIConnectionError) as info:
            await run(client)
    error = info.value
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert "proxy said: Bearer <redacted>" in str(error.__cause__)
    assert_hidden("".join(traceback.format_exception(error)))


async def test_a_refused_request_is_a_configuration_error_not_retried(fake: FakeGroq) -> None:
    # h11 refuses a header name with a space: our request is wrong, sending again cannot help.
    async with tgs.GroqClient(
        api_key=KEY, base_url=fake.base_url, default_headers={"x bad": "1"}, max_retries=3
    ) as client:
        with pytest.raises(tgs.ConfigurationError) as info:
            await run(client)
    assert info.value.attempts == 1
    assert_hidden("".join(traceback.format_exception(info.value)), KEY)
    assert fake.requests == []


# --- redirects ------------------------------------------------------------------------------------


async def test_a_borrowed_client_never_follows_a_redirect(fake: FakeGroq) -> None:
    seen: list[httpx.URL] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(307, headers={"location": "http://evil.example/steal"})

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(redirect), follow_redirects=True) as http,
        tgs.GroqClient(api_key=KEY, base_url="https://api.example", http_client=http) as client,
    ):
        with pytest.raises(tgs.APIStatusError) as info:
            await run(client)
    assert [url.host for url in seen] == ["api.example"]  # the redirect was not followed
    assert info.value.status_code == 307
    assert "http://evil.example/steal" in str(info.value)
    assert "base_url" in str(info.value)
    assert info.value.attempts == 1  # and not retried


async def test_a_redirect_over_loopback_http_is_not_followed_either(fake: FakeGroq) -> None:
    key = FAKE_API_KEY
    target = fake.base_url + "/elsewhere"
    fake.push(Reply(status=302, headers=(("location", target),), chunked=False))
    async with (
        httpx.AsyncClient(follow_redirects=True) as http,
        tgs.GroqClient(api_key=key, base_url=fake.base_url, http_client=http) as client,
    ):
        with pytest.raises(tgs.APIStatusError, match="redirected the request to"):
            await run(client)
    assert len(fake.requests) == 1


def test_a_byte_order_mark_before_the_key_is_stripped() -> None:
    client = tgs.GroqClient(api_key="\ufeff" + KEY + "\r\n")
    assert client._key.reveal() == KEY


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("timeout", "four deadlines"),
        ("max_retry", "did you mean 'max_retries'"),
        ("default_query", "GroqClient has no option 'default_query'"),
    ],
)
def test_an_unknown_client_option_is_named(option: str, expected: str) -> None:
    with pytest.raises(tgs.ConfigurationError) as info:
        tgs.GroqClient(api_key="gsk_x", **{option: 5})  # type: ignore[arg-type]
    assert expected in str(info.value)
