"""Wire types: what Groq sends and what we send, as msgspec Structs.

Response types ignore unknown fields at every level (Groq adds fields without notice) and give
every field a default, so a chunk that omits one still decodes. Types are checked, though: a string
where a number belongs is a protocol error carrying the raw bytes, not a silently wrong value.

Decoders and the encoder are built once at import; ``msgspec.json.Decoder(T).decode`` is the
cheapest path msgspec offers. The structs are ``gc=False``: they hold only JSON values, so they
cannot be part of a reference cycle, and not tracking them makes decoding a chunk measurably
cheaper (msgspec's perf tips) (see msgspec's ``docs/perf-tips.rst``).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "CHUNK_DECODER",
    "ERROR_ENVELOPE_DECODER",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "CompletionChoice",
    "CompletionTokensDetails",
    "CompletionUsage",
    "ErrorEnvelope",
    "ErrorObject",
    "ExecutedTool",
    "FunctionCall",
    "PromptTokensDetails",
    "TokenLogprob",
    "TopLogprob",
    "UsageBreakdown",
    "UsageBreakdownModel",
    "XGroq",
]


class _Wire(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Base of all wire structs: immutable, keyword-only, and compact when encoded again."""


# --- usage ---------------------------------------------------------------------------------------


class PromptTokensDetails(_Wire, frozen=True):
    """Breakdown of the prompt tokens (cached tokens, when Groq reports them)."""

    cached_tokens: int | None = None


class CompletionTokensDetails(_Wire, frozen=True):
    """Breakdown of the completion tokens (reasoning tokens of reasoning models)."""

    reasoning_tokens: int | None = None


class CompletionUsage(_Wire, frozen=True):
    """Token counts and Groq's timings (float seconds) for one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    queue_time: float | None = None
    prompt_time: float | None = None
    completion_time: float | None = None
    total_time: float | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class UsageBreakdownModel(_Wire, frozen=True):
    """One model's share of a compound model's usage."""

    model: str = ""
    usage: CompletionUsage | None = None


class UsageBreakdown(_Wire, frozen=True):
    """Per-model usage of a compound model's run."""

    models: list[UsageBreakdownModel] = []


class XGroq(_Wire, frozen=True):
    """Groq's extension object: request id, usage on the final chunk, and an early-stop reason."""

    id: str | None = None
    usage: CompletionUsage | None = None
    usage_breakdown: UsageBreakdown | None = None
    seed: int | None = None
    queue_length: int | None = None
    error: str | None = None
    debug: Any = None


# --- logprobs ------------------------------------------------------------------------------------


class TopLogprob(_Wire, frozen=True):
    """One alternative token at a position, with its log probability."""

    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None


class TokenLogprob(_Wire, frozen=True):
    """A sampled token, its log probability and the most likely alternatives."""

    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = []


class ChoiceLogprobs(_Wire, frozen=True):
    """Log probabilities of a choice's tokens, when requested with ``logprobs``."""

    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


# --- deltas --------------------------------------------------------------------------------------


class ChoiceDeltaToolCallFunction(_Wire, frozen=True):
    """The function part of a tool-call delta: its name and (part of) its JSON arguments."""

    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(_Wire, frozen=True):
    """A tool call, whole (Groq's habit) or one fragment of it (OpenAI's)."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class ChoiceDeltaFunctionCall(_Wire, frozen=True):
    """The legacy ``function_call`` delta."""

    name: str | None = None
    arguments: str | None = None


class ExecutedTool(_Wire, frozen=True):
    """A tool a compound model ran on the server side (web search, code execution...).

    The result objects vary by tool and change often, so they stay plain JSON values.
    """

    index: int = 0
    type: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    search_results: Any = None
    code_results: Any = None
    browser_results: Any = None


class ChoiceDelta(_Wire, frozen=True):
    """What one chunk adds to a choice: text, reasoning, tool calls, executed tools..."""

    role: str | None = None
    content: str | None = None
    reasoning: str | None = None
    channel: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    executed_tools: list[ExecutedTool] | None = None
    annotations: list[Any] | None = None
    function_call: ChoiceDeltaFunctionCall | None = None
    refusal: str | None = None


class Choice(_Wire, frozen=True):
    """One choice of a chunk: its ``delta`` and, on its last chunk, ``finish_reason``."""

    index: int = 0
    delta: ChoiceDelta = ChoiceDelta()
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None


# --- errors --------------------------------------------------------------------------------------


class ErrorObject(_Wire, frozen=True):
    """Groq's ``{"error": {...}}`` payload, in an HTTP error body or inside a stream."""

    message: str = ""
    type: str | None = None
    code: str | None = None
    param: str | None = None
    failed_generation: str | None = None
    status_code: int | None = None


class ErrorEnvelope(_Wire, frozen=True):
    """The ``{"error": {...}}`` wrapper around :class:`ErrorObject`."""

    error: ErrorObject | None = None


# --- chunks --------------------------------------------------------------------------------------


class ChatCompletionChunk(_Wire, frozen=True):
    """One ``chat.completion.chunk``. ``choices`` is empty on the ``include_usage`` chunk, so never
    index ``choices[0]`` blindly. ``error`` is set only on the in-stream error shape
    ``data: {"error": {...}}``, which the stream turns into :class:`StreamAPIError` (users never see
    a chunk with it)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    system_fingerprint: str | None = None
    choices: list[Choice] = []
    usage: CompletionUsage | None = None
    x_groq: XGroq | None = None
    service_tier: str | None = None
    error: ErrorObject | None = None


# --- the accumulated completion ------------------------------------------------------------------


class FunctionCall(_Wire, frozen=True):
    """A complete function call: name and JSON arguments string."""

    name: str = ""
    arguments: str = ""


class ChatCompletionMessageToolCall(_Wire, frozen=True):
    """A complete tool call of the accumulated message."""

    id: str = ""
    type: str = "function"
    function: FunctionCall = FunctionCall()


class ChatCompletionMessage(_Wire, frozen=True):
    """The accumulated assistant message of one choice."""

    role: str = "assistant"
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    executed_tools: list[ExecutedTool] | None = None
    annotations: list[Any] | None = None
    function_call: FunctionCall | None = None
    refusal: str | None = None


class CompletionChoice(_Wire, frozen=True):
    """One accumulated choice: its message and why it finished."""

    index: int = 0
    message: ChatCompletionMessage = ChatCompletionMessage()
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(_Wire, frozen=True):
    """A whole completion, shaped like the non-streaming response so code can move between the
    two. ``request_id`` is Groq's ``x_groq.id`` (the ``x-request-id`` to quote to support)."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    system_fingerprint: str | None = None
    choices: list[CompletionChoice] = []
    usage: CompletionUsage | None = None
    service_tier: str | None = None
    x_groq: XGroq | None = None
    request_id: str | None = None

    @property
    def text(self) -> str:
        """The first choice's content, or ``""`` (what one usually wants)."""
        if not self.choices:
            return ""
        return self.choices[0].message.content or ""


CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
ERROR_ENVELOPE_DECODER = msgspec.json.Decoder(ErrorEnvelope)
