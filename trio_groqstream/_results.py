"""``--output``: the command's results file, one JSON line per finished request.

Each line is written whole, flushed and fsync'd as its request ends, so a crash or Ctrl-C loses
nothing already finished; ``--resume`` reads the file back and skips what succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TextIO

import msgspec
import trio

from ._errors import GroqStreamError
from ._stream import StreamMetrics
from ._wire import ChatCompletion, CompletionChoice

__all__ = ["ResultLog", "UsageError", "result_record"]

PROG = "trio-groqstream"
_ENCODER = msgspec.json.Encoder()


class UsageError(Exception):
    """Bad options or input: reported as one line, exit status 2."""


class ResultLog:
    """``--output``: one JSON line per finished request, each flushed and fsync'd as it ends."""

    def __init__(self, path: str, *, resume: bool, stderr: TextIO) -> None:
        """Open for appending and repair a line cut short by a crash; :attr:`succeeded` holds the
        indexes the file records as successful. Raises :class:`UsageError`."""
        try:
            self._file = open(path, "a+b")  # noqa: SIM115 -- owned until close()
        except OSError as exc:
            raise UsageError(f"cannot open --output {path}: {exc.strerror or exc}") from None
        self.path = path
        self._lock = trio.Lock()
        try:
            self.succeeded = self._scan(strict=resume, stderr=stderr)
        except BaseException:
            self._file.close()
            raise

    def _scan(self, *, strict: bool, stderr: TextIO) -> set[int]:
        """An unreadable last line is a write cut short by a crash: drop it. An unreadable line
        followed by others is damage: refuse to resume from it rather than guess."""
        file, done = self._file, set[int]()
        file.seek(0)
        offset, bad, ends_cleanly = 0, None, True  # bad: (line number, offset) of the last line
        for number, line in enumerate(file, 1):
            if bad is not None and strict:
                raise UsageError(f"{self.path} line {bad[0]}: not valid JSON; fix or remove it")
            bad, start, offset = None, offset, offset + len(line)
            ends_cleanly = line.endswith(b"\n")
            if not line.strip():
                continue
            try:
                record = msgspec.json.decode(line)
            except msgspec.DecodeError:
                bad = (number, start)
                continue
            index = record.get("index") if isinstance(record, dict) else None
            if isinstance(index, int) and record.get("error") is None:
                done.add(index)
        if bad is not None:
            file.truncate(bad[1])
            stderr.write(f"{PROG}: note: {self.path} line {bad[0]} was cut short; dropped it\n")
        elif not ends_cleanly:
            file.write(b"\n")
        return done

    def append(self, record: Mapping[str, Any]) -> None:
        self._file.write(_ENCODER.encode(record) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    async def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` off the event loop. Shielded: a finished result is written even if
        Ctrl-C arrives meanwhile (one small write; abandoning it could only lose it)."""
        with trio.CancelScope(shield=True):
            async with self._lock:
                await trio.to_thread.run_sync(self.append, record)

    def close(self) -> None:
        self._file.close()


def result_record(
    index: int,
    request: Mapping[str, Any],
    prompt: str,
    *,
    completion: ChatCompletion | None,
    metrics: StreamMetrics | None,
    error: GroqStreamError | None,
    duration: float,
) -> dict[str, Any]:
    """The JSON line for one finished request (what ``--output`` promises to keep)."""
    if completion is None:
        completion = (
            error.completion if error is not None and error.completion else ChatCompletion()
        )
    choice = completion.choices[0] if completion.choices else CompletionChoice()
    calls = choice.message.tool_calls or []
    usage = msgspec.structs.asdict(completion.usage) if completion.usage else None
    ttfc = metrics.time_to_first_chunk if metrics is not None else None
    return {
        "index": index,
        "request_id": completion.request_id or getattr(error, "request_id", None),
        "model": completion.model or request.get("model"),
        "prompt": prompt,
        "text": completion.text,
        "reasoning": choice.message.reasoning,
        "tool_calls": [
            {"id": c.id, "type": c.type, "function": msgspec.structs.asdict(c.function)}
            for c in calls
        ]
        or None,
        "finish_reason": choice.finish_reason,
        "usage": {k: v for k, v in usage.items() if v is not None} if usage else None,
        "time_to_first_chunk": None if ttfc is None else round(ttfc, 4),
        "duration": round(duration, 4),
        "attempts": metrics.attempts if metrics is not None else getattr(error, "attempts", 1),
        "error": None if error is None else {"type": type(error).__name__, "message": str(error)},
    }
