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

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

import msgspec

from ._errors import ConfigurationError

__all__ = [
    "CALL_OPTIONS",
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
    "check_request",
    "check_requests",
    "check_seconds",
    "check_stream_options",
    "closest",
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


class ChannelParams(ChatParams, CallOptions, total=False):
    """:func:`stream_to_channel`'s keyword arguments: the request fields and the call options."""


#: The per-call stream options (the four deadlines and the retry policy).
TIMEOUT_OPTIONS: Final = ("connect_timeout", "first_chunk_timeout", "idle_timeout", "total_timeout")
CALL_OPTIONS: Final = (*TIMEOUT_OPTIONS, "max_retries", "max_retry_wait", "max_event_size")

_KNOWN: Final = frozenset(ChatParams.__annotations__)
_EXTRAS: Final = frozenset({"extra_body", "extra_headers", "extra_query"})


# --- option checks (shared by GroqClient and every streaming call) ------------------------------


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_seconds(name: str, value: object, *, allow_none: bool = True) -> float | None:
    """A duration in seconds: a positive real number (``math.inf`` allowed) or ``None``."""
    if value is None and allow_none:
        return None
    if not _real(value) or math.isnan(value) or value <= 0:  # type: ignore[arg-type,operator]
        allowed = "a positive number of seconds" + (" or None (no limit)" if allow_none else "")
        raise ConfigurationError(f"{name}={value!r} is not allowed: {name} must be {allowed}")
    return float(value)  # type: ignore[arg-type]


def check_count(name: str, value: object, *, minimum: int) -> int:
    """A whole number of at least ``minimum`` (``True``/``2.5``/``"3"`` are refused)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(
            f"{name}={value!r} is not allowed: {name} must be an int >= {minimum}"
        )
    return value


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name}={value!r} is not allowed: {name} must be True or False")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigurationError(
            f"{name}={value!r} is not allowed: {name} must be one of {allowed}"
        )
    return value


def closest(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the nearest known name, or ``""``."""
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


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
            if not _real(value) or math.isnan(value) or value < 0:  # type: ignore[arg-type,operator]
                raise ConfigurationError(
                    f"max_retry_wait={value!r} is not allowed: max_retry_wait must be a number "
                    "of seconds >= 0"
                )
            checked[name] = float(value)  # type: ignore[arg-type]
        elif name == "max_event_size":
            checked[name] = check_count(name, value, minimum=1)
        else:
            raise ConfigurationError(_unknown_option(name))
    return checked


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


class _Bad(Exception):
    """A field is wrong: ``path`` (relative, e.g. ``messages[0].role``) and what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


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
    except _Bad as bad:
        raise ConfigurationError(f"{prefix}{bad.path}: {bad.problem}") from None


def check_requests(requests: object) -> None:
    """Check a fan-out's ``requests`` argument: refuse a lone mapping or a string, and check every
    request of a list or tuple now, before the first one starts (an iterator is checked as it is
    consumed)."""
    if isinstance(requests, (Mapping, str, bytes)) or not isinstance(requests, Iterable):
        raise ConfigurationError(
            f"requests must be an iterable of request mappings, not {type(requests).__name__}; "
            "for a single request pass [request]"
        )
    if isinstance(requests, Sequence):
        for index, request in enumerate(requests):
            check_request(request, index)


def _check_and_encode(request: Mapping[Any, Any]) -> EncodedRequest:
    payload: dict[str, Any] = {}
    for key, value in request.items():
        if not isinstance(key, str):
            raise _Bad(repr(key), "request field names must be strings")
        if key == "stream":
            raise _Bad("stream", _STREAM_IS_OURS)
        if key not in _KNOWN:
            raise _Bad(key, _unknown_field(key))
        if value is None or key in _EXTRAS:
            continue
        _FIELD_CHECKS.get(key, _any)(key, value)
        payload[key] = value
    for key in ("model", "messages"):
        if key not in payload:
            raise _Bad(key, f"the request needs {key!r} (pass {key}=...)")
    extra_body = request.get("extra_body")
    if extra_body is not None:
        _check_str_mapping("extra_body", extra_body, values=None)
        if "stream" in extra_body:
            raise _Bad("extra_body.stream", _STREAM_IS_OURS)
        payload.update(extra_body)
    payload["stream"] = True
    try:
        body = EncodedRequest(_ENCODER.encode(payload))
    except (TypeError, ValueError, OverflowError) as exc:
        path = _unencodable(payload, "") or "the request"
        raise _Bad(
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
    _check_str_mapping(name, value, values=str)
    checked: dict[str, str] = dict(value)  # type: ignore[call-overload]
    if name == "extra_headers":
        for header, text in checked.items():
            if header.lower() == "authorization":
                raise _Bad(
                    f"{name}.{header}",
                    "the API key is the client's: use GroqClient(api_key=...) for another key",
                )
            if any(ch in text for ch in "\r\n\0") or any(ch in header for ch in "\r\n\0: "):
                raise _Bad(f"{name}.{header}", "header names and values may not hold CR, LF or NUL")
    return checked


def _check_str_mapping(path: str, value: object, *, values: type | None) -> None:
    if not isinstance(value, Mapping):
        raise _Bad(path, f"must be a mapping, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Bad(path, f"keys must be strings, not {key!r}")
        if values is not None and not isinstance(item, values):
            raise _Bad(f"{path}.{key}", f"must be a {values.__name__}, not {type(item).__name__}")


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


# --- per-field value checks ----------------------------------------------------------------------

Check = Callable[[str, Any], None]


def _any(path: str, value: object) -> None:
    """Fields passed on unchecked beyond JSON encodability."""


def _str(path: str, value: object) -> None:
    if not isinstance(value, str):
        raise _Bad(path, f"must be a string, not {type(value).__name__}")


def _bool(path: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _Bad(path, f"must be true or false, not {value!r}")


def _int(low: int | None = None, high: int | None = None) -> Check:
    def check(path: str, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Bad(path, f"must be an int, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Bad(path, f"{value} is out of range; allowed: {_range(low, high)}")

    return check


def _number(low: float, high: float) -> Check:
    def check(path: str, value: object) -> None:
        if not _real(value) or not math.isfinite(value):  # type: ignore[arg-type]
            raise _Bad(path, f"must be a number, not {value!r}")
        if not low <= value <= high:  # type: ignore[operator]
            raise _Bad(path, f"{value} is out of range; allowed: {_range(low, high)}")

    return check


def _range(low: float | None, high: float | None) -> str:
    if high is None:
        return f">= {low}"
    return f"{low} to {high}"


def _enum(*choices: str) -> Check:
    def check(path: str, value: object) -> None:
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise _Bad(path, f"{value!r} is not one of {allowed}{_near(value, choices)}")

    return check


def _near(value: object, choices: Iterable[str]) -> str:
    return closest(value, choices) if isinstance(value, str) else ""


def _obj(path: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Bad(path, f"must be a mapping (a JSON object), not {type(value).__name__}")
    return value


def _mapping(path: str, value: object) -> None:
    _obj(path, value)


def _list(path: str, value: object, *, most: int | None = None, least: int = 0) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
        raise _Bad(path, f"must be a list, not {type(value).__name__}")
    if len(value) < least:
        raise _Bad(path, "must not be empty")
    if most is not None and len(value) > most:
        raise _Bad(path, f"has {len(value)} items; at most {most} are allowed")
    return value


def _list_of(path: str, value: object, *, most: int | None = None) -> None:
    _list(path, value, most=most)


def _n(path: str, value: object) -> None:
    if value != 1 or isinstance(value, bool):
        raise _Bad(path, f"n={value!r} is refused: Groq supports only n=1 (one choice)")


def _model(path: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(
            path, f"must be a non-empty model name such as 'llama-3.3-70b-versatile', not {value!r}"
        )


def _stop(path: str, value: object) -> None:
    if isinstance(value, str):
        return
    for i, item in enumerate(_list(path, value, most=4)):
        _str(f"{path}[{i}]", item)


def _strings(path: str, value: object) -> None:
    for i, item in enumerate(_list(path, value)):
        _str(f"{path}[{i}]", item)


def _tools(path: str, value: object) -> None:
    for i, tool in enumerate(_list(path, value, most=128)):
        where = f"{path}[{i}]"
        tool = _obj(where, tool)
        _str(f"{where}.type", tool.get("type"))
        if tool["type"] == "function":
            function = _obj(f"{where}.function", tool.get("function"))
            _str(f"{where}.function.name", function.get("name"))


def _tool_choice(path: str, value: object) -> None:
    if isinstance(value, str):
        _enum("none", "auto", "required")(path, value)
        return
    value = _obj(path, value)
    function = value.get("function")
    if value.get("type") != "function" or not isinstance(function, Mapping):
        raise _Bad(path, "a named tool choice is {'type': 'function', 'function': {'name': ...}}")
    _str(f"{path}.function.name", function.get("name"))


def _response_format(path: str, value: object) -> None:
    value = _obj(path, value)
    _enum("text", "json_object", "json_schema")(f"{path}.type", value.get("type"))
    if value["type"] == "json_schema":
        schema = _obj(f"{path}.json_schema", value.get("json_schema"))
        _str(f"{path}.json_schema.name", schema.get("name"))


def _str_values(kind: type) -> Check:
    def check(path: str, value: object) -> None:
        _check_str_mapping(path, value, values=kind)

    return check


def _logit_bias(path: str, value: object) -> None:
    _check_str_mapping(path, value, values=int)


def _stream_options(path: str, value: object) -> None:
    value = _obj(path, value)
    for key, item in value.items():
        if key != "include_usage":
            raise _Bad(
                f"{path}.{key}", f"unknown stream option{closest(str(key), ['include_usage'])}"
            )
        _bool(f"{path}.{key}", item)


_FIELD_CHECKS: Final[dict[str, Check]] = {
    "model": _model,
    "messages": lambda path, value: _messages(path, value),
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "max_completion_tokens": _int(1),
    "max_tokens": _int(1),
    "top_logprobs": _int(0, 20),
    "seed": _int(),
    "n": _n,
    "stop": _stop,
    "tools": _tools,
    "functions": lambda path, value: _list_of(path, value, most=128),
    "tool_choice": _tool_choice,
    "function_call": lambda path, value: None if isinstance(value, str) else _mapping(path, value),
    "response_format": _response_format,
    "reasoning_format": _enum("hidden", "raw", "parsed"),
    "reasoning_effort": _enum("none", "default", "low", "medium", "high"),
    "service_tier": _enum("auto", "on_demand", "flex", "performance"),
    "citation_options": _enum("enabled", "disabled"),
    "parallel_tool_calls": _bool,
    "disable_tool_validation": _bool,
    "include_reasoning": _bool,
    "logprobs": _bool,
    "store": _bool,
    "user": _str,
    "logit_bias": _logit_bias,
    "metadata": _str_values(str),
    "stream_options": _stream_options,
    "search_settings": _mapping,
    "compound_custom": _mapping,
    "documents": lambda path, value: _list_of(path, value),
    "include_domains": _strings,
    "exclude_domains": _strings,
}


# --- messages ------------------------------------------------------------------------------------

# The keys each role's message may carry (Groq's schema sets additionalProperties: false).
_MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "reasoning", "tool_calls", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    "function": frozenset({"role", "content", "name"}),
}
_PART_TYPES: Final[dict[str, str]] = {
    "text": "text",
    "image_url": "image_url",
    "document": "document",
}


def _messages(path: str, value: object) -> None:
    messages = _list(path, value, least=1)
    for i, message in enumerate(messages):
        _message(f"{path}[{i}]", message)


def _message(path: str, message: object) -> None:
    if not isinstance(message, Mapping):
        raise _Bad(
            path,
            f"must be a message mapping like {{'role': 'user', 'content': '...'}}, "
            f"not {type(message).__name__}",
        )
    role = message.get("role")
    if role not in _MESSAGE_KEYS:
        allowed = ", ".join(repr(r) for r in _MESSAGE_KEYS)
        raise _Bad(
            f"{path}.role",
            f"{role!r} is not a role; allowed: {allowed}{_near(role, _MESSAGE_KEYS)}",
        )
    assert isinstance(role, str)
    keys = _MESSAGE_KEYS[role]
    for key in message:
        if key not in keys:
            raise _Bad(
                f"{path}.{key}",
                f"unknown field of a {role} message{closest(str(key), keys)}; allowed: "
                f"{', '.join(sorted(keys))}",
            )
    if "name" in message:
        _str(f"{path}.name", message["name"])
    content = message.get("content")
    if role == "assistant":
        if content is None and not message.get("tool_calls") and not message.get("function_call"):
            raise _Bad(f"{path}.content", "an assistant message needs content or tool_calls")
        if content is not None:
            _content(f"{path}.content", content, text_only=True)
        if message.get("tool_calls") is not None:
            _tool_calls(f"{path}.tool_calls", message["tool_calls"])
        if message.get("reasoning") is not None:
            _str(f"{path}.reasoning", message["reasoning"])
        return
    if role == "function":
        if content is not None:
            _str(f"{path}.content", content)
        _str(f"{path}.name", message.get("name"))
        return
    if "content" not in message or content is None:
        raise _Bad(f"{path}.content", f"a {role} message needs content (a string or parts)")
    _content(f"{path}.content", content, text_only=role in ("system", "developer"))
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise _Bad(
                f"{path}.tool_call_id",
                "a tool message needs tool_call_id: the id of the assistant's tool call it answers",
            )


def _content(path: str, content: object, *, text_only: bool) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, (list, tuple)):
        raise _Bad(
            path, f"must be a string or a list of content parts, not {type(content).__name__}"
        )
    for i, part in enumerate(_list(path, content, least=1)):
        _part(f"{path}[{i}]", part, text_only=text_only)


def _part(path: str, part: object, *, text_only: bool) -> None:
    part = _obj(path, part)
    kind = part.get("type")
    allowed = ("text",) if text_only else tuple(_PART_TYPES)
    if kind not in allowed:
        raise _Bad(
            f"{path}.type",
            f"{kind!r} is not a content part type here; allowed: "
            f"{', '.join(repr(a) for a in allowed)}{_near(kind, allowed)}",
        )
    assert isinstance(kind, str)
    field = _PART_TYPES[kind]
    for key in part:
        if key not in ("type", field):
            raise _Bad(
                f"{path}.{key}", f"unknown field of a {kind} part{closest(str(key), [field])}"
            )
    if kind == "text":
        _str(f"{path}.text", part.get("text"))
    elif kind == "image_url":
        image = part.get("image_url")
        image = _obj(f"{path}.image_url", image)
        _str(f"{path}.image_url.url", image.get("url"))
        if image.get("detail") is not None:
            _enum("auto", "low", "high")(f"{path}.image_url.detail", image["detail"])
    else:
        document = part.get("document")
        document = _obj(f"{path}.document", document)
        _mapping(f"{path}.document.data", document.get("data"))


def _tool_calls(path: str, value: object) -> None:
    for i, call in enumerate(_list(path, value)):
        where = f"{path}[{i}]"
        call = _obj(where, call)
        _str(f"{where}.id", call.get("id"))
        if call.get("type", "function") != "function":
            raise _Bad(f"{where}.type", "must be 'function'")
        function = _obj(f"{where}.function", call.get("function"))
        _str(f"{where}.function.name", function.get("name"))
        _str(f"{where}.function.arguments", function.get("arguments"))
