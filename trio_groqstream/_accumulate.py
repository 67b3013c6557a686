"""The pure fold behind ``stream.completion``: chunks in, a :class:`ChatCompletion` snapshot out.

No IO and no clock: the same chunks always give the same completion, so this is tested with plain
function calls, and a snapshot can be taken at any point (the partial completion attached to an
error is just the fold so far).

What the wire makes tricky (see ``GROQ_WIRE.md``):

* Tool calls usually arrive whole in one delta, but OpenAI-style fragments under one ``index``
  must work too, and the same ``index`` has been seen reused with a new ``id``: a delta with an id
  not seen before starts a new call, a delta without an id continues the latest call at its index.
* Usage may be stated two or three times (``x_groq.usage``, top-level ``usage``, and an extra
  ``choices: []`` chunk with ``include_usage``): it is replaced, never added.
* Compound models resend ``executed_tools`` for the same index with more fields filled: the later
  one wins, keeping what only the earlier one had.
* Compound models change the chunk id on every chunk and end with ``"stub"``: the first real id is
  the completion's id.
"""

from __future__ import annotations

import msgspec

from ._errors import StreamProtocolError
from ._wire import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChoiceDeltaToolCall,
    ChoiceLogprobs,
    CompletionChoice,
    CompletionUsage,
    ExecutedTool,
    FunctionCall,
    TokenLogprob,
    XGroq,
)

__all__ = ["Accumulator", "accumulate"]


# Groq answers with one choice (n=1) and a few tool calls; a server that opens choice or tool-call
# indices without end costs several times its bytes in state, so both are bounded.
MAX_CHOICES = 128
MAX_TOOL_CALLS = 1024


class _ToolCall:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self, call_id: str, call_type: str) -> None:
        self.id = call_id
        self.type = call_type
        self.name: list[str] = []
        self.arguments: list[str] = []


class _Choice:
    __slots__ = (
        "annotations",
        "content",
        "executed",
        "finish_reason",
        "function_call",
        "logprobs",
        "reasoning",
        "refusal",
        "refusal_logprobs",
        "role",
        "tool_by_id",
        "tool_by_index",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] | None = None
        self.reasoning: list[str] | None = None
        self.tool_calls: list[_ToolCall] = []
        self.tool_by_index: dict[int, _ToolCall] = {}
        self.tool_by_id: dict[str, _ToolCall] = {}
        self.executed: dict[int, ExecutedTool] = {}
        self.function_call: list[list[str]] | None = None
        self.finish_reason: str | None = None
        self.logprobs: list[TokenLogprob] | None = None
        self.refusal: list[str] | None = None
        self.refusal_logprobs: list[TokenLogprob] | None = None
        self.annotations: list[object] | None = None


class Accumulator:
    """Folds chunks, in order, into the completion they add up to."""

    __slots__ = (
        "_choices",
        "_created",
        "_fingerprint",
        "_id",
        "_model",
        "_service_tier",
        "_top_usage",
        "_usage",
        "_x_groq",
        "chunks",
    )

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._created = 0
        self._fingerprint: str | None = None
        self._service_tier: str | None = None
        self._usage: CompletionUsage | None = None
        self._top_usage = False
        self._x_groq: dict[str, object] = {}
        self._choices: dict[int, _Choice] = {}
        #: How many chunks have been folded in.
        self.chunks = 0

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in. Cheap in the common case of one content delta."""
        self.chunks += 1
        if not self._id and chunk.id and chunk.id != "stub":
            self._id = chunk.id
            self._model = chunk.model
            self._created = chunk.created
        if chunk.system_fingerprint is not None:
            self._fingerprint = chunk.system_fingerprint
        if chunk.usage is not None:
            self._usage = chunk.usage
            self._top_usage = True
        if chunk.service_tier is not None:
            self._service_tier = chunk.service_tier
        x_groq = chunk.x_groq
        if x_groq is not None:
            self._add_x_groq(x_groq)
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                if len(self._choices) >= MAX_CHOICES:
                    raise StreamProtocolError(
                        f"the stream opened more than {MAX_CHOICES} choices (choice index "
                        f"{choice.index}); Groq sends one"
                    )
                state = self._choices[choice.index] = _Choice()
            delta = choice.delta
            if delta.content is not None:
                if state.content is None:
                    state.content = [delta.content]
                else:
                    state.content.append(delta.content)
            if delta.reasoning is not None:
                if state.reasoning is None:
                    state.reasoning = [delta.reasoning]
                else:
                    state.reasoning.append(delta.reasoning)
            if delta.role is not None:
                state.role = delta.role
            if delta.tool_calls is not None:
                _add_tool_calls(state, delta.tool_calls)
            if delta.executed_tools is not None:
                for tool in delta.executed_tools:
                    earlier = state.executed.get(tool.index)
                    state.executed[tool.index] = tool if earlier is None else _merge(earlier, tool)
            if delta.annotations is not None:
                if state.annotations is None:
                    state.annotations = []
                state.annotations.extend(delta.annotations)
            if delta.function_call is not None:
                if state.function_call is None:
                    state.function_call = [[], []]
                if delta.function_call.name:
                    state.function_call[0].append(delta.function_call.name)
                if delta.function_call.arguments:
                    state.function_call[1].append(delta.function_call.arguments)
            if delta.refusal is not None:
                if state.refusal is None:
                    state.refusal = [delta.refusal]
                else:
                    state.refusal.append(delta.refusal)
            logprobs = choice.logprobs
            if logprobs is not None:
                if logprobs.content:
                    if state.logprobs is None:
                        state.logprobs = []
                    state.logprobs.extend(logprobs.content)
                if logprobs.refusal:
                    if state.refusal_logprobs is None:
                        state.refusal_logprobs = []
                    state.refusal_logprobs.extend(logprobs.refusal)
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason

    def _add_x_groq(self, x_groq: XGroq) -> None:
        merged = self._x_groq
        if x_groq.id is not None and "id" not in merged:
            merged["id"] = x_groq.id
        if x_groq.usage is not None:
            merged["usage"] = x_groq.usage
            if not self._top_usage:  # top-level usage wins when both come
                self._usage = x_groq.usage
        for name in ("usage_breakdown", "seed", "queue_length", "error", "debug"):
            value = getattr(x_groq, name)
            if value is not None:
                merged[name] = value

    def snapshot(self) -> ChatCompletion:
        """The completion as accumulated so far (a new immutable object each call)."""
        choices = [_finish_choice(index, state) for index, state in sorted(self._choices.items())]
        x_groq = (
            msgspec.convert(self._x_groq, XGroq, from_attributes=True) if self._x_groq else None
        )
        return ChatCompletion(
            id=self._id,
            created=self._created,
            model=self._model,
            system_fingerprint=self._fingerprint,
            choices=choices,
            usage=self._usage,
            service_tier=self._service_tier,
            x_groq=x_groq,
            request_id=x_groq.id if x_groq is not None else None,
        )


def accumulate(chunks: list[ChatCompletionChunk]) -> ChatCompletion:
    """Fold a whole list of chunks (a convenience over :class:`Accumulator`)."""
    acc = Accumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.snapshot()


def _add_tool_calls(state: _Choice, deltas: list[ChoiceDeltaToolCall]) -> None:
    for delta in deltas:
        call: _ToolCall | None
        if delta.id is not None:
            call = state.tool_by_id.get(delta.id)
            if call is None:
                call = _ToolCall(delta.id, delta.type or "function")
                _add_call(state, call)
                state.tool_by_id[delta.id] = call
        else:
            call = state.tool_by_index.get(delta.index)
            if call is None:
                call = _ToolCall("", delta.type or "function")
                _add_call(state, call)
        state.tool_by_index[delta.index] = call
        if delta.type is not None:
            call.type = delta.type
        function = delta.function
        if function is not None:
            if function.name:
                call.name.append(function.name)
            if function.arguments:
                call.arguments.append(function.arguments)


def _add_call(state: _Choice, call: _ToolCall) -> None:
    if len(state.tool_calls) >= MAX_TOOL_CALLS:
        raise StreamProtocolError(f"the stream opened more than {MAX_TOOL_CALLS} tool calls")
    state.tool_calls.append(call)


def _merge(earlier: ExecutedTool, later: ExecutedTool) -> ExecutedTool:
    """The later report of an executed tool, with any field it left empty taken from the earlier."""
    updates = {
        field: getattr(earlier, field)
        for field in earlier.__struct_fields__
        if getattr(later, field) is None and getattr(earlier, field) is not None
    }
    return msgspec.structs.replace(later, **updates) if updates else later


def _finish_choice(index: int, state: _Choice) -> CompletionChoice:
    tool_calls = [
        ChatCompletionMessageToolCall(
            id=call.id,
            type=call.type,
            function=FunctionCall(name="".join(call.name), arguments="".join(call.arguments)),
        )
        for call in state.tool_calls
    ]
    function_call = (
        FunctionCall(
            name="".join(state.function_call[0]), arguments="".join(state.function_call[1])
        )
        if state.function_call is not None
        else None
    )
    message = ChatCompletionMessage(
        role=state.role,
        content="".join(state.content) if state.content is not None else None,
        reasoning="".join(state.reasoning) if state.reasoning is not None else None,
        tool_calls=tool_calls or None,
        executed_tools=[state.executed[i] for i in sorted(state.executed)] or None,
        # Copies: the snapshot must not share a list that later chunks extend.
        annotations=list(state.annotations) if state.annotations is not None else None,
        function_call=function_call,
        refusal="".join(state.refusal) if state.refusal is not None else None,
    )
    logprobs = None
    if state.logprobs is not None or state.refusal_logprobs is not None:
        # Copies, as for annotations: later chunks extend the accumulator's lists.
        logprobs = ChoiceLogprobs(
            content=list(state.logprobs) if state.logprobs is not None else None,
            refusal=list(state.refusal_logprobs) if state.refusal_logprobs is not None else None,
        )
    return CompletionChoice(
        index=index, message=message, finish_reason=state.finish_reason, logprobs=logprobs
    )
