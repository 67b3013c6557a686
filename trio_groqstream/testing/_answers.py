"""The default answer: what the fake says to a valid chat request when no reply was pushed.

:func:`echo_handler` answers ``"You said: <last user message>"`` and honours the request the way
Groq does, in shape if not in wit:

* ``stream: true`` streams chunks; otherwise one ``chat.completion`` JSON object.
* ``tools`` with ``tool_choice`` ``"required"`` or a named function: a tool call (the whole call
  in one delta, as Groq sends it) whose arguments are valid for that tool's ``parameters``.
  With ``"auto"`` (or no ``tool_choice``) the fake calls the first tool whose name appears in the
  last user message, and answers with text otherwise (or after a tool result): deterministic,
  and enough to drive an app's tool loop. ``parallel_tool_calls`` lets it call every named tool.
* ``response_format``: ``json_object`` gives a JSON object, ``json_schema`` a value valid for the
  schema (:mod:`._jsonschema`).
* ``reasoning_format`` ``"parsed"`` (or ``include_reasoning``) adds ``reasoning`` before the
  answer, ``"raw"`` puts it in the content between ``<think>`` tags; it counts as reasoning
  tokens in the usage.
* ``max_completion_tokens`` (or ``max_tokens``) cuts the answer after that many pieces, with
  ``finish_reason: "length"``; a ``stop`` sequence cuts it with ``"stop"``.
* ``seed`` is echoed in ``x_groq.seed``, and without one the fake reports the random seed it
  "used", as Groq does since 2026 (recordings 13, 16, 20); ``logprobs`` / ``top_logprobs``
  add logprobs of Groq's shape; ``stream_options.include_usage`` adds the ``choices: []`` usage
  chunk.
* Every answer gets a fresh ``id``, ``x_groq.id`` (= ``x-request-id``) and ``created``; usage
  counts the estimated prompt tokens and the pieces sent, with plausible timings.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ._chunks import (
    DEFAULT_MODEL,
    FINGERPRINT,
    Chunker,
    error_headers,
    split_pieces,
    stream_headers,
    stream_reply,
    usage_block,
)
from ._jsonschema import sample
from ._limits import estimate_prompt_tokens
from ._replies import Reply
from ._requests import RecordedRequest

__all__ = ["echo_handler", "echo_text", "fresh_request_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, as in Groq's ULID-like ids


def echo_text(prompt: str) -> str:
    """The answer :func:`echo_handler` gives to ``prompt``: predictable, so tests can assert it."""
    return f"You said: {prompt}"


def fresh_request_id() -> str:
    """A new ``req_01...`` id of Groq's length (``req_`` and 26 characters)."""
    return "req_01" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def _call_id() -> str:
    return "call_" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _last(messages: Any, role: str) -> Mapping[str, Any] | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == role:
            return message
    return None


@dataclass
class _Plan:
    """What to answer: text pieces or tool calls, and how the answer ends."""

    pieces: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"


def _functions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [
        tool["function"]
        for tool in tools
        if isinstance(tool, Mapping)
        and tool.get("type") == "function"
        and isinstance(tool.get("function"), Mapping)
        and isinstance(tool["function"].get("name"), str)
    ]


def _chosen_tools(body: Mapping[str, Any], prompt: str) -> list[Mapping[str, Any]]:
    functions = _functions(body)
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return []
    if isinstance(choice, Mapping):
        wanted = choice.get("function", {}).get("name")
        return [f for f in functions if f["name"] == wanted][:1]
    if choice == "required":
        named = [f for f in functions if f["name"] in prompt]
        return named or functions[:1]
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, Mapping) and last.get("role") == "tool":
        return []  # the tool answered: now the model speaks
    named = [f for f in functions if f["name"] in prompt]
    if body.get("parallel_tool_calls") is False:
        return named[:1]
    return named


def _content(body: Mapping[str, Any], text: str) -> str:
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_object":
        return msgspec.json.encode({"answer": text}).decode()
    if kind == "json_schema":
        spec = response_format.get("json_schema") if isinstance(response_format, Mapping) else None
        schema = spec.get("schema", {}) if isinstance(spec, Mapping) else {}
        return msgspec.json.encode(sample(schema, text=text)).decode()
    return text


def _plan(body: Mapping[str, Any]) -> _Plan:
    user = _last(body.get("messages"), "user")
    prompt = _text_of(user.get("content")) if user is not None else ""
    tools = _chosen_tools(body, prompt)
    if tools:
        calls = [
            {
                "id": _call_id(),
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "arguments": msgspec.json.encode(
                        sample(tool.get("parameters") or {"type": "object"}, text=prompt)
                    ).decode(),
                },
            }
            for tool in tools
        ]
        return _Plan(calls=calls, finish_reason="tool_calls")
    text = _content(body, echo_text(prompt))
    mode = _reasoning_mode(body)
    thought = f"The user said: {prompt}" if mode is not None else ""
    if mode == "raw":
        text = f"<think>{thought}</think>\n\n{text}"
    finish = "stop"
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    cuts = [text.find(s) for s in stops if isinstance(s, str) and s and s in text]
    if cuts:
        text = text[: min(cuts)]
    reasoning = split_pieces(thought) if mode == "parsed" else []
    pieces = split_pieces(text)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    within = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
    if within and limit < len(reasoning) + len(pieces):
        # Reasoning counts against the limit first: a small one leaves no answer (recording 17).
        finish = "length"
        pieces = pieces[: max(0, limit - len(reasoning))]
        reasoning = reasoning[:limit]
    return _Plan(pieces=pieces, reasoning=reasoning, finish_reason=finish)


def _reasoning_mode(body: Mapping[str, Any]) -> str | None:
    """``"parsed"`` (a ``reasoning`` field), ``"raw"`` (``<think>`` in the content) or ``None``.

    The fake reasons only when asked: ``reasoning_format`` ``"parsed"`` or ``"raw"``, or
    ``include_reasoning: true``, whatever the model.
    """
    wanted = body.get("reasoning_format")
    if wanted in ("parsed", "raw"):
        return str(wanted)
    if wanted is None and body.get("include_reasoning") is True:
        return "parsed"
    return None


def _logprob_entry(piece: str, rank: int) -> dict[str, Any]:
    return {"token": piece, "logprob": round(-0.01 - 0.5 * rank, 4), "bytes": list(piece.encode())}


def _logprobs(pieces: Sequence[str], top: int) -> dict[str, Any]:
    content = []
    for piece in pieces:
        entry = _logprob_entry(piece, 0)
        alternatives = [_logprob_entry(piece, 0)]
        alternatives.extend(_logprob_entry(f"{piece.strip()}_{i}", i) for i in range(1, top))
        entry["top_logprobs"] = alternatives[:top]
        content.append(entry)
    return {"content": content}


@dataclass(frozen=True)
class _Ids:
    request_id: str
    completion_id: str
    created: int


def _usage(body: Mapping[str, Any], completion_tokens: int) -> dict[str, Any]:
    prompt_tokens = estimate_prompt_tokens(body)
    usage = usage_block(completion_tokens, prompt_tokens=prompt_tokens)
    usage["prompt_time"] = round(0.0005 + prompt_tokens * 0.00002, 6)
    usage["total_time"] = round(usage["prompt_time"] + usage["completion_time"], 6)
    return usage


def echo_handler(request: RecordedRequest) -> Reply:
    """The default handler: answer :func:`echo_text` of the last user message, as Groq would.

    See the module documentation for the request options it honours. It trusts the request to
    be valid (the fake checks requests before any handler runs) but never fails on one that is
    not: it answers something plausible instead.
    """
    body: Mapping[str, Any] = request.json if isinstance(request.json, Mapping) else {}
    model = body.get("model")
    model = model if isinstance(model, str) and model else DEFAULT_MODEL
    seed = body.get("seed")
    ids = _Ids(fresh_request_id(), f"chatcmpl-{secrets.token_hex(16)}", int(time.time()))
    plan = _plan(body)
    top = body.get("top_logprobs")
    logprobs = body.get("logprobs") is True
    top_count = top if isinstance(top, int) and not isinstance(top, bool) else 0
    completion_tokens = (
        len(plan.pieces)
        + len(plan.reasoning)
        + sum(1 + len(split_pieces(c["function"]["arguments"])) for c in plan.calls)
    )
    usage = _usage(body, completion_tokens)
    if plan.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": len(plan.reasoning)}
    seed_value = (
        seed if isinstance(seed, int) and not isinstance(seed, bool) else secrets.randbelow(2**31)
    )
    if body.get("stream") is True:
        chunker = Chunker(
            model=model,
            request_id=ids.request_id,
            completion_id=ids.completion_id,
            created=ids.created,
            seed=seed_value,
        )
        events = [chunker.role(content=None if plan.calls else "")]
        events.extend(chunker.chunk({"reasoning": piece}) for piece in plan.reasoning)
        for piece in plan.pieces:
            events.append(
                chunker.chunk(
                    {"content": piece},
                    logprobs=_logprobs([piece], top_count) if logprobs else None,
                )
            )
        for index, call in enumerate(plan.calls):
            events.append(chunker.chunk({"tool_calls": [{**call, "index": index}]}))
        events.append(chunker.finish(plan.finish_reason, usage))
        options = body.get("stream_options")
        if isinstance(options, Mapping) and options.get("include_usage") is True:
            events.append(chunker.usage_only(usage))
        return stream_reply(events, headers=stream_headers(ids.request_id))
    message: dict[str, Any] = {"role": "assistant"}
    if plan.calls:
        message["tool_calls"] = plan.calls
    else:
        message["content"] = "".join(plan.pieces)
    if plan.reasoning:
        message["reasoning"] = "".join(plan.reasoning)
    x_groq: dict[str, Any] = {"id": ids.request_id}
    x_groq["seed"] = seed_value
    completion = {
        "id": ids.completion_id,
        "object": "chat.completion",
        "created": ids.created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": _logprobs(plan.pieces, top_count) if logprobs else None,
                "finish_reason": plan.finish_reason,
            }
        ],
        "usage": usage,
        "usage_breakdown": None,
        "system_fingerprint": FINGERPRINT,
        "x_groq": x_groq,
        "service_tier": "on_demand",
    }
    body_bytes = msgspec.json.encode(completion) + b"\n"
    return Reply(
        status=200,
        headers=error_headers(ids.request_id),
        body=(body_bytes,),
        chunked=False,
    )
