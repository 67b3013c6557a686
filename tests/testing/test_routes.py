"""Routing: the route table, added endpoints, the models endpoints, the body size limit, and
``FakeGroq()`` used directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
import trio

from trio_groqstream.testing import (
    CHAT_COMPLETIONS_PATH,
    DEFAULT_MODELS,
    MODELS_PATH,
    FakeGroq,
    MockGroq,
    RecordedRequest,
    Reply,
    non_sse_reply,
)
from trio_groqstream.testing._routes import Router

from ._support import AUTH, CHAT, RawClient, load_recording


def reply(text: str) -> Reply:
    return non_sse_reply(text.encode())


def test_router_matches_literal_paths_before_patterns() -> None:
    router = Router()
    router.add("get", "/files/{file_id}", lambda request, params: reply(f"file {params}"))
    router.add("GET", "/files/upload", lambda request, params: reply("upload"))
    router.add("GET", "/files/{file_id}/content", lambda request, params: reply("content"))
    resolved = router.resolve("GET", "/files/upload")
    assert resolved is not None
    assert resolved[1] == {}
    found = router.resolve("get", "/files/abc")
    assert found is not None
    assert found[1] == {"file_id": "abc"}
    content = router.resolve("GET", "/files/abc/content")
    assert content is not None
    assert content[1] == {"file_id": "abc"}
    assert router.resolve("GET", "/files/") is None  # a parameter is never empty
    assert router.resolve("POST", "/files/abc") is None
    assert router.resolve("GET", "/files/a/b/c") is None
    with pytest.raises(ValueError, match="must start with '/'"):
        router.add("GET", "files", lambda request, params: reply("x"))


def test_a_route_added_again_replaces_the_old_one() -> None:
    router = Router()
    router.add("GET", "/a/{x}", lambda request, params: reply("old"))
    router.add("GET", "/a/{x}", lambda request, params: reply("new"))
    found = router.resolve("GET", "/a/1")
    assert found is not None
    request = RecordedRequest(method="GET", target="/a/1", headers=[], body=b"")
    assert found[0](request, found[1]).body_bytes() == b"new"


async def test_an_endpoint_plugs_in_with_one_line() -> None:
    seen: list[Mapping[str, str]] = []

    def batch(request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        seen.append(params)
        return non_sse_reply(b'{"id":"' + params["batch_id"].encode() + b'"}')

    async with FakeGroq() as fake:
        fake.route("GET", "/openai/v1/batches/{batch_id}", batch)
        async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http:
            with trio.fail_after(10):
                found = await http.get("/openai/v1/batches/batch_1")
                unknown = await http.get("/openai/v1/nothing")
                anonymous = await http.get(
                    "/openai/v1/batches/batch_1", headers={"authorization": ""}
                )
    assert found.json() == {"id": "batch_1"}
    assert seen == [{"batch_id": "batch_1"}]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_url"
    assert anonymous.status_code == 401  # the key is checked before any endpoint runs


async def test_the_models_endpoints() -> None:
    async with (
        FakeGroq() as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        with trio.fail_after(10):
            listed = await http.get(MODELS_PATH)
            one = await http.get(f"{MODELS_PATH}/openai/gpt-oss-20b")
            plain = await http.get(f"{MODELS_PATH}/llama-3.3-70b-versatile")
            missing = await http.get(f"{MODELS_PATH}/nope")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    body = listed.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [m.id for m in DEFAULT_MODELS]
    for model in body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int)
        assert model["owned_by"]
        assert model["context_window"] >= model["max_completion_tokens"] > 0
    assert one.json()["id"] == "openai/gpt-oss-20b"
    assert one.json()["owned_by"] == "OpenAI"
    assert plain.json()["id"] == "llama-3.3-70b-versatile"
    recording = load_recording("12_pydantic_http404_model_not_found.json")
    assert missing.status_code == 404
    assert missing.text == recording["sse"].replace("non-existent", "nope")


async def test_a_body_over_the_limit_is_refused_unread() -> None:
    async with FakeGroq(max_body_size=1000) as fake:
        raw = await RawClient.connect(fake.port)
        async with raw.stream:
            head = (
                f"POST {CHAT_COMPLETIONS_PATH} HTTP/1.1\r\nhost: x\r\n"
                f"authorization: Bearer {fake.api_key}\r\ncontent-length: 5000000\r\n\r\n"
            )
            with trio.fail_after(10):
                await raw.stream.send_all(head.encode() + b"{" * 100)
                response = await raw.read_response()
                assert await raw.at_eof()
        assert fake.stats().requests == 1
    assert response.status == 413
    assert response.header("connection") == "close"
    assert b"request body is too large" in response.body
    assert fake.requests[0].body == b""


async def test_a_chunked_body_over_the_limit_is_refused_too() -> None:
    async with (
        FakeGroq(max_body_size=1000) as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 500

        with trio.fail_after(10):
            big = await http.post(CHAT_COMPLETIONS_PATH, content=chunks())
            fine = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)  # a new connection
    assert big.status_code == 413
    assert fine.status_code == 200


async def test_the_mock_has_the_same_limit() -> None:
    mock = MockGroq(max_body_size=10)
    async with httpx.AsyncClient(transport=mock.transport, base_url="http://x") as http:
        with trio.fail_after(10):
            response = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
    assert response.status_code == 413
    with pytest.raises(ValueError, match="max_body_size"):
        MockGroq(max_body_size=0)


async def test_fakegroq_runs_as_its_own_context_manager() -> None:
    fake = FakeGroq()
    assert fake.port == 0
    assert repr(fake) == "<FakeGroq not running requests=0>"
    with pytest.raises(RuntimeError, match="async with FakeGroq"):
        _ = fake.base_url  # the obvious mistake gets a clear error, not port 0
    async with fake:
        assert fake.port != 0
        assert repr(fake) == f"<FakeGroq {fake.base_url} requests=0>"
        with pytest.raises(RuntimeError, match="already running"):
            await fake.__aenter__()
        async with httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http:
            with trio.fail_after(10):
                response = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
    assert response.status_code == 200
    assert fake.stats().requests == 1
    with pytest.raises(ValueError, match="boom"):
        async with FakeGroq():
            raise ValueError("boom")


def test_ipv6_hosts_are_bracketed() -> None:
    assert FakeGroq(host="::1", port=8000).base_url == "http://[::1]:8000"


async def test_a_broken_endpoint_is_a_500_not_a_dead_server() -> None:
    def broken(request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        raise ZeroDivisionError("oops")

    async with (
        FakeGroq() as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers=AUTH) as http,
    ):
        fake.route("POST", "/openai/v1/files", broken)
        with trio.fail_after(10):
            failed = await http.post("/openai/v1/files", content=b"x")
            fine = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
    assert failed.status_code == 500
    assert "ZeroDivisionError('oops')" in failed.json()["error"]["message"]
    assert [type(e) for e in fake.handler_errors] == [ZeroDivisionError]
    assert fine.status_code == 200
