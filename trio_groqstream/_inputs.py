"""The command line's input: prompts as arguments, plain text (one prompt per line) or JSONL.

Input is read as bytes and split on LF only, so a U+2028 inside a prompt stays text (the bug
httpx-sse's changelog warns about). ``--format auto`` (the default) looks at the first non-blank
line: a JSON object means JSONL, anything else means one prompt per line. A first line that looks
like JSON but is not (``{oops``, a pretty-printed ``{``) or a JSON array is refused with the list
of accepted formats rather than sent as a prompt: guessing there would spend money on garbage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import msgspec

from ._results import UsageError, request_digest

__all__ = ["FORMATS", "Job", "jobs_from_prompts", "last_user_text", "read_jobs"]

FORMATS = ("auto", "text", "jsonl")
_BOM = b"\xef\xbb\xbf"
_ACCEPTED = (
    'accepted: plain text (one prompt per line) or JSONL (one {"prompt": ...} or '
    '{"messages": [...]} object per line); say which with --format text|jsonl'
)


@dataclass(frozen=True)
class Job:
    """One request of the run: ``index`` is its position in the input, ``digest`` what
    ``--resume`` matches (a hash of the request body, see :func:`request_digest`)."""

    index: int
    request: dict[str, Any]
    prompt: str  # the prompt, or the last user message of a "messages" body
    digest: str
    where: str  # for messages: "prompt 2", "in.jsonl line 7"


def _job(index: int, request: dict[str, Any], prompt: str, where: str) -> Job:
    return Job(index, request, prompt, request_digest(request), where)


def jobs_from_prompts(
    prompts: Iterable[tuple[str, str]], system: str | None, defaults: Mapping[str, Any]
) -> list[Job]:
    """One job per ``(where, prompt)``, with the options' fields and the ``--system`` message."""
    return [
        _job(index, _prompt_request(prompt, system, defaults, {}), prompt, where)
        for index, (where, prompt) in enumerate(prompts)
    ]


def read_jobs(
    source: str,
    stream: Iterable[bytes],
    *,
    fmt: str,
    system: str | None,
    defaults: Mapping[str, Any],
) -> list[Job]:
    """The jobs in ``stream`` (``source`` names it in messages). Raises :class:`UsageError`."""
    lines = _numbered_lines(stream, source)
    if fmt == "auto":
        fmt = _detect(lines, source)
    if fmt == "text":
        prompts = [(f"{source} line {n}", text) for n, text in lines if text.strip()]
        jobs = jobs_from_prompts(prompts, system, defaults)
    else:
        jobs = _parse_jsonl(lines, source, system, defaults)
    if not jobs:
        raise UsageError(f"no prompts: {source} has no requests")
    return jobs


def open_source(path: str, stdin: IO[str] | None) -> tuple[str, Iterable[bytes]]:
    """``(label, byte lines)`` for ``--input PATH`` (``-``: stdin). Raises :class:`UsageError`."""
    if path == "-":
        if stdin is None:
            return "<stdin>", ()
        buffer: IO[bytes] | None = getattr(stdin, "buffer", None)
        return "<stdin>", buffer if buffer is not None else (s.encode() for s in stdin)
    try:
        with open(path, "rb") as file:
            return path, file.readlines()
    except OSError as exc:
        raise UsageError(f"cannot read --input {path}: {exc.strerror or exc}") from None


def _numbered_lines(stream: Iterable[bytes], source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` for each line, without its line ending and a leading BOM."""
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(stream, 1):
        line = raw.removeprefix(_BOM) if number == 1 else raw
        line = line.removesuffix(b"\n").removesuffix(b"\r")
        try:
            text = line.decode()
        except UnicodeDecodeError:
            raise UsageError(f"{source} line {number}: not UTF-8 text; {_ACCEPTED}") from None
        if "\x00" in text:
            raise UsageError(f"{source} line {number}: a NUL byte, not text; {_ACCEPTED}")
        lines.append((number, text))
    return lines


def _detect(lines: Sequence[tuple[int, str]], source: str) -> str:
    """``"jsonl"`` or ``"text"`` from the first non-blank line; refuse what is neither."""
    for number, text in lines:
        first = text.strip()
        if not first:
            continue
        if first.startswith("{"):
            try:
                item = msgspec.json.decode(first)
            except msgspec.DecodeError:
                raise UsageError(
                    f"{source} line {number}: starts like JSON but is not a JSON object on one "
                    f"line; {_ACCEPTED}"
                ) from None
            return "jsonl" if isinstance(item, dict) else "text"
        if first.startswith("["):
            try:
                item = msgspec.json.decode(first)
            except msgspec.DecodeError:
                return "text"  # "[INST] ..." is a prompt
            raise UsageError(
                f"{source} line {number}: a JSON array, not one request per line; {_ACCEPTED}"
            )
        return "text"
    return "text"


def _parse_jsonl(
    lines: Sequence[tuple[int, str]], label: str, system: str | None, defaults: Mapping[str, Any]
) -> list[Job]:
    """One job per non-blank line."""
    jobs: list[Job] = []
    for number, line in lines:
        if not line.strip():
            continue
        where = f"{label} line {number}"
        try:
            item = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(item, dict):
            raise UsageError(f'{where}: expected a JSON object with "prompt" or "messages"')
        jobs.append(_job_from_line(len(jobs), item, where, system, defaults))
    return jobs


def _job_from_line(
    index: int, item: dict[str, Any], where: str, system: str | None, defaults: Mapping[str, Any]
) -> Job:
    if ("prompt" in item) == ("messages" in item):
        which = "not both" if "prompt" in item else "found neither"
        raise UsageError(f'{where}: give "prompt" (a string) or "messages" (a list), {which}')
    if not isinstance(item.get("model", ""), str):
        raise UsageError(f'{where}: "model" must be a string')
    if "messages" in item:
        messages = item["messages"]
        if not isinstance(messages, list) or not messages:
            raise UsageError(f'{where}: "messages" must be a non-empty list')
        prompt = last_user_text(messages) or f"({len(messages)} messages)"
        return _job(index, {**defaults, **item}, prompt, where)
    prompt, line_system = item.pop("prompt"), item.pop("system", system)
    if not isinstance(prompt, str) or not isinstance(line_system, (str, type(None))):
        raise UsageError(f'{where}: "prompt" and "system" must be strings')
    return _job(index, _prompt_request(prompt, line_system, defaults, item), prompt, where)


def _prompt_request(
    prompt: str, system: str | None, defaults: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return {**defaults, **extra, "messages": messages}


def last_user_text(messages: object) -> str:
    """The text of the last user message (``""`` when there is none or it is not a string)."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""
