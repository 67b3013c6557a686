"""The one exception tree of trio_groqstream.

Every exception a user can see derives from :class:`GroqStreamError`; raw httpx and msgspec errors
are translated where they happen (``raise ... from exc``), so they never escape::

    GroqStreamError
    ├── ConfigurationError           misuse: missing API key, insecure URL, bad option
    ├── APIConnectionError           could not talk to the server (DNS, refused, reset, dropped)
    │   └── APITimeoutError          a deadline fired; ``.limit`` names it, ``.seconds`` its value
    │       ├── ConnectTimeout       TCP/TLS connect took longer than ``connect_timeout``
    │       ├── FirstChunkTimeout    no event within ``first_chunk_timeout`` of sending
    │       ├── IdleTimeout          no event within ``idle_timeout`` of the previous one
    │       └── TotalTimeout         the whole stream (retries included) outlived ``total_timeout``
    ├── APIStatusError               a non-2xx answer: ``status_code``, ``body``, ``headers``,
    │   │                            ``request_id``
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── RequestTooLargeError     413 (larger than the per-minute limit: retrying cannot help)
    │   ├── UnprocessableEntityError 422
    │   ├── RateLimitError           429
    │   ├── CapacityExceededError    498 (flex tier)
    │   └── InternalServerError      5xx
    ├── StreamProtocolError          the bytes broke the SSE or chunk format: ``excerpt``
    │   ├── EventTooLargeError       one pending event outgrew ``max_event_size``
    │   ├── CompletionTooLargeError  one stream's body outgrew ``max_completion_size``
    │   ├── UnexpectedContentTypeError  a 2xx answer that is not ``text/event-stream``
    │   └── IncompleteStreamError    the body ended before ``data: [DONE]``
    └── StreamAPIError               Groq reported an error inside a 200 stream

Errors that end a stream carry the partial ``completion`` accumulated before they happened, and the
retry history (``attempts``, ``retry_waits``) of the request that failed.

The names follow the official ``groq`` SDK where it has one, so migrating code reads the same.

Secrets: every error redacts the API key of every live client (see :mod:`._redact`) from its
message, body, excerpt and headers when it is made. So an error body or an in-stream error that
echoes the key, wherever in the library it is turned into an exception, never shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._redact import redact, redact_value

if TYPE_CHECKING:
    from ._wire import ChatCompletion

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CapacityExceededError",
    "CompletionTooLargeError",
    "ConfigurationError",
    "ConflictError",
    "ConnectTimeout",
    "EventTooLargeError",
    "FirstChunkTimeout",
    "GroqStreamError",
    "IdleTimeout",
    "IncompleteStreamError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "StreamAPIError",
    "StreamProtocolError",
    "TotalTimeout",
    "UnexpectedContentTypeError",
    "UnprocessableEntityError",
    "status_error_class",
]

# How many bytes of an offending payload an error keeps: enough to recognise it, never megabytes.
EXCERPT_LIMIT = 500


def excerpt(data: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """Return a printable, bounded excerpt of offending bytes for an error message.

    Secrets are redacted before the cut: a key cut in half by it would no longer be recognised."""
    text = redact(data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


class GroqStreamError(Exception):
    """Base class of every error trio_groqstream raises.

    Attributes:
        completion: what had been accumulated when the error ended a stream (``None`` when no
            stream was running, e.g. a configuration error).
        attempts: how many HTTP requests were made for the failed call (1 when nothing was
            retried).
        retry_waits: the seconds slept before each retry, in order.
    """

    completion: ChatCompletion | None = None
    attempts: int = 1
    retry_waits: tuple[float, ...] = ()

    def __init__(self, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        text = self.message
        if self.attempts > 1:
            waits = ", ".join(f"{w:.3g}s" for w in self.retry_waits)
            text += f" (after {self.attempts} attempts; waited {waits})"
        return redact(text)  # the message may have been extended since


class ConfigurationError(GroqStreamError):
    """The library was set up or called wrongly; nothing was sent. Fix the call."""


class APIConnectionError(GroqStreamError):
    """The server could not be reached, or the connection broke mid-response.

    Usually transient: the request is retried automatically before the first chunk (see
    ``max_retries``). When it surfaces mid-stream, ``completion`` holds the part received.
    """


class APITimeoutError(APIConnectionError):
    """A deadline fired. ``limit`` names which one, ``seconds`` is its configured value."""

    limit: str = "timeout"

    def __init__(self, seconds: float, message: str | None = None) -> None:
        self.seconds = seconds
        super().__init__(
            message
            or f"{self.limit} of {seconds:g}s expired; raise {self.limit} (or pass None) if the "
            "model is expected to be this slow"
        )


class ConnectTimeout(APITimeoutError):
    """Connecting to the server took longer than ``connect_timeout``."""

    limit = "connect_timeout"


class FirstChunkTimeout(APITimeoutError):
    """No event arrived within ``first_chunk_timeout`` of sending the request (queueing, a cold
    model or a stuck proxy)."""

    limit = "first_chunk_timeout"


class IdleTimeout(APITimeoutError):
    """The stream went quiet: no event within ``idle_timeout`` of the previous one. SSE comments
    and blank keep-alives do not count as activity, so a server that only pings still trips it."""

    limit = "idle_timeout"


class TotalTimeout(APITimeoutError):
    """The whole call, retries and backoff included, outlived ``total_timeout``."""

    limit = "total_timeout"


class APIStatusError(GroqStreamError):
    """The server answered with a non-2xx status.

    Attributes:
        status_code: the HTTP status.
        body: the parsed JSON body, or the raw text when it is not JSON (HTML, plain text).
        headers: the response headers (lower-case names).
        request_id: ``x-request-id``, the id Groq support asks for.
        error_type: ``error.type`` of Groq's ``{"error": {...}}`` body, when it has one.
        code: ``error.code`` (e.g. ``rate_limit_exceeded``, ``model_not_found``).
        param: ``error.param``, the request field at fault.
        failed_generation: ``error.failed_generation``, what the model produced before a tool
            or JSON validation failed.
        retry_after: the wait the server asked for (seconds), when it named one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = redact_value(body)
        self.headers: dict[str, str] = {k: redact(v) for k, v in (headers or {}).items()}
        self.request_id = request_id
        self.retry_after = retry_after
        error = self.body.get("error") if isinstance(self.body, dict) else None
        fields: dict[str, Any] = error if isinstance(error, dict) else {}
        self.error_type: str | None = _str_or_none(fields.get("type"))
        self.code: str | None = _str_or_none(fields.get("code"))
        self.param: str | None = _str_or_none(fields.get("param"))
        self.failed_generation: str | None = _str_or_none(fields.get("failed_generation"))
        super().__init__(message)

    def __str__(self) -> str:
        text = f"HTTP {self.status_code}: {super().__str__()}"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class BadRequestError(APIStatusError):
    """400: Groq rejected the request body (unknown field, bad model, context too long...)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked. Check ``GROQ_API_KEY``."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource, or a CDN blocked the request."""


class NotFoundError(APIStatusError):
    """404: unknown model or path. Check the model name and ``base_url``."""


class ConflictError(APIStatusError):
    """409: a conflicting request; retried automatically."""


class RequestTooLargeError(APIStatusError):
    """413: the request is larger than the per-minute token limit; it can never succeed as is.
    Shorten the prompt or lower ``max_completion_tokens``."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: rate limited. Retried automatically while the requested wait stays under
    ``max_retry_wait``; ``retry_after`` says how long the server asked for."""


class CapacityExceededError(APIStatusError):
    """498: flex-tier capacity exceeded; retried automatically with jittered backoff."""


class InternalServerError(APIStatusError):
    """5xx: a server-side failure; retried automatically."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    498: CapacityExceededError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """Map an HTTP status to the most specific :class:`APIStatusError` subclass."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


class StreamProtocolError(GroqStreamError):
    """The response broke the SSE or chunk format. ``excerpt`` holds the offending bytes
    (truncated). This is a server or proxy bug: report it with the excerpt."""

    def __init__(self, message: str, *, data: bytes | str = b"") -> None:
        # Redacted before it is cut, so that no part of a key survives at the cut.
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self.excerpt = excerpt(redact(text)) if text else ""
        if self.excerpt:
            message = f"{message}: {self.excerpt!r}"
        super().__init__(message)


class EventTooLargeError(StreamProtocolError):
    """One pending SSE event grew past ``max_event_size`` bytes without completing. Raise the
    cap (``max_event_size=``) if such events are legitimate."""

    def __init__(self, limit: int, *, data: bytes | str = b"") -> None:
        self.limit = limit
        super().__init__(
            f"an SSE event exceeded max_event_size={limit} bytes before it was complete; "
            "raise max_event_size if the server legitimately sends events this large",
            data=data,
        )


class CompletionTooLargeError(StreamProtocolError):
    """One stream's body outgrew ``max_completion_size`` (far above any real answer): the
    server is streaming without end, so the stream is stopped before memory runs out."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the stream's body passed max_completion_size={limit} bytes without ending; if "
            "this answer is real, raise GroqClient(max_completion_size=...)"
        )
        self.limit = limit


class UnexpectedContentTypeError(StreamProtocolError):
    """A 2xx answer that is not an event stream (a proxy page, or a non-streaming reply).
    ``content_type`` and ``status_code`` say what came instead; ``excerpt`` shows the body."""

    def __init__(self, content_type: str, *, status_code: int, data: bytes = b"") -> None:
        self.content_type = content_type
        self.status_code = status_code
        super().__init__(
            f"expected a text/event-stream response but got HTTP {status_code} "
            f"with content-type {content_type or '(none)'!r}; check base_url and any proxy",
            data=data,
        )


class IncompleteStreamError(StreamProtocolError):
    """The body ended before ``data: [DONE]``: the completion is truncated. ``completion``
    holds what arrived; retrying the request is the only way to get the rest."""


class StreamAPIError(GroqStreamError):
    """Groq reported an error inside a 200 stream (``event: error``, a ``data`` payload with an
    ``error`` object, or ``x_groq.error``).

    Attributes:
        error_type: the error's ``type`` as Groq sent it (may be ``None``).
        code: the error's ``code``, e.g. ``tool_use_failed``.
        failed_generation: what the model produced before the failure.
        status_code: the HTTP-like status Groq put inside the stream's error, if any.
        request_id: ``x_groq.id`` / ``x-request-id`` when known.
        completion: the partial completion streamed before the error.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        code: str | None = None,
        failed_generation: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.error_type = error_type
        self.code = code
        self.failed_generation = (
            redact(failed_generation) if failed_generation is not None else None
        )
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        text = f"Groq reported an error mid-stream: {super().__str__()}"
        if self.code:
            text += f" (code {self.code})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
