"""The fake's Batch API: files and batches endpoints, and a batch's life on a compressed clock.

Shapes follow Groq's API reference (the official SDK's ``types/batch_*.py`` and ``file_*.py``);
the output and error lines follow the OpenAI-compatible ``{id, custom_id, response, error}``.
Where Groq's exact wording is not documented (validation codes, the 404 texts), the messages are
OpenAI's, which Groq's batch service mirrors; tests should assert codes, not prose.

Nothing runs in the background: a batch's state is a pure function of the time since it was
created (or cancelled), worked out whenever someone asks. So the fake needs no task of its own,
works the same in :class:`MockGroq` and on a socket, and under a ``MockClock`` a whole 24-hour
window passes in no real time. :class:`BatchTiming` says how long each phase takes.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from ._batch_input import ENDPOINT, multipart, validate, window_hours
from ._chunks import error_headers
from ._faults import http_error_reply
from ._replies import Reply
from ._requests import RecordedRequest

if TYPE_CHECKING:
    from ._routes import Router

__all__ = ["BatchTiming", "FakeBatches", "LineAnswer", "LineHandler", "reply_answer"]

CHAT_PATH = "/openai/v1/chat/completions"
FILES_PATH = "/openai/v1/files"
BATCHES_PATH = "/openai/v1/batches"

LineAnswer = tuple[int, Any]
"""A batch line's answer: an HTTP status and the JSON body Groq would have returned for it."""
LineHandler = Callable[[Any], "LineAnswer | None"]
"""Answers one batch line's ``body`` (the chat completions request) with a :data:`LineAnswer`, or
``None`` to let the fake answer it as a chat request."""


@dataclass
class BatchTiming:
    """How long a fake batch spends in each phase, in seconds of ``trio.current_time()``.

    Attributes:
        validating: from creation to ``in_progress`` (or ``failed``).
        per_request: each request, one after another.
        finalizing: from the last request to ``completed``.
        cancelling: from a cancel to ``cancelled``.
        window_scale: seconds per hour of ``completion_window``: the default turns ``24h`` into
            24 seconds, so a test with a slow ``per_request`` sees a batch expire.
    """

    validating: float = 0.05
    per_request: float = 0.01
    finalizing: float = 0.05
    cancelling: float = 0.05
    window_scale: float = 1.0


def _json_reply(status: int, payload: Any, *, content_type: str = "application/json") -> Reply:
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    request_id = f"req_{secrets.token_hex(13)}"
    headers = error_headers(request_id, content_type=content_type, rate_limits=False)
    return Reply(status=status, headers=headers, body=(body,), chunked=False)


def _invalid(message: str, *, param: str | None = None, status: int = 400) -> Reply:
    return http_error_reply(
        status, message=message, param=param, error_type="invalid_request_error"
    )


def _not_found(what: str, ident: str) -> Reply:
    return http_error_reply(404, message=f"{what} {ident} not found", code="not_found")


def reply_answer(reply: Reply) -> LineAnswer:
    """A chat reply as a batch line's answer: its status and JSON body (a streamed reply, which a
    batch cannot hold, becomes a 500 naming the mistake)."""
    data = reply.body_bytes()
    try:
        return reply.status, msgspec.json.decode(data)
    except msgspec.DecodeError:
        if reply.status != 200:
            return reply.status, data.decode("utf-8", "replace")
        message = (
            "the fake's handler streamed an answer to a batch line; batch lines are not streamed"
        )
        return 500, {"error": {"message": message, "type": "internal_server_error"}}


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


@dataclass
class _Batch:
    id: str
    input_file_id: str
    completion_window: str
    metadata: Any
    lines: list[tuple[str, Any]]  # (custom_id, body)
    errors: list[dict[str, Any]]  # validation errors: the batch will fail
    started: float  # trio time of creation
    wall: int  # Unix time of creation
    timing: BatchTiming
    window: float
    cancel_offset: float | None = None  # seconds after creation
    output_file_id: str | None = None
    error_file_id: str | None = None
    finished: bool = False
    answers: list[LineAnswer] = field(default_factory=list)


class FakeBatches:
    """The fake's ``/openai/v1/files`` and ``/openai/v1/batches`` endpoints.

    Every fake server has one, as ``fake.batches``; set its attributes in a test to shape what
    the batches do. Each line is answered as the fake answers a non-streaming chat request (its
    checks, its catalogue, its handler), so a line with an unknown model gets the same 404 in the
    error file that the request would get alone; pushed replies are kept for chat requests.

    Attributes:
        timing: the :class:`BatchTiming` of batches created from now on.
        line_handler: when set, answers each line's body instead, so a test can make chosen
            lines fail.
        max_file_bytes: uploads larger than this get Groq's 413 (default 100 MB, as Groq).
        files: uploaded and generated files by id (their ``data`` is the content).
    """

    def __init__(self, chat: Callable[[RecordedRequest], Reply]) -> None:
        self.timing = BatchTiming()
        self.line_handler: LineHandler | None = None
        self._chat = chat
        self.max_file_bytes = 100 * 1024 * 1024
        self.files: dict[str, _File] = {}
        self._batches: dict[str, _Batch] = {}

    # --- routing ---------------------------------------------------------------------------------

    def add_routes(self, router: Router) -> None:
        """Serve the files and batches endpoints through ``router``."""
        router.add("POST", FILES_PATH, lambda request, _: self._upload(request))
        router.add("GET", FILES_PATH, lambda request, _: self._file_list())
        file = FILES_PATH + "/{file_id}"
        router.add("GET", file, lambda _, p: self._file(p["file_id"], delete=False))
        router.add("DELETE", file, lambda _, p: self._file(p["file_id"], delete=True))
        router.add("GET", file + "/content", lambda _, p: self._content(p["file_id"]))
        router.add("POST", BATCHES_PATH, lambda request, _: self._create(request))
        router.add("GET", BATCHES_PATH, lambda request, _: self._batch_list())
        batch = BATCHES_PATH + "/{batch_id}"
        router.add("GET", batch, lambda _, p: self._retrieve(p["batch_id"]))
        router.add("POST", batch + "/cancel", lambda _, p: self._cancel(p["batch_id"]))

    def _answer(self, body: Any) -> LineAnswer:
        if self.line_handler is not None:
            answer = self.line_handler(body)
            if answer is not None:
                return answer
        payload = {**body, "stream": False} if isinstance(body, dict) else body
        data = msgspec.json.encode(payload)
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
        request = RecordedRequest(method="POST", target=CHAT_PATH, headers=headers, body=data)
        return reply_answer(self._chat(request))

    # --- files -----------------------------------------------------------------------------------

    def _add_file(self, filename: str, purpose: str, data: bytes) -> _File:
        file = _File(f"file_{secrets.token_hex(13)}", filename, purpose, data, int(time.time()))
        self.files[file.id] = file
        return file

    def _file_list(self) -> Reply:
        return _json_reply(200, {"object": "list", "data": [f.info() for f in self.files.values()]})

    def _batch_list(self) -> Reply:
        data = [self._object(batch) for batch in self._batches.values()]
        return _json_reply(200, {"object": "list", "data": data})

    def _retrieve(self, batch_id: str) -> Reply:
        batch = self._batches.get(batch_id)
        return _json_reply(200, self._object(batch)) if batch else _not_found("batch", batch_id)

    def _upload(self, request: RecordedRequest) -> Reply:
        if len(request.body) > self.max_file_bytes + 64 * 1024:
            return self._too_large()
        fields = multipart(request.headers.get("content-type", ""), request.body)
        if fields is None:
            return _invalid("request must be multipart/form-data with 'file' and 'purpose'")
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
        if "file" not in fields:
            return _invalid("property 'file' is missing", param="file")
        if purpose != "batch":
            return _invalid(f"purpose must be 'batch', not {purpose!r}", param="purpose")
        filename, data = fields["file"]
        if len(data) > self.max_file_bytes:
            return self._too_large()
        file = self._add_file(filename or "upload.jsonl", "batch", data)
        return _json_reply(200, file.info())

    def _too_large(self) -> Reply:
        limit = self.max_file_bytes
        return _invalid(f"file size exceeds the maximum of {limit} bytes", param="file", status=413)

    def _file(self, file_id: str, *, delete: bool) -> Reply:
        file = self.files.get(file_id)
        if file is None:
            return _not_found("file", file_id)
        if delete:
            del self.files[file_id]
            return _json_reply(200, {"id": file_id, "object": "file", "deleted": True})
        return _json_reply(200, file.info())

    def _content(self, file_id: str) -> Reply:
        file = self.files.get(file_id)
        if file is None:
            return _not_found("file", file_id)
        return _json_reply(200, file.data, content_type="application/octet-stream")

    # --- batches ---------------------------------------------------------------------------------

    def _create(self, request: RecordedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return _invalid("the request body must be a JSON object")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                return _invalid(f"property '{name}' is missing or not a string", param=name)
        unknown = set(body) - {"input_file_id", "endpoint", "completion_window", "metadata"}
        if unknown:
            return _invalid(f"property '{sorted(unknown)[0]}' is unsupported")
        if body["endpoint"] != ENDPOINT:
            return _invalid(f"endpoint must be '{ENDPOINT}'", param="endpoint")
        hours = window_hours(body["completion_window"])
        if hours is None:
            return _invalid(
                "completion_window must be a duration from 24h to 7d", param="completion_window"
            )
        file = self.files.get(body["input_file_id"])
        if file is None or file.purpose != "batch":
            return _invalid(
                f"input file {body['input_file_id']} not found or not uploaded with purpose "
                "'batch'",
                param="input_file_id",
            )
        lines, errors = validate(file.data)
        batch = _Batch(
            id=f"batch_{secrets.token_hex(13)}",
            input_file_id=file.id,
            completion_window=body["completion_window"],
            metadata=body.get("metadata"),
            lines=lines,
            errors=errors,
            timing=replace(self.timing),
            started=trio.current_time(),
            wall=int(time.time()),
            window=hours * self.timing.window_scale,
        )
        self._batches[batch.id] = batch
        return _json_reply(200, self._object(batch))

    def _cancel(self, batch_id: str) -> Reply:
        batch = self._batches.get(batch_id)
        if batch is None:
            return _not_found("batch", batch_id)
        status = _state(batch)[0]
        if status in _TERMINAL:
            return _invalid(f"Cannot cancel a batch with status '{status}'.")
        if batch.cancel_offset is None:
            batch.cancel_offset = trio.current_time() - batch.started
        return _json_reply(200, self._object(batch))

    def _answers(self, batch: _Batch, done: int) -> list[LineAnswer]:
        """The answers of the first ``done`` lines, each worked out once."""
        answers = batch.answers
        for _, body in batch.lines[len(answers) : done]:
            answers.append(self._answer(body))
        return answers[:done]

    def _object(self, batch: _Batch) -> dict[str, Any]:
        status, times, done = _state(batch)
        answers = self._answers(batch, done)
        if status in _TERMINAL and not batch.finished:
            self._finish(batch, answers, status)
        failed = sum(1 for code, _ in answers if code != 200)
        counts = {"total": len(batch.lines), "completed": done - failed, "failed": failed}
        if status in ("expired", "cancelled"):
            counts["failed"] += len(batch.lines) - done  # never ran
        if batch.errors:
            counts = {"total": 0, "completed": 0, "failed": 0}
        obj: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": ENDPOINT,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": batch.completion_window,
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": batch.wall,
            "expires_at": batch.wall + int(batch.window),
            "request_counts": counts,
            "metadata": batch.metadata,
        }
        for name in _PHASES:
            at = times.get(name)
            obj[f"{name}_at"] = None if at is None else batch.wall + int(at)
        return obj

    def _finish(self, batch: _Batch, answers: list[LineAnswer], status: str) -> None:
        """Write the output and error files, once, when the batch is first seen finished."""
        batch.finished = True
        output: list[bytes] = []
        errors: list[bytes] = []
        for (custom_id, _), (status_code, answer) in zip(batch.lines, answers, strict=False):
            x_groq = answer.get("x_groq") if isinstance(answer, dict) else None
            request_id = x_groq.get("id") if isinstance(x_groq, dict) else None
            response = {
                "status_code": status_code,
                "request_id": request_id or f"req_{secrets.token_hex(13)}",
                "body": answer,
            }
            line = _result_line(custom_id, response=response)
            (output if status_code == 200 else errors).append(line)
        reason = _NOT_RUN.get(status)
        if reason is not None:
            for custom_id, _ in batch.lines[len(answers) :]:
                errors.append(_result_line(custom_id, error=reason))
        if output:
            name = f"batch_{batch.id}_output.jsonl"
            batch.output_file_id = self._add_file(name, "batch_output", b"".join(output)).id
        if errors:
            name = f"batch_{batch.id}_error.jsonl"
            batch.error_file_id = self._add_file(name, "batch_output", b"".join(errors)).id


_TERMINAL = frozenset({"failed", "completed", "expired", "cancelled"})
_PHASES = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
_NOT_RUN = {
    "expired": {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    },
    "cancelled": {
        "code": "batch_cancelled",
        "message": "This request was not executed because the batch was cancelled.",
    },
}


def _result_line(
    custom_id: str, *, response: Any = None, error: dict[str, str] | None = None
) -> bytes:
    line = {
        "id": f"batch_req_{secrets.token_hex(13)}",
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }
    return msgspec.json.encode(line) + b"\n"


def _state(batch: _Batch) -> tuple[str, dict[str, float], int]:
    """The status now, when each phase began (seconds after creation), and how many lines have
    been answered. A pure function of the clock: nothing runs between two polls."""
    timing = batch.timing
    elapsed = trio.current_time() - batch.started
    start = timing.validating
    if batch.errors:
        return ("failed", {"failed": start}, 0) if elapsed >= start else ("validating", {}, 0)
    run_end = start + timing.per_request * len(batch.lines)
    final_end = run_end + timing.finalizing
    stop = batch.window if batch.cancel_offset is None else min(batch.window, batch.cancel_offset)
    if final_end <= stop:
        stop = math.inf  # it finished before any cancel or expiry could stop it
    now = min(elapsed, stop)
    if timing.per_request > 0:
        done = int((now - start) / timing.per_request + 1e-9)
    else:
        done = len(batch.lines) if now >= start else 0
    done = max(0, min(len(batch.lines), done))
    times = {
        name: at for name, at in (("in_progress", start), ("finalizing", run_end)) if now >= at
    }
    if elapsed < stop:
        if elapsed >= final_end:
            times["completed"] = final_end
            return "completed", times, done
        status = "finalizing" if "finalizing" in times else "in_progress"
        return (status if "in_progress" in times else "validating"), times, done
    if stop == batch.cancel_offset:
        times["cancelling"] = stop
        if elapsed >= stop + timing.cancelling:
            times["cancelled"] = stop + timing.cancelling
            return "cancelled", times, done
        return "cancelling", times, done
    times["expired"] = stop
    return "expired", times, done
