"""A real HTTP/1.1 fake Groq server on 127.0.0.1, built on trio and h11.

Why a socket and not only a mock transport: timeouts, disconnects and connection reuse happen in
the client's HTTP stack, and the one way to prove that a cancelled stream closed its connection is
to ask the other end. So while it writes a response the server also watches the socket, and its
:meth:`FakeGroq.stats` count the connections the client closed before a response ended.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, replace
from functools import partial
from http import HTTPStatus
from types import TracebackType

import h11
import trio

from ._catalogue import FakeModel
from ._limits import FakeRateLimits
from ._replies import Drop, Pause, Reply
from ._requests import FAKE_API_KEY, Handler, RecordedRequest
from ._responder import DEFAULT_MAX_BODY_SIZE, Responder

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["FakeGroq", "ServerStats", "open_fake_groq"]

_RECEIVE_SIZE = 65536
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_NO_BODY = frozenset({204, 304})
_BAD_REQUEST = b'{"error":{"message":"Bad Request","type":"invalid_request_error"}}\n'


@dataclass(frozen=True)
class ServerStats:
    """A snapshot of the server's counters (take a new one with :meth:`FakeGroq.stats`).

    Attributes:
        connections_opened: TCP connections accepted so far.
        connections_open: Connections open now.
        max_connections_open: The most open at once (proves a client's pool limit).
        active_responses: Responses being written now (including ones paused or stalled).
        max_active_responses: The most written at once (proves concurrency).
        closed_by_client: Responses cut short because the client closed the connection, which is
            what a client must do when a stream is cancelled or times out.
        requests: Requests received (refused ones included).
        responses_completed: Responses written to the end.
    """

    connections_opened: int = 0
    connections_open: int = 0
    max_connections_open: int = 0
    active_responses: int = 0
    max_active_responses: int = 0
    closed_by_client: int = 0
    requests: int = 0
    responses_completed: int = 0


# A gauge and the high-water mark kept beside it.
_PEAKS = {"connections_open": "max_connections_open", "active_responses": "max_active_responses"}


class _TooLarge(Exception):
    """The request body passed the size limit: refuse it without reading the rest."""

    def __init__(self, request: RecordedRequest) -> None:
        super().__init__("request body too large")
        self.request = request


@dataclass
class _Progress:
    """How one response ended. The writer and the socket watcher fill it in."""

    completed: bool = False  # the terminator was handed to the kernel
    client_gone: bool = False  # EOF or an error on the socket, seen by either task
    dropped: bool = False  # a Drop() part ended it


def _send(conn: h11.Connection, event: h11.Event) -> bytes:
    data = conn.send(event)
    assert data is not None  # only ConnectionClosed gives None, and it is never sent here
    return data


def _response_head(reply: Reply) -> h11.Response:
    headers = [(k, v) for k, v in reply.headers if k.lower() not in _FRAMING]
    if reply.status in _NO_BODY:
        pass
    elif reply.chunked:
        headers.append(("transfer-encoding", "chunked"))
    else:
        length = sum(len(part) for part in reply.body if isinstance(part, bytes))
        headers.append(("content-length", str(length)))
    try:
        reason = HTTPStatus(reply.status).phrase.encode()
    except ValueError:  # 498, 499: Groq's own codes
        reason = b""
    return h11.Response(
        status_code=reply.status,
        headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        reason=reason,
    )


class FakeGroq(Responder):
    """A fake Groq server. Run it with ``async with FakeGroq() as fake:`` or
    :func:`open_fake_groq` (the same options); every option has a default, so ``FakeGroq()``
    answers like Groq out of the box.

    Args:
        handler: Answers chat requests once the pushed replies are used up; by default
            :func:`echo_handler` (``"You said: <last user message>"``, honouring ``stream``,
            tools, JSON mode, ``max_completion_tokens``, ``seed`` and ``logprobs``).
        api_key: The key the server accepts.
        check_auth: Answer 401 (Groq's body, never echoing the key) to a request without
            ``Authorization: Bearer <api_key>``.
        validate: Refuse invalid chat requests as Groq does (400 ``invalid_request_error`` with
            ``param``; 404 ``model_not_found`` for a model not in ``models``). ``False`` lets a
            test script replies for any request.
        models: The model catalogue (:class:`FakeModel` objects or names); by default
            :data:`DEFAULT_MODELS`, Groq's chat models. Served at ``GET /openai/v1/models``.
        rate_limits: Enforce these limits (:class:`FakeRateLimits`); by default none, and the
            rate-limit headers carry fixed plausible values.
        max_body_size: A body larger than this (bytes) gets 413 before it is read.
        host: The interface to listen on (loopback by default).
        port: The port; ``0`` picks a free one.

    Attributes:
        base_url: ``"http://127.0.0.1:<port>"``; give it to the client as its base URL.
        port: The port listened on (known once running).
        requests: Every request received, in order (:class:`RecordedRequest`), refused ones too.
        handler_errors: What the handler or an endpoint raised (each answered with a 500).
        pending_replies: Pushed replies not used yet.

    It serves ``POST /openai/v1/chat/completions``, ``GET /openai/v1/models`` and
    ``GET /openai/v1/models/{model}`` (anything else gets Groq's 404 ``unknown_url``; add
    endpoints with :meth:`route`), many requests per connection (HTTP/1.1 keep-alive), and writes
    each bytes part of a :class:`Reply` as one HTTP chunk, at once.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        api_key: str = FAKE_API_KEY,
        check_auth: bool = True,
        validate: bool = True,
        models: Iterable[FakeModel | str] | None = None,
        rate_limits: FakeRateLimits | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            handler,
            api_key=api_key,
            check_auth=check_auth,
            validate=validate,
            models=models,
            rate_limits=rate_limits,
            max_body_size=max_body_size,
        )
        self.host = host
        self.port = port
        self._stats = ServerStats()
        self._lot = trio.lowlevel.ParkingLot()
        self._running: AsyncExitStack | None = None

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>``.

        Raises:
            RuntimeError: The server is not running and has no fixed port, so there is no URL
                yet (``async with FakeGroq() as fake:`` starts it).
        """
        if not self.port:
            raise RuntimeError(
                "this FakeGroq is not running, so it has no URL yet: "
                "use 'async with FakeGroq() as fake:' and read fake.base_url inside the block"
            )
        return self._url()

    def _url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        where = self._url() if self.port else "not running"
        return f"<FakeGroq {where} requests={len(self.requests)}>"

    async def __aenter__(self) -> FakeGroq:
        if self._running is not None:
            raise RuntimeError("this FakeGroq is already running; use one per 'async with'")
        stack = AsyncExitStack()
        await stack.enter_async_context(_serving(self))
        self._running = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._running = self._running, None
        assert stack is not None
        return await stack.__aexit__(exc_type, exc, tb)

    def stats(self) -> ServerStats:
        """The counters, as a snapshot. Not a checkpoint.

        A client can finish reading a response before the server's task has noted that it ended:
        ``await wait_idle()`` (or ``wait_closed()``) first, then assert on the counts.
        """
        return self._stats

    def _count(self, name: str, delta: int = 1) -> None:
        value = getattr(self._stats, name) + delta
        changes = {name: value}
        peak = _PEAKS.get(name)
        if peak is not None:
            changes[peak] = max(getattr(self._stats, peak), value)
        self._stats = replace(self._stats, **changes)

    async def wait_idle(self) -> None:
        """Return once no response is being written. Event-driven, no polling.

        After a client cancels a stream, this returns as soon as the server has seen the
        connection close; then ``stats().closed_by_client`` tells whether it did. If the client
        never closes, this waits forever: put it under ``trio.fail_after``.

        The ``wait_*`` methods are checkpoints, raise nothing of their own, and can be cancelled
        at any point without effect on the server.
        """
        await trio.lowlevel.checkpoint()
        while self._stats.active_responses:
            await self._lot.park()

    async def wait_closed(self) -> None:
        """Return once no connection is open (the client closed its pool, or every socket)."""
        await trio.lowlevel.checkpoint()
        while self._stats.connections_open:
            await self._lot.park()

    async def wait_requests(self, count: int) -> None:
        """Return once at least ``count`` requests have arrived: sync without sleeping."""
        await trio.lowlevel.checkpoint()
        while len(self.requests) < count:
            await self._lot.park()

    def _changed(self) -> None:
        self._lot.unpark_all()

    # --- per connection -------------------------------------------------------------------------

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        self._count("connections_opened")
        self._count("connections_open")
        self._changed()
        try:
            await self._serve(stream)
        finally:
            try:
                await trio.aclose_forcefully(stream)
            finally:
                self._count("connections_open", -1)
                self._changed()

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                request = await self._receive_request(conn, stream)
            except h11.RemoteProtocolError:
                await self._send_bad_request(conn, stream)
                return
            except _TooLarge as too_large:
                self._count("requests")
                reply = self.reply_too_large(too_large.request)
                self._changed()
                if await self._respond(conn, stream, _closing(reply)):
                    await _linger(stream)
                return  # the rest of the body was never read: this connection is done
            if request is None:
                return
            self._count("requests")
            reply = self.reply_for(request)
            self._changed()
            if request.method == "HEAD" or reply.status in _NO_BODY:
                reply = replace(reply, body=())  # HTTP forbids a body here; h11 would refuse one
            if not await self._respond(conn, stream, reply):
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # one side asked for "Connection: close"
            conn.start_next_cycle()

    async def _receive_request(
        self, conn: h11.Connection, stream: trio.SocketStream
    ) -> RecordedRequest | None:
        """The next whole request, or ``None`` once the client has closed the connection."""
        head: h11.Request | None = None
        body: list[bytes] = []
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    if conn.they_are_waiting_for_100_continue:  # curl does this for big bodies
                        go_on = h11.InformationalResponse(status_code=100, headers=[])
                        await stream.send_all(_send(conn, go_on))
                    data = await stream.receive_some(_RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
                conn.receive_data(data)  # b"" = EOF, which h11 turns into ConnectionClosed
            elif isinstance(event, h11.Request):
                head = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and length.isdigit() and int(length) > self.max_body_size:
                    raise _TooLarge(_recorded(head, b""))
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if head is not None and size > self.max_body_size:
                    raise _TooLarge(_recorded(head, b""))
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _recorded(head, b"".join(body))
            else:  # ConnectionClosed (or PAUSED, which a client never causes here)
                return None

    async def _send_bad_request(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        if conn.our_state not in {h11.IDLE, h11.SEND_RESPONSE}:
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_BAD_REQUEST)).encode()),
            (b"connection", b"close"),
        ]
        with suppress(h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            data = _send(
                conn, h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
            )
            data += _send(conn, h11.Data(data=_BAD_REQUEST)) + _send(conn, h11.EndOfMessage())
            await stream.send_all(data)

    async def _respond(self, conn: h11.Connection, stream: trio.SocketStream, reply: Reply) -> bool:
        """Write ``reply``, watching for the client leaving. True if the connection lives on."""
        self._count("active_responses")
        progress = _Progress()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, conn, stream, progress, nursery.cancel_scope)
                await self._write(conn, stream, reply, progress)
                nursery.cancel_scope.cancel()
        finally:
            self._count("active_responses", -1)
            if progress.completed:
                self._count("responses_completed")
            elif progress.client_gone:
                self._count("closed_by_client")
            self._changed()
        if progress.dropped:
            # SO_LINGER 0 makes close() send a reset, like a crashed upstream or a proxy timeout.
            with suppress(OSError):
                stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await trio.aclose_forcefully(stream)
        return progress.completed and not progress.client_gone

    @staticmethod
    async def _watch(
        conn: h11.Connection,
        stream: trio.SocketStream,
        progress: _Progress,
        scope: trio.CancelScope,
    ) -> None:
        """Read while a response is written: EOF or an error means the client left.

        Bytes that arrive (a pipelined request) go into h11's buffer for the next cycle.
        """
        try:
            while data := await stream.receive_some(_RECEIVE_SIZE):
                conn.receive_data(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        progress.client_gone = True
        scope.cancel()

    @staticmethod
    async def _write(
        conn: h11.Connection, stream: trio.SocketStream, reply: Reply, progress: _Progress
    ) -> None:
        try:
            for step in reply.before_headers:
                if isinstance(step, Pause):
                    await trio.sleep(step.seconds)
                else:
                    await trio.sleep_forever()
            await stream.send_all(_send(conn, _response_head(reply)))
            for part in reply.body:
                if isinstance(part, bytes):
                    for piece in reply.writes(part):
                        await stream.send_all(_send(conn, h11.Data(data=piece)))
                elif isinstance(part, Pause):
                    await trio.sleep(part.seconds)
                elif isinstance(part, Drop):
                    progress.dropped = True
                    return
                else:
                    await trio.sleep_forever()
            end = _send(conn, h11.EndOfMessage())
            if end:  # b"" with a content-length: sending it would only be a checkpoint, where
                await stream.send_all(end)  # a client that read it all and hung up cancels us
            # Set before any other checkpoint: a client that read the whole response may close
            # at once, and that must not count as closing early.
            progress.completed = True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            progress.client_gone = True


def _recorded(head: h11.Request, body: bytes) -> RecordedRequest:
    return RecordedRequest(
        method=head.method.decode("latin-1"),
        target=head.target.decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers],
        body=body,
    )


async def _linger(stream: trio.SocketStream) -> None:
    """Read and drop what the client still sends, briefly, then let the caller close.

    Closing a socket with unread bytes makes the kernel send a reset, which can destroy the 413
    before the client reads it; a lingering close (as nginx does) avoids that without buffering.
    """
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError), trio.move_on_after(2):
        await stream.send_eof()
        while await stream.receive_some(_RECEIVE_SIZE):
            pass


def _closing(reply: Reply) -> Reply:
    return replace(reply, headers=(*reply.headers, ("connection", "close")))


@asynccontextmanager
async def _serving(fake: FakeGroq) -> AsyncIterator[FakeGroq]:
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            listeners: list[trio.SocketListener] = await nursery.start(
                partial(trio.serve_tcp, fake._handle_connection, fake.port, host=fake.host)
            )
            fake.port = listeners[0].socket.getsockname()[1]
            try:
                yield fake
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The server's own tasks handle their errors, so a lone exception here is the one the
        # body raised: hand it back as it was (raised outside the except, to keep its context).
        if len(group.exceptions) != 1:
            raise
        body_error = group.exceptions[0]
    if body_error is not None:
        try:
            raise body_error
        finally:
            body_error = None


def open_fake_groq(
    handler: Handler | None = None,
    *,
    api_key: str = FAKE_API_KEY,
    check_auth: bool = True,
    validate: bool = True,
    models: Iterable[FakeModel | str] | None = None,
    rate_limits: FakeRateLimits | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> FakeGroq:
    """Run a fake Groq server on ``127.0.0.1`` (a free port) for the duration of an
    ``async with`` block: ``async with open_fake_groq() as fake:``.

    The options are :class:`FakeGroq`'s. Leaving the block cancels every connection, stalled
    ones included, so it never hangs. An exception from the block comes out as itself, not
    wrapped in an exception group. Entering raises ``OSError`` only if no loopback port can be
    bound.
    """
    return FakeGroq(
        handler,
        api_key=api_key,
        check_auth=check_auth,
        validate=validate,
        models=models,
        rate_limits=rate_limits,
        max_body_size=max_body_size,
    )
