"""What the fakes do with a request: record it, check the route and the key, pick the reply.

Shared by the socket server (``_server.py``) and the in-process transport (``_mock.py``), so both
answer the same request the same way.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from ._batches import FakeBatches
from ._faults import http_error_reply
from ._replies import Reply
from ._scenarios import echo_handler

__all__ = ["CHAT_COMPLETIONS_PATH", "FAKE_API_KEY", "Handler", "RecordedRequest", "Responder"]

FAKE_API_KEY = "gsk_fake_0123456789abcdef"
"""The API key the fakes accept by default. Pass it to the client under test."""

CHAT_COMPLETIONS_PATH = "/openai/v1/chat/completions"

_REDACTED = "<redacted>"


class RecordedRequest:
    """One request as the fake received it.

    Attributes:
        method: ``"POST"``, normally.
        path: The path, without the query string.
        query: The query string, without ``?`` (usually empty).
        headers: Lower-case names to values (repeated headers joined with ``", "``). The
            ``authorization`` value is replaced by ``<redacted>`` so that printing a request, or a
            failing assertion that shows one, never leaks a key; read :attr:`bearer_token`.
        body: The raw body.
        json: The body parsed as JSON, or ``None`` if it is empty or not JSON.
    """

    __slots__ = ("_authorization", "body", "headers", "json", "method", "path", "query")

    def __init__(
        self, *, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> None:
        self.method = method
        self.path, _, self.query = target.partition("?")
        merged: dict[str, str] = {}
        authorization: str | None = None
        for raw_name, value in headers:
            name = raw_name.lower()
            if name == "authorization":
                authorization = value
                value = _REDACTED
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        self.headers = merged
        self._authorization = authorization
        self.body = body
        self.json: Any = None
        if body:
            try:
                self.json = msgspec.json.decode(body)
            except msgspec.DecodeError:
                self.json = None

    @property
    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
        if self._authorization is None:
            return None
        scheme, _, token = self._authorization.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"headers={self.headers!r}, body=<{len(self.body)} bytes>, json={self.json!r})"
        )


Handler = Callable[[RecordedRequest], Reply]
"""A function from a request to the reply for it; it runs in the server's task, so keep it quick."""


def _unknown_url(request: RecordedRequest) -> Reply:
    return http_error_reply(
        404,
        message=(
            f"Unknown request URL: {request.method} {request.path}. Please check the URL for "
            "typos, or see the docs at https://console.groq.com/docs/"
        ),
        code="unknown_url",
    )


class Responder:
    """The script: routing, the key check, pushed replies, then the handler."""

    def __init__(self, handler: Handler | None, *, api_key: str, check_auth: bool) -> None:
        self.handler: Handler = echo_handler if handler is None else handler
        self.api_key = api_key
        self.check_auth = check_auth
        self.requests: list[RecordedRequest] = []
        self.handler_errors: list[Exception] = []
        self._queue: deque[Reply] = deque()
        #: The Batch API's files and batches endpoints (see ``_batches.py``).
        self.batches = FakeBatches()

    def push(self, *replies: Reply) -> None:
        """Queue replies: the next requests get them in order; after that, the handler answers.

        Requests refused with 401 or 404 do not use up a pushed reply.
        """
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"push() takes Reply objects, not {reply!r}")
        self._queue.extend(replies)

    @property
    def pending_replies(self) -> int:
        """How many pushed replies no request has used yet (assert 0 at the end of a test)."""
        return len(self._queue)

    def _authorized(self, request: RecordedRequest) -> bool:
        token = request.bearer_token
        return token is not None and hmac.compare_digest(token.encode(), self.api_key.encode())

    def reply_for(self, request: RecordedRequest) -> Reply:
        """Record ``request`` and choose its reply."""
        self.requests.append(request)
        if self.check_auth and not self._authorized(request):
            # Groq's exact 401 body; like Groq, never echo the key that was sent.
            return http_error_reply(401)
        if self.batches.handles(request.path):
            return self.batches.reply(request)
        if request.method != "POST" or request.path != CHAT_COMPLETIONS_PATH:
            return _unknown_url(request)
        if self._queue:
            return self._queue.popleft()
        try:
            return self.handler(request)
        except Exception as exc:
            # A broken handler is a bug in the test: answer 500 naming it, and keep it for asserts.
            self.handler_errors.append(exc)
            return http_error_reply(
                500, message=f"fake Groq handler raised {exc!r}", code="fake_handler_error"
            )
