"""What Groq refuses before it runs a model: the checks on a chat request's body.

Pure functions from the parsed JSON body to the first problem found, or ``None``. Real Groq
validates against a JSON schema and answers 400 ``invalid_request_error``. The wordings copy the
ones seen from Groq where they are known (``property 'X' is unsupported, did you mean 'Y'?``,
``'messages' : value must be an array``); where they are not, they follow the same style, and
``docs/testing.md`` says so. Every problem names the field in ``param`` (a dotted path such as
``messages.0.role``) and carries an OpenAI-style ``code`` (``unknown_parameter``,
``missing_required_parameter``, ``invalid_type``, ``invalid_value``), which Groq does not
document: tests should assert on the status, the type and ``param``.

The known parameters follow the ``groq`` SDK 1.7.0 (``completion_create_params.py``) plus
``stream_options``, which Groq accepts and that SDK sends through ``extra_body``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KNOWN_PARAMETERS", "Problem", "check_chat_request"]

KNOWN_PARAMETERS: frozenset[str] = frozenset(
    {
        "citation_options",
        "compound_custom",
        "disable_tool_validation",
        "documents",
        "exclude_domains",
        "frequency_penalty",
        "function_call",
        "functions",
        "include_domains",
        "include_reasoning",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "model",
        "n",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "reasoning_format",
        "response_format",
        "search_settings",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
    }
)

_MESSAGE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "tool_calls", "function_call", "reasoning", "channel"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    "function": frozenset({"role", "content", "name"}),
}
_PART_TYPES = frozenset({"text", "image_url", "document"})
_ENUMS: dict[str, frozenset[str]] = {
    "reasoning_format": frozenset({"hidden", "raw", "parsed"}),
    "reasoning_effort": frozenset({"none", "default", "low", "medium", "high"}),
    "service_tier": frozenset({"auto", "on_demand", "flex", "performance"}),
}
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_BOOLS = ("stream", "parallel_tool_calls", "logprobs", "include_reasoning", "store")
_MAX_TOOLS = 128
_MAX_STOP = 4


@dataclass(frozen=True)
class Problem:
    """Why a request is refused: an HTTP status and Groq's error fields."""

    message: str
    param: str | None = None
    code: str | None = None
    status: int = 400
    type: str = "invalid_request_error"


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _fail(message: str, param: str | None, code: str = "invalid_value") -> _Refused:
    return _Refused(Problem(message=message, param=param, code=code))


def _unsupported(name: str, known: frozenset[str], where: str | None = None) -> _Refused:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f", did you mean '{close[0]}'?" if close else ""
    message = f"property '{name}' is unsupported{hint}"
    if where is not None:
        message = f"'{where}' : {message}"
    param = name if where is None else f"{where}.{name}"
    return _fail(message, param, "unknown_parameter")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _want(value: Any, kind: type | tuple[type, ...], path: str, noun: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _fail(f"'{path}' : value must be {noun}", path, "invalid_type")


def check_chat_request(body: Any) -> Problem | None:
    """The first reason Groq would refuse this chat-completions body, or ``None``."""
    try:
        _check(body)
    except _Refused as refused:
        return refused.problem
    return None


def _check(body: Any) -> None:
    if not isinstance(body, Mapping):
        raise _fail("the request body must be a JSON object", None, "invalid_type")
    for name in body:
        if name not in KNOWN_PARAMETERS:
            raise _unsupported(name, KNOWN_PARAMETERS)
    for name in ("model", "messages"):
        if name not in body:
            raise _fail(
                f"'{name}' : property '{name}' is missing", name, "missing_required_parameter"
            )
    model = body["model"]
    _want(model, str, "model", "a string")
    if not model:
        raise _fail("'model' : value must not be empty", "model")
    _check_messages(body["messages"])
    _check_scalars(body)
    _check_tools(body)
    _check_response_format(body.get("response_format"))


def _check_messages(messages: Any) -> None:
    _want(messages, list, "messages", "an array")
    if not messages:
        raise _fail("'messages' : minimum number of items is 1", "messages")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        _want(message, Mapping, where, "an object")
        role = message.get("role")
        if role not in _MESSAGE_KEYS:
            raise _fail(
                f"'{where}.role' : value must be one of "
                "'system', 'user', 'assistant', 'tool', 'developer', 'function'",
                f"{where}.role",
            )
        for key in message:
            if key not in _MESSAGE_KEYS[role]:
                raise _unsupported(key, _MESSAGE_KEYS[role], where)
        if "name" in message:
            _want(message["name"], str, f"{where}.name", "a string")
        _check_content(message, role, where)


def _check_content(message: Mapping[str, Any], role: str, where: str) -> None:
    content = message.get("content")
    path = f"{where}.content"
    if role == "assistant":
        if content is None and not message.get("tool_calls") and not message.get("function_call"):
            raise _fail(f"'{path}' : an assistant message needs content or tool_calls", path)
        calls = message.get("tool_calls")
        if calls is not None:
            _want(calls, list, f"{where}.tool_calls", "an array")
            for j, call in enumerate(calls):
                _want(call, Mapping, f"{where}.tool_calls.{j}", "an object")
                function = call.get("function")
                _want(function, Mapping, f"{where}.tool_calls.{j}.function", "an object")
                _want(
                    function.get("name"), str, f"{where}.tool_calls.{j}.function.name", "a string"
                )
        if content is None:
            return
    if role == "tool":
        _want(message.get("tool_call_id"), str, f"{where}.tool_call_id", "a string")
    if isinstance(content, str):
        return
    if role not in ("user", "system", "developer", "assistant", "tool") or not isinstance(
        content, list
    ):
        raise _fail(f"'{path}' : value must be a string or an array of parts", path, "invalid_type")
    for j, part in enumerate(content):
        _want(part, Mapping, f"{path}.{j}", "an object")
        kind = part.get("type")
        if kind not in _PART_TYPES or (role != "user" and kind != "text"):
            raise _fail(
                f"'{path}.{j}.type' : unsupported content part type {kind!r}", f"{path}.{j}.type"
            )
        if kind == "text":
            _want(part.get("text"), str, f"{path}.{j}.text", "a string")


def _check_scalars(body: Mapping[str, Any]) -> None:
    for name in _BOOLS:
        if name in body:
            _want(body[name], bool, name, "a boolean")
    for name, (low, high) in _RANGES.items():
        if name in body and body[name] is not None:
            value = body[name]
            if not _is_number(value):
                raise _fail(f"'{name}' : value must be a number", name, "invalid_type")
            if not low <= value <= high:
                raise _fail(f"'{name}' : number must be between {low:g} and {high:g}", name)
    for name in ("max_completion_tokens", "max_tokens", "seed", "top_logprobs", "n"):
        if name in body and body[name] is not None and not _is_int(body[name]):
            raise _fail(f"'{name}' : value must be an integer", name, "invalid_type")
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None and body[name] < 1:
            raise _fail(f"'{name}' : number must be at least 1", name)
    if body.get("n") not in (None, 1):
        raise _fail("'n' : n must be 1 (Groq supports only one choice)", "n")
    if body.get("top_logprobs") is not None:
        if not 0 <= body["top_logprobs"] <= 20:
            raise _fail("'top_logprobs' : number must be between 0 and 20", "top_logprobs")
        if body.get("logprobs") is not True:
            raise _fail(
                "'top_logprobs' : logprobs must be true to use top_logprobs", "top_logprobs"
            )
    for name, allowed in _ENUMS.items():
        if name in body and body[name] is not None and body[name] not in allowed:
            choices = ", ".join(f"'{value}'" for value in sorted(allowed))
            raise _fail(f"'{name}' : value must be one of {choices}", name)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        _want(stop, list, "stop", "a string or an array of strings")
        if len(stop) > _MAX_STOP:
            raise _fail(f"'stop' : maximum number of items is {_MAX_STOP}", "stop")
        for i, item in enumerate(stop):
            _want(item, str, f"stop.{i}", "a string")
    options = body.get("stream_options")
    if options is not None:
        _want(options, Mapping, "stream_options", "an object")
        for key in options:
            if key != "include_usage":
                raise _unsupported(key, frozenset({"include_usage"}), "stream_options")
        if "include_usage" in options:
            _want(options["include_usage"], bool, "stream_options.include_usage", "a boolean")
    for name in ("user",):
        if body.get(name) is not None:
            _want(body[name], str, name, "a string")
    for name in ("metadata", "logit_bias", "search_settings"):
        if body.get(name) is not None:
            _want(body[name], Mapping, name, "an object")


def _check_tools(body: Mapping[str, Any]) -> None:
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        _want(tools, list, "tools", "an array")
        if len(tools) > _MAX_TOOLS:
            raise _fail(f"'tools' : maximum number of items is {_MAX_TOOLS}", "tools")
        for i, tool in enumerate(tools):
            where = f"tools.{i}"
            _want(tool, Mapping, where, "an object")
            if tool.get("type") != "function":
                # Groq's built-in tools (browser_search, code_interpreter) have no function.
                if tool.get("type") in ("browser_search", "code_interpreter"):
                    continue
                raise _fail(f"'{where}.type' : value must be 'function'", f"{where}.type")
            function = tool.get("function")
            _want(function, Mapping, f"{where}.function", "an object")
            name = function.get("name")
            _want(name, str, f"{where}.function.name", "a string")
            if not name:
                raise _fail(
                    f"'{where}.function.name' : value must not be empty", f"{where}.function.name"
                )
            parameters = function.get("parameters")
            if parameters is not None:
                _want(parameters, Mapping, f"{where}.function.parameters", "an object")
            names.append(name)
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise _fail(
                "'tool_choice' : value must be 'none', 'auto', 'required' or an object",
                "tool_choice",
            )
        if choice == "required" and not names:
            raise _fail(
                "'tool_choice' : 'required' needs at least one tool in 'tools'", "tool_choice"
            )
        return
    _want(choice, Mapping, "tool_choice", "a string or an object")
    function = choice.get("function")
    _want(function, Mapping, "tool_choice.function", "an object")
    name = function.get("name")
    _want(name, str, "tool_choice.function.name", "a string")
    if name not in names:
        raise _fail(
            f"'tool_choice.function.name' : no tool named '{name}' in 'tools'",
            "tool_choice.function.name",
        )


def _check_response_format(response_format: Any) -> None:
    if response_format is None:
        return
    _want(response_format, Mapping, "response_format", "an object")
    kind = response_format.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _fail(
            "'response_format.type' : value must be one of 'text', 'json_object', 'json_schema'",
            "response_format.type",
        )
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        _want(spec, Mapping, "response_format.json_schema", "an object")
        _want(spec.get("name"), str, "response_format.json_schema.name", "a string")
        schema = spec.get("schema")
        if schema is not None:
            _want(schema, Mapping, "response_format.json_schema.schema", "an object")
