"""The ``trio-groqstream`` command: stream many prompts at once from a shell, and keep every result.

This module handles arguments, the choice of input and output, and exit statuses; ``_inputs.py``
reads prompts, ``_results.py`` owns the results file, ``_run.py`` runs the fan-out and
``_display.py`` shows it. :func:`main` returns the exit status instead of exiting, so tests can
call it in-process. The statuses (documented in ``docs/cli.md``):

==== ==========================================================================================
0    every request succeeded
1    some requests failed, or setup failed (a bad key, an unreachable base URL)
2    usage error: one line and a pointer to ``--help``, never a traceback
74   the results could not be written (a full disk, a write error); ``--resume`` goes on
130  interrupted by SIGINT (Ctrl-C); 143: terminated by SIGTERM
141  stdout's reader went away (``| head -1``): the run stops quietly, as ``yes | head`` does
==== ==========================================================================================

Subcommands plug in through :data:`SUBCOMMANDS`: ``trio-groqstream NAME ...`` runs the named
module's ``main(argv)``. Anything else is the streaming run, so ``trio-groqstream "a prompt"``
never changes meaning; a prompt that is exactly a subcommand's name goes after ``--``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import IO, NoReturn, TextIO

import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from ._display import choose_display, one_line
from ._errors import ConfigurationError, GroqStreamError
from ._inputs import FORMATS, Job, jobs_from_prompts, open_source, read_jobs
from ._results import PROG, ResultLog, UsageError
from ._run import DEFAULT_MODEL, Run, describe, open_client
from ._stream import encode_body
from ._version import __version__

__all__ = ["SUBCOMMANDS", "build_parser", "main", "run"]

FAKE_PAUSE_ENV = "TRIO_GROQSTREAM_FAKE_PAUSE"
DEFAULT_FAKE_PAUSE = 0.03
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_WRITE_ERROR = 74  # EX_IOERR in sysexits.h
EXIT_PIPE = 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 141
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: ``trio-groqstream NAME ...`` runs ``main(argv) -> int`` of this module (imported when used).
SUBCOMMANDS: dict[str, str] = {"batch": "trio_groqstream._cli_batch"}
_TIMEOUTS = ("connect_timeout", "first_chunk_timeout", "idle_timeout", "total_timeout")
_HELP_HINT = f"Try '{PROG} --help' for more information."

_EPILOG = f"""\
input:
  Prompts are positional arguments, or come from --input FILE (or stdin when no prompts are
  given, '-i -' to insist): plain text with one prompt per line, or JSONL with one request per
  line, {{"prompt": "..."}} (optionally with "system", "model" and any other request field) or a
  whole chat completions body with "messages". The format is detected from the first line, or
  set with --format. Options such as --model fill in what a line leaves out.

results:
  --output FILE appends one JSON line per finished request, written whole and fsync'd as each
  one ends ('-o -': to stdout; the display moves to stderr). An existing non-empty FILE is
  refused unless --resume continues it or --overwrite replaces it. --resume skips the requests
  FILE already holds a successful record of (matched by a digest of the request, not by
  position), so an interrupted run goes on without paying twice.

environment:
  GROQ_API_KEY      without it (or with --fake) a built-in fake Groq server answers instead
  GROQ_BASE_URL     another endpoint than https://api.groq.com
  {FAKE_PAUSE_ENV}  seconds between the fake's chunks (default {DEFAULT_FAKE_PAUSE})

exit status: 0 all succeeded, 1 some failed, 2 usage error, 74 cannot write the results,
  130 interrupted (SIGINT), 141 stdout closed by its reader, 143 terminated (SIGTERM).
"""


# --- arguments -----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """argparse's usage errors, as one line like every other (``main`` adds the hint)."""
        raise UsageError(message)


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
    parser = _Parser(
        prog=PROG,
        description="Stream many Groq chat completions at once, live, keeping every result.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("prompts", nargs="*", metavar="PROMPT", help="a prompt; each one is a request")
    add("-i", "--input", metavar="FILE", help="prompts or requests, one per line ('-': stdin)")
    add("--format", choices=FORMATS, default="auto",
        help="text (a prompt per line), jsonl, or auto (default: detect it)")  # fmt: skip
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
    add("-o", "--output", metavar="FILE", help="append one JSON line per finished request "
        "('-': stdout)")  # fmt: skip
    add("--resume", action="store_true", help="continue --output FILE: skip what succeeded")
    add("--overwrite", action="store_true", help="replace an existing --output FILE")
    add("--plain", action="store_true", help="plain tagged lines even on a terminal")
    add("--fake", action="store_true", help="use the built-in fake Groq server")
    add("--version", action="version", version=f"{PROG} {__version__}")
    return parser


# --- input ---------------------------------------------------------------------------------------


def _jobs(args: argparse.Namespace, stdin: IO[str] | None) -> list[Job]:
    """The run's jobs, from the positional prompts, ``--input`` or stdin."""
    defaults = {"model": args.model, "temperature": args.temperature}
    defaults["max_completion_tokens"] = args.max_tokens
    defaults = {key: value for key, value in defaults.items() if value is not None}
    if args.prompts:
        if args.input is not None:
            raise UsageError("give prompts as arguments or with --input, not both")
        prompts = [(f"prompt {n}", prompt) for n, prompt in enumerate(args.prompts, 1)]
        return jobs_from_prompts(prompts, args.system, defaults)
    if args.input is None and (stdin is None or _isatty(stdin)):
        raise UsageError("no prompts: give them as arguments, with --input FILE, or on stdin")
    label, lines = open_source(args.input or "-", stdin)
    return read_jobs(label, lines, fmt=args.format, system=args.system, defaults=defaults)


def _check(jobs: Sequence[Job]) -> None:
    """Every request checked as the library will check it, before anything is sent."""
    for job in jobs:
        try:
            encode_body(job.request)
        except ConfigurationError as exc:
            raise UsageError(f"{job.where}: {exc}") from None


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _fake_pause(args: argparse.Namespace) -> float | None:
    """Seconds between the fake's chunks, or ``None`` to talk to Groq."""
    if not (args.fake or not os.environ.get("GROQ_API_KEY")):
        return None
    pause = os.environ.get(FAKE_PAUSE_ENV, str(DEFAULT_FAKE_PAUSE))
    try:
        return _number(pause)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{FAKE_PAUSE_ENV}: {exc}") from None


# --- entry points --------------------------------------------------------------------------------


def _error(stderr: TextIO, message: str) -> None:
    """One line on stderr; a server's words in it cannot drive the terminal either."""
    stderr.write(f"{PROG}: error: {one_line(message)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command: Callable[[list[str]], int] = importlib.import_module(SUBCOMMANDS[argv[0]]).main
        return command(argv[1:])
    stderr = sys.stderr
    try:
        return _stream(argv, sys.stdin, sys.stdout, stderr)
    except UsageError as exc:
        _error(stderr, str(exc))
        stderr.write(_HELP_HINT + "\n")
        return EXIT_USAGE
    except GroqStreamError as exc:  # setup: a bad base URL, say
        _error(stderr, describe(exc))
        return EXIT_FAILED
    except BrokenPipeError:  # stderr's reader left too (`2>&1 | head -1`)
        _silence(sys.stdout)
        _silence(stderr)
        return EXIT_PIPE
    except (KeyboardInterrupt, BaseExceptionGroup) as exc:
        # Before the run watches for signals, or a second Ctrl-C during its cleanup (grouped
        # when it lands in a nursery); or a library error that a nursery grouped.
        if not isinstance(exc, BaseExceptionGroup) or exc.split(KeyboardInterrupt)[1] is None:
            return EXIT_SIGNAL[signal.SIGINT]
        errors, rest = exc.split(GroqStreamError)
        if errors is None or rest is not None:
            raise
        first: BaseException = errors
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        _error(stderr, describe(first))
        return EXIT_FAILED


def _stream(argv: list[str], stdin: IO[str], stdout: TextIO, stderr: TextIO) -> int:
    try:
        args = build_parser().parse_intermixed_args(argv)
    except SystemExit as exc:  # --help or --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.resume and not args.output:
        raise UsageError("--resume needs --output FILE, the results to resume from")
    jobs = _jobs(args, stdin)
    _check(jobs)
    fake_pause = _fake_pause(args)
    log = None
    if args.output:
        log = ResultLog.open(
            args.output, resume=args.resume, overwrite=args.overwrite, stdout_fd=_fd(stdout)
        )
    try:
        if log is not None and args.resume:
            for note in log.notes:
                stderr.write(f"{PROG}: note: {note}\n")
            total = len(jobs)
            jobs, unmatched = log.resume(jobs)
            stale = f"; {unmatched} of its records match no request given now" if unmatched else ""
            stderr.write(
                f"--resume: {total - len(jobs)} of {total} requests already succeeded in "
                f"{log.path}{stale}; {len(jobs)} to run\n"
            )
            if not jobs:
                return EXIT_OK
        return _run(args, jobs, log, fake_pause, stdout, stderr)
    finally:
        if log is not None:
            log.close()


def _run(
    args: argparse.Namespace,
    jobs: list[Job],
    log: ResultLog | None,
    fake_pause: float | None,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    prompts = [(job.index, job.prompt) for job in jobs]
    to_stdout = log is not None and log.to_stdout
    display = choose_display(
        prompts, plain=args.plain, stdout=stdout, stderr=stderr, records_to_stdout=to_stdout
    )
    batch = Run(jobs, display, log, args.concurrency)
    names = (*_TIMEOUTS, "max_retries")
    settings = {name: getattr(args, name) for name in names if hasattr(args, name)}
    note = "--fake" if args.fake else "GROQ_API_KEY is not set"

    async def amain() -> None:
        async with open_client(settings, fake_pause, note, stderr) as client:
            await batch.run(client)

    trio.run(amain)
    if batch.broken_pipe:
        _silence(stdout)  # no "Broken pipe" again when Python flushes stdout at exit
        return EXIT_PIPE
    stopped = None
    if batch.signal is not None:
        stopped = f"interrupted by {batch.signal.name}"
    elif batch.output_error is not None:
        stopped = "stopped: write error"
    elif batch.fatal is not None:
        stopped = f"stopped: {type(batch.fatal).__name__}"
    stderr.write(display.summary(started=batch.started, stopped=stopped) + "\n")
    stderr.write(batch.totals() + "\n")
    if batch.output_error is not None:
        error = batch.output_error
        _error(stderr, f"cannot write to {batch.output_where}: {error.strerror or error}")
        if log is not None and log.resumable:
            stderr.write(f"finished results are in {log.path}; fix that and add --resume\n")
        _silence(stdout)
        return EXIT_WRITE_ERROR
    if batch.signal is not None:
        if log is not None and log.resumable:
            stderr.write(f"finished results are in {log.path}; to go on, add --resume\n")
        return EXIT_SIGNAL[batch.signal]
    if batch.fatal is not None:
        _error(stderr, describe(batch.fatal))
    return EXIT_FAILED if batch.failed or batch.fatal is not None else EXIT_OK


def _fd(stream: TextIO) -> int:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):  # io.StringIO in tests: not a real stdout
        return -1


def _silence(stream: TextIO) -> None:
    """Point ``stream`` at /dev/null: what is left in its buffer can only fail again at exit."""
    with suppress(OSError, ValueError):
        fileno, devnull = stream.fileno(), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fileno)
        os.close(devnull)


def run() -> NoReturn:
    """The console script's entry point."""
    sys.exit(main())
