"""``trio-groqstream batch``: submit, watch, fetch and cancel Groq batches from a shell.

::

    trio-groqstream batch submit -i prompts.txt      # prints the batch id as its last line
    trio-groqstream batch status ID [--json]         # the state is the first word
    trio-groqstream batch fetch ID -o results.jsonl  # the streaming run's --output format
    trio-groqstream batch cancel ID

Input is read exactly as the streaming run reads it (``_inputs.py``: prompts, text or JSONL) and
checked as the library checks it before anything is sent; ``fetch`` writes the streaming run's
results records (``_results.py``), so a batch's results and a streamed run's are interchangeable
downstream (``--resume`` matches them by the same request digest).

Submitting twice by mistake is hard: ``submit`` records the batch id next to the input
(``FILE.batch``; for prompts or stdin, a file named by the input's digest in the state directory),
created exclusively before anything is uploaded, and refuses a second submit of the same input to
the same endpoint unless ``--force``. Exit statuses: 0 done, 1 a failure (the API refused, the
batch failed, some results are errors), 2 usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TextIO

import msgspec
import trio

from ._batch import _check_window as check_window
from ._batch import cancel_batch as cancel_batch_call
from ._batch import (
    check_requests,
    fetch_batch_results,
    retrieve_batch,
    submit_batch,
    wait_for_batch,
)
from ._batch import download_file as download
from ._batch_wire import BatchFailedError, BatchJob, custom_id_for
from ._client import GroqClient
from ._errors import ConfigurationError, GroqStreamError
from ._inputs import FORMATS, jobs_from_prompts, last_user_text, open_source, read_jobs
from ._results import PROG, ResultLog, UsageError, request_digest, result_record
from ._wire import ChatCompletion

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STATE_ENV = "TRIO_GROQSTREAM_STATE_DIR"
_HELP_HINT = f"Try '{PROG} batch --help' for more information."
_ENCODER = msgspec.json.Encoder()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``batch`` subcommand's parser."""
    parser = _Parser(
        prog=f"{PROG} batch",
        description="Run prompts through Groq's Batch API: lower price, separate limits, "
        "answers within the completion window (24h to 7d).",
        epilog="environment: GROQ_API_KEY (required), GROQ_BASE_URL (another endpoint).\n"
        "exit status: 0 done, 1 failed (the API refused, the batch failed, some results are "
        "errors), 2 usage error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    submit = commands.add_parser("submit", help="upload prompts and create a batch")
    submit.add_argument("prompts", nargs="*", metavar="PROMPT", help="a prompt; each a request")
    submit.add_argument("-i", "--input", metavar="FILE", help="prompts or requests ('-': stdin)")
    submit.add_argument("--format", choices=FORMATS, default="auto", help="text, jsonl or auto")
    submit.add_argument("-m", "--model", default="llama-3.3-70b-versatile", help="model")
    submit.add_argument("--system", metavar="TEXT", help="system message for each prompt")
    submit.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    submit.add_argument("--max-tokens", type=int, metavar="N", help="max_completion_tokens")
    submit.add_argument("--completion-window", default="24h", metavar="W", help="24h to 7d")
    submit.add_argument("--force", action="store_true", help="submit again an input already sent")
    status = commands.add_parser("status", help="print a batch's state (first word)")
    status.add_argument("batch_id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the whole batch object")
    fetch = commands.add_parser("fetch", help="write a finished batch's results")
    fetch.add_argument("batch_id", metavar="ID")
    fetch.add_argument("-o", "--output", required=True, metavar="FILE", help="('-': stdout)")
    fetch.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    fetch.add_argument("--wait", action="store_true", help="wait for the batch to finish first")
    fetch.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between the first polls with --wait (default: %(default)s)",
    )
    cancel = commands.add_parser("cancel", help="cancel a batch")
    cancel.add_argument("batch_id", metavar="ID")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``trio-groqstream batch ARGV``; return the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    try:
        try:
            args = build_parser().parse_args(list(argv))
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        return trio.run(_COMMANDS[args.command], args, sys.stdin, stdout, stderr)
    except UsageError as exc:
        stderr.write(f"{PROG} batch: error: {exc}\n{_HELP_HINT}\n")
        return EXIT_USAGE
    except GroqStreamError as exc:
        stderr.write(f"{PROG} batch: error: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _client() -> GroqClient:
    try:
        return GroqClient()
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc} (the batch commands need a real key)") from None


# --- submit --------------------------------------------------------------------------------------


def _read(args: argparse.Namespace, stdin: IO[str]) -> tuple[list[dict[str, Any]], str | None]:
    """The requests, and the input file's path (``None`` for prompts or stdin)."""
    defaults = {"model": args.model, "temperature": args.temperature}
    defaults["max_completion_tokens"] = args.max_tokens
    defaults = {key: value for key, value in defaults.items() if value is not None}
    if args.prompts:
        if args.input is not None:
            raise UsageError("give prompts as arguments or with --input, not both")
        prompts = [(f"prompt {n}", prompt) for n, prompt in enumerate(args.prompts, 1)]
        jobs = jobs_from_prompts(prompts, args.system, defaults)
        path = None
    else:
        if args.input is None and _isatty(stdin):
            raise UsageError("no prompts: give them as arguments, with --input FILE, or on stdin")
        label, lines = open_source(args.input or "-", stdin)
        jobs = read_jobs(label, lines, fmt=args.format, system=args.system, defaults=defaults)
        path = None if args.input in (None, "-") else args.input
    return [job.request for job in jobs], path


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is None or stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


def _ledger(path: str | None, digest: str) -> Path:
    """Where the batch id of this input is recorded: beside the file, or in the state dir."""
    if path is not None:
        return Path(path + ".batch")
    base = os.environ.get(STATE_ENV) or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), PROG
    )
    return Path(base) / f"{digest[:32]}.batch"


def _claim(ledger: Path, record: dict[str, Any], *, force: bool) -> None:
    """Create the record exclusively (two submits at once cannot both pass), or refuse."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            previous = msgspec.json.decode(ledger.read_bytes())
        except (OSError, msgspec.DecodeError):
            previous = {}
        same = isinstance(previous, dict) and previous.get("input_digest") == record["input_digest"]
        same = same and previous.get("base_url") == record["base_url"]
        if same and not force:
            batch_id = previous.get("batch_id") or "(a submit that did not finish)"
            raise UsageError(
                f"this input was already submitted as {batch_id} (recorded in {ledger}); see "
                f"'{PROG} batch status {batch_id}', or add --force to submit it again"
            ) from None
        fd = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(_ENCODER.encode(record) + b"\n")


async def _submit(args: argparse.Namespace, stdin: IO[str], stdout: TextIO, stderr: TextIO) -> int:
    requests, path = _read(args, stdin)
    async with _client() as client:
        try:
            bodies = check_requests(requests)
            check_window(args.completion_window)
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from None
        digest = hashlib.sha256(b"".join(request_digest(b).encode() for b in bodies)).hexdigest()
        record: dict[str, Any] = {
            "input_digest": digest,
            "base_url": client.base_url,
            "batch_id": None,
        }
        ledger = _ledger(path, digest)
        _claim(ledger, record, force=args.force)
        try:
            batch = await submit_batch(client, bodies, completion_window=args.completion_window)
        except BaseException:
            ledger.unlink(missing_ok=True)  # nothing was created: a retry is not a duplicate
            raise
    record |= {"batch_id": batch.id, "submitted_at": int(time.time()), "requests": len(bodies)}
    ledger.write_bytes(_ENCODER.encode(record) + b"\n")
    stderr.write(f"submitted {len(bodies)} requests as {batch.id} (recorded in {ledger})\n")
    stdout.write(batch.id + "\n")
    return EXIT_OK


# --- status, cancel ------------------------------------------------------------------------------


def _summary(batch: BatchJob) -> str:
    counts = batch.request_counts
    done = f" {counts.completed}/{counts.total} done, {counts.failed} failed" if counts else ""
    return f"{batch.status}{done} {batch.id}"


async def _status(args: argparse.Namespace, stdin: IO[str], stdout: TextIO, stderr: TextIO) -> int:
    async with _client() as client:
        batch = await retrieve_batch(client, args.batch_id)
    if args.json:
        whole = _ENCODER.encode(msgspec.structs.asdict(batch))
        stdout.write(msgspec.json.format(whole).decode() + "\n")
    else:
        stdout.write(_summary(batch) + "\n")
    return EXIT_OK


async def _cancel(args: argparse.Namespace, stdin: IO[str], stdout: TextIO, stderr: TextIO) -> int:
    async with _client() as client:
        batch = await cancel_batch_call(client, args.batch_id)
    stdout.write(_summary(batch) + "\n")
    return EXIT_OK


# --- fetch ---------------------------------------------------------------------------------------


async def _fetch(args: argparse.Namespace, stdin: IO[str], stdout: TextIO, stderr: TextIO) -> int:
    log = ResultLog.open(args.output, resume=False, overwrite=args.overwrite)
    try:
        async with _client() as client:
            batch = await retrieve_batch(client, args.batch_id)
            if args.wait and not batch.done:
                batch = await wait_for_batch(
                    client,
                    args.batch_id,
                    poll_interval=args.poll,
                    max_poll_interval=max(args.poll, 60.0),
                )
            if not batch.done:
                stderr.write(
                    f"{PROG} batch: {batch.id} is still {batch.status}; try again later, or "
                    "add --wait\n"
                )
                return EXIT_FAILED
            if batch.status == "failed":
                raise BatchFailedError(batch)
            bodies = _input_bodies(await download(client, batch.input_file_id))
            results = await fetch_batch_results(client, batch, len(bodies), on_error="collect")
        failed = 0
        for index, (body, result) in enumerate(zip(bodies, results, strict=True)):
            error = result if isinstance(result, GroqStreamError) else None
            completion = result if isinstance(result, ChatCompletion) else None
            failed += error is not None
            record = result_record(
                index,
                request_digest(body),
                body,
                last_user_text(body.get("messages")),
                completion=completion,
                metrics=None,
                error=error,
                duration=0.0,
            )
            log.append(record)
    finally:
        log.close()
    stderr.write(
        f"{batch.id} {batch.status}: {len(bodies) - failed} done, {failed} failed; "
        f"results in {log.path}\n"
    )
    return EXIT_FAILED if failed else EXIT_OK


def _input_bodies(data: bytes) -> list[dict[str, Any]]:
    """The request bodies of a batch's input file, in ``custom_id`` order (``request-i``)."""
    lines: dict[str, dict[str, Any]] = {}
    for raw in data.splitlines():
        if raw.strip():
            line = msgspec.json.decode(raw)
            lines[line.get("custom_id")] = line.get("body") or {}
    bodies: list[dict[str, Any]] = []
    while (custom_id := custom_id_for(len(bodies))) in lines:
        bodies.append(lines[custom_id])
    if len(bodies) != len(lines):
        raise UsageError(
            "this batch was not submitted by trio-groqstream (its custom_ids are not "
            "request-0, request-1, ...); download its files with the library instead"
        )
    return bodies


_COMMANDS = {"submit": _submit, "status": _status, "fetch": _fetch, "cancel": _cancel}
