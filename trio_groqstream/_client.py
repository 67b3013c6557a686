"""``GroqClient``: configuration, the HTTP connection pool, and the one place a request is sent.

Everything about talking to the server that is not the stream itself lives here: the API key (kept
out of every repr and message), the base URL, default headers, the timeout and retry defaults each
stream starts from, the owned or borrowed ``httpx.AsyncClient``, and the translation of HTTP
failures into the typed errors of :mod:`trio_groqstream._errors`.
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import json
import math
import os
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, NoReturn

import httpx
import trio

from ._errors import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    ConnectTimeout,
    GroqStreamError,
    RateLimitError,
    StreamProtocolError,
    TotalTimeout,
    UnexpectedContentTypeError,
    excerpt,
    status_error_class,
)
from ._pacer import Limits, Pacer, PaceState, Ticket
from ._params import (
    EncodedRequest,
    check_bool,
    check_count,
    check_default_headers,
    check_stream_options,
    clean_api_key,
    unknown_client_option,
)
from ._pool import linearize
from ._ratelimit import RateLimits, parse_retry_after
from ._redact import redact, register_secret, scrub_chain, unregister_secret
from ._retry import backoff, is_retryable
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._version import __version__

__all__ = [
    "CHAT_COMPLETIONS_PATH",
    "DEFAULT_BASE_URL",
    "MISSING",
    "GroqClient",
    "Missing",
    "StreamSettings",
    "check_client",
    "close_response",
    "raw_reads",
]

DEFAULT_BASE_URL = "https://api.groq.com"
CHAT_COMPLETIONS_PATH = "/openai/v1/chat/completions"

# An error body is read only this far: enough for any JSON error Groq sends or a CDN's HTML page,
# never an unbounded read from a misbehaving proxy.
ERROR_BODY_LIMIT = 64 * 1024
# The most body one stream may deliver: about twice the SSE of the longest answer any Groq model
# can give (131,072 tokens at ~450 bytes an event), so only a server that never ends reaches it.
DEFAULT_MAX_COMPLETION_SIZE = 128 * 1024 * 1024
# Closing a response is bounded too: a peer that does not let go must not hang cleanup.
CLOSE_TIMEOUT = 2.0


class _Body(httpx.AsyncByteStream):
    """A request body whose iterator is a plain object, not an async generator.

    httpx's own ``ByteStream`` is a generator; a send cancelled mid-body leaves it suspended, and
    trio warns when it is collected (encode/httpx#3686). This one has nothing to finalize.
    """

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _BodyIterator(self._body)


class _BodyIterator:
    __slots__ = ("_body",)

    def __init__(self, body: bytes | None) -> None:
        self._body = body

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        body = self._body
        if body is None:
            raise StopAsyncIteration
        self._body = None
        return body


class _Secret:
    """Holds the API key so that no repr, str, log record or traceback shows it."""

    __slots__ = ("__weakref__", "_value", "release")

    def __init__(self, value: str) -> None:
        self._value = value
        # Every error made while this key is alive redacts it, wherever it is raised.
        register_secret(value)
        self.release = weakref.finalize(self, unregister_secret, value)

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return redact(text, self._value)

    def __repr__(self) -> str:
        return "'<redacted>'"

    __str__ = __repr__


@dataclass(frozen=True)
class StreamSettings:
    """The timeouts and retry policy one stream runs with (the client's defaults, overridden per
    call). ``None`` disables a limit."""

    connect_timeout: float | None
    first_chunk_timeout: float | None
    idle_timeout: float | None
    total_timeout: float | None
    max_retries: int
    max_retry_wait: float
    max_event_size: int
    max_completion_size: int = 128 * 1024 * 1024  # DEFAULT_MAX_COMPLETION_SIZE


class GroqClient(trio.abc.AsyncResource):
    """A connection to Groq's API, shared by any number of concurrent streams.

    Args:
        api_key: the API key; defaults to ``$GROQ_API_KEY``. Required.
        base_url: defaults to ``$GROQ_BASE_URL``, then ``https://api.groq.com``.
        http_client: an ``httpx.AsyncClient`` to borrow. It is never closed by this client. For
            fan-out, give it ``httpx.Limits(max_connections=None, max_keepalive_connections=100)``
            (or ``max_connections`` at least the fan-out's ``max_concurrency``): a smaller pool
            makes requests queue inside httpx, and many idle keep-alive connections slow
            httpcore's pool down.
        default_headers: extra headers for every request, added to ``$GROQ_CUSTOM_HEADERS``
            (newline-separated ``Name: value`` lines).
        connect_timeout: seconds to establish a connection.
        first_chunk_timeout: seconds from sending a request to its first event.
        idle_timeout: seconds allowed between events (keep-alive comments do not count).
        total_timeout: seconds for a whole stream, retries included.
        max_retries: retries before the first chunk (see the retry policy in the docs).
        max_retry_wait: the longest server-requested wait that is honoured; a longer one raises.
        max_event_size: cap on one SSE event, in bytes.
        max_completion_size: cap on the (decoded) body of one stream, in bytes: far above any
            real answer, it stops a server that streams without end before memory runs out.
        max_keepalive_connections: idle connections the owned pool keeps. Few is fast: httpcore's
            pool bookkeeping grows with the idle connections it holds (linearly in the pool this
            client owns, where httpcore 1.0's own grows quadratically: see ``_pool.py``).
        allow_insecure_http: permit sending the key over plain ``http://`` to a non-loopback host.
        limits: the rate limits you know (a :class:`Limits` for every model, or a mapping of
            model name to :class:`Limits`): fan-outs are then paced at those rates instead of
            learning them from headers and 429s (see :attr:`pacing`).
        unexpected: any other keyword (``timeout=`` from the official SDK, a misspelt option) is
            refused with a :class:`ConfigurationError` naming it (a type checker flags it too).

    Every timeout can be ``None`` (no limit) and is overridable per stream.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        connect_timeout: float | None = 10.0,
        first_chunk_timeout: float | None = 60.0,
        idle_timeout: float | None = 30.0,
        total_timeout: float | None = 600.0,
        max_retries: int = 2,
        max_retry_wait: float = 60.0,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_completion_size: int = DEFAULT_MAX_COMPLETION_SIZE,
        max_keepalive_connections: int = 100,
        allow_insecure_http: bool = False,
        limits: Limits | Mapping[str, Limits] | None = None,
        **unexpected: NoReturn,
    ) -> None:
        if unexpected:
            raise ConfigurationError(unknown_client_option(next(iter(unexpected))))
        from_env = api_key is None
        key = clean_api_key(
            api_key if api_key is not None else os.environ.get("GROQ_API_KEY"), from_env
        )
        check_bool("allow_insecure_http", allow_insecure_http)
        url = base_url or os.environ.get("GROQ_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(url, str):
            raise ConfigurationError(f"base_url must be a str such as {DEFAULT_BASE_URL!r}")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ConfigurationError(
                f"http_client={type(http_client).__module__}.{type(http_client).__qualname__} "
                "is not allowed: http_client must be an httpx.AsyncClient (or None for an owned "
                "pool); a sync httpx.Client cannot be used from trio"
            )
        check_count("max_keepalive_connections", max_keepalive_connections, minimum=0)
        options = check_stream_options(
            {
                "connect_timeout": connect_timeout,
                "first_chunk_timeout": first_chunk_timeout,
                "idle_timeout": idle_timeout,
                "total_timeout": total_timeout,
                "max_retries": max_retries,
                "max_retry_wait": max_retry_wait,
                "max_event_size": max_event_size,
                "max_completion_size": max_completion_size,
            }
        )
        custom = check_default_headers(default_headers)
        self._base_url = _check_base_url(url, allow_insecure_http=allow_insecure_http)
        self._url = self._base_url + CHAT_COMPLETIONS_PATH
        headers = _custom_headers_from_env()
        headers.update(custom)
        headers.update(
            {
                "content-type": "application/json",
                "accept": "text/event-stream",
                # Compression buys a token stream little, and proxies that compress it tend to
                # buffer it; a server that compresses anyway is inflated boundedly (_inflate.py).
                "accept-encoding": "identity",
                "user-agent": f"trio-groqstream/{__version__}",
            }
        )
        self._headers = headers
        self.settings = StreamSettings(**options)  # type: ignore[arg-type]
        self._key = _Secret(key)  # last: nothing below can fail and leave it registered
        self._owns_http = http_client is None
        if http_client is None:
            http_client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=None, max_keepalive_connections=max_keepalive_connections
                ),
                timeout=httpx.Timeout(None),
            )
            linearize(http_client)  # a fan-out's streams end together: see _pool.py
        self._http = http_client
        self._closed = False
        #: The rate limits stated by the latest response, or ``None`` before any.
        self.rate_limits: RateLimits | None = None
        self._pacer = Pacer(limits)

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash or ``/openai/v1``."""
        return self._base_url

    def __repr__(self) -> str:
        owner = "owned" if self._owns_http else "borrowed"
        return f"GroqClient(base_url={self._base_url!r}, api_key={self._key!r}, http={owner})"

    async def __aenter__(self) -> GroqClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the owned connection pool (a borrowed one is left alone). Idempotent; bounded
        and shielded, so cancellation cannot leave sockets open."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._key.release()
        if self._owns_http:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + CLOSE_TIMEOUT
                await self._http.aclose()
        else:
            await trio.lowlevel.checkpoint()

    def _settings_for(self, **overrides: object) -> StreamSettings:
        """The client's settings with any given (not-missing) override applied."""
        fields = check_stream_options(
            {name: value for name, value in overrides.items() if value is not MISSING}
        )
        if not fields:
            return self.settings
        merged = {**self.settings.__dict__, **fields}
        return StreamSettings(**merged)

    @property
    def pacing(self) -> dict[str, PaceState]:
        """Per model, what the pacer knows about your rate limits and what requests wait for
        (``waiting_for``, ``until``), with counts of requests admitted, 429s and time waited."""
        return self._pacer.states()

    def _observe_rate_limits(
        self, headers: Mapping[str, str], ticket: Ticket | None = None
    ) -> RateLimits:
        """Parse a response's rate-limit headers, remember them as the latest, and tell the
        pacer (through the request's ticket)."""
        limits = RateLimits.from_headers(
            headers, observed_at=trio.current_time(), wall_now=time.time()
        )
        if limits.present:
            self.rate_limits = limits
        if ticket is not None:
            ticket.observe(limits)  # even none: that is news to the pacer too
        return limits

    async def wait_for_rate_limits(self, model: str | None = None) -> float:
        """Sleep until the rate limits leave room for a request of ``model`` (of every model seen,
        if ``None``): a used-up window's reset, or a 429's ``retry-after``.

        Returns the seconds waited (0 when there is room). Paced fan-outs do this, and more, for
        every request (see :attr:`pacing`); call it before starting work of your own that is not
        paced. Cancellable like any trio sleep, and a checkpoint.
        """
        return await self._pacer.wait_for_room(model)

    async def _open_response(self, body: bytes, *, connect_timeout: float | None) -> httpx.Response:
        """Send one chat completions request; return the open streaming response.

        The response is a 2xx ``text/event-stream``; the caller must close it. Anything else is
        read (boundedly), closed and raised as a typed error. httpx errors are translated here.
        A request checked by :func:`check_request` brings its own ``extra_headers`` and
        ``extra_query``. Redirects are never followed, even by a borrowed client that would:
        a redirect could carry the prompt (and, to the same host, the key) over plain http.
        """
        if self._closed:
            raise ConfigurationError("this GroqClient is closed; open a new one")
        timeout = httpx.Timeout(
            connect=connect_timeout, read=None, write=connect_timeout, pool=None
        )
        headers = self._headers
        params: dict[str, str] | None = None
        if isinstance(body, EncodedRequest):
            if body.headers:
                headers = {**headers, **{k.lower(): v for k, v in body.headers.items()}}
            params = body.params or None
        try:
            request = self._http.build_request(
                "POST", self._url, content=body, headers=headers, params=params, timeout=timeout
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # an unsendable header
            raise ConfigurationError(
                self._key.redact(
                    f"the request cannot be built: {exc}; check extra_headers, "
                    "extra_query and default_headers"
                )
            ) from None
        request.stream = _Body(body)
        # Added last and kept nowhere else, so no repr of this client can show it.
        request.headers["authorization"] = f"Bearer {self._key.reveal()}"
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            scrub_chain(exc, self._key.reveal())  # tracebacks print the chain
            raise self._send_error(exc, connect_timeout) from exc
        try:
            if not 200 <= response.status_code < 300:
                raise await self._status_error(response)
            content_type = response.headers.get("content-type", "")
            if not content_type.lower().startswith("text/event-stream"):
                raise UnexpectedContentTypeError(
                    content_type,
                    status_code=response.status_code,
                    data=await _read_bounded(response, 2048),
                )
        except BaseException:
            await close_response(response)
            raise
        return response

    def _send_error(self, exc: httpx.HTTPError, connect_timeout: float | None) -> Exception:
        """The typed error for an httpx failure to send (its message redacted)."""
        text = self._key.redact(repr(exc))
        if isinstance(exc, httpx.LocalProtocolError):
            # Our own request broke HTTP (a header h11 refuses): sending again cannot help.
            return ConfigurationError(f"the request could not be sent: {text}; check the headers")
        if isinstance(exc, httpx.ConnectTimeout):
            return ConnectTimeout(connect_timeout or 0.0)
        if isinstance(exc, httpx.TimeoutException):
            return APIConnectionError(f"sending the request to {self._base_url} timed out: {text}")
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ConfigurationError(f"unsupported base_url {self._base_url!r}: {text}")
        return APIConnectionError(
            f"could not reach {self._base_url}: {text}; check the network and base_url"
        )

    async def _status_error(self, response: httpx.Response) -> APIStatusError:
        raw = await _read_bounded(response, ERROR_BODY_LIMIT)
        text = self._key.redact(raw.decode("utf-8", "replace"))
        body: object = text
        message = ""
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read
            message = excerpt(text.strip(), 300) or response.reason_phrase
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                message = error["message"]
            elif isinstance(error, str):
                message = error
            else:
                message = excerpt(text.strip(), 300)
        headers = {name.lower(): value for name, value in response.headers.items()}
        # A 429's retry-after (and any x-ratelimit-* it carries) is what the budget most needs.
        self._observe_rate_limits(headers)
        cls = status_error_class(response.status_code)
        if 300 <= response.status_code < 400:
            # Never followed (see _open_response); say where it pointed so base_url can be fixed.
            location = headers.get("location", "(no location)")
            message = (
                f"the server redirected the request to {location}; redirects are not followed "
                f"(they could carry the prompt or the key elsewhere): set base_url to the final "
                f"address"
            )
        return cls(
            message or response.reason_phrase or "no message",
            status_code=response.status_code,
            body=body,
            headers=headers,
            request_id=headers.get("x-request-id"),
            retry_after=parse_retry_after(headers, now=time.time()),
        )

    # --- non-streaming requests (the Batch API's files and batches) -----------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        idempotent: bool,
        max_bytes: int = ERROR_BODY_LIMIT,
    ) -> tuple[bytes, dict[str, str]]:
        """Send one non-streaming request under ``/openai/v1``; return its 2xx body and headers.

        The client's settings apply: ``connect_timeout``, ``total_timeout`` for the whole call
        (retries included), ``max_retries`` and ``max_retry_wait``. A request that may have had an
        effect (a POST that created something) is retried only when it surely had none: refused
        connections, 429 and 498. The body is read up to ``max_bytes``; past it, a typed error.
        """
        settings = self.settings
        retries = settings.max_retries
        attempts = 0
        waits: list[float] = []
        deadline = trio.current_time() + (
            settings.total_timeout if settings.total_timeout is not None else math.inf
        )
        with trio.move_on_at(deadline) as scope:
            while True:
                attempts += 1
                try:
                    return await self._request_once(
                        method, path, content, content_type, params, max_bytes
                    )
                except GroqStreamError as exc:
                    if retries <= 0 or not _retry_safe(exc, idempotent=idempotent):
                        exc.attempts, exc.retry_waits = attempts, tuple(waits)
                        raise
                    wait = exc.retry_after if isinstance(exc, APIStatusError) else None
                    if wait is None:
                        wait = backoff(settings.max_retries - retries + 1)
                    elif wait > settings.max_retry_wait:
                        exc.attempts, exc.retry_waits = attempts, tuple(waits)
                        raise
                    retries -= 1
                    waits.append(wait)
                await trio.sleep(wait)
        assert scope.cancelled_caught
        error = TotalTimeout(settings.total_timeout or 0.0)
        error.attempts, error.retry_waits = attempts, tuple(waits)
        raise error

    async def _request_once(
        self,
        method: str,
        path: str,
        content: bytes | None,
        content_type: str,
        params: Mapping[str, str] | None,
        max_bytes: int,
    ) -> tuple[bytes, dict[str, str]]:
        if self._closed:
            raise ConfigurationError("this GroqClient is closed; open a new one")
        connect = self.settings.connect_timeout
        headers = {**self._headers, "accept": "application/json", "content-type": content_type}
        if content is None:
            del headers["content-type"]
        request = self._http.build_request(
            method,
            self._base_url + "/openai/v1" + path,
            params=params,
            headers=headers,
            timeout=httpx.Timeout(connect=connect, read=None, write=None, pool=None),
        )
        if content is not None:
            request.stream = _Body(content)
            request.headers["content-length"] = str(len(content))
        request.headers["authorization"] = f"Bearer {self._key.reveal()}"
        try:
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            scrub_chain(exc, self._key.reveal())
            raise self._connection_error(exc, connect) from exc
        try:
            if not 200 <= response.status_code < 300:
                raise await self._status_error(response)
            body = await _read_bounded(response, max_bytes + 1, strict=True)
        except httpx.HTTPError as exc:
            scrub_chain(exc, self._key.reveal())
            raise self._connection_error(exc, connect) from exc
        finally:
            await close_response(response)
        if len(body) > max_bytes:
            raise StreamProtocolError(
                f"the response to {method} {path} is larger than {max_bytes} bytes; pass a "
                "larger max_bytes if that is expected"
            )
        return body, {name.lower(): value for name, value in response.headers.items()}

    def _connection_error(self, exc: httpx.HTTPError, connect: float | None) -> GroqStreamError:
        if isinstance(exc, httpx.ConnectTimeout):
            return ConnectTimeout(connect or 0.0)
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ConfigurationError(f"unsupported base_url {self._base_url!r}: {exc}")
        return APIConnectionError(
            self._key.redact(
                f"could not reach {self._base_url}: {exc!r}; check the network and base_url"
            )
        )


def _retry_safe(exc: GroqStreamError, *, idempotent: bool) -> bool:
    """Whether retrying is safe: any retryable failure of an idempotent request; for one that may
    have had an effect, only failures that prove it had none."""
    if not is_retryable(exc):
        return False
    if idempotent:
        return True
    if isinstance(exc, (RateLimitError, ConnectTimeout)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code == 498
    return isinstance(exc.__cause__, httpx.ConnectError)


def check_client(client: object) -> None:
    """Refuse anything but a :class:`GroqClient` where one is expected (an ``httpx`` client, the
    official SDK's client), before it fails somewhere deep with an ``AttributeError``."""
    if not isinstance(client, GroqClient):
        raise ConfigurationError(
            f"client must be a trio_groqstream.GroqClient, not {type(client).__module__}."
            f"{type(client).__qualname__}; make one with GroqClient(api_key=...)"
        )


class Missing(enum.Enum):
    """Marks a per-call option that was not given (``None`` means "no limit")."""

    MISSING = "MISSING"


MISSING: Final = Missing.MISSING


def raw_reads(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's reads, straight from the transport's stream.

    ``response.aiter_raw()`` iterates the same stream through one more async generator and a
    list per read: a few tenths of a microsecond, paid for every event at live speed. What else
    it does is done here or elsewhere: the response is marked consumed here, it is closed by
    :func:`close_response` on every path, and a read error gets its request in the pump.
    """
    if response.is_stream_consumed or response.is_closed:
        # Read or closed already (a borrowed client's response hook that reads the body): the
        # transport's stream would be read again, on a connection maybe back in the pool and
        # carrying another response. aiter_raw refuses that: StreamConsumed / StreamClosed.
        return response.aiter_raw()
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)  # httpx.AsyncClient.send checked it
    response.is_stream_consumed = True  # as aiter_raw marks it: a second read is refused
    return stream.__aiter__()


async def close_response(
    response: httpx.Response, iterator: AsyncIterator[bytes] | None = None
) -> None:
    """Close a response in a shielded, bounded scope: whatever is cancelling us, the socket goes.

    httpx reads a body through a chain of nested async generators, and closing the response does
    not finish them; trio then warns about each one collected unfinished (encode/httpx#3686). So
    after the close, the iterator (if one was started) is advanced until the chain ends, which it
    does at once with a read error on the closed connection.
    """
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + CLOSE_TIMEOUT
        # Closing a broken connection may complain; it is closed all the same.
        with contextlib.suppress(httpx.HTTPError):
            await response.aclose()
        if iterator is not None:
            for _ in range(_FINISH_STEPS):
                try:
                    await iterator.__anext__()
                except Exception:  # StopAsyncIteration or the read error: the chain has ended
                    break
            if isinstance(iterator, AsyncGenerator):
                await iterator.aclose()


# A closed connection yields at most what h11 had already buffered before failing.
_FINISH_STEPS = 16


async def _read_bounded(response: httpx.Response, limit: int, *, strict: bool = False) -> bytes:
    """Read at most about ``limit`` bytes. With ``strict`` a broken read raises (the body is the
    answer); otherwise what arrived is kept (an error body is only evidence)."""
    parts: list[bytes] = []
    size = 0
    iterator = response.aiter_bytes()
    try:
        async for data in iterator:
            parts.append(data)
            size += len(data)
            if size >= limit:
                break
    except httpx.HTTPError:
        if strict:
            raise
    finally:
        await close_response(response, iterator)
    return b"".join(parts)[:limit]


def _custom_headers_from_env() -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in os.environ.get("GROQ_CUSTOM_HEADERS", "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip().lower()] = value.strip()
    return headers


def _check_base_url(url: str, *, allow_insecure_http: bool) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"invalid base_url {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"invalid base_url {url!r}: expected http(s)://host[:port], e.g. {DEFAULT_BASE_URL}"
        )
    if parsed.scheme == "http" and not allow_insecure_http and not _is_loopback(parsed.host):
        raise ConfigurationError(
            f"refusing to send the API key in clear text to {parsed.host} over http://; use "
            "https://, or pass allow_insecure_http=True if this network is trusted"
        )
    return url.rstrip("/").removesuffix("/openai/v1")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
