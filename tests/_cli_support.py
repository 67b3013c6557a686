"""Helpers for driving the real ``trio-groqstream`` console script in a subprocess.

The script is the one installed beside this interpreter; without ``GROQ_API_KEY`` it answers
from its built-in fake server (``FAKE_PAUSE`` 0: instant) unless a test points it elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import trio

from trio_groqstream.testing import Handler, open_fake_groq

FAKE_PAUSE_ENV = "TRIO_GROQSTREAM_FAKE_PAUSE"
_BIN = str(Path(sys.executable).parent)
SCRIPT = shutil.which("trio-groqstream", path=os.pathsep.join([_BIN, os.environ["PATH"]]))
assert SCRIPT is not None, "pip install -e . puts the console script beside python"
#: Generous: these bound a hang, they do not time anything.
TIMEOUT = 60


def environment(**overrides: str | None) -> dict[str, str]:
    """The subprocess's environment: the fake, instant, no key; ``None`` removes a variable."""
    env = {**os.environ, FAKE_PAUSE_ENV: "0", "PATH": os.pathsep.join([_BIN, os.environ["PATH"]])}
    for name in ("GROQ_API_KEY", "GROQ_BASE_URL", "GROQ_CUSTOM_HEADERS", "COLUMNS", "LINES"):
        env.pop(name, None)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def cli(
    *args: str,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    **popen: Any,
) -> subprocess.CompletedProcess[bytes]:
    """Run the console script to the end; stdout and stderr captured (unless given)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [str(SCRIPT), *args],
        input=stdin,
        env=environment() if env is None else dict(env),
        cwd=cwd,
        timeout=TIMEOUT,
        check=False,
        **popen,
    )


def text(done: subprocess.CompletedProcess[Any]) -> tuple[str, str]:
    out, err = done.stdout, done.stderr
    return out.decode(errors="replace"), err.decode(errors="replace")


def start(
    *args: str, env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start the console script with stdout and stderr as pipes (unless given)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [str(SCRIPT), *args], env=environment() if env is None else dict(env), **popen
    )


def read_records(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "every record is a whole line"
    return [json.loads(line) for line in data.splitlines()]


def assert_usage_error(done: subprocess.CompletedProcess[Any], *needles: str) -> None:
    """Exit status 2, one error line plus the pointer to --help, nothing on stdout."""
    out, err = text(done)
    assert done.returncode == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("trio-groqstream: error: ")
    assert lines[1] == "Try 'trio-groqstream --help' for more information."
    for needle in needles:
        assert needle in lines[0]


@contextlib.contextmanager
def fake_groq_elsewhere(handler: Handler | None = None) -> Iterator[str]:
    """A fake Groq with its own trio loop in a thread; yields its base URL for GROQ_BASE_URL."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        with trio.CancelScope() as scope:
            async with open_fake_groq(handler) as fake:
                box.update(url=fake.base_url, scope=scope, token=trio.lowlevel.current_trio_token())
                ready.set()
                await trio.sleep_forever()

    thread = threading.Thread(target=trio.run, args=(serve,))
    thread.start()
    try:
        assert ready.wait(10)
        yield box["url"]
    finally:
        if "token" in box:
            trio.from_thread.run_sync(box["scope"].cancel, trio_token=box["token"])
        thread.join(10)


def _terminal(columns: int, lines: int) -> tuple[int, int]:
    """A pseudo-terminal ``(controller, terminal)`` of the given size."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    return controller, terminal


def in_terminal(
    *args: str,
    stdout_is_terminal: bool = True,
    env: Mapping[str, str] | None = None,
    columns: int = 100,
    lines: int = 30,
) -> tuple[int, bytes, bytes]:
    """Run the script with stderr (and, by default, stdout) on a pseudo-terminal.

    Returns the exit status, what the terminal showed, and stdout when it was a pipe.
    """
    controller, terminal = _terminal(columns, lines)
    stdout: int | IO[bytes] = terminal if stdout_is_terminal else subprocess.PIPE
    process = start(*args, env=env, stdout=stdout, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    screen: list[bytes] = []
    piped: list[bytes] = []
    streams = {controller: screen}
    if process.stdout is not None:
        streams[process.stdout.fileno()] = piped
    try:
        while streams:
            ready, _, _ = select.select(list(streams), [], [], TIMEOUT)
            assert ready, "the command hung"
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError as exc:  # EIO: the terminal's last user is gone
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if data:
                    streams[fd].append(data)
                else:
                    del streams[fd]
        status = process.wait(TIMEOUT)
    finally:
        os.close(controller)
        if process.stdout is not None:
            process.stdout.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    return status, b"".join(screen), b"".join(piped)


def wait_for_line(stream: IO[bytes], needle: bytes) -> list[bytes]:
    """Read lines until one contains ``needle`` (the output is the synchronisation, no sleep)."""
    seen = []
    for line in iter(stream.readline, b""):
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never appeared in {b''.join(seen)!r}")


def write_lines(path: Path, lines: Sequence[object]) -> Path:
    path.write_text(
        "".join(f"{item if isinstance(item, str) else json.dumps(item)}\n" for item in lines)
    )
    return path
