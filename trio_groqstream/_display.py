"""How the command line shows a batch while it streams: live on a terminal, plain lines otherwise.

The CLI reports three events per prompt (``started``, ``chunk``, ``finished``) from its trio
tasks. Handling one is cheap state bookkeeping and never draws, because chunks can arrive by the
thousand per second. Drawing is throttled: :class:`LiveDisplay` redraws ~10 times a second from
its own task (:meth:`Display.animate`), in the trio thread, so no renderer thread ever reads
state that a task is changing. :class:`PlainDisplay` writes a line as soon as one is complete, so
it pipes cleanly.

rich is an optional extra (``trio-groqstream[cli]``) and is imported only when a live display is
wanted; without it the display falls back to plain lines and says so once on stderr.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import trio

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = ["Display", "LiveDisplay", "PlainDisplay", "Row", "choose_display"]

#: Redraws per second of the live display: smooth to the eye, cheap for the event loop.
REFRESH_PER_SECOND = 10
#: Characters of each prompt's text the live display keeps (it only ever shows the tail).
TAIL_CHARS = 400
#: Finished rows remembered for showing when there are more prompts than terminal lines.
RECENT_ROWS = 200
_STATUS_STYLE = {"waiting": "dim", "streaming": "cyan", "done": "green", "failed": "bold red"}
_CONTROL = dict.fromkeys([*range(32), *range(127, 160)], " ")  # newlines, ESC, C1 codes


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


class Display:
    """The batch's state, updated per event; subclasses decide how it is shown.

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

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

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

    def finished(self, index: int, *, error: str | None, seconds: float | None) -> None:
        """Prompt ``index`` ended: ``error`` is ``None`` on success, else a one-line reason."""
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
        self._finished(row)

    async def animate(self) -> None:
        """Redraw periodically until cancelled (plain output has nothing to redraw)."""
        await trio.lowlevel.checkpoint()

    def summary(self, *, interrupted: bool) -> str:
        """One line for stderr at the end: counts and time."""
        elapsed = time.monotonic() - self.started_at
        text = f"{self.done} done, {len(self.failed)} failed"
        left = len(self.rows) - self.done - len(self.failed)
        if interrupted and left:
            text += f", {left} not finished (interrupted)"
        return f"{text} in {elapsed:.1f}s"

    def _text(self, row: Row, text: str) -> None:
        pass

    def _finished(self, row: Row) -> None:
        pass


class PlainDisplay(Display):
    """Merged, line-tagged output: ``[3] a line of prompt 3's text``.

    A line is written as soon as its newline arrives; the rest of a prompt's text when the prompt
    ends, followed by one ``[3] -- done ...`` or ``[3] -- failed: ...`` line.
    """

    def __init__(self, prompts: Sequence[tuple[int, str]], *, out: TextIO, stderr: TextIO) -> None:
        super().__init__(prompts, stderr=stderr)
        self._out = out
        self._pending: dict[int, list[str]] = {}  # text since the last newline, per prompt

    def _emit(self, index: int, line: str) -> None:
        line = line.removesuffix("\r")
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

    def _finished(self, row: Row) -> None:
        rest = "".join(self._pending.pop(row.index, ()))
        if rest:
            self._emit(row.index, rest)
        if row.error is None:
            took = f" in {row.seconds:.2f}s" if row.seconds is not None else ""
            self._out.write(f"[{row.index}] -- done{took} ({row.chunks} chunks)\n")
        else:
            self._out.write(f"[{row.index}] -- failed: {row.error}\n")
        self._out.flush()


class LiveDisplay(Display):
    """Every prompt on one line that updates in place, under an overall progress line.

    When there are more prompts than the terminal has lines, the ones in flight and the failures
    are shown first, then the most recently finished, then the next queued.
    """

    def __init__(
        self, prompts: Sequence[tuple[int, str]], *, console: Console, stderr: TextIO
    ) -> None:
        from rich.live import Live

        super().__init__(prompts, stderr=stderr)
        self.console = console
        self._live = Live(console=console, auto_refresh=False, redirect_stderr=False)
        self._samples: deque[tuple[float, int]] = deque(maxlen=REFRESH_PER_SECOND + 1)
        self._index_width = len(str(max(self.rows, default=0)))

    def __enter__(self) -> Display:
        self._live.start()
        self.refresh()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.refresh()
        self._live.stop()
        for row in self.failed:  # the frame may have cropped them; errors deserve a full line
            self._stderr.write(f"[{row.index}] failed: {row.error}\n")

    async def animate(self) -> None:
        while True:
            await trio.sleep(1 / REFRESH_PER_SECOND)
            self.refresh()

    def refresh(self) -> None:
        self._live.update(self.render(), refresh=True)

    def _text(self, row: Row, text: str) -> None:
        row.tail = (row.tail + text)[-TAIL_CHARS:]  # bounded: a copy of at most TAIL_CHARS

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

    def chunk_rate(self) -> float:
        """Chunks per second over about the last second."""
        now = time.monotonic()
        self._samples.append((now, self.chunks))
        then, count = self._samples[0]
        return (self.chunks - count) / (now - then) if now > then else 0.0

    def render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        width = self.console.width
        prompt_width = max(8, min(28, width // 4))
        tail_width = max(8, width - self._index_width - 9 - prompt_width - 3)
        rows, hidden = self.visible_rows(max(1, self.console.height - 3))
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
                Text(_one_line(row.prompt)),
                Text(tail, style="red" if row.error else ""),
            )
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
        parts: list[RenderableType] = [grid]
        if hidden:
            parts.append(Text(f"… and {hidden} more", style="dim"))
        parts.append(progress)
        return Group(*parts)


def _one_line(text: str) -> str:
    return text.translate(_CONTROL).strip()


def _fit_tail(text: str, width: int) -> str:
    """The end of ``text`` on one line, at most ``width`` cells, with "…" when cut."""
    from rich.cells import cell_len, get_character_cell_size

    flat = _one_line(text)
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
    prompts: Sequence[tuple[int, str]], *, plain: bool, stdout: TextIO, stderr: TextIO
) -> Display:
    """A live display on a terminal (when rich is installed), plain lines otherwise."""
    if not plain and _isatty(stdout):
        try:
            from rich.console import Console
        except ImportError:
            stderr.write(
                "trio-groqstream: note: rich is not installed, so the live display is off "
                "(pip install 'trio-groqstream[cli]'); writing plain lines\n"
            )
        else:
            return LiveDisplay(prompts, console=Console(file=stdout), stderr=stderr)
    return PlainDisplay(prompts, out=stdout, stderr=stderr)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: not a terminal
        return False
