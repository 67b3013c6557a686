"""The schema sampler: every value it makes is valid for its schema (checked by ``jsonschema``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_groqstream.testing._jsonschema import sample

jsonschema = pytest.importorskip("jsonschema", reason="the compat extra brings jsonschema")


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    bounds = st.integers(min_value=-50, max_value=50)
    strings = st.builds(
        lambda low, extra, fmt: (
            {"type": "string", "format": fmt}  # a format and a length can contradict
            if fmt
            else {
                "type": "string",
                **({"minLength": low} if low is not None else {}),
                **({"maxLength": (low or 0) + extra} if extra is not None else {}),
            }
        ),
        st.none() | st.integers(0, 30),
        st.none() | st.integers(0, 10),
        st.sampled_from([None, "date", "date-time", "email", "uuid", "uri"]),
    )
    numbers = st.builds(
        lambda kind, low, span, exclusive, step: {
            "type": kind,
            **({"minimum": low} if low is not None else {}),
            **({"maximum": low + span} if low is not None and span is not None else {}),
            **({"exclusiveMinimum": low - 1} if exclusive and low is not None else {}),
            **({"multipleOf": step} if step else {}),
        },
        st.sampled_from(["integer", "number"]),
        st.none() | bounds,
        st.none() | st.integers(10, 40),
        st.booleans(),
        st.sampled_from([None, 1, 2, 5]),
    )
    enums = st.lists(st.text(max_size=5) | st.integers(), min_size=1, max_size=4).map(
        lambda values: {"enum": values}
    )
    return st.one_of(
        strings,
        numbers,
        enums,
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        st.just({"const": "fixed"}),
        st.just({"type": ["string", "null"]}),
        st.just({}),
    )


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(st.text("abcxyz", min_size=1, max_size=4), children, max_size=4).map(
        lambda props: {
            "type": "object",
            "properties": props,
            "required": sorted(props),
            "additionalProperties": False,
        }
    )
    arrays = st.builds(
        lambda items, low: {"type": "array", "items": items, "minItems": low, "maxItems": low + 2},
        children,
        st.integers(0, 3),
    )
    unions = st.lists(children, min_size=1, max_size=3).map(lambda options: {"anyOf": options})
    return objects | arrays | unions


schemas = st.recursive(_leaf(), _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(schemas, st.text(max_size=20))
def test_samples_validate(schema: dict[str, Any], text: str) -> None:
    jsonschema.validate(
        sample(schema, text=text), schema, format_checker=jsonschema.FormatChecker()
    )


def test_refs_and_all_of() -> None:
    schema = {
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        "definitions": {"name": {"type": "string", "maxLength": 3}},
        "allOf": [
            {"properties": {"at": {"$ref": "#/$defs/point"}}, "required": ["at"]},
            {"properties": {"who": {"$ref": "#/definitions/name"}}, "required": ["who", "extra"]},
        ],
    }
    value = sample(schema, text="abcdef")
    jsonschema.validate(value, schema)
    assert value == {"at": {"x": 1}, "who": "abc", "extra": "abcdef"}


def test_odd_schemas_do_not_crash() -> None:
    loop = {"$ref": "#"}
    assert sample(loop) is None or sample(loop) == "text"
    assert sample({"$ref": "http://example.com/schema"}) == "text"
    assert sample({"$ref": "#/missing/thing"}) == "text"
    assert sample(None) == "text"
    assert sample({"type": "array", "prefixItems": [{"const": 1}], "minItems": 2}) == [1, "text"]
    assert sample({"type": "array", "uniqueItems": True, "minItems": 1}) == ["text"]
    number = sample({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1.5})
    assert 1 < number < 1.5
