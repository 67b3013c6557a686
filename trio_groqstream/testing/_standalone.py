"""``python -m trio_groqstream.testing``: the fake Groq as a process of its own.

So that separate command-line runs, and tools in other languages, can talk to one fake: it
prints ``GROQ_BASE_URL=...`` and ``GROQ_API_KEY=...`` on stdout (one per line, ready for
``export``), serves until SIGINT (Ctrl-C) or SIGTERM, then closes every connection and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

import trio

from ._catalogue import DEFAULT_MODELS
from ._limits import FakeRateLimits
from ._requests import FAKE_API_KEY
from ._server import FakeGroq

__all__ = ["build_parser", "main", "serve"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, not {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line of the standalone fake."""
    parser = argparse.ArgumentParser(
        prog="python -m trio_groqstream.testing",
        description=(
            "Run a fake Groq API server until Ctrl-C or SIGTERM. It prints GROQ_BASE_URL and "
            "GROQ_API_KEY lines on stdout for the clients to use."
        ),
    )
    add = parser.add_argument
    add("--port", type=_port, default=0, help="the port (default 0: a free one, printed)")
    add("--host", default="127.0.0.1", help="the interface (default 127.0.0.1, loopback only)")
    add("--api-key", default=FAKE_API_KEY, help="the key to accept (default: FAKE_API_KEY)")
    add("--no-auth", action="store_true", help="accept requests without a valid key")
    add("--no-validate", action="store_true", help="do not refuse invalid chat requests")
    add(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="serve this model (repeatable; default: Groq's chat models)",
    )
    limits = parser.add_argument_group("rate limits (per model; default: none)")
    for flag in ("requests-per-minute", "requests-per-day", "tokens-per-minute", "tokens-per-day"):
        limits.add_argument(f"--{flag}", type=_positive_int, metavar="N")
    limits.add_argument("--minute", type=_seconds, default=60.0, help="seconds in a minute")
    limits.add_argument("--day", type=_seconds, default=86400.0, help="seconds in a day")
    return parser


def _fake(options: argparse.Namespace) -> FakeGroq:
    wanted = (
        options.requests_per_minute,
        options.requests_per_day,
        options.tokens_per_minute,
        options.tokens_per_day,
    )
    limits = None
    if any(value is not None for value in wanted):
        limits = FakeRateLimits(*wanted, minute=options.minute, day=options.day)
    return FakeGroq(
        api_key=options.api_key,
        check_auth=not options.no_auth,
        validate=not options.no_validate,
        models=options.models or DEFAULT_MODELS,
        rate_limits=limits,
        host=options.host,
        port=options.port,
    )


async def serve(
    options: argparse.Namespace,
    *,
    out: TextIO,
    task_status: trio.TaskStatus[FakeGroq] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until SIGINT or SIGTERM (or cancellation), printing the URL and key first.

    The signal handlers are installed before anything is printed, so a client that reads the
    URL and at once sends a signal still gets a clean stop.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with _fake(options) as fake:
            print(f"GROQ_BASE_URL={fake.base_url}", file=out, flush=True)
            print(f"GROQ_API_KEY={fake.api_key}", file=out, flush=True)
            task_status.started(fake)
            async for signum in signals:
                print(f"fake Groq: {signal.Signals(signum).name}, stopping", file=sys.stderr)
                break


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve, and return the exit status (2 for a bad command line)."""
    options = build_parser().parse_args(argv)
    try:
        trio.run(lambda: serve(options, out=sys.stdout))
    except OSError as exc:  # the port is taken, or the host cannot be bound
        print(f"fake Groq: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    return 0
