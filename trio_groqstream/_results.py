"""``--output``: the command's results file, one JSON line per finished request.

The promise is that the command never changes bytes it did not write:

* Without ``--resume`` an existing non-empty file is refused (``--overwrite`` replaces it).
* With ``--resume`` the file must hold only this tool's records (each line starts with
  ``{"index":``); the one exception is an unterminated last line that could be a record cut by a
  crash, which is dropped. Anything else is refused before a byte changes.
* A file that is not a regular file (``/dev/full``, a FIFO, a terminal) is written to, never read.
* ``-`` (or a path naming the same file as stdout) writes the records to stdout.

Each record is written whole with ``os.write`` (no buffer to flush again at exit) and fsync'd as its
request ends, so a crash or Ctrl-C loses nothing already finished. A failed write takes back the
part it wrote, so the file stays whole records even when the disk is full.

``--resume`` matches records to requests by :func:`request_digest`, a hash of the request body,
not by position: a changed prompt is a new request and runs again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any, Protocol, TypeVar

import msgspec
import trio

from ._errors import GroqStreamError
from ._stream import StreamMetrics
from ._wire import ChatCompletion, CompletionChoice

__all__ = ["ResultLog", "UsageError", "request_digest", "result_record"]

PROG = "trio-groqstream"
_ENCODER = msgspec.json.Encoder()
_SORTED_ENCODER = msgspec.json.Encoder(order="sorted")
#: How every record starts (``result_record`` puts ``index`` first): what tells ours from others.
RECORD_PREFIX = b'{"index":'
_RECORD_KEYS = frozenset({"index", "prompt", "text", "error"})


class UsageError(Exception):
    """Bad options or input: reported as one line, exit status 2."""


def request_digest(request: Mapping[str, Any]) -> str:
    """A stable hash of everything a request sends: its body with keys sorted, SHA-256."""
    return hashlib.sha256(_SORTED_ENCODER.encode(request)).hexdigest()


class _HasDigest(Protocol):
    @property
    def digest(self) -> str: ...


_J = TypeVar("_J", bound=_HasDigest)


class ResultLog:
    """Where the records go. Open with :meth:`open`; :attr:`succeeded` counts, per request digest,
    the successful records already in the file (filled only with ``resume``)."""

    def __init__(self, fd: int, label: str, *, regular: bool, owned: bool) -> None:
        self._fd = fd
        self.path = label
        self._regular = regular
        self._owned = owned
        self._lock = trio.Lock()
        self.succeeded: Counter[str] = Counter()
        self.records = 0
        self.notes: list[str] = []

    @classmethod
    def open(cls, path: str, *, resume: bool, overwrite: bool, stdout_fd: int = 1) -> ResultLog:
        """Open ``path`` (``-``: stdout) by the rules above. Raises :class:`UsageError`."""
        if resume and overwrite:
            raise UsageError("give --resume (continue FILE) or --overwrite (replace it), not both")
        if path != "-":
            try:
                info: os.stat_result | None = os.stat(path)
            except FileNotFoundError:
                info = None
            except OSError as exc:
                raise UsageError(f"cannot open --output {path}: {exc.strerror or exc}") from None
            if info is not None and _same_file(info, stdout_fd):
                path = "-"
        if path == "-":
            if resume:
                raise UsageError("--resume needs a results file, not stdout")
            return cls(stdout_fd if stdout_fd >= 0 else 1, "<stdout>", regular=False, owned=False)
        regular = info is None or stat.S_ISREG(info.st_mode)
        if not regular and resume:
            raise UsageError(f"--resume needs a regular file; {path} is not one")
        if regular and info is not None and info.st_size and not (resume or overwrite):
            raise UsageError(
                f"{path} exists and is not empty: add --resume to continue it, "
                "--overwrite to replace it, or choose another file"
            )
        flags = os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        if not regular:
            flags |= os.O_WRONLY  # never read: /dev/full or a FIFO would never end
        elif resume:
            flags |= os.O_RDWR | os.O_CREAT
        else:
            flags |= os.O_WRONLY | os.O_CREAT  # --overwrite truncates once the file is ours
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise UsageError(f"cannot open --output {path}: {exc.strerror or exc}") from None
        log = cls(fd, path, regular=regular, owned=True)
        if regular and not _lock(fd):
            log.close()
            raise UsageError(f"{path} is in use by another run; wait for it or choose another file")
        if regular and not (resume or overwrite) and os.fstat(fd).st_size:
            log.close()  # created by someone else since the check above
            raise UsageError(f"{path} is no longer empty: choose another file")
        if regular and overwrite:
            os.ftruncate(fd, 0)
        if resume:
            try:
                log._scan()
            except BaseException:
                log.close()
                raise
        return log

    @property
    def to_stdout(self) -> bool:
        """Whether the records go to stdout (``-o -``)."""
        return not self._owned

    @property
    def resumable(self) -> bool:
        """Whether ``--resume`` can continue this file (a regular file)."""
        return self._regular

    def _scan(self) -> None:
        """Read the records back; drop a cut last line; refuse a file that is not all ours."""
        with os.fdopen(os.dup(self._fd), "rb") as file:
            if not RECORD_PREFIX.startswith(file.read(len(RECORD_PREFIX))):
                raise self._foreign(1, "not a record of this tool")  # before reading a long line
            file.seek(0)
            offset = 0
            for number, line in enumerate(file, 1):
                start, offset = offset, offset + len(line)
                if not line.endswith(b"\n"):  # the last line, unterminated
                    self._last_line(line, number, start)
                    break
                self._add(self._record(line, number))

    def _record(self, line: bytes, number: int) -> dict[str, Any]:
        if not line.startswith(RECORD_PREFIX):
            raise self._foreign(number, "not a record of this tool")
        try:
            record = msgspec.json.decode(line)
        except msgspec.DecodeError:
            raise self._foreign(number, "a damaged record (not valid JSON)") from None
        if not isinstance(record, dict) or not record.keys() >= _RECORD_KEYS:
            raise self._foreign(number, "not a record of this tool")
        return record

    def _add(self, record: dict[str, Any]) -> None:
        self.records += 1
        digest = record.get("digest")
        if record["error"] is None and isinstance(digest, str):
            self.succeeded[digest] += 1

    def _last_line(self, line: bytes, number: int, start: int) -> None:
        """An unterminated last line: a whole record is kept (and terminated), a record cut
        short is dropped, and anything else is refused."""
        if not (line.startswith(RECORD_PREFIX) or RECORD_PREFIX.startswith(line)):
            raise self._foreign(number, "not a record of this tool")
        try:
            record = self._record(line, number)
        except UsageError:
            os.ftruncate(self._fd, start)
            self.notes.append(f"{self.path} line {number} was cut short (a crash?); dropped it")
        else:
            self._add(record)
            _write_all(self._fd, b"\n")

    def _foreign(self, number: int, what: str) -> UsageError:
        return UsageError(
            f"{self.path} line {number}: {what}; --resume continues only a results file "
            "written by this command (nothing was changed)"
        )

    def resume(self, jobs: Sequence[_J]) -> tuple[list[_J], int]:
        """The jobs that still need to run, and how many successful records matched none.

        Each successful record stands for one job with the same digest (so a request given
        twice, with one record, runs once more)."""
        left = self.succeeded.copy()
        todo = []
        for job in jobs:
            if left[job.digest] > 0:
                left[job.digest] -= 1
            else:
                todo.append(job)
        return todo, left.total()

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record whole; on failure take back what was written, then raise."""
        data = _ENCODER.encode(record) + b"\n"
        start = os.fstat(self._fd).st_size if self._regular else 0
        try:
            _write_all(self._fd, data)
            if self._regular:
                os.fsync(self._fd)
        except OSError:
            if self._regular:
                with suppress(OSError):
                    os.ftruncate(self._fd, start)
            raise

    async def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` off the event loop. Shielded: a finished result is written even if
        Ctrl-C arrives meanwhile (one small write; abandoning it could only lose it)."""
        with trio.CancelScope(shield=True):
            async with self._lock:
                await trio.to_thread.run_sync(self.append, record)

    def close(self) -> None:
        if self._owned and self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


def _lock(fd: int) -> bool:
    """Take the file for this run alone (two runs appending to one file could take back each
    other's records after a failed write). ``False`` if another run holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: no advisory locks to take)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: go on as before
        return True
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _same_file(info: os.stat_result, fd: int) -> bool:
    try:
        return os.path.samestat(info, os.fstat(fd))
    except OSError:
        return False


def result_record(
    index: int,
    digest: str,
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
        "index": index,  # first: every record starts with RECORD_PREFIX
        "digest": digest,
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
