"""The chat-completions parameters this library knows, typed, and the checks run before sending.

Pure: no IO, no trio, no httpx. A mistake (a typo'd field, ``n=2``, a message without content, a
negative timeout) becomes a :class:`ConfigurationError` naming the field, and the request index in
a fan-out, before a byte leaves; Groq would answer 400 only in production.

The parameter list follows Groq's API reference (``CreateChatCompletionRequest`` of the GroqCloud
OpenAPI spec 2.1, as published in 2026) and the official ``groq`` SDK 1.7.0
(``groq/types/chat/completion_create_params.py``). ``stream_options`` is documented by Groq and
used by the real recordings but absent from that SDK's parameters; it is kept. Ranges are the
reference's (``temperature`` 0..2, ``top_p`` 0..1, penalties -2..2, ``top_logprobs`` 0..20, at
most 4 ``stop`` sequences and 128 ``tools``, ``n`` only 1).

A field Groq adds before this list does goes in ``extra_body``, as with the official SDK: it is
merged into the body last and not checked (``stream`` excepted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

import msgspec

from ._errors import ConfigurationError
from ._fields import (
    FIELD_CHECKS,
    FieldError,
    check_str_mapping,
    check_together,
    closest,
    is_real,
)

__all__ = [
    "CALL_OPTIONS",
    "CLIENT_OPTIONS",
    "TIMEOUT_OPTIONS",
    "CallOptions",
    "ChannelParams",
    "ChatParams",
    "ChatRequest",
    "EncodedRequest",
    "StreamOptions",
    "check_bool",
    "check_choice",
    "check_count",
    "check_default_headers",
    "check_request",
    "check_requests",
    "check_seconds",
    "check_stream_options",
    "clean_api_key",
    "closest",
    "unknown_client_option",
]

# --- the types users and type checkers see ------------------------------------------------------


class StreamOptions(TypedDict, total=False):
    """The ``stream_options`` request field."""

    include_usage: bool


class _Fields(TypedDict, total=False):
    """Every optional field (see :class:`ChatParams` for what each means)."""

    temperature: float | None
    top_p: float | None
    max_completion_tokens: int | None
    max_tokens: int | None  # deprecated by Groq in favour of max_completion_tokens
    stop: str | Sequence[str] | None
    seed: int | None
    n: int | None
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: Literal["none", "auto", "required"] | Mapping[str, Any] | None
    parallel_tool_calls: bool | None
    disable_tool_validation: bool | None
    response_format: Mapping[str, Any] | None
    reasoning_format: Literal["hidden", "raw", "parsed"] | None
    reasoning_effort: Literal["none", "default", "low", "medium", "high"] | None
    include_reasoning: bool | None
    service_tier: Literal["auto", "on_demand", "flex", "performance"] | None
    user: str | None
    logprobs: bool | None
    top_logprobs: int | None
    presence_penalty: float | None
    frequency_penalty: float | None
    logit_bias: Mapping[str, int] | None
    stream_options: StreamOptions | None
    search_settings: Mapping[str, Any] | None
    metadata: Mapping[str, str] | None
    store: bool | None
    documents: Sequence[Mapping[str, Any]] | None
    citation_options: Literal["enabled", "disabled"] | None
    compound_custom: Mapping[str, Any] | None
    include_domains: Sequence[str] | None  # deprecated: search_settings.include_domains
    exclude_domains: Sequence[str] | None  # deprecated: search_settings.exclude_domains
    functions: Sequence[Mapping[str, Any]] | None  # deprecated: tools
    function_call: Literal["none", "auto", "required"] | Mapping[str, Any] | None  # deprecated
    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, str] | None


class ChatParams(_Fields, total=False):
    """The chat completions parameters, as keyword arguments of :func:`open_stream`.

    ``model`` and ``messages`` are required (checked when the call is made). A ``None`` value is
    not sent. ``extra_body`` is merged into the body last, unchecked, for fields this library does
    not know yet; ``extra_headers`` and ``extra_query`` go on this request's HTTP request.
    ``stream`` is the library's to set, and ``n`` may only be 1 (Groq's only value).
    """

    model: str
    messages: Sequence[Mapping[str, Any]]


class _Required(TypedDict):
    model: str
    messages: Sequence[Mapping[str, Any]]


class ChatRequest(_Required, _Fields, total=False):
    """One request of a fan-out (:func:`gather`, :func:`open_fanout`, :func:`race`): the same
    fields as :class:`ChatParams`, with ``model`` and ``messages`` required. Annotate a request
    built ahead of time as ``ChatRequest`` so a type checker catches a typo in it."""


class CallOptions(TypedDict, total=False):
    """The per-call stream options of the fan-out calls (see :func:`open_stream`): each overrides
    the :class:`GroqClient`'s default for this call's streams."""

    connect_timeout: float | None
    first_chunk_timeout: float | None
    idle_timeout: float | None
    total_timeout: float | None
    max_retries: int
    max_retry_wait: float
    max_event_size: int
    max_completion_size: int


class ChannelParams(ChatParams, CallOptions, total=False):
    """:func:`stream_to_channel`'s keyword arguments: the request fields and the call options."""


#: The four deadlines.
TIMEOUT_OPTIONS: Final = ("connect_timeout", "first_chunk_timeout", "idle_timeout", "total_timeout")
#: The per-call stream options: the deadlines, the retry policy and the size caps.
CALL_OPTIONS: Final = (
    *TIMEOUT_OPTIONS,
    "max_retries",
    "max_retry_wait",
    "max_event_size",
    "max_completion_size",
)

#: GroqClient's options (for "did you mean" on a misspelt one).
CLIENT_OPTIONS: Final = (
    "api_key",
    "base_url",
    "http_client",
    "default_headers",
    *CALL_OPTIONS,
    "max_keepalive_connections",
    "allow_insecure_http",
)

_KNOWN: Final = frozenset(ChatParams.__annotations__)
_EXTRAS: Final = frozenset({"extra_body", "extra_headers", "extra_query"})


# --- option checks (shared by GroqClient and every streaming call) ------------------------------


def check_seconds(name: str, value: object) -> float | None:
    """A deadline: a positive number of seconds (``math.inf`` allowed) or ``None`` (no limit).
    Zero, negative and NaN are refused: each would fire at once, or never, by accident."""
    if value is None:
        return None
    if not is_real(value) or math.isnan(value) or value <= 0:  # type: ignore[arg-type,operator]
        raise ConfigurationError(
            f"{name}={value!r} is not allowed: {name} must be a positive number of seconds "
            "or None (no limit)"
        )
    return float(value)  # type: ignore[arg-type]


def check_count(name: str, value: object, *, minimum: int) -> int:
    """A whole number of at least ``minimum`` (``True``/``2.5``/``"3"`` are refused)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(
            f"{name}={value!r} is not allowed: {name} must be an int >= {minimum}"
        )
    return value


def check_bool(name: str, value: object) -> bool:
    """Exactly ``True`` or ``False`` (``"no"`` is truthy, so it is refused)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name}={value!r} is not allowed: {name} must be True or False")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigurationError(
            f"{name}={value!r} is not allowed: {name} must be one of {allowed}"
        )
    return value


def check_stream_options(options: Mapping[str, object]) -> dict[str, object]:
    """Check the per-call stream options by name, type and range; return them (``None`` kept:
    for a timeout it means "no limit")."""
    checked: dict[str, object] = {}
    for name, value in options.items():
        if name in TIMEOUT_OPTIONS:
            checked[name] = check_seconds(name, value)
        elif name == "max_retries":
            checked[name] = check_count(name, value, minimum=0)
        elif name == "max_retry_wait":
            if not is_real(value) or math.isnan(value) or value < 0:  # type: ignore[arg-type,operator]
                raise ConfigurationError(
                    f"max_retry_wait={value!r} is not allowed: max_retry_wait must be a number "
                    "of seconds >= 0"
                )
            checked[name] = float(value)  # type: ignore[arg-type]
        elif name in ("max_event_size", "max_completion_size"):
            checked[name] = check_count(name, value, minimum=1)
        else:
            raise ConfigurationError(_unknown_option(name))
    return checked


def clean_api_key(value: object, from_env: bool) -> str:
    """Strip the whitespace a key read from a file or a CRLF ``.env`` brings; refuse a key that
    still holds whitespace or control characters (never echoing it)."""
    source = "$GROQ_API_KEY" if from_env else "api_key"
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{source} must be a str, not {type(value).__name__}")
    key = (value or "").strip().lstrip("\ufeff").strip()  # a BOM: a key file saved by Notepad
    if not key:
        raise ConfigurationError(
            "no API key: pass GroqClient(api_key=...) or set the GROQ_API_KEY environment "
            "variable (keys look like gsk_...)"
        )
    bad = next((ch for ch in key if not "!" <= ch <= "~"), None)  # printable ASCII only
    if bad is not None:
        kind = (
            "whitespace"
            if bad.isspace()
            else "a non-ASCII character"
            if bad.isprintable()
            else "a control character"
        )
        raise ConfigurationError(
            f"the API key from {source} contains {kind} (U+{ord(bad):04X}), so it "
            "cannot be sent in a header; copy the key again (keys look like gsk_...)"
        )
    return key


def check_default_headers(headers: object) -> dict[str, str]:
    """GroqClient's ``default_headers``: str names and values a server will accept (lower-cased
    names); the key is never among them."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(
            f"default_headers must be a mapping of header names to values, not "
            f"{type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(
                f"default_headers[{name!r}]: header names and values must be str"
            )
        if any(ch in name + value for ch in "\r\n\0") or not name.strip() or ":" in name:
            raise ConfigurationError(
                f"default_headers[{name!r}]: a header name must be a token and a value may "
                "not hold CR, LF or NUL"
            )
        if name.lower() == "authorization":
            raise ConfigurationError(
                "default_headers may not set authorization: pass the key as api_key="
            )
        if name.lower() in _FRAMING:
            raise ConfigurationError(
                f"default_headers[{name!r}] is set by the HTTP layer for each request; leave it out"
            )
        checked[name.lower()] = value
    return checked


def unknown_client_option(name: str) -> str:
    """The message for a keyword GroqClient does not take (``timeout=`` from SDK habit...)."""
    if name == "timeout":
        return _unknown_option(name)
    return (
        f"GroqClient has no option {name!r}{closest(name, CLIENT_OPTIONS)}; its options are "
        f"{', '.join(CLIENT_OPTIONS)}"
    )


def _unknown_option(name: str) -> str:
    if name == "timeout":
        return (
            "timeout= is not an option here: there are four deadlines, "
            "connect_timeout, first_chunk_timeout, idle_timeout and total_timeout "
            "(seconds, or None for no limit)"
        )
    if name in _KNOWN or name == "stream":
        return (
            f"{name!r} is a request field, not an option of this call: put it in each request "
            "mapping"
        )
    return (
        f"unknown option {name!r}{closest(name, CALL_OPTIONS)}; the options are "
        f"{', '.join(CALL_OPTIONS)}"
    )


# --- request checks ------------------------------------------------------------------------------


class EncodedRequest(bytes):
    """An encoded request body that also carries its per-request HTTP ``headers`` and query
    ``params`` (``extra_headers`` / ``extra_query``), so they travel wherever the body does."""

    headers: dict[str, str]
    params: dict[str, str]


_ENCODER = msgspec.json.Encoder()


def check_request(request: object, index: int | None = None) -> EncodedRequest:
    """Check one chat completions request and encode it (``stream: true``; ``None`` dropped).

    Raises :class:`ConfigurationError` naming the field (``requests[index].field`` when ``index``
    is given), the value's problem and the fix. Unknown fields get the closest known name.
    """
    where = f"requests[{index}]" if index is not None else "the request"
    prefix = f"requests[{index}]." if index is not None else ""
    if not isinstance(request, Mapping):
        raise ConfigurationError(
            f"{where} must be a mapping of request fields (model=..., messages=...), "
            f"not {type(request).__name__}"
        )
    try:
        return _check_and_encode(request)
    except FieldError as bad:
        raise ConfigurationError(f"{prefix}{bad.path}: {bad.problem}") from None


def check_requests(requests: object) -> None:
    """Refuse a fan-out ``requests`` argument that is not an iterable of requests: a lone mapping
    (iterating it would yield its keys) or a string. The requests themselves are checked by
    :func:`check_request`, a sequence whole before the first starts, an iterator as consumed."""
    if isinstance(requests, (Mapping, str, bytes)) or not isinstance(requests, Iterable):
        raise ConfigurationError(
            f"requests must be an iterable of request mappings, not {type(requests).__name__}; "
            "for a single request pass [request]"
        )


def _check_and_encode(request: Mapping[Any, Any]) -> EncodedRequest:
    payload: dict[str, Any] = {}
    for key, value in request.items():
        if not isinstance(key, str):
            raise FieldError(repr(key), "request field names must be strings")
        if key == "stream":
            raise FieldError("stream", _STREAM_IS_OURS)
        if key not in _KNOWN:
            raise FieldError(key, _unknown_field(key))
        if value is None or key in _EXTRAS:
            continue
        FIELD_CHECKS.get(key, _unchecked)(key, value)
        payload[key] = value
    for key in ("model", "messages"):
        if key not in payload:
            raise FieldError(key, f"the request needs {key!r} (pass {key}=...)")
    check_together(payload)
    extra_body = request.get("extra_body")
    if extra_body is not None:
        check_str_mapping("extra_body", extra_body, values=None)
        if "stream" in extra_body:
            raise FieldError("extra_body.stream", _STREAM_IS_OURS)
        payload.update(extra_body)
    payload["stream"] = True
    try:
        body = EncodedRequest(_ENCODER.encode(payload))
    except (TypeError, ValueError, OverflowError) as exc:
        path = _unencodable(payload, "") or "the request"
        raise FieldError(
            path.lstrip("."),
            f"cannot be sent as JSON ({exc}); use str, int, float, bool, None, lists and dicts",
        ) from None
    body.headers = _extra("extra_headers", request.get("extra_headers"))
    body.params = _extra("extra_query", request.get("extra_query"))
    return body


_STREAM_IS_OURS: Final = (
    "'stream' is set by this library (always true: it streams); remove it "
    "(for one whole answer use gather() or stream.completion)"
)


def _unknown_field(key: str) -> str:
    if key == "timeout":
        return (
            "not a request field: there are four deadlines, connect_timeout, "
            "first_chunk_timeout, idle_timeout and total_timeout (seconds, or None), given to "
            "the call (open_stream, gather, ...) or to GroqClient"
        )
    if key in CALL_OPTIONS:
        return f"{key} is an option of the call (gather(..., {key}=...)), not a request field"
    return (
        f"unknown request field{closest(key, _KNOWN)}; for a field this library does not "
        f"know yet, pass extra_body={{{key!r}: ...}}"
    )


def _extra(name: str, value: object) -> dict[str, str]:
    if value is None:
        return {}
    check_str_mapping(name, value, values=str)
    checked: dict[str, str] = dict(value)  # type: ignore[call-overload]
    if name == "extra_headers":
        for header, text in checked.items():
            if header.lower() == "authorization":
                raise FieldError(
                    f"{name}.{header}",
                    "the API key is the client's: use GroqClient(api_key=...) for another key",
                )
            if header.lower() in _FRAMING:
                raise FieldError(
                    f"{name}.{header}", "is set by the HTTP layer for each request; leave it out"
                )
            if any(ch in text for ch in "\r\n\0") or any(ch in header for ch in "\r\n\0: "):
                raise FieldError(
                    f"{name}.{header}", "header names and values may not hold CR, LF or NUL"
                )
    return checked


# Headers that frame or route the request: a caller's value would corrupt it.
_FRAMING: Final = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def _unencodable(value: object, path: str) -> str | None:
    """The path of the first value msgspec cannot encode as JSON (for the error message)."""
    if isinstance(value, (str, bool, int, type(None))):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}.{key!r}"
            found = _unencodable(item, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _unencodable(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return path


def _unchecked(path: str, value: object) -> None:
    """Fields passed on unchecked beyond JSON encodability."""
