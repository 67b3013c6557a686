"""Groq's Batch API: jobs bigger than the rate limits, run by Groq itself.

A batch does not stream. The requests go up as one JSONL file, Groq runs them within a completion
window (24 hours to 7 days, at a lower price and outside the streaming rate limits), and the
answers come back as output and error files, matched to the requests by ``custom_id``.

Two levels, both on :class:`GroqClient` (its key, base URL, timeouts, retries and typed errors):

* the REST calls, one function each: files (:func:`upload_batch_file`, :func:`retrieve_file`,
  :func:`download_file`, :func:`delete_file`) and batches (:func:`create_batch`,
  :func:`retrieve_batch`, :func:`list_batches`, :func:`cancel_batch`);
* the workflow: :func:`submit_batch` (check, encode, upload, create), :func:`wait_for_batch` (poll
  with backoff until the batch ends), :func:`fetch_batch_results` (completions or typed errors in
  request order), and :func:`run_batch`, all three in one call, shaped like :func:`gather`.

Waiting is a plain trio loop of sleeps and polls: the caller's cancel scope bounds it, and
cancelling :func:`run_batch` cancels the batch on Groq's side too (shielded, bounded) unless told
to leave it running.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, overload

import msgspec
import trio

from ._batch_wire import (
    BATCH_ENDPOINT,
    MAX_INPUT_BYTES,
    BatchFailedError,
    BatchJob,
    BatchResult,
    FileObject,
    custom_id_for,
    encode_input,
    parse_results,
)
from ._client import CLOSE_TIMEOUT, GroqClient
from ._errors import ConfigurationError, GroqStreamError, StreamProtocolError
from ._params import check_request
from ._params import check_requests as check_requests_argument
from ._wire import ChatCompletion

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

__all__ = [
    "cancel_batch",
    "create_batch",
    "delete_file",
    "download_file",
    "fetch_batch_results",
    "list_batches",
    "retrieve_batch",
    "retrieve_file",
    "run_batch",
    "submit_batch",
    "upload_batch_file",
    "wait_for_batch",
]

Request = Mapping[str, Any]
OnError = Literal["raise", "collect"]
Progress = Callable[[BatchJob], None]

#: Seconds between the first polls; the wait grows by half each poll up to the maximum.
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: The most a result file is read into memory by default (Groq's input limit is 100 MB; the
#: answers are usually larger than the questions).
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
_OBJECT_LIMIT = 1024 * 1024
_COMPLETION_WINDOW_UNITS = {"h": 1, "d": 24}

_FILE = msgspec.json.Decoder(FileObject)
_BATCH = msgspec.json.Decoder(BatchJob)


class _BatchList(msgspec.Struct, frozen=True, kw_only=True):
    data: list[BatchJob] = []


class _Deleted(msgspec.Struct, frozen=True, kw_only=True):
    deleted: bool = False


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes, what: str) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise StreamProtocolError(
            f"{what} is not the JSON Groq documents ({exc})", data=body
        ) from None


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in "/?#% \t\r\n"):
        raise ConfigurationError(f"{what} must be an id such as Groq returns, not {value!r}")
    return value


# --- files ---------------------------------------------------------------------------------------


async def upload_batch_file(
    client: GroqClient, data: bytes, *, filename: str = "batch.jsonl"
) -> FileObject:
    """Upload a JSONL batch input file (``purpose=batch``); returns the new :class:`FileObject`.

    Raises :class:`ConfigurationError` past Groq's 100 MB limit (nothing is sent), and the
    client's typed errors otherwise. Retried only when the upload surely did not happen.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigurationError(
            f"the batch file is {len(data)} bytes, over Groq's {MAX_INPUT_BYTES // 2**20} MB "
            "limit; split the requests into several batches"
        )
    boundary = f"trio-groqstream-{secrets.token_hex(12)}"
    name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
            "batch\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/jsonl\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    raw, _ = await client._request(
        "POST",
        "/files",
        content=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        idempotent=False,
    )
    uploaded: FileObject = _decode(_FILE, raw, "the uploaded file object")
    return uploaded


async def retrieve_file(client: GroqClient, file_id: str) -> FileObject:
    """The :class:`FileObject` of ``file_id``. Raises ``NotFoundError`` for an unknown id."""
    raw, _ = await client._request(
        "GET", f"/files/{_check_id(file_id, 'file_id')}", idempotent=True
    )
    found: FileObject = _decode(_FILE, raw, "the file object")
    return found


async def download_file(
    client: GroqClient, file_id: str, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> bytes:
    """The content of ``file_id`` (an output or error file is JSONL), read up to ``max_bytes``
    (past it, :class:`StreamProtocolError`)."""
    raw, _ = await client._request(
        "GET",
        f"/files/{_check_id(file_id, 'file_id')}/content",
        idempotent=True,
        max_bytes=max_bytes,
    )
    return raw


async def delete_file(client: GroqClient, file_id: str) -> bool:
    """Delete ``file_id``; returns whether Groq says it was deleted."""
    raw, _ = await client._request(
        "DELETE", f"/files/{_check_id(file_id, 'file_id')}", idempotent=True
    )
    deleted: _Deleted = _decode(msgspec.json.Decoder(_Deleted), raw, "the deletion")
    return deleted.deleted


# --- batches -------------------------------------------------------------------------------------


def _check_window(window: str) -> str:
    hours = None
    if isinstance(window, str) and window[-1:] in _COMPLETION_WINDOW_UNITS:
        number = window[:-1]
        if number.isdigit():
            hours = int(number) * _COMPLETION_WINDOW_UNITS[window[-1]]
    if hours is None or not 24 <= hours <= 7 * 24:
        raise ConfigurationError(
            f"completion_window must be from '24h' to '7d' (e.g. '24h', '48h', '7d'), not "
            f"{window!r}"
        )
    return window


async def create_batch(
    client: GroqClient,
    input_file_id: str,
    *,
    completion_window: str = "24h",
    metadata: Mapping[str, str] | None = None,
) -> BatchJob:
    """Start a batch over an uploaded input file; returns it (usually ``validating``).

    ``completion_window`` is ``"24h"`` to ``"7d"``; ``metadata`` is string pairs kept with it.
    Not retried unless it surely did not reach Groq (a second create would run twice).
    """
    payload: dict[str, Any] = {
        "input_file_id": _check_id(input_file_id, "input_file_id"),
        "endpoint": BATCH_ENDPOINT,
        "completion_window": _check_window(completion_window),
    }
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ConfigurationError("metadata must map strings to strings")
        payload["metadata"] = dict(metadata)
    raw, _ = await client._request(
        "POST", "/batches", content=msgspec.json.encode(payload), idempotent=False
    )
    created: BatchJob = _decode(_BATCH, raw, "the batch object")
    return created


async def retrieve_batch(client: GroqClient, batch_id: str) -> BatchJob:
    """The current state of ``batch_id``. Raises ``NotFoundError`` for an unknown id."""
    raw, _ = await client._request(
        "GET", f"/batches/{_check_id(batch_id, 'batch_id')}", idempotent=True
    )
    batch: BatchJob = _decode(_BATCH, raw, "the batch object")
    return batch


async def list_batches(client: GroqClient) -> list[BatchJob]:
    """Every batch of this API key's organisation, as Groq lists them."""
    raw, _ = await client._request("GET", "/batches", idempotent=True, max_bytes=64 * _OBJECT_LIMIT)
    listed: _BatchList = _decode(msgspec.json.Decoder(_BatchList), raw, "the batch list")
    return listed.data


async def cancel_batch(client: GroqClient, batch_id: str) -> BatchJob:
    """Ask Groq to cancel ``batch_id``; returns it, usually ``cancelling`` (then ``cancelled``,
    with the finished requests' results kept)."""
    raw, _ = await client._request(
        "POST", f"/batches/{_check_id(batch_id, 'batch_id')}/cancel", idempotent=True
    )
    batch: BatchJob = _decode(_BATCH, raw, "the batch object")
    return batch


# --- the workflow --------------------------------------------------------------------------------


def check_requests(requests: Iterable[Request]) -> list[dict[str, Any]]:
    """Check every request exactly as the streaming path does (:func:`check_request`), before
    anything is sent; return the bodies a batch's lines carry (``extra_body`` merged, no
    ``stream``). Errors name the request's index and the field."""
    check_requests_argument(requests)
    bodies: list[dict[str, Any]] = []
    for index, request in enumerate(requests):
        encoded = check_request(request, index)
        if encoded.headers or encoded.params:
            raise ConfigurationError(
                f"requests[{index}]: extra_headers and extra_query cannot travel in a batch "
                "(its lines are bodies only); put the fields in the body or extra_body"
            )
        body: dict[str, Any] = msgspec.json.decode(encoded)
        body.pop("stream", None)
        bodies.append(body)
    if not bodies:
        raise ConfigurationError("a batch needs at least one request")
    return bodies


async def submit_batch(
    client: GroqClient,
    requests: Iterable[Request],
    *,
    completion_window: str = "24h",
    metadata: Mapping[str, str] | None = None,
) -> BatchJob:
    """Check the requests, upload them as one input file and create the batch; return it.

    Request ``i`` gets ``custom_id`` ``"request-i"``, so :func:`fetch_batch_results` can put the
    answers back in order. Every request is checked before anything is sent.
    """
    checked = check_requests(requests)
    _check_window(completion_window)
    data = encode_input(checked, [custom_id_for(i) for i in range(len(checked))])
    uploaded = await upload_batch_file(client, data)
    try:
        return await create_batch(
            client, uploaded.id, completion_window=completion_window, metadata=metadata
        )
    except BaseException:
        await _delete_quietly(client, uploaded.id)  # no batch: the file would only linger
        raise


async def _delete_quietly(client: GroqClient, file_id: str) -> None:
    """Delete a file while leaving: shielded, bounded, best effort."""
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + 4 * CLOSE_TIMEOUT
        with contextlib.suppress(GroqStreamError):
            await delete_file(client, file_id)


async def wait_for_batch(
    client: GroqClient,
    batch_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    on_progress: Progress | None = None,
) -> BatchJob:
    """Poll ``batch_id`` until it reaches a terminal state; return that last :class:`BatchJob`.

    The wait between polls starts at ``poll_interval`` and grows by half each time up to
    ``max_poll_interval``. ``on_progress`` is called with every state polled (the first at once),
    so a caller can show ``status`` and ``request_counts``. Bound the wait with your own cancel
    scope (``trio.move_on_after``): cancelling only stops the polling, the batch runs on.
    """
    if not 0 < poll_interval <= max_poll_interval:
        raise ConfigurationError("need 0 < poll_interval <= max_poll_interval")
    wait = poll_interval
    while True:
        batch = await retrieve_batch(client, batch_id)
        if on_progress is not None:
            on_progress(batch)
        if batch.done:
            return batch
        await trio.sleep(wait)
        wait = min(max_poll_interval, wait * 1.5)


@overload
async def fetch_batch_results(
    client: GroqClient,
    batch: BatchJob,
    count: int | None = ...,
    *,
    on_error: Literal["raise"] = ...,
    max_bytes: int = ...,
) -> list[ChatCompletion]: ...


@overload
async def fetch_batch_results(
    client: GroqClient,
    batch: BatchJob,
    count: int | None = ...,
    *,
    on_error: Literal["collect"],
    max_bytes: int = ...,
) -> list[BatchResult]: ...


async def fetch_batch_results(
    client: GroqClient,
    batch: BatchJob,
    count: int | None = None,
    *,
    on_error: OnError = "raise",
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> list[ChatCompletion] | list[BatchResult]:
    """The results of a finished batch of ``count`` requests sent by :func:`submit_batch`, in
    request order. Without ``count``, the batch's input file is downloaded to count them.

    A batch that failed validation raises :class:`BatchFailedError`. Otherwise each slot is a
    :class:`ChatCompletion` or, per request, the error the streaming path would raise for its
    status (``BadRequestError``...) or a :class:`BatchRequestError` (expired, cancelled, missing).
    With ``on_error="raise"`` (default) any such error raises an ``ExceptionGroup`` of them, as
    :func:`gather` does; ``"collect"`` returns them in their slots.
    """
    if on_error not in ("raise", "collect"):
        raise ConfigurationError(f"on_error must be 'raise' or 'collect', not {on_error!r}")
    if batch.status == "failed":
        raise BatchFailedError(batch)
    if not batch.done:
        raise ConfigurationError(
            f"batch {batch.id} is still {batch.status}; wait_for_batch() first"
        )
    files = [
        await download_file(client, file_id, max_bytes=max_bytes)
        for file_id in (batch.output_file_id, batch.error_file_id)
        if file_id
    ]
    if count is None:
        data = await download_file(client, batch.input_file_id, max_bytes=MAX_INPUT_BYTES)
        count = sum(1 for line in data.splitlines() if line.strip())
    results = parse_results([custom_id_for(i) for i in range(count)], files, batch=batch)
    if on_error == "raise":
        errors = [result for result in results if isinstance(result, GroqStreamError)]
        if errors:
            raise ExceptionGroup(
                f"{len(errors)} of the batch's {count} requests failed (batch {batch.id})", errors
            )
    return results


async def _cancel_quietly(client: GroqClient, batch_id: str) -> None:
    """Cancel the batch on Groq's side while leaving: shielded, bounded, best effort."""
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + 4 * CLOSE_TIMEOUT
        # The batch may have ended meanwhile; the caller is leaving either way.
        with contextlib.suppress(GroqStreamError):
            await cancel_batch(client, batch_id)


@overload
async def run_batch(
    client: GroqClient,
    requests: Iterable[Request],
    *,
    on_error: Literal["raise"] = ...,
    completion_window: str = ...,
    metadata: Mapping[str, str] | None = ...,
    poll_interval: float = ...,
    max_poll_interval: float = ...,
    on_progress: Progress | None = ...,
    cancel_on_exit: bool = ...,
) -> list[ChatCompletion]: ...


@overload
async def run_batch(
    client: GroqClient,
    requests: Iterable[Request],
    *,
    on_error: Literal["collect"],
    completion_window: str = ...,
    metadata: Mapping[str, str] | None = ...,
    poll_interval: float = ...,
    max_poll_interval: float = ...,
    on_progress: Progress | None = ...,
    cancel_on_exit: bool = ...,
) -> list[BatchResult]: ...


async def run_batch(
    client: GroqClient,
    requests: Iterable[Request],
    *,
    on_error: OnError = "raise",
    completion_window: str = "24h",
    metadata: Mapping[str, str] | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    on_progress: Progress | None = None,
    cancel_on_exit: bool = True,
) -> list[ChatCompletion] | list[BatchResult]:
    """Run requests through Groq's Batch API; return the completions in request order.

    The same requests and the same ``on_error`` contract as :func:`gather`, but Groq runs them
    (lower price, separate limits, answers within ``completion_window``): submit, poll with
    backoff (``on_progress`` sees every state), fetch, match. Per-request failures are typed as
    the streaming path types them; a batch refused by validation raises
    :class:`BatchFailedError`.

    Cancellation (your ``move_on_after``, Ctrl-C) stops the wait and, with ``cancel_on_exit``
    (default), cancels the batch on Groq's side before leaving. A failure of our own (the network
    gone while polling) leaves the batch running: its id is in ``on_progress``'s reports and in
    the error, so :func:`wait_for_batch` can pick it up.
    """
    if on_error not in ("raise", "collect"):
        raise ConfigurationError(f"on_error must be 'raise' or 'collect', not {on_error!r}")
    if not 0 < poll_interval <= max_poll_interval:
        raise ConfigurationError("need 0 < poll_interval <= max_poll_interval")
    checked = check_requests(requests)
    batch = await submit_batch(
        client, checked, completion_window=completion_window, metadata=metadata
    )
    if on_progress is not None:
        on_progress(batch)
    try:
        batch = await wait_for_batch(
            client,
            batch.id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            on_progress=on_progress,
        )
    except GroqStreamError as exc:
        exc.message += f" (while waiting for batch {batch.id}, which goes on running)"
        raise
    except BaseException:
        if cancel_on_exit:
            await _cancel_quietly(client, batch.id)
        raise
    return await fetch_batch_results(client, batch, len(checked), on_error=on_error)
