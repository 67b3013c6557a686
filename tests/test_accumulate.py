"""The accumulator: a pure fold of chunks into a ChatCompletion, checked on synthetic chunks for
each wire quirk and on every recorded real stream."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from _real_groq import recording_ids, recording_or_skip, sse_bytes

from trio_groqstream._accumulate import Accumulator, accumulate
from trio_groqstream._sse import SSEDecoder
from trio_groqstream._wire import (
    CHUNK_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageToolCall,
    CompletionUsage,
    FunctionCall,
)


def chunk(*choices: dict[str, Any], **top: Any) -> ChatCompletionChunk:
    """A chunk built as JSON and decoded the way the stream decodes real ones."""
    body = {"id": "chatcmpl-1", "model": "m", "created": 1, "choices": list(choices), **top}
    return CHUNK_DECODER.decode(json.dumps(body).encode())


def choice(
    index: int = 0,
    *,
    finish_reason: str | None = None,
    logprobs: dict[str, Any] | None = None,
    **delta: Any,
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def call(
    index: int,
    id: str | None = None,
    name: str | None = None,
    args: str | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    """One tool-call delta; keys left as None are not sent."""
    function = {k: v for k, v in {"name": name, "arguments": args}.items() if v is not None}
    fields = {"index": index, "id": id, "type": type, "function": function or None}
    return {k: v for k, v in fields.items() if v is not None}


def calls(completion: ChatCompletion, index: int = 0) -> list[tuple[str, str, str, str]]:
    tool_calls = completion.choices[index].message.tool_calls or []
    return [(c.id, c.type, c.function.name, c.function.arguments) for c in tool_calls]


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "queue_time": 0.25,
    }


def recorded(name: str) -> tuple[list[dict[str, Any]], list[ChatCompletionChunk]]:
    """The chunk payloads of a recording (as JSON, and decoded); [DONE] and errors left out."""
    raw = sse_bytes(recording_or_skip(name))
    payloads = [
        json.loads(event.data)
        for event in SSEDecoder().feed(raw)
        if event.data != "[DONE]" and event.event != "error"
    ]
    payloads = [p for p in payloads if "error" not in p]
    return payloads, [CHUNK_DECODER.decode(json.dumps(p).encode()) for p in payloads]


# --- text and reasoning --------------------------------------------------------------------------


def test_content_is_joined_in_order() -> None:
    completion = accumulate(
        [
            chunk(choice(role="assistant", content="")),
            chunk(choice(content="Hel")),
            chunk(choice(content="lo")),
            chunk(choice(content=", wörld 😀")),
            chunk(choice(finish_reason="stop")),
        ]
    )
    message = completion.choices[0].message
    assert message.content == "Hello, wörld 😀"
    assert completion.text == "Hello, wörld 😀"
    assert message.role == "assistant"
    assert message.reasoning is None
    assert message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"


def test_content_stays_none_when_none_was_sent() -> None:
    completion = accumulate([chunk(choice(role="assistant", content=None)), chunk(choice())])
    assert completion.choices[0].message.content is None
    assert completion.text == ""


def test_reasoning_is_joined_apart_from_content() -> None:
    completion = accumulate(
        [
            chunk(choice(reasoning="Let me ", channel="analysis")),
            chunk(choice(reasoning="think.", channel="analysis")),
            chunk(choice(content="Answer")),
            chunk(choice(reasoning=" More.")),
        ]
    )
    message = completion.choices[0].message
    assert message.reasoning == "Let me think. More."
    assert message.content == "Answer"


def test_legacy_function_call_fragments_are_joined() -> None:
    completion = accumulate(
        [
            chunk(choice(function_call={"name": "lookup", "arguments": ""})),
            chunk(choice(function_call={"arguments": '{"q":'})),
            chunk(choice(function_call={"arguments": ' "x"}'})),
        ]
    )
    assert completion.choices[0].message.function_call == FunctionCall(
        name="lookup", arguments='{"q": "x"}'
    )


def test_annotations_are_collected() -> None:
    completion = accumulate(
        [
            chunk(choice(annotations=[{"type": "url", "url": "a"}])),
            chunk(choice(annotations=[{"type": "url", "url": "b"}])),
        ]
    )
    assert completion.choices[0].message.annotations == [
        {"type": "url", "url": "a"},
        {"type": "url", "url": "b"},
    ]


def test_empty_accumulator() -> None:
    completion = Accumulator().snapshot()
    assert completion.choices == []
    assert completion.id == ""
    assert completion.usage is None
    assert completion.request_id is None
    assert completion.text == ""


# --- tool calls ----------------------------------------------------------------------------------


def test_recorded_parallel_tool_calls_arrive_whole() -> None:
    _, chunks = recorded("25")
    completion = accumulate(chunks)
    assert calls(completion) == [
        (
            "call_re03",
            "function",
            "get_current_weather",
            '{"location": "San Francisco, CA", "unit": "fahrenheit"}',
        ),
        (
            "call_483b",
            "function",
            "get_current_weather",
            '{"location": "Tokyo, Japan", "unit": "celsius"}',
        ),
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.text  # text came before the calls in the same turn


def test_openai_style_fragments_under_one_index() -> None:
    completion = accumulate(
        [
            chunk(choice(tool_calls=[call(0, id="call_1", type="function", name="get", args="")])),
            chunk(choice(tool_calls=[call(0, args='{"city"')])),
            chunk(choice(tool_calls=[call(0, args=': "Paris"')])),
            chunk(choice(tool_calls=[call(0, args="}")])),
            chunk(choice(finish_reason="tool_calls")),
        ]
    )
    assert calls(completion) == [("call_1", "function", "get", '{"city": "Paris"}')]


def test_fragments_of_two_calls_interleaved_by_index() -> None:
    completion = accumulate(
        [
            chunk(choice(tool_calls=[call(0, id="a", name="f", args="{")])),
            chunk(choice(tool_calls=[call(1, id="b", name="g", args="[")])),
            chunk(choice(tool_calls=[call(0, args="}"), call(1, args="]")])),
        ]
    )
    assert calls(completion) == [("a", "function", "f", "{}"), ("b", "function", "g", "[]")]


def test_same_index_with_a_new_id_is_a_new_call() -> None:
    completion = accumulate(
        [
            chunk(choice(tool_calls=[call(0, id="call_a", name="f", args='{"n": 1}')])),
            chunk(choice(tool_calls=[call(0, id="call_b", name="f", args='{"n":')])),
            chunk(choice(tool_calls=[call(0, args=" 2}")])),  # continues call_b, the latest at 0
        ]
    )
    assert calls(completion) == [
        ("call_a", "function", "f", '{"n": 1}'),
        ("call_b", "function", "f", '{"n": 2}'),
    ]


def test_a_repeated_id_continues_its_call() -> None:
    completion = accumulate(
        [
            chunk(choice(tool_calls=[call(0, id="x", name="f", args="{")])),
            chunk(choice(tool_calls=[call(0, id="x", args="}")])),
        ]
    )
    assert calls(completion) == [("x", "function", "f", "{}")]


def test_a_fragment_without_an_id_still_makes_a_call() -> None:
    completion = accumulate([chunk(choice(tool_calls=[call(2, name="f", args="{}")]))])
    assert calls(completion) == [("", "function", "f", "{}")]


def test_executed_tools_sent_twice_are_merged() -> None:
    earlier = {
        "index": 0,
        "type": "search",
        "arguments": '{"q": 1}',
        "search_results": {"results": []},
    }
    later = {"index": 0, "output": "found", "search_results": {"results": [{"title": "t"}]}}
    completion = accumulate(
        [chunk(choice(executed_tools=[earlier])), chunk(choice(executed_tools=[later]))]
    )
    (tool,) = completion.choices[0].message.executed_tools or []
    assert tool.type == "search"  # only the earlier one had it: kept
    assert tool.arguments == '{"q": 1}'
    assert tool.output == "found"  # only the later one had it
    assert tool.search_results == {"results": [{"title": "t"}]}  # both had it: the later wins


def test_recorded_compound_executed_tools_are_merged() -> None:
    payloads, chunks = recorded("08")
    sent = [
        tool
        for p in payloads
        for c in p["choices"]
        for tool in c["delta"].get("executed_tools", [])
    ]
    assert len(sent) == 2
    assert {t["index"] for t in sent} == {0}
    (tool,) = accumulate(chunks).choices[0].message.executed_tools or []
    assert tool.output == sent[1]["output"]
    assert tool.arguments == sent[0]["arguments"]
    assert tool.type == "search"
    assert tool.search_results == sent[1]["search_results"]
    assert tool.search_results["results"]  # the filled list, not the earlier empty one


# --- several choices -----------------------------------------------------------------------------


def test_n2_choices_interleaved() -> None:
    completion = accumulate(
        [
            chunk(choice(1, role="assistant", content="B")),
            chunk(choice(0, role="assistant", content="A")),
            chunk(choice(0, content="a"), choice(1, content="b")),
            chunk(choice(1, finish_reason="length")),
            chunk(choice(0, content="!")),
            chunk(choice(0, finish_reason="stop")),
        ]
    )
    assert [c.index for c in completion.choices] == [0, 1]
    assert [c.message.content for c in completion.choices] == ["Aa!", "Bb"]
    assert [c.finish_reason for c in completion.choices] == ["stop", "length"]
    assert completion.text == "Aa!"


# --- usage ---------------------------------------------------------------------------------------


def stated_usages(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [p["usage"] for p in payloads if p.get("usage")]
    found += [p["x_groq"]["usage"] for p in payloads if (p.get("x_groq") or {}).get("usage")]
    return found


@pytest.mark.parametrize(
    ("name", "statements"),
    [
        pytest.param("09", 1, id="09-x_groq-only"),
        pytest.param("02", 2, id="02-x_groq-and-top-level"),
        pytest.param("16", 3, id="16-include-usage"),
        pytest.param("17", 3, id="17-include-usage"),
        pytest.param("18", 3, id="18-include-usage"),
        pytest.param("19", 3, id="19-include-usage"),
        pytest.param("20", 3, id="20-include-usage"),
    ],
)
def test_usage_is_counted_once(name: str, statements: int) -> None:
    payloads, chunks = recorded(name)
    stated = stated_usages(payloads)
    assert len(stated) == statements
    assert all(u == stated[0] for u in stated)  # the same numbers each time
    result = accumulate(chunks).usage
    assert result is not None
    assert msgspec.to_builtins(result) == stated[0]  # equal to what was stated, not a sum


def test_usage_only_chunk_with_no_choices() -> None:
    completion = accumulate(
        [
            chunk(choice(content="x", finish_reason="stop")),
            chunk(usage=usage(3, 4), service_tier="on_demand"),
        ]
    )
    assert completion.usage == CompletionUsage(
        prompt_tokens=3, completion_tokens=4, total_tokens=7, queue_time=0.25
    )
    assert completion.service_tier == "on_demand"
    assert [c.message.content for c in completion.choices] == ["x"]


def test_top_level_usage_wins_over_x_groq_usage() -> None:
    completion = accumulate(
        [
            chunk(choice(finish_reason="stop"), usage=usage(1, 1), x_groq={"usage": usage(9, 9)}),
            chunk(x_groq={"usage": usage(8, 8)}),
        ]
    )
    assert completion.usage is not None
    assert completion.usage.total_tokens == 2
    # The x_groq object still reports its own, latest, numbers.
    assert completion.x_groq is not None
    assert completion.x_groq.usage is not None
    assert completion.x_groq.usage.total_tokens == 16


# --- ids -----------------------------------------------------------------------------------------


def test_recorded_compound_id_is_the_first_real_id() -> None:
    payloads, chunks = recorded("08")
    ids = [p["id"] for p in payloads]
    assert ids[-1] == "stub"
    assert len(set(ids)) > 2  # a new id on every chunk
    completion = accumulate(chunks)
    assert completion.id == ids[0]
    assert completion.model == payloads[0]["model"]
    assert completion.created == payloads[0]["created"]
    assert completion.request_id is None  # compound's x_groq has no id
    assert completion.x_groq is not None
    assert completion.x_groq.usage_breakdown is not None
    assert completion.x_groq.usage_breakdown.models


def test_stub_id_first_is_ignored() -> None:
    completion = accumulate(
        [
            chunk(choice(content="a"), id="stub", model="x", created=5),
            chunk(choice(content="b"), id="chatcmpl-real", model="m", created=6),
            chunk(choice(content="c"), id="chatcmpl-other", model="n", created=7),
        ]
    )
    assert (completion.id, completion.model, completion.created) == ("chatcmpl-real", "m", 6)


@pytest.mark.parametrize("name", recording_ids(status=200))
def test_request_id_is_x_groq_id(name: str) -> None:
    recording = recording_or_skip(name)
    payloads, chunks = recorded(name)
    x_groq_ids = [p["x_groq"]["id"] for p in payloads if (p.get("x_groq") or {}).get("id")]
    completion = accumulate(chunks)
    assert completion.request_id == (x_groq_ids[0] if x_groq_ids else None)
    assert len(set(x_groq_ids)) <= 1
    header = recording["headers"].get("x-request-id")
    if header is not None:
        assert completion.request_id == header


def test_x_groq_fields_are_merged_across_chunks() -> None:
    completion = accumulate(
        [
            chunk(choice(role="assistant"), x_groq={"id": "req_1", "seed": 0, "queue_length": 2}),
            chunk(choice(content="x")),
            chunk(choice(finish_reason="stop"), x_groq={"id": "req_1", "usage": usage(1, 2)}),
        ]
    )
    x_groq = completion.x_groq
    assert x_groq is not None
    assert (x_groq.id, x_groq.seed, x_groq.queue_length) == ("req_1", 0, 2)
    assert x_groq.usage is not None
    assert x_groq.usage.total_tokens == 3
    assert completion.request_id == "req_1"


# --- snapshots -----------------------------------------------------------------------------------

RICH_STREAM = [
    chunk(choice(role="assistant", content=""), x_groq={"id": "req_9"}),
    chunk(
        choice(content="a", logprobs={"content": [{"token": "a", "logprob": -0.1}]}),
        choice(1, content="z", annotations=[{"n": 1}]),
    ),
    chunk(choice(reasoning="r1", tool_calls=[call(0, id="c1", name="f", args="{")])),
    chunk(choice(executed_tools=[{"index": 0, "type": "search", "arguments": "q"}])),
    chunk(
        choice(content="b", logprobs={"content": [{"token": "b", "logprob": -0.2}]}),
        choice(1, annotations=[{"n": 2}]),
    ),
    chunk(choice(reasoning="r2", tool_calls=[call(0, args="}"), call(1, id="c2", name="g")])),
    chunk(choice(executed_tools=[{"index": 0, "output": "o"}])),
    chunk(choice(finish_reason="tool_calls"), choice(1, finish_reason="stop")),
    chunk(usage=usage(5, 6), service_tier="on_demand"),
]


def test_snapshot_is_a_new_frozen_object() -> None:
    acc = Accumulator()
    acc.add(RICH_STREAM[0])
    first, second = acc.snapshot(), acc.snapshot()
    assert first is not second
    assert first == second
    with pytest.raises(AttributeError):
        first.id = "changed"  # type: ignore[misc]


def test_snapshots_mid_stream_are_unaffected_by_later_chunks() -> None:
    acc = Accumulator()
    taken: list[tuple[ChatCompletion, object]] = []
    for item in RICH_STREAM:
        acc.add(item)
        snapshot = acc.snapshot()
        taken.append((snapshot, msgspec.to_builtins(snapshot)))
    for k, (snapshot, as_taken) in enumerate(taken, start=1):
        # Nothing added later reached into an earlier snapshot (no shared mutable lists)...
        assert msgspec.to_builtins(snapshot) == as_taken, f"snapshot after {k} chunks changed"
        # ...and each equals a fresh fold of the same prefix.
        assert snapshot == accumulate(RICH_STREAM[:k]), k
    assert acc.chunks == len(RICH_STREAM)


def test_taking_snapshots_does_not_disturb_the_fold() -> None:
    acc = Accumulator()
    for item in RICH_STREAM:
        acc.snapshot()
        acc.add(item)
    final = acc.snapshot()
    assert final == accumulate(RICH_STREAM)
    assert calls(final) == [("c1", "function", "f", "{}"), ("c2", "function", "g", "")]
    assert final.choices[0].message.reasoning == "r1r2"
    assert final.choices[0].message.content == "ab"
    assert final.choices[1].message.annotations == [{"n": 1}, {"n": 2}]
    (tool,) = final.choices[0].message.executed_tools or []
    assert (tool.type, tool.arguments, tool.output) == ("search", "q", "o")
    logprobs = final.choices[0].logprobs
    assert logprobs is not None
    assert [t.token for t in logprobs.content or []] == ["a", "b"]
    assert final.usage is not None
    assert final.usage.total_tokens == 11
    assert final.request_id == "req_9"


# --- logprobs ------------------------------------------------------------------------------------


def test_recorded_logprobs_are_accumulated() -> None:
    payloads, chunks = recorded("16")
    sent = [
        entry
        for p in payloads
        for c in p["choices"]
        for entry in (c.get("logprobs") or {}).get("content") or []
    ]
    assert sent
    logprobs = accumulate(chunks).choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None

    def as_tuple(entry: Any) -> tuple[Any, ...]:
        if isinstance(entry, dict):
            return (entry["token"], entry["logprob"], entry["bytes"])
        return (entry.token, entry.logprob, entry.bytes)

    assert [as_tuple(t) for t in logprobs.content] == [as_tuple(e) for e in sent]
    assert [[as_tuple(t) for t in entry.top_logprobs] for entry in logprobs.content] == [
        [as_tuple(t) for t in e["top_logprobs"]] for e in sent
    ]
    # The odd top logprob with an empty token and null bytes survives as such.
    empty = [t for entry in logprobs.content for t in entry.top_logprobs if t.token == ""]
    assert empty
    assert empty[0].bytes is None


# --- every recorded stream -----------------------------------------------------------------------


def joined(values: list[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return "".join(present) if present else None


@pytest.mark.parametrize("name", recording_ids(status=200))
def test_recorded_stream_accumulates_to_what_was_sent(name: str) -> None:
    payloads, chunks = recorded(name)
    acc = Accumulator()
    for item in chunks:
        acc.add(item)
    completion = acc.snapshot()
    assert completion == accumulate(chunks)
    assert acc.chunks == len(chunks)
    deltas = [c["delta"] for p in payloads for c in p["choices"]]
    assert {c["index"] for p in payloads for c in p["choices"]} == {0}
    (result,) = completion.choices
    assert result.message.content == joined([d.get("content") for d in deltas])
    assert result.message.reasoning == joined([d.get("reasoning") for d in deltas])
    sent_calls = [tc for d in deltas for tc in d.get("tool_calls") or []]
    # Groq sends every call whole, so what was sent is exactly what comes out.
    assert result.message.tool_calls == (
        [
            ChatCompletionMessageToolCall(
                id=tc["id"],
                type=tc["type"],
                function=FunctionCall(**tc["function"]),
            )
            for tc in sent_calls
        ]
        or None
    )
    reasons = [c["finish_reason"] for p in payloads for c in p["choices"] if c["finish_reason"]]
    assert result.finish_reason == (reasons[-1] if reasons else None)
    stated = stated_usages(payloads)
    if stated:
        assert completion.usage is not None
        assert completion.usage.total_tokens == stated[-1]["total_tokens"]
        assert completion.usage.prompt_tokens == stated[-1]["prompt_tokens"]
    else:
        assert completion.usage is None
    first_real = next(p for p in payloads if p["id"] != "stub")
    assert completion.id == first_real["id"]


# --- refusals (OpenAI-compatible fields that must survive the fold) ------------------------------


def test_refusal_and_its_logprobs_are_kept() -> None:
    refused = [
        chunk(choice(role="assistant", refusal="I can")),
        chunk(
            choice(
                refusal="'t help.",
                logprobs={"content": None, "refusal": [{"token": "I", "logprob": -0.5}]},
            )
        ),
        chunk(choice(logprobs={"refusal": [{"token": " can't", "logprob": -0.1}]})),
        chunk(choice(finish_reason="stop")),
    ]
    acc = Accumulator()
    acc.add(refused[0])
    early = acc.snapshot()
    for item in refused[1:]:
        acc.add(item)
    final = acc.snapshot()
    message = final.choices[0].message
    assert message.refusal == "I can't help."
    assert message.content is None
    logprobs = final.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is None
    assert [t.token for t in logprobs.refusal or []] == ["I", " can't"]
    assert early.choices[0].message.refusal == "I can"  # a snapshot does not change later
    assert early.choices[0].logprobs is None
    assert msgspec.json.decode(msgspec.json.encode(final), type=ChatCompletion) == final


def test_no_refusal_means_none() -> None:
    final = accumulate([chunk(choice(content="hi"), choice(1, content="x"))])
    assert final.choices[0].message.refusal is None
    assert final.choices[1].logprobs is None
