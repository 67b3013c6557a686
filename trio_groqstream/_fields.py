"""What each chat-completions request field may hold: the value checks behind :mod:`._params`.

Pure: no IO. Each check takes the field's path (``messages[0].content``) and its value and raises
:class:`FieldError` with that path and what is wrong; :func:`._params.check_request` turns it into
a :class:`ConfigurationError` prefixed with the request's index. Messages follow Groq's schema
(``additionalProperties: false``): each role carries only its own keys, so a misspelt key is named
with the closest right one rather than dropped by the server or refused only in production.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = [
    "FIELD_CHECKS",
    "FieldError",
    "check_str_mapping",
    "check_together",
    "closest",
    "is_real",
]


class FieldError(Exception):
    """A field is wrong: ``path`` (relative, e.g. ``messages[0].role``) and what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def is_real(value: object) -> bool:
    """An int or a float, but not a bool (``True`` is an int to Python, never a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def closest(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the nearest known name, or ``""``."""
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_str_mapping(path: str, value: object, *, values: type | None) -> None:
    """A mapping with str keys (and, unless ``values`` is None, values of that type)."""
    if not isinstance(value, Mapping):
        raise FieldError(path, f"must be a mapping, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise FieldError(path, f"keys must be strings, not {key!r}")
        if values is not None and not isinstance(item, values):
            raise FieldError(
                f"{path}.{key}", f"must be a {values.__name__}, not {type(item).__name__}"
            )


# --- per-field value checks ----------------------------------------------------------------------

Check = Callable[[str, Any], None]


def _str(path: str, value: object) -> None:
    if not isinstance(value, str):
        raise FieldError(path, f"must be a string, not {type(value).__name__}")


def _bool(path: str, value: object) -> None:
    if not isinstance(value, bool):
        raise FieldError(path, f"must be true or false, not {value!r}")


def _int(low: int | None = None, high: int | None = None) -> Check:
    def check(path: str, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise FieldError(path, f"must be an int, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise FieldError(path, f"{value} is out of range; allowed: {_range(low, high)}")

    return check


def _number(low: float, high: float) -> Check:
    def check(path: str, value: object) -> None:
        if not is_real(value) or not math.isfinite(value):  # type: ignore[arg-type]
            raise FieldError(path, f"must be a number, not {value!r}")
        if not low <= value <= high:  # type: ignore[operator]
            raise FieldError(path, f"{value} is out of range; allowed: {_range(low, high)}")

    return check


def _range(low: float | None, high: float | None) -> str:
    if high is None:
        return f">= {low}"
    return f"{low} to {high}"


def _enum(*choices: str) -> Check:
    def check(path: str, value: object) -> None:
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise FieldError(path, f"{value!r} is not one of {allowed}{_near(value, choices)}")

    return check


def _near(value: object, choices: Iterable[str]) -> str:
    return closest(value, choices) if isinstance(value, str) else ""


def _obj(path: str, value: object) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise FieldError(path, f"must be a mapping (a JSON object), not {type(value).__name__}")
    return value


def _mapping(path: str, value: object) -> None:
    _obj(path, value)


def _list(path: str, value: object, *, most: int | None = None, least: int = 0) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
        raise FieldError(path, f"must be a list, not {type(value).__name__}")
    if len(value) < least:
        raise FieldError(path, "must not be empty")
    if most is not None and len(value) > most:
        raise FieldError(path, f"has {len(value)} items; at most {most} are allowed")
    return value


def _list_of(path: str, value: object, *, most: int | None = None) -> None:
    _list(path, value, most=most)


def _n(path: str, value: object) -> None:
    if value != 1 or isinstance(value, bool):
        raise FieldError(path, f"{value!r} is refused: Groq supports only n=1 (one choice)")


def _model(path: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(
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
            _name(f"{where}.function.name", function.get("name"))
            if function.get("parameters") is not None:
                _mapping(f"{where}.function.parameters", function["parameters"])


def _name(path: str, value: object) -> None:
    """A function or schema name as Groq's reference allows: a-z, A-Z, 0-9, _ and -, <= 64."""
    if not isinstance(value, str):
        raise FieldError(path, f"must be a string, not {type(value).__name__}")
    if not _NAME.fullmatch(value):
        raise FieldError(
            path, f"{value!r} is not a valid name: use a-z, A-Z, 0-9, _ and -, at most 64"
        )


_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _tool_choice(path: str, value: object) -> None:
    if isinstance(value, str):
        _enum("none", "auto", "required")(path, value)
        return
    value = _obj(path, value)
    function = value.get("function")
    if value.get("type") != "function" or not isinstance(function, Mapping):
        raise FieldError(
            path, "a named tool choice is {'type': 'function', 'function': {'name': ...}}"
        )
    _str(f"{path}.function.name", function.get("name"))


def _response_format(path: str, value: object) -> None:
    value = _obj(path, value)
    _enum("text", "json_object", "json_schema")(f"{path}.type", value.get("type"))
    if value["type"] == "json_schema":
        schema = _obj(f"{path}.json_schema", value.get("json_schema"))
        _name(f"{path}.json_schema.name", schema.get("name"))
        if schema.get("schema") is not None:
            _mapping(f"{path}.json_schema.schema", schema["schema"])


def check_together(body: Mapping[str, Any]) -> None:
    """The rules that tie fields together (each field already passed its own check)."""
    if "top_logprobs" in body and body.get("logprobs") is not True:
        raise FieldError("top_logprobs", "needs logprobs=True (Groq's rule)")
    if "include_reasoning" in body and "reasoning_format" in body:
        raise FieldError(
            "include_reasoning", "is mutually exclusive with reasoning_format: set only one"
        )
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto"):
        return
    tools = body.get("tools")
    if not tools:
        raise FieldError("tool_choice", f"{choice!r} needs tools to choose from (tools=[...])")
    if isinstance(choice, Mapping) and not body.get("disable_tool_validation"):
        wanted = choice["function"]["name"]
        names = [tool["function"]["name"] for tool in tools if tool["type"] == "function"]
        if wanted not in names:
            raise FieldError(
                "tool_choice.function.name",
                f"{wanted!r} is not one of the tools{closest(wanted, names)}",
            )


def _str_values(kind: type) -> Check:
    def check(path: str, value: object) -> None:
        check_str_mapping(path, value, values=kind)

    return check


def _logit_bias(path: str, value: object) -> None:
    check_str_mapping(path, value, values=int)


def _stream_options(path: str, value: object) -> None:
    value = _obj(path, value)
    for key, item in value.items():
        if key != "include_usage":
            raise FieldError(
                f"{path}.{key}", f"unknown stream option{closest(str(key), ['include_usage'])}"
            )
        _bool(f"{path}.{key}", item)


FIELD_CHECKS: Final[dict[str, Check]] = {
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
    if type(message) is not dict and not isinstance(message, Mapping):  # dict: the fast path
        raise FieldError(
            path,
            f"must be a message mapping like {{'role': 'user', 'content': '...'}}, "
            f"not {type(message).__name__}",
        )
    role = message.get("role")
    if not isinstance(role, str) or role not in _MESSAGE_KEYS:
        allowed = ", ".join(repr(r) for r in _MESSAGE_KEYS)
        raise FieldError(
            f"{path}.role",
            f"{role!r} is not a role; allowed: {allowed}{_near(role, _MESSAGE_KEYS)}",
        )
    keys = _MESSAGE_KEYS[role]
    for key in message:
        if key not in keys:
            raise FieldError(
                f"{path}.{key}",
                f"unknown field of a {role} message{closest(str(key), keys)}; allowed: "
                f"{', '.join(sorted(keys))}",
            )
    if "name" in message:
        _str(f"{path}.name", message["name"])
    content = message.get("content")
    if role == "assistant":
        if content is None and not message.get("tool_calls") and not message.get("function_call"):
            raise FieldError(f"{path}.content", "an assistant message needs content or tool_calls")
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
        raise FieldError(f"{path}.content", f"a {role} message needs content (a string or parts)")
    _content(f"{path}.content", content, text_only=role in ("system", "developer"))
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise FieldError(
                f"{path}.tool_call_id",
                "a tool message needs tool_call_id: the id of the assistant's tool call it answers",
            )


def _content(path: str, content: object, *, text_only: bool) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, (list, tuple)):
        raise FieldError(
            path, f"must be a string or a list of content parts, not {type(content).__name__}"
        )
    for i, part in enumerate(_list(path, content, least=1)):
        _part(f"{path}[{i}]", part, text_only=text_only)


def _part(path: str, part: object, *, text_only: bool) -> None:
    part = _obj(path, part)
    kind = part.get("type")
    allowed = ("text",) if text_only else tuple(_PART_TYPES)
    if kind not in allowed:
        raise FieldError(
            f"{path}.type",
            f"{kind!r} is not a content part type here; allowed: "
            f"{', '.join(repr(a) for a in allowed)}{_near(kind, allowed)}",
        )
    assert isinstance(kind, str)
    field = _PART_TYPES[kind]
    for key in part:
        if key not in ("type", field):
            raise FieldError(
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
            raise FieldError(f"{where}.type", "must be 'function'")
        function = _obj(f"{where}.function", call.get("function"))
        _str(f"{where}.function.name", function.get("name"))
        _str(f"{where}.function.arguments", function.get("arguments"))
