"""The Batch API's shapes and the pure work around them: input lines out, typed results back.

Shapes follow Groq's API reference as the official ``groq`` SDK generates it (``groq`` 1.x:
``types/batch_*.py``, ``types/file_*.py``); output and error lines follow the OpenAI-compatible
``{id, custom_id, response: {status_code, request_id, body}, error}`` that Groq writes. As with the
streaming types, unknown fields are ignored and every field has a default, so a new field from Groq
never breaks a poll.

Nothing here does IO: ``_batch.py`` sends, this module encodes and decodes, so every rule about
matching results to requests is tested with plain function calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from ._errors import ConfigurationError, GroqStreamError, StreamProtocolError, status_error_class
from ._wire import ChatCompletion

__all__ = [
    "BATCH_ENDPOINT",
    "MAX_INPUT_BYTES",
    "TERMINAL_STATUSES",
    "BatchErrorEntry",
    "BatchErrors",
    "BatchFailedError",
    "BatchJob",
    "BatchRequestCounts",
    "BatchRequestError",
    "BatchResult",
    "BatchStatus",
    "FileObject",
    "custom_id_for",
    "encode_input",
    "parse_results",
]

#: The one endpoint Groq's Batch API runs.
BATCH_ENDPOINT = "/v1/chat/completions"
#: Groq's limit on an input file ("up to 100 MB").
MAX_INPUT_BYTES = 100 * 1024 * 1024

BatchStatus = Literal[
    "validating",
    "failed",
    "in_progress",
    "finalizing",
    "completed",
    "expired",
    "cancelling",
    "cancelled",
]
#: A batch in one of these states will never change again.
TERMINAL_STATUSES: frozenset[str] = frozenset({"failed", "completed", "expired", "cancelled"})

BatchResult = ChatCompletion | GroqStreamError


class _Obj(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the Batch API's objects: immutable, keyword-only, unknown fields ignored."""


class FileObject(_Obj, frozen=True):
    """An uploaded file (``object: "file"``): a batch's input, output or error file."""

    id: str = ""
    object: str = "file"
    bytes: int | None = None
    created_at: int | float | None = None
    filename: str | None = None
    purpose: str | None = None


class BatchRequestCounts(_Obj, frozen=True):
    """How many of a batch's requests exist, have completed and have failed so far."""

    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchErrorEntry(_Obj, frozen=True):
    """Why validation refused a batch: ``line`` of the input file (1-based) and what is wrong."""

    code: str | None = None
    line: int | None = None
    message: str | None = None
    param: str | None = None


class BatchErrors(_Obj, frozen=True):
    """The ``errors`` object of a batch that failed validation."""

    object: str = "list"
    data: list[BatchErrorEntry] = []


class BatchJob(_Obj, frozen=True):
    """A batch (``object: "batch"``) as Groq reports it; poll it with ``retrieve_batch``.

    ``status`` moves ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed``, or ends
    ``failed`` (validation), ``expired`` (the completion window passed) or, after a cancel,
    ``cancelling`` -> ``cancelled``. The ``*_at`` fields are Unix seconds.
    """

    id: str = ""
    object: str = "batch"
    endpoint: str = BATCH_ENDPOINT
    input_file_id: str = ""
    completion_window: str = ""
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: BatchErrors | None = None
    request_counts: BatchRequestCounts | None = None
    metadata: dict[str, Any] | None = None
    created_at: int | float = 0
    in_progress_at: int | float | None = None
    expires_at: int | float | None = None
    finalizing_at: int | float | None = None
    completed_at: int | float | None = None
    failed_at: int | float | None = None
    expired_at: int | float | None = None
    cancelling_at: int | float | None = None
    cancelled_at: int | float | None = None

    @property
    def done(self) -> bool:
        """Whether the batch has reached a terminal state (it will not change again)."""
        return self.status in TERMINAL_STATUSES


class _Response(_Obj, frozen=True):
    status_code: int = 0
    request_id: str | None = None
    body: msgspec.Raw = msgspec.Raw(b"null")  # a Raw cannot be optional; null means none


class _LineError(_Obj, frozen=True):
    code: str | None = None
    message: str | None = None


class _OutputLine(_Obj, frozen=True):
    id: str | None = None
    custom_id: str | None = None
    response: _Response | None = None
    error: _LineError | None = None


_LINE_DECODER = msgspec.json.Decoder(_OutputLine)
_COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion)
_ENCODER = msgspec.json.Encoder()


class BatchFailedError(GroqStreamError):
    """The batch as a whole did not run: validation refused the input file (``status: failed``).

    Attributes:
        batch: the final :class:`BatchJob`.
        errors: what validation found, line by line (``batch.errors.data``).
    """

    def __init__(self, batch: BatchJob) -> None:
        self.batch = batch
        self.errors: list[BatchErrorEntry] = batch.errors.data if batch.errors else []
        shown = "; ".join(_describe(error) for error in self.errors[:3])
        more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
        super().__init__(
            f"batch {batch.id} failed validation: {shown or 'no reason given'}{more}; fix the "
            "input and submit again"
        )


class BatchRequestError(GroqStreamError):
    """One request of a batch produced no completion and no HTTP error: Groq did not run it.

    ``code`` says why: ``batch_expired`` (the completion window ended first), ``batch_cancelled``,
    ``missing_result`` (the batch ended without a line for it), or whatever code Groq reported.

    Attributes:
        code: the reason, as above.
        custom_id: the request's ``custom_id`` in the batch.
    """

    def __init__(self, message: str, *, code: str | None, custom_id: str) -> None:
        self.code = code
        self.custom_id = custom_id
        super().__init__(message)


def _describe(error: BatchErrorEntry) -> str:
    where = f"line {error.line}: " if error.line is not None else ""
    code = f" ({error.code})" if error.code else ""
    return f"{where}{error.message or 'invalid'}{code}"


def custom_id_for(index: int) -> str:
    """The ``custom_id`` this library gives request number ``index`` of a batch."""
    return f"request-{index}"


def encode_input(requests: Iterable[Mapping[str, Any]], custom_ids: Sequence[str]) -> bytes:
    """The JSONL input file: one ``{custom_id, method, url, body}`` line per request.

    Bodies are sent as the streaming path sends them, minus streaming: ``None`` values are
    dropped (Groq refuses nulls for unset fields) and ``stream`` is not sent (a batch does not
    stream). Raises :class:`ConfigurationError` past Groq's 100 MB limit, before any upload.
    """
    lines: list[bytes] = []
    size = 0
    for custom_id, body in zip(custom_ids, requests, strict=True):
        payload = {key: value for key, value in body.items() if value is not None}
        payload.pop("stream", None)
        line = _ENCODER.encode(
            {"custom_id": custom_id, "method": "POST", "url": BATCH_ENDPOINT, "body": payload}
        )
        size += len(line) + 1
        if size > MAX_INPUT_BYTES:
            raise ConfigurationError(
                f"the batch input is larger than Groq's {MAX_INPUT_BYTES // 2**20} MB limit at "
                f"request {len(lines)}; split the requests into several batches"
            )
        lines.append(line)
    return b"".join(line + b"\n" for line in lines)


def parse_results(
    custom_ids: Sequence[str], files: Iterable[bytes], *, batch: BatchJob | None = None
) -> list[BatchResult]:
    """Match output and error file lines to requests by ``custom_id`` (never by order).

    Each slot holds a :class:`ChatCompletion`, the :class:`APIStatusError` subclass the streaming
    path raises for that status (``BadRequestError`` for a 400 line...), or a
    :class:`BatchRequestError` when Groq did not run the request. A request with no line gets
    ``missing_result`` (or the batch's own ending, when ``batch`` says it expired or was
    cancelled). Lines for custom ids not asked for are ignored; an unreadable line raises
    :class:`StreamProtocolError`.
    """
    slots = {custom_id: index for index, custom_id in enumerate(custom_ids)}
    results: list[BatchResult | None] = [None] * len(custom_ids)
    for data in files:
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                line = _LINE_DECODER.decode(raw)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise StreamProtocolError(
                    f"a batch result line is not valid JSON of the expected shape ({exc})",
                    data=raw,
                ) from None
            index = slots.get(line.custom_id or "")
            if index is not None:
                results[index] = _result(line)
    ending = _missing_code(batch)
    return [
        result
        if result is not None
        else BatchRequestError(
            f"the batch has no result for {custom_id}: {ending[1]}",
            code=ending[0],
            custom_id=custom_id,
        )
        for custom_id, result in zip(custom_ids, results, strict=True)
    ]


def _missing_code(batch: BatchJob | None) -> tuple[str, str]:
    status = batch.status if batch is not None else None
    if status == "expired":
        return "batch_expired", "the completion window ended before it ran; submit it again"
    if status in ("cancelled", "cancelling"):
        return "batch_cancelled", "the batch was cancelled before it ran"
    return "missing_result", "Groq wrote no line for it; submit it again"


def _result(line: _OutputLine) -> BatchResult:
    custom_id = line.custom_id or ""
    response = line.response
    body = bytes(response.body) if response is not None else b"null"
    if response is None or body == b"null":
        error = line.error or _LineError()
        return BatchRequestError(
            f"{custom_id}: {error.message or 'Groq did not run this request'}",
            code=error.code,
            custom_id=custom_id,
        )
    if 200 <= response.status_code < 300:
        try:
            completion = _COMPLETION_DECODER.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:
            return StreamProtocolError(
                f"{custom_id}: the response body is not a chat completion ({exc})", data=body
            )
        request_id = response.request_id or (completion.x_groq.id if completion.x_groq else None)
        return msgspec.structs.replace(completion, request_id=request_id)
    parsed: object
    try:
        parsed = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        parsed = body.decode("utf-8", "replace")
    fields = parsed.get("error") if isinstance(parsed, dict) else None
    message = fields.get("message") if isinstance(fields, dict) else None
    cls = status_error_class(response.status_code)
    return cls(
        f"{custom_id}: {message if isinstance(message, str) else 'no message'}",
        status_code=response.status_code,
        body=parsed,
        request_id=response.request_id,
    )
