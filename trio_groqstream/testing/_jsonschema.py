"""A value for a JSON schema: the arguments of a fake tool call, the content of a fake
``json_schema`` answer.

Small on purpose (no dependency): it covers what tool and response schemas use in practice
(``type`` and type lists, ``properties``/``required``, ``items``, ``enum``, ``const``, ``anyOf`` /
``oneOf`` / ``allOf``, local ``$ref`` to ``$defs`` or ``definitions``, string ``format``,
length, item-count and numeric bounds). It does not try to satisfy ``pattern``. The output is
deterministic: the same schema and text give the same value, so tests can assert on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["sample"]

_MAX_DEPTH = 16
_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sample(schema: Any, *, text: str = "text") -> Any:
    """A value valid for ``schema``; ``text`` fills the strings that have no other constraint."""
    return _Sampler(schema, text).value(schema, "value", 0)


class _Sampler:
    def __init__(self, root: Any, text: str) -> None:
        self.root = root
        self.text = text

    def resolve(self, schema: Any, depth: int) -> Mapping[str, Any]:
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            if depth > _MAX_DEPTH:
                break
            depth += 1
            target: Any = self.root
            ref = schema["$ref"]
            if not ref.startswith("#"):
                return {}
            for key in ref.lstrip("#").strip("/").split("/"):
                if not key:
                    continue
                key = key.replace("~1", "/").replace("~0", "~")
                target = target.get(key) if isinstance(target, Mapping) else None
            schema = target
        return schema if isinstance(schema, Mapping) else {}

    def value(self, raw: Any, name: str, depth: int) -> Any:
        schema = self.resolve(raw, depth)
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                chosen = next(
                    (o for o in options if self.resolve(o, depth).get("type") != "null"),
                    options[0],
                )
                return self.value(chosen, name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self.resolve(part, depth)
                for key, item in part.items():
                    if key in ("properties",) and isinstance(item, Mapping):
                        merged.setdefault("properties", {}).update(item)
                    elif key == "required" and isinstance(item, list):
                        merged.setdefault("required", []).extend(item)
                    else:
                        merged.setdefault(key, item)
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.value({**merged, **rest}, name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
            else:
                kind = "string"
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("number", "integer"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string(schema, name)

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        out: dict[str, Any] = {}
        if isinstance(properties, Mapping):
            for key, sub in properties.items():
                out[key] = self.value(sub, key, depth + 1)
        required = schema.get("required")
        if isinstance(required, list):
            for key in required:
                if isinstance(key, str) and key not in out:
                    out[key] = self.text
        return out

    def array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 1)
        high = schema.get("maxItems")
        count = max(low if isinstance(low, int) else 1, 1)
        if isinstance(high, int):
            count = min(count, high)
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        out: list[Any] = []
        for i in range(count):
            if isinstance(prefix, list) and i < len(prefix):
                out.append(self.value(prefix[i], name, depth + 1))
            else:
                out.append(self.value(items, name, depth + 1))
        if schema.get("uniqueItems") is True and len(out) > 1:
            out = out[:1]
        return out

    @staticmethod
    def number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
        low, low_strict, high, high_strict = -math.inf, False, math.inf, False
        if _is_number(schema.get("minimum")):
            low = schema["minimum"]
        if _is_number(schema.get("exclusiveMinimum")) and schema["exclusiveMinimum"] >= low:
            low, low_strict = schema["exclusiveMinimum"], True
        if _is_number(schema.get("maximum")):
            high = schema["maximum"]
        if _is_number(schema.get("exclusiveMaximum")) and schema["exclusiveMaximum"] <= high:
            high, high_strict = schema["exclusiveMaximum"], True

        def fits(value: float) -> bool:
            above = value > low if low_strict else value >= low
            below = value < high if high_strict else value <= high
            return above and below

        given: Any = schema.get("multipleOf")
        step: float | None = given if _is_number(given) and given > 0 else None
        if step is None and integer:
            step = 1
        start = min(max(1.0, low), high)  # 1 if allowed, else the bound nearest to it
        if step is None:
            if fits(start):
                return float(start)
            if math.isfinite(low) and math.isfinite(high):
                return (low + high) / 2
            return float(low + 1 if math.isfinite(low) else high - 1)
        candidates = [math.ceil(start / step) * step, math.floor(start / step) * step]
        for bound, nudge in ((low, 1), (high, -1)):
            if math.isfinite(bound):
                base = (math.ceil if nudge > 0 else math.floor)(bound / step)
                candidates += [base * step, (base + nudge) * step]
        chosen = next((c for c in candidates if fits(c)), candidates[0])
        return int(chosen) if integer else float(chosen)

    def string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        text = _FORMATS.get(fmt, self.text) if isinstance(fmt, str) else self.text
        low = schema.get("minLength")
        high = schema.get("maxLength")
        if isinstance(low, int) and len(text) < low:
            text = text.ljust(low, "x")
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text
