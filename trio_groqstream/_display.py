"""How the command line shows a run while it streams: live on a terminal, plain lines otherwise.

The CLI reports three events per prompt (``started``, ``chunk``, ``finished``) from its trio
tasks. Handling one is cheap state bookkeeping and never draws, because chunks can arrive by the
thousand per second. Drawing is throttled: a live region redraws ~10 times a second from its own
task (:meth:`Display.animate`), in the trio thread, so no renderer thread ever reads state that a
task is changing. :class:`PlainDisplay` writes a line as soon as one is complete, so it pipes
cleanly; when stdout is redirected and stderr is a terminal it also shows a progress line there.

Model text is untrusted: before it reaches a terminal, :func:`safe_text` removes escape
sequences, control characters and bidirectional overrides, so an answer cannot retitle, clear or
reorder the user's terminal. The results file keeps the exact text.

rich is an optional extra (``trio-groqstream[cli]``) and is imported only when a live display is
wanted; without it the display falls back to plain lines and says so once on stderr.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple, TextIO

import trio

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

__all__ = [
    "Display",
    "LiveDisplay",
    "PaceWait",
    "PlainDisplay",
    "Row",
    "choose_display",
    "one_line",
    "safe_text",
]

#: Redraws per second of the live display: smooth to the eye, cheap for the event loop.
REFRESH_PER_SECOND = 10
#: Characters of each prompt's text the live display keeps (it only ever shows the tail).
TAIL_CHARS = 400
#: Finished rows remembered for showing when there are more prompts than terminal lines.
RECENT_ROWS = 200
#: A wait on a rate limit that was last seen longer ago than this is a new wait (plain output
#: gives it a line); while requests are paced, the queue is held at nearly every look.
WAIT_GAP = 1.0
_LIMIT_NAMES = {
    "retry-after": "a 429's retry-after",
    "requests": "the request limit",
    "tokens": "the token limit",
}
_STATUS_STYLE = {"waiting": "dim", "streaming": "cyan", "done": "green", "failed": "bold red"}
# ECMA-48 sequences: CSI (7- and 8-bit), OSC/DCS/PM/APC/SOS strings up to BEL or ST, and the
# two-character escapes. What is left of a sequence split oddly has no ESC: it is inert text.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -~]"
)
# C0 controls but TAB and LF, DEL, C1 controls, and the bidirectional controls of "Trojan Source"
# (CVE-2021-42574) with the invisible marks that steer them.
_UNSAFE = dict.fromkeys(
    [
        *range(9),
        *range(11, 32),
        *range(127, 160),
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)
_FLAT = {**_UNSAFE, 9: " ", 10: " "}  # one line: tabs and newlines become spaces


def safe_text(text: str) -> str:
    """``text`` without anything a terminal would act on; newlines and tabs are kept."""
    if "\x1b" in text or "\x9b" in text:
        text = _ESCAPES.sub("", text)
    return text.translate(_UNSAFE)


def one_line(text: str) -> str:
    """``text`` made safe (see :func:`safe_text`) and flattened to one line."""
    return _ESCAPES.sub("", text).translate(_FLAT).strip()


@dataclass
class Row:
    """What the display knows about one prompt. ``status`` is waiting, streaming, done or failed;
    ``started`` tells a request in flight from one still queued (both are "waiting")."""

    index: int
    prompt: str
    status: str = "waiting"
    started: bool = False
    chunks: int = 0
    tail: str = ""
    error: str | None = None
    seconds: float | None = None


class PaceWait(NamedTuple):
    """A model's requests waiting on its rate limits (from ``client.pacing``)."""

    model: str
    reason: str  # "retry-after", "requests" or "tokens" (PaceState.waiting_for)
    seconds: float  # until the next request may start
    queued: int


def wait_text(wait: PaceWait) -> str:
    """``waiting for the token limit of MODEL (5 queued, next start in 1.2s)``."""
    limit = _LIMIT_NAMES.get(wait.reason, wait.reason)
    return (
        f"waiting for {limit} of {wait.model} "
        f"({wait.queued} queued, next start in {max(wait.seconds, 0.0):.1f}s)"
    )


class Display:
    """The run's state, updated per event; subclasses decide how it is shown.

    Use it as a context manager around the run, and run :meth:`animate` in a task beside it.
    """

    def __init__(self, prompts: Sequence[tuple[int, str]], *, stderr: TextIO) -> None:
        self.rows = {index: Row(index, prompt) for index, prompt in prompts}
        self._order = list(self.rows)
        self._next_queued = 0  # position in _order of the first row not started yet
        self.active: dict[int, Row] = {}
        self.failed: list[Row] = []
        self.recent: deque[Row] = deque(maxlen=RECENT_ROWS)
        self.done = 0
        self.chunks = 0
        self.started_at = time.monotonic()
        self._stderr = stderr
        self.target = "stdout"  # where it writes, for error messages
        self._live: Live | None = None
        self._samples: deque[tuple[float, int]] = deque(maxlen=REFRESH_PER_SECOND + 1)
        self.waits: list[PaceWait] = []  # what the rate limits hold back now

    def __enter__(self) -> Display:
        if self._live is not None:
            self._live.start()
            self.refresh()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            try:
                self.refresh()
            finally:
                self._live.stop()

    def _open_live(self, console: Console) -> None:
        from rich.live import Live

        # Never redirect: stdout may carry plain lines or records while the region is on stderr.
        self._live = Live(
            console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
        )

    async def animate(self) -> None:
        """Redraw periodically until cancelled (plain output has nothing to redraw)."""
        if self._live is None:
            await trio.lowlevel.checkpoint()
            return
        while True:
            await trio.sleep(1 / REFRESH_PER_SECOND)
            self.refresh()

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)

    def render(self) -> RenderableType:
        return self._progress()

    def started(self, index: int) -> None:
        """A request was sent for prompt ``index``."""
        row = self.rows[index]
        row.started = True
        self.active[index] = row
        order, rows = self._order, self.rows
        while self._next_queued < len(order) and rows[order[self._next_queued]].started:
            self._next_queued += 1

    def chunk(self, index: int, text: str) -> None:
        """A chunk arrived for prompt ``index``, adding ``text`` (maybe ``""``) to its answer."""
        row = self.rows[index]
        if not row.started:
            self.started(index)
        row.chunks += 1
        self.chunks += 1
        row.status = "streaming"
        if text:
            self._text(row, text)

    def finished(
        self, index: int, *, error: str | None, seconds: float | None, text: str = ""
    ) -> None:
        """Prompt ``index`` ended with answer ``text``; ``error`` is ``None`` on success, else a
        one-line reason."""
        row = self.rows[index]
        self.active.pop(index, None)
        row.seconds = seconds
        if error is None:
            row.status = "done"
            self.done += 1
            self.recent.append(row)
        else:
            row.status = "failed"
            row.error = error
            self.failed.append(row)
        self._finished(row, text)

    def pacing(self, waits: Sequence[PaceWait]) -> None:
        """What the rate limits hold back now, per model (empty: nothing)."""
        self.waits = list(waits)

    def summary(self, *, started: int | None = None, stopped: str | None = None) -> str:
        """One line for stderr at the end: what became of every request, and the time.

        ``started`` is how many requests were sent (``None``: as many as finished); of those, the
        ones not finished here were cancelled (their results dropped when the run stopped), and
        the rest never started. ``stopped`` says why the run ended early.
        """
        finished = self.done + len(self.failed)
        sent = finished if started is None else max(started, finished)
        parts = [f"{self.done} done", f"{len(self.failed)} failed"]
        if sent > finished:
            parts.append(f"{sent - finished} cancelled")
        if len(self.rows) > sent:
            parts.append(f"{len(self.rows) - sent} not started")
        text = f"{', '.join(parts)} in {time.monotonic() - self.started_at:.1f}s"
        return f"{text} ({stopped})" if stopped else text

    def _text(self, row: Row, text: str) -> None:
        pass

    def _finished(self, row: Row, text: str) -> None:
        pass

    def chunk_rate(self) -> float:
        """Chunks per second over about the last second."""
        now = time.monotonic()
        self._samples.append((now, self.chunks))
        then, count = self._samples[0]
        return (self.chunks - count) / (now - then) if now > then else 0.0

    def _progress(self) -> RenderableType:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        finished = self.done + len(self.failed)
        progress = Table.grid(padding=(0, 1))
        progress.add_row(
            ProgressBar(total=max(1, len(self.rows)), completed=finished, width=20),
            Text(
                f"{finished}/{len(self.rows)} done · {len(self.failed)} failed · "
                f"{len(self.active)} in flight · {self.chunk_rate():.0f} chunks/s · "
                f"{time.monotonic() - self.started_at:.1f}s",
                style="bold",
            ),
        )
        for wait in self.waits:
            progress.add_row(Text(""), Text(safe_text(wait_text(wait)), style="yellow"))
        return progress


class PlainDisplay(Display):
    """Merged, line-tagged output: ``[3] a line of prompt 3's text``.

    A line is written as soon as its newline arrives; the rest of a prompt's text when the prompt
    ends, followed by one ``[3] -- done ...`` or ``[3] -- failed: ...`` line. With ``progress``
    (a console on stderr), a live progress line is drawn there too.
    """

    def __init__(
        self,
        prompts: Sequence[tuple[int, str]],
        *,
        out: TextIO,
        stderr: TextIO,
        progress: Console | None = None,
    ) -> None:
        super().__init__(prompts, stderr=stderr)
        self._out = out
        self.target = "stdout" if out is not stderr else "stderr"
        self._pending: dict[int, list[str]] = {}  # text since the last newline, per prompt
        self._wait_seen: dict[tuple[str, str], float] = {}  # (model, limit): last seen
        if progress is not None:
            self._open_live(progress)

    def pacing(self, waits: Sequence[PaceWait]) -> None:
        """One line on stderr when a wait on a rate limit starts, not one per update: a model's
        requests held by the same limit at every look (a paced run) are one wait, until the limit
        has held nothing for :data:`WAIT_GAP` seconds. A live progress line on stderr shows
        waits instead."""
        super().pacing(waits)
        if self._live is not None:
            return
        now = time.monotonic()
        for wait in waits:
            key = (wait.model, wait.reason)
            seen = self._wait_seen.get(key)
            self._wait_seen[key] = now
            if seen is None or now - seen > WAIT_GAP:
                self._stderr.write(f"-- {safe_text(wait_text(wait))}\n")
                self._stderr.flush()

    def _emit(self, index: int, line: str) -> None:
        line = safe_text(line)
        self._out.write(f"[{index}] {line}\n" if line else f"[{index}]\n")

    def _text(self, row: Row, text: str) -> None:
        if "\n" not in text:
            self._pending.setdefault(row.index, []).append(text)
            return
        parts = self._pending.pop(row.index, [])
        parts.append(text)
        *lines, rest = "".join(parts).split("\n")
        for line in lines:
            self._emit(row.index, line)
        if rest:
            self._pending[row.index] = [rest]
        self._out.flush()

    def _finished(self, row: Row, text: str) -> None:
        rest = "".join(self._pending.pop(row.index, ()))
        if rest:
            self._emit(row.index, rest)
        if row.error is None:
            took = f" in {row.seconds:.2f}s" if row.seconds is not None else ""
            self._out.write(f"[{row.index}] -- done{took} ({row.chunks} chunks)\n")
        else:
            self._out.write(f"[{row.index}] -- failed: {one_line(row.error)}\n")
        self._out.flush()


class LiveDisplay(Display):
    """Every prompt on one line that updates in place, under an overall progress line; with
    ``answers``, each finished answer is printed in full above that live region.

    When there are more prompts than the terminal has lines, the ones in flight and the failures
    are shown first, then the most recently finished, then the next queued.
    """

    def __init__(
        self,
        prompts: Sequence[tuple[int, str]],
        *,
        console: Console,
        stderr: TextIO,
        answers: bool = True,
    ) -> None:
        super().__init__(prompts, stderr=stderr)
        self.console = console
        self.target = "stdout" if answers else "stderr"
        self._answers = answers
        self._printed: list[RenderableType] = []  # finished answers not yet printed
        self._index_width = len(str(max(self.rows, default=0)))
        self._open_live(console)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if not self._answers:
            for row in self.failed:  # the frame may have cropped them
                self._stderr.write(f"[{row.index}] failed: {one_line(row.error or '')}\n")

    def _text(self, row: Row, text: str) -> None:
        row.tail = (row.tail + text)[-TAIL_CHARS:]  # bounded: a copy of at most TAIL_CHARS

    def _finished(self, row: Row, text: str) -> None:
        if not self._answers:
            return
        from rich.console import Group
        from rich.text import Text

        took = f" · {row.seconds:.2f}s" if row.seconds is not None else ""
        style = "bold" if row.error is None else "bold red"
        parts = [Text(f"[{row.index}] {one_line(row.prompt)}{took}", style=style)]
        body = safe_text(text).rstrip("\n")
        if body:
            parts.append(Text(body))
        if row.error is not None:
            parts.append(Text(f"failed: {one_line(row.error)}", style="red"))
        parts.append(Text())
        self._printed.append(Group(*parts))

    def refresh(self) -> None:
        """Print the answers finished since the last frame above the region, then redraw it:
        one print per frame, not per answer, because every print redraws the region too."""
        if self._printed:
            from rich.console import Group

            printed, self._printed = self._printed, []
            self.console.print(Group(*printed), soft_wrap=True)
        super().refresh()

    def visible_rows(self, limit: int) -> tuple[list[Row], int]:
        """The rows to draw (at most ``limit``, in prompt order) and how many are left out."""
        if len(self.rows) <= limit:
            return list(self.rows.values()), 0
        chosen: dict[int, Row] = {}
        recent_done = (row for row in reversed(self.recent) if row.status == "done")
        queued = (self.rows[i] for i in self._order[self._next_queued :])
        for source in (self.active.values(), reversed(self.failed), recent_done, queued):
            for row in source:
                if len(chosen) >= limit:
                    break
                chosen.setdefault(row.index, row)
        return sorted(chosen.values(), key=lambda row: row.index), len(self.rows) - len(chosen)

    def render(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        width = self.console.width
        prompt_width = max(8, min(28, width // 4))
        tail_width = max(8, width - self._index_width - 9 - prompt_width - 3)
        rows, hidden = self.visible_rows(max(1, self.console.height // 2 - 3))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", width=self._index_width)
        grid.add_column(width=9)
        grid.add_column(width=prompt_width, no_wrap=True, overflow="ellipsis")
        grid.add_column(width=tail_width, no_wrap=True, overflow="crop")
        for row in rows:
            status = Text(row.status, style=_STATUS_STYLE[row.status])
            if not row.started:
                status.stylize("dim")
            tail = _fit_tail(row.error or row.tail, tail_width)
            grid.add_row(
                str(row.index),
                status,
                Text(one_line(row.prompt)),
                Text(tail, style="red" if row.error else ""),
            )
        parts: list[RenderableType] = [grid]
        if hidden:
            parts.append(Text(f"… and {hidden} more", style="dim"))
        parts.append(self._progress())
        return Group(*parts)


def _fit_tail(text: str, width: int) -> str:
    """The end of ``text`` on one line, at most ``width`` cells, with "…" when cut."""
    from rich.cells import cell_len, get_character_cell_size

    flat = one_line(text)
    if cell_len(flat) <= width:
        return flat
    cells = 1  # the ellipsis
    start = len(flat)
    while start > 0:
        size = get_character_cell_size(flat[start - 1])
        if cells + size > width:
            break
        cells += size
        start -= 1
    return "…" + flat[start:]


def choose_display(
    prompts: Sequence[tuple[int, str]],
    *,
    plain: bool,
    stdout: TextIO,
    stderr: TextIO,
    records_to_stdout: bool = False,
) -> Display:
    """The display for where stdout and stderr go.

    The display writes to stdout, or to stderr when the records take stdout (``-o -``). It is live
    on a terminal (unless ``plain``, or the records share that terminal), with each answer printed
    in full above the live region when the display has stdout. Plain lines otherwise, plus a
    progress line on stderr when stdout is redirected and stderr is a terminal.
    """
    out = stderr if records_to_stdout else stdout
    live = not plain and _isatty(out) and not (records_to_stdout and _isatty(stdout))
    progress = out is stdout and not _isatty(stdout) and _isatty(stderr)
    if not (live or progress):
        return PlainDisplay(prompts, out=out, stderr=stderr)
    try:
        from rich.console import Console
    except ImportError:
        if live:
            stderr.write(
                "trio-groqstream: note: rich is not installed, so the live display is off "
                "(pip install 'trio-groqstream[cli]'); writing plain lines\n"
            )
        return PlainDisplay(prompts, out=out, stderr=stderr)
    if live:
        console = Console(file=out, highlight=False)
        return LiveDisplay(prompts, console=console, stderr=stderr, answers=out is stdout)
    console = Console(file=stderr, highlight=False)
    return PlainDisplay(prompts, out=out, stderr=stderr, progress=console)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: not a terminal
        return False
