"""The ``trio-groqstream`` command: stream many prompts at once from a shell, and keep every result.

This module handles arguments, input, the results file and the run; ``_display.py`` shows the run.
:func:`main` returns the exit code instead of exiting, so tests call it in-process:

* 0: every request succeeded; 1: some failed (or setup failed, e.g. a bad key);
* 2: usage error (bad option, unreadable or malformed input), always one line, never a traceback;
* 130: interrupted by Ctrl-C. Results already finished stay in ``--output``; ``--resume`` goes on.

Ctrl-C is taken as a signal (``trio.open_signal_receiver``) rather than as a ``KeyboardInterrupt``
that could land anywhere: it cancels the batch, so every stream closes its connection on the way
out (shielded, bounded) while records already finished are written whole. A second Ctrl-C during
that cleanup is an ordinary ``KeyboardInterrupt``: the way out when something hangs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO, cast

import msgspec
import trio

from ._client import GroqClient
from ._display import Display, choose_display
from ._errors import AuthenticationError, ConfigurationError, GroqStreamError
from ._fanout import FanoutEvent, open_fanout
from ._params import ChatRequest
from ._results import PROG, ResultLog, UsageError, result_record
from ._version import __version__

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from .testing import Handler, RecordedRequest, Reply

__all__ = ["Job", "ResultLog", "UsageError", "build_parser", "main", "read_jobs", "run"]

DEFAULT_MODEL = "llama-3.3-70b-versatile"
FAKE_PAUSE_ENV = "TRIO_GROQSTREAM_FAKE_PAUSE"
DEFAULT_FAKE_PAUSE = 0.03
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_TIMEOUTS = ("connect_timeout", "first_chunk_timeout", "idle_timeout", "total_timeout")
_FAKE_TAIL = (
    "\nThis answer comes from the built-in fake Groq server, so nothing left this machine."
    "\nIt streams word by word with a short pause between chunks, to show what live output"
    " looks like.\nSet GROQ_API_KEY to ask the real Groq API instead.\n"
)

_EPILOG = f"""\
input:
  Prompts are positional arguments, or JSONL from --input FILE (or stdin when no prompts are
  given), one request per line, blank lines skipped. A line is {{"prompt": "..."}} (optionally
  with "system", "model" and any other request field) or a whole chat completions body with
  "messages". Options such as --model fill in what a line leaves out.

results:
  --output FILE appends one JSON line per finished request (its "index" is the request's
  position in the input), flushed and fsync'd as each one ends. --resume skips the indexes
  FILE already records as successful, so an interrupted batch goes on without paying twice.

environment:
  GROQ_API_KEY      without it (or with --fake) a built-in fake Groq server answers instead
  GROQ_BASE_URL     another endpoint than https://api.groq.com
  {FAKE_PAUSE_ENV}  seconds between the fake's chunks (default {DEFAULT_FAKE_PAUSE})

exit status: 0 all succeeded, 1 some failed, 2 usage error, 130 interrupted.
"""


@dataclass(frozen=True)
class Job:
    """One request of the batch. ``index`` is its position in the input: what --resume matches."""

    index: int
    request: dict[str, Any]
    prompt: str  # the prompt, or the last user message of a "messages" body


# --- arguments -----------------------------------------------------------------------------------


def _number(text: str, *, minimum: float = 0, kind: type[float] | type[int] = float) -> float:
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if not minimum <= value < float("inf"):
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what} >= {minimum}, not {text!r}")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    return lambda text: int(_number(text, minimum=minimum, kind=int))


def _seconds(text: str) -> float | None:
    if text.lower() == "none":
        return None
    if _number(text) == 0:
        raise argparse.ArgumentTypeError("expected seconds > 0, or 'none' for no limit")
    return float(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``prog`` is the console script's name however it was started)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Stream many Groq chat completions at once, live, keeping every result.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("prompts", nargs="*", metavar="PROMPT", help="a prompt; each one is a request")
    add("-i", "--input", metavar="FILE", help="JSONL requests, one per line ('-' for stdin)")
    add("-m", "--model", default=DEFAULT_MODEL, help="model (default: %(default)s)")
    add("--system", metavar="TEXT", help="system message for each prompt (not for messages)")
    add("--temperature", type=_number, metavar="T", help="sampling temperature")
    add("--max-tokens", type=_count(1), metavar="N", help="sent as max_completion_tokens")
    add("-c", "--concurrency", type=_count(1), default=8, metavar="N",
        help="requests in flight at once (default: %(default)s)")  # fmt: skip
    for name in _TIMEOUTS:
        add(f"--{name.replace('_', '-')}", type=_seconds, default=argparse.SUPPRESS,
            metavar="SECONDS", help="override the client's default ('none': no limit)")  # fmt: skip
    add("--max-retries", type=_count(0), default=argparse.SUPPRESS, metavar="N",
        help="retries before the first chunk (default: 2)")  # fmt: skip
    add("-o", "--output", metavar="FILE", help="append one JSON line per finished request")
    add("--resume", action="store_true", help="skip requests --output records as successful")
    add("--plain", action="store_true", help="plain tagged lines even on a terminal")
    add("--fake", action="store_true", help="use the built-in fake Groq server")
    add("--version", action="version", version=f"{PROG} {__version__}")
    return parser


# --- input ---------------------------------------------------------------------------------------


def read_jobs(args: argparse.Namespace, stdin: IO[str] | None) -> list[Job]:
    """The batch, from the positional prompts, ``--input`` or stdin. Raises :class:`UsageError`."""
    defaults = {"model": args.model, "temperature": args.temperature}
    defaults["max_completion_tokens"] = args.max_tokens
    defaults = {key: value for key, value in defaults.items() if value is not None}
    if args.prompts:
        if args.input is not None:
            raise UsageError("give prompts as arguments or with --input, not both")
        return [
            Job(index, _prompt_request(prompt, args.system, defaults, {}), prompt)
            for index, prompt in enumerate(args.prompts)
        ]
    source = args.input
    if source is None and (stdin is None or stdin.isatty()):
        raise UsageError("no prompts: give them as arguments, or as JSONL with --input FILE")
    if source in (None, "-"):
        source = "<stdin>"
        lines = getattr(stdin, "buffer", None) or (line.encode() for line in stdin or ())
        jobs = _parse_jsonl(lines, source, args.system, defaults)
    else:
        try:
            with open(source, "rb") as file:
                jobs = _parse_jsonl(file, source, args.system, defaults)
        except OSError as exc:
            raise UsageError(f"cannot read --input {source}: {exc.strerror or exc}") from None
    if not jobs:
        raise UsageError(f"no prompts: {source} has no requests")
    return jobs


def _parse_jsonl(
    lines: Iterable[bytes], label: str, system: str | None, defaults: Mapping[str, Any]
) -> list[Job]:
    """One job per non-blank line. Bytes, split on LF only: a U+2028 inside a prompt is text."""
    jobs: list[Job] = []
    for number, raw in enumerate(lines, 1):
        line = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw  # a UTF-8 BOM
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
        prompt = _last_user_text(messages) or f"({len(messages)} messages)"
        return Job(index, {**defaults, **item}, prompt)
    prompt, line_system = item.pop("prompt"), item.pop("system", system)
    if not isinstance(prompt, str) or not isinstance(line_system, (str, type(None))):
        raise UsageError(f'{where}: "prompt" and "system" must be strings')
    return Job(index, _prompt_request(prompt, line_system, defaults, item), prompt)


def _prompt_request(
    prompt: str, system: str | None, defaults: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return {**defaults, **extra, "messages": messages}


def _last_user_text(messages: object) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


# --- results -------------------------------------------------------------------------------------


# --- the run -------------------------------------------------------------------------------------


@dataclass
class _Batch:
    """One run of the command: its jobs, where their results go, and how it ended."""

    jobs: Sequence[Job]
    display: Display
    log: ResultLog | None
    concurrency: int
    interrupted: bool = False
    failed: int = 0
    fatal: GroqStreamError | None = None  # an error that dooms every request (a bad key)

    async def run(self, client: GroqClient) -> None:
        """Fan the jobs out (at most ``concurrency`` at once, pausing while the rate limits say
        a window is used up) and show every event as it arrives. Ctrl-C cancels it all."""
        requests = cast("list[ChatRequest]", [job.request for job in self.jobs])
        with self.display:
            async with trio.open_nursery() as nursery:
                if threading.current_thread() is threading.main_thread():
                    await nursery.start(self._watch_sigint, nursery.cancel_scope)
                nursery.start_soon(self.display.animate)
                began = trio.current_time()
                async with open_fanout(
                    client, requests, max_concurrency=self.concurrency, on_error="collect"
                ) as fanout:
                    async for event in fanout:
                        job = self.jobs[event.index]
                        if event.chunk is not None:
                            self.display.chunk(job.index, event.text)
                        else:
                            await self._finished(job, event, trio.current_time() - began)
                            if self.fatal is not None:
                                break  # leaving the fan-out cancels every other request
                nursery.cancel_scope.cancel()  # stop the animation and the Ctrl-C watcher

    async def _finished(self, job: Job, event: FanoutEvent, elapsed: float) -> None:
        error = event.error
        duration = event.metrics.duration if event.metrics is not None else None
        if duration is None:
            duration = elapsed
        if self.log is not None:
            record = result_record(
                job.index,
                job.request,
                job.prompt,
                completion=event.completion,
                metrics=event.metrics,
                error=error,
                duration=duration,
            )
            await self.log.write(record)
        self.display.finished(
            job.index, error=_describe(error) if error else None, seconds=duration
        )
        if error is not None:
            self.failed += 1
            if isinstance(error, AuthenticationError):
                self.fatal = error

    async def _watch_sigint(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                self.interrupted = True
                scope.cancel()
                return  # a second Ctrl-C during cleanup is a plain KeyboardInterrupt again


@asynccontextmanager
async def _open_client(
    args: argparse.Namespace, fake_pause: float | None, stderr: TextIO
) -> AsyncIterator[GroqClient]:
    """A client for Groq, or for the built-in fake server when ``fake_pause`` is not ``None``."""
    names = (*_TIMEOUTS, "max_retries")
    settings = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if fake_pause is None:
        async with GroqClient(**settings) as client:
            yield client
        return
    try:
        from .testing import open_fake_groq
    except ImportError as exc:  # h11 (httpx brings it along, but it is not ours to assume)
        raise ConfigurationError(
            f"the built-in fake server cannot start ({exc}); pip install 'trio-groqstream[testing]'"
        ) from exc
    async with open_fake_groq(_fake_handler(fake_pause)) as fake:
        why = "--fake" if args.fake else "GROQ_API_KEY is not set"
        stderr.write(
            f"{why}: using the built-in fake Groq server at {fake.base_url} "
            "(no network, canned replies)\n"
        )
        async with GroqClient(api_key=fake.api_key, base_url=fake.base_url, **settings) as client:
            yield client


def _fake_handler(pause: float) -> Handler:
    """The fake's answer: the echo of the prompt plus a few lines, streamed at a visible pace."""
    from .testing import echo_text, text_reply

    serial = itertools.count(1)

    def reply(request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        model = body.get("model")
        return text_reply(
            echo_text(_last_user_text(body.get("messages"))) + _FAKE_TAIL,
            model=model if isinstance(model, str) else DEFAULT_MODEL,
            request_id=f"req_fake{next(serial):022d}",  # Groq's shape: req_ + 26 characters
            pause=pause or None,
        )

    return reply


async def _amain(
    args: argparse.Namespace, batch: _Batch, fake_pause: float | None, stderr: TextIO
) -> None:
    async with _open_client(args, fake_pause, stderr) as client:
        await batch.run(client)


# --- entry points --------------------------------------------------------------------------------


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")


def _only(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(kind)[1] is None
    return isinstance(exc, kind)


def _error(stderr: TextIO, message: str) -> None:
    stderr.write(f"{PROG}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    log: ResultLog | None = None
    try:
        try:
            args = build_parser().parse_intermixed_args(argv)
        except SystemExit as exc:  # --help, --version, or argparse's own usage error
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        try:
            if args.resume and not args.output:
                raise UsageError("--resume needs --output FILE, the results to resume from")
            jobs = read_jobs(args, sys.stdin)
            fake_pause = None
            if args.fake or not os.environ.get("GROQ_API_KEY"):
                pause = os.environ.get(FAKE_PAUSE_ENV, str(DEFAULT_FAKE_PAUSE))
                try:
                    fake_pause = _number(pause)
                except argparse.ArgumentTypeError as exc:
                    raise UsageError(f"{FAKE_PAUSE_ENV}: {exc}") from None
            if args.output:
                log = ResultLog(args.output, resume=args.resume, stderr=stderr)
            if args.resume and log is not None:
                total, jobs = len(jobs), [job for job in jobs if job.index not in log.succeeded]
                stderr.write(f"--resume: {total - len(jobs)} of {total} already succeeded\n")
                if not jobs:
                    return EXIT_OK
        except UsageError as exc:
            _error(stderr, str(exc))
            return EXIT_USAGE
        prompts = [(job.index, job.prompt) for job in jobs]
        display = choose_display(prompts, plain=args.plain, stdout=stdout, stderr=stderr)
        batch = _Batch(jobs, display, log, args.concurrency)
        trio.run(_amain, args, batch, fake_pause, stderr)
        stderr.write(display.summary(interrupted=batch.interrupted) + "\n")
        if batch.interrupted:
            if log is not None:
                stderr.write(f"interrupted: finished results are in {log.path}; add --resume\n")
            return EXIT_INTERRUPTED
        if batch.fatal is not None:
            _error(stderr, _describe(batch.fatal))
        return EXIT_FAILED if batch.failed else EXIT_OK
    except GroqStreamError as exc:  # setup: a bad base URL, say
        _error(stderr, _describe(exc))
        return EXIT_FAILED
    except (KeyboardInterrupt, BrokenPipeError, BaseExceptionGroup) as exc:
        # Grouped when raised in a nursery: Ctrl-C again while cleaning up, or stdout's reader
        # gone (``| head``), where the batch stops quietly, as cat would.
        if _only(exc, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if not _only(exc, BrokenPipeError):
            raise
        with suppress(OSError, ValueError):  # no "Broken pipe" again at exit
            fileno, devnull = stdout.fileno(), os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fileno)
            os.close(devnull)
        return EXIT_FAILED
    finally:
        if log is not None:
            log.close()


def run() -> NoReturn:
    """The console script's entry point."""
    sys.exit(main())
