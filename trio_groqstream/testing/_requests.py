"""A request as the fakes receive it, and the names every other room of the fake shares.

This room is the bottom of the testing package (it imports only the reply model), so the builders
(``_scenarios.py``), the answers (``_answers.py``) and the server can all use it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from ._replies import Reply

__all__ = [
    "CHAT_COMPLETIONS_PATH",
    "FAKE_API_KEY",
    "MODELS_PATH",
    "Handler",
    "RecordedRequest",
]

FAKE_API_KEY = "gsk_fake_0123456789abcdef"
"""The API key the fakes accept by default. Pass it to the client under test."""

CHAT_COMPLETIONS_PATH = "/openai/v1/chat/completions"
MODELS_PATH = "/openai/v1/models"

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
            except (msgspec.DecodeError, RecursionError):  # hostile nesting is "not JSON" too
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
