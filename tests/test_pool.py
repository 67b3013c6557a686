"""The owned pool's linear re-planning: the same decisions as httpcore's, without the N^2 count."""

from __future__ import annotations

import random
from typing import Any

import httpcore
import httpx
import pytest
import trio
from httpcore import AsyncConnectionPool

import trio_groqstream as tgs
from trio_groqstream._pool import LinearPool, linearize
from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, echo_text

MODEL = "llama-3.3-70b-versatile"
ORIGINS = [httpcore.URL("http://a.test/").origin, httpcore.URL("http://b.test/").origin]


class Conn:
    """A connection as the pool sees it: a state, and counts of how often it was asked."""

    def __init__(self, name: str, rnd: random.Random | None = None, origin: Any = None) -> None:
        self.name = name
        rnd = rnd or random.Random(0)
        self.origin = origin if origin is not None else rnd.choice(ORIGINS)
        self.closed = rnd.random() < 0.1
        self.expired = rnd.random() < 0.1
        self.idle = rnd.random() < 0.6
        self.available = self.idle or rnd.random() < 0.2
        self.idle_calls = 0

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        self.idle_calls += 1
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: Any) -> bool:
        return bool(origin == self.origin)

    def __repr__(self) -> str:
        return self.name


def stubbed(cls: type[AsyncConnectionPool]) -> type[AsyncConnectionPool]:
    class Stubbed(cls):  # type: ignore[misc,valid-type]
        created = 0

        def create_connection(self, origin: Any) -> Any:
            type(self).created += 1
            return Conn(f"new{type(self).created}", origin=origin)

    return Stubbed


def scenario(seed: int) -> tuple[list[Conn], list[httpcore.Request], dict[str, Any]]:
    rnd = random.Random(seed)
    connections = [Conn(f"c{i}", rnd) for i in range(rnd.randint(0, 12))]
    requests = [
        httpcore.Request("GET", f"http://{rnd.choice('ab')}.test/")
        for _ in range(rnd.randint(0, 6))
    ]
    limits = {
        "max_connections": rnd.choice([None, 1, 3, 8, 20]),
        "max_keepalive_connections": rnd.choice([None, 0, 1, 4, 10]),
    }
    return connections, requests, limits


def plan(cls: type[AsyncConnectionPool], seed: int) -> tuple[list[str], list[str], list[str]]:
    """One re-planning from a random state: (closed, kept, assigned per request), by name."""
    connections, requests, limits = scenario(seed)
    pool = stubbed(cls)(**limits)
    pool._connections = list(connections)  # type: ignore[arg-type]
    pool._requests = [httpcore._async.connection_pool.AsyncPoolRequest(r) for r in requests]
    closing = pool._assign_requests_to_connections()
    return (
        [repr(c) for c in closing],
        [repr(c) for c in pool._connections],
        [repr(r.connection) for r in pool._requests],
    )


@pytest.mark.parametrize("seed", range(300))
async def test_same_decisions_as_httpcore(seed: int) -> None:
    assert plan(LinearPool, seed) == plan(AsyncConnectionPool, seed)


@pytest.mark.parametrize("cls", [LinearPool, AsyncConnectionPool])
async def test_idle_connections_are_counted_once_not_once_per_idle_connection(
    cls: type[AsyncConnectionPool],
) -> None:
    n = 200
    connections = [Conn(f"c{i}") for i in range(n)]
    for conn in connections:
        conn.closed = conn.expired = False
        conn.idle = conn.available = True
    pool = cls(max_connections=None, max_keepalive_connections=1000)
    pool._connections = list(connections)  # type: ignore[arg-type]
    assert pool._assign_requests_to_connections() == []  # a response closed: nothing else to do
    calls = sum(conn.idle_calls for conn in connections)
    if cls is LinearPool:
        assert calls == n
    else:  # what the linear pool removes: httpcore 1.0's own count, N per idle connection
        assert calls == n + n * n


# --- where it applies -----------------------------------------------------------------------------


async def test_a_client_linearizes_the_pool_it_owns(fake: FakeGroq) -> None:
    async with tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url) as client:
        assert type(client._http._transport._pool) is LinearPool  # type: ignore[attr-defined]


async def test_a_borrowed_http_client_is_left_alone(fake: FakeGroq) -> None:
    async with httpx.AsyncClient() as http:
        async with tgs.GroqClient(
            api_key=FAKE_API_KEY, base_url=fake.base_url, http_client=http
        ) as client:
            await tgs.gather(
                client, [{"model": MODEL, "messages": [{"role": "user", "content": "x"}]}]
            )
        assert type(http._transport._pool) is AsyncConnectionPool  # type: ignore[attr-defined]


async def test_anything_but_a_plain_httpcore_pool_is_left_alone() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as a:
        assert not linearize(a)
    async with httpx.AsyncClient() as b:
        b._transport._pool.__class__ = stubbed(AsyncConnectionPool)  # type: ignore[attr-defined]
        assert not linearize(b)


async def test_an_unknown_httpcore_release_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpcore, "__version__", "1.1.0")
    async with httpx.AsyncClient() as http:
        assert not linearize(http)
        assert type(http._transport._pool) is AsyncConnectionPool  # type: ignore[attr-defined]


# --- over loopback: the same connections as httpcore's pool keeps -----------------------------


async def connections_opened(fake: FakeGroq, *, linear: bool, keepalive: int) -> list[int]:
    """Connections the server saw opened by: one request after another, then two waves of 8."""
    http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=keepalive),
        timeout=httpx.Timeout(None),
    )
    if linear:
        assert linearize(http)
    client = tgs.GroqClient(api_key=FAKE_API_KEY, base_url=fake.base_url, http_client=http)
    requests: list[tgs.ChatRequest] = [
        {"model": MODEL, "messages": [{"role": "user", "content": f"p{i}"}]} for i in range(8)
    ]
    opened = []
    async with http:
        for wave in ([requests[0]],) * 3 + (requests, requests):
            before = fake.stats().connections_opened
            results = await tgs.gather(client, wave, max_concurrency=8, pace=False)
            assert [r.text for r in results] == [echo_text(f"p{i}") for i in range(len(wave))]
            with trio.fail_after(10):
                await fake.wait_idle()
            opened.append(fake.stats().connections_opened - before)
    with trio.fail_after(10):
        await fake.wait_closed()
    return opened


@pytest.mark.parametrize("linear", [True, False])
async def test_connections_are_reused_as_with_httpcore(fake: FakeGroq, linear: bool) -> None:
    # One connection for the sequential requests, 7 more for the first wave, none for the second.
    assert await connections_opened(fake, linear=linear, keepalive=100) == [1, 0, 0, 7, 0]
