"""The same scripted replies in-process, through ``httpx.MockTransport``: no sockets, no ports.

Faster than the socket server and enough for most tests of how a client reads a stream. Use the
server (``open_fake_groq``) when the test is about connections: reuse, resets, or proving that a
cancelled stream closed its connection. The body is produced under trio, so run the client in
trio (pytest-trio's ``autojump_clock`` makes :class:`Pause` instant).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import httpx
import trio

from ._catalogue import FakeModel
from ._limits import FakeRateLimits
from ._replies import Drop, Pause, Reply, Stall
from ._requests import FAKE_API_KEY, Handler, RecordedRequest
from ._responder import DEFAULT_MAX_BODY_SIZE, Responder

__all__ = ["MockGroq", "mock_transport"]

_FRAMING = frozenset({"content-length", "transfer-encoding"})


class MockGroq(Responder):
    """Scripted Groq replies for an ``httpx.AsyncClient(transport=mock.transport)``.

    Attributes:
        transport: The ``httpx.MockTransport`` to give the client.
        requests: Every request received, in order (:class:`RecordedRequest`).
        handler: Answers requests once the pushed replies are used up; settable.
        open_streams: Response bodies handed out and not yet closed by the client.
        closed_by_client: Bodies the client closed before reading them to the end (as it must
            when a stream is cancelled or times out).
        handler_errors: What the handler or an endpoint raised (each answered with a 500).

    Unlike the server, the mock checks neither the API key (``check_auth=True`` turns that on)
    nor the request (``validate=True``): it is for scripting what the client reads, and the key
    and Groq's request checks belong to the tests that use the server. The other options are
    :class:`FakeGroq`'s.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        replies: Sequence[Reply] = (),
        api_key: str = FAKE_API_KEY,
        check_auth: bool = False,
        validate: bool = False,
        models: Iterable[FakeModel | str] | None = None,
        rate_limits: FakeRateLimits | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
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
        self.push(*replies)
        self.open_streams = 0
        self.closed_by_client = 0
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        recorded = RecordedRequest(
            method=request.method,
            target=request.url.raw_path.decode("ascii"),
            headers=request.headers.multi_items(),
            body=body,
        )
        reply = self.reply_for(recorded)
        for step in reply.before_headers:
            if isinstance(step, Pause):
                await trio.sleep(step.seconds)
            else:
                await trio.sleep_forever()
        headers = [(k, v) for k, v in reply.headers if k.lower() not in _FRAMING]
        if reply.chunked:
            headers.append(("transfer-encoding", "chunked"))
        else:
            length = sum(len(part) for part in reply.body if isinstance(part, bytes))
            headers.append(("content-length", str(length)))
        return httpx.Response(
            reply.status, headers=headers, stream=_ReplyStream(self, reply, request)
        )


class _ReplyStream(httpx.AsyncByteStream):
    """Yields a reply's parts as the body, acting out its pauses and faults.

    An iterator object rather than an async generator, so that nothing is left for the garbage
    collector to finalize when the client stops reading early.
    """

    def __init__(self, owner: MockGroq, reply: Reply, request: httpx.Request) -> None:
        self._owner = owner
        self._reply = reply
        self._request = request
        self._index = 0
        self._writes: list[bytes] = []
        self._ended = False
        self._closed = False
        owner.open_streams += 1

    def __aiter__(self) -> _ReplyStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._writes:
            if self._closed or self._index >= len(self._reply.body):
                self._ended = True
                raise StopAsyncIteration
            part = self._reply.body[self._index]
            self._index += 1
            if isinstance(part, bytes):
                self._writes = self._reply.writes(part)[::-1]
            elif isinstance(part, Pause):
                await trio.sleep(part.seconds)
            elif isinstance(part, Stall):
                await trio.sleep_forever()
            else:
                assert isinstance(part, Drop)
                self._ended = True
                raise httpx.ReadError(
                    "connection dropped by the fake server", request=self._request
                )
        await trio.lowlevel.checkpoint()  # a network read is a checkpoint; so is this one
        return self._writes.pop()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner.open_streams -= 1
        if not self._ended:
            self._owner.closed_by_client += 1


def mock_transport(
    handler: Handler | None = None, *, replies: Sequence[Reply] = ()
) -> httpx.MockTransport:
    """A transport that answers with ``replies`` in order, then with ``handler``.

    A shortcut for ``MockGroq(handler, replies=replies).transport``; use :class:`MockGroq` to
    look at the requests or push more replies later.
    """
    return MockGroq(handler, replies=replies).transport
