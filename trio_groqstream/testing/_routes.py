"""Request routing: a table keyed by method and path, so that a new endpoint is one line.

Paths are literal (``/openai/v1/models``) or carry ``{name}`` segments that match one non-empty
path segment (``/openai/v1/models/{model}``); the matched values reach the endpoint as ``params``.
An endpoint is any callable ``(request, params) -> Reply``, usually a bound method of an object
that keeps the endpoint's state (the server's model catalogue, a batch store), which is why the
table is built per server and never shared between servers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from ._replies import Reply
from ._requests import RecordedRequest

__all__ = ["Endpoint", "Router"]

Endpoint = Callable[[RecordedRequest, Mapping[str, str]], Reply]
"""An endpoint: the request, the values of the path's ``{name}`` segments, and the reply."""


@dataclass(frozen=True)
class _Pattern:
    method: str
    segments: tuple[str, ...]
    endpoint: Endpoint

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, segments, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    return None
                params[want[1:-1]] = unquote(got)  # SDKs quote a "/" in a model id
            elif want != got:
                return None
        return params


class Router:
    """The route table of one fake server.

    Literal paths are found by one dict lookup; patterns are tried in the order they were added,
    after the literal paths, so ``/files/{id}`` never shadows ``/files/upload``.
    """

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Endpoint] = {}
        self._patterns: list[_Pattern] = []

    def add(self, method: str, path: str, endpoint: Endpoint) -> None:
        """Route ``method path`` to ``endpoint``, replacing an earlier route for the same pair.

        Raises:
            ValueError: ``path`` does not start with ``/``.
        """
        if not path.startswith("/"):
            raise ValueError(f"a route's path must start with '/', not {path!r}")
        method = method.upper()
        if "{" not in path:
            self._exact[method, path] = endpoint
            return
        segments = tuple(path.split("/"))
        self._patterns = [p for p in self._patterns if (p.method, p.segments) != (method, segments)]
        self._patterns.append(_Pattern(method, segments, endpoint))

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint for ``method path`` and its path parameters, or ``None``."""
        method = method.upper()
        endpoint = self._exact.get((method, path))
        if endpoint is not None:
            return endpoint, {}
        segments = path.split("/")
        for pattern in self._patterns:
            if pattern.method == method and (params := pattern.match(segments)) is not None:
                return pattern.endpoint, params
        return None
