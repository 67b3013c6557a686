"""Reading a batch upload: the multipart body, the completion window, and the input file's
lines checked as Groq's validation step checks them.

Pure functions of bytes, so the fake's refusals are tested without a server.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ENDPOINT", "multipart", "validate", "window_hours"]

ENDPOINT = "/v1/chat/completions"


def window_hours(window: str) -> int | None:
    unit = {"h": 1, "d": 24}.get(window[-1:])
    number = window[:-1]
    if unit is None or not number.isdigit():
        return None
    hours = int(number) * unit
    return hours if 24 <= hours <= 168 else None


def validate(data: bytes) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """Check an input file as Groq's validation step does: every line JSON with a unique
    ``custom_id``, ``method: POST``, the batch's ``url`` and a ``body`` object."""
    lines: list[tuple[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fail(number: int, code: str, message: str, param: str | None = None) -> None:
        errors.append({"code": code, "line": number, "message": message, "param": param})

    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            fail(number, "invalid_json_line", "This line is not parseable as valid JSON.")
            continue
        if not isinstance(line, dict):
            fail(number, "invalid_json_line", "This line is not a JSON object.")
            continue
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            fail(number, "missing_required_parameter", "custom_id is required.", "custom_id")
        elif custom_id in seen:
            fail(
                number,
                "duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request. The custom_id "
                "parameter must be unique for each request in a batch.",
                "custom_id",
            )
        elif line.get("method") != "POST":
            fail(number, "invalid_method", "The only supported method is POST.", "method")
        elif line.get("url") != ENDPOINT:
            fail(
                number,
                "invalid_url",
                f"The URL provided for this request does not match the batch endpoint {ENDPOINT}.",
                "url",
            )
        elif not isinstance(line.get("body"), dict):
            fail(number, "missing_required_parameter", "body must be a JSON object.", "body")
        else:
            seen.add(custom_id)
            lines.append((custom_id, line["body"]))
            continue
        if isinstance(custom_id, str):
            seen.add(custom_id)
    if not lines and not errors:
        errors.append(
            {
                "code": "empty_file",
                "line": None,
                "message": "The input file is empty.",
                "param": None,
            }
        )
    return lines, errors


def multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]] | None:
    """Parse a ``multipart/form-data`` body into ``{name: (filename, data)}``; ``None`` if it is
    not one."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    boundary = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return None
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            return None
        name = filename = None
        for header in head.decode("utf-8", "replace").split("\r\n"):
            if header.lower().startswith("content-disposition:"):
                for item in header.split(";")[1:]:
                    key, _, value = item.strip().partition("=")
                    if key == "name":
                        name = value.strip('"')
                    elif key == "filename":
                        filename = value.strip('"')
        if name is not None:
            fields[name] = (filename, data.removesuffix(b"\r\n"))
    return fields
