"""The streaming run behind ``trio-groqstream "prompt" ...``: fan out, show, record, stop cleanly.

How a run ends, and what it leaves (the CLI maps each to an exit status):

* every request finished (some may have failed);
* a fatal error dooms the rest (a rejected API key): the run stops, the others never start;
* SIGINT or SIGTERM: taken as signals (``trio.open_signal_receiver``) rather than as a
  ``KeyboardInterrupt`` that could land anywhere, they cancel the run, so every stream closes its
  connection on the way out (shielded, bounded) while records already finished are written whole.
  A second signal during that cleanup is the default action again: the way out when something
  hangs;
* an output error: the records cannot be written (a full disk) or stdout's reader left
  (``| head -1``, ``EPIPE``). Either stops the run; nothing more can be delivered.
"""

from __future__ import annotations

import errno
import itertools
import signal
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

import trio

from ._client import GroqClient
from ._display import Display, PaceWait
from ._errors import AuthenticationError, ConfigurationError, GroqStreamError
from ._fanout import FanoutEvent, open_fanout
from ._inputs import Job, last_user_text
from ._pacer import PaceState
from ._params import ChatRequest
from ._results import ResultLog, result_record

if TYPE_CHECKING:
    from .testing import Handler, RecordedRequest, Reply

__all__ = ["DEFAULT_MODEL", "FAKE_TAIL", "Run", "open_client"]

DEFAULT_MODEL = "llama-3.3-70b-versatile"
FAKE_TAIL = (
    "\nThis answer comes from the built-in fake Groq server, so nothing left this machine."
    "\nIt streams word by word with a short pause between chunks, to show what live output"
    " looks like.\nSet GROQ_API_KEY to ask the real Groq API instead.\n"
)
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds between looks at the client's pacing state, for the display.
PACING_POLL = 0.1


class _CountingLimiter:
    """A ``trio.CapacityLimiter`` that also counts the requests the fan-out started, so the
    summary can tell "cancelled in flight" from "never started"."""

    def __init__(self, total_tokens: int) -> None:
        self._limiter = trio.CapacityLimiter(total_tokens)
        self.acquired = 0

    async def acquire_on_behalf_of(self, borrower: object) -> None:
        await self._limiter.acquire_on_behalf_of(borrower)
        self.acquired += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._limiter, name)


@dataclass
class Run:
    """One run of the command: its jobs, where their results go, and how it ended."""

    jobs: Sequence[Job]
    display: Display
    log: ResultLog | None
    concurrency: int
    signal: signal.Signals | None = None  # the signal that stopped the run
    failed: int = 0
    fatal: GroqStreamError | None = None  # an error that dooms every request (a bad key)
    output_error: OSError | None = None  # the records or the display could not be written
    output_where = ""  # what could not be written: the results file, stdout or stderr
    prompt_tokens: int = 0  # from the usage of the answers
    completion_tokens: int = 0
    pacing: dict[str, PaceState] = field(default_factory=dict)  # the client's, at the end
    _limiter: _CountingLimiter = field(init=False)

    def __post_init__(self) -> None:
        self._limiter = _CountingLimiter(self.concurrency)

    @property
    def started(self) -> int:
        """Requests the fan-out started (finished, in flight, or cancelled in flight)."""
        return self._limiter.acquired

    def totals(self) -> str:
        """The summary's second line: requests sent (attempts, retries too), tokens used, 429s
        received and time spent waiting on rate limits (summed over models)."""
        states = self.pacing.values()
        sent = sum(state.admitted for state in states)
        limited = sum(state.rate_limited for state in states)
        waited = sum(state.waited for state in states)
        tokens = self.prompt_tokens + self.completion_tokens
        return (
            f"{sent} requests, {tokens} tokens ({self.prompt_tokens} prompt + "
            f"{self.completion_tokens} completion), {limited} rate-limited (429), "
            f"{waited:.1f}s waiting on rate limits"
        )

    @property
    def broken_pipe(self) -> bool:
        return self.output_error is not None and self.output_error.errno == errno.EPIPE

    async def run(self, client: GroqClient) -> None:
        """Fan the jobs out (at most ``concurrency`` at once, pausing while the rate limits say
        a window is used up) and show every event as it arrives."""
        requests = [job.request for job in self.jobs]
        try:
            with self.display:
                async with trio.open_nursery() as nursery:
                    if threading.current_thread() is threading.main_thread():
                        await nursery.start(self._watch_signals, nursery.cancel_scope)
                    nursery.start_soon(self._animate, nursery.cancel_scope)
                    nursery.start_soon(self._watch_pacing, client, nursery.cancel_scope)
                    await self._fan_out(client, requests)
                    nursery.cancel_scope.cancel()  # stop the animation and the watchers
        except OSError as exc:  # the display's last frame, or its first
            self._output_failed(exc)
        finally:
            self.pacing = client.pacing

    async def _watch_pacing(self, client: GroqClient, scope: trio.CancelScope) -> None:
        """Tell the display what the rate limits hold back, about ten times a second."""
        try:
            while True:
                now = trio.current_time()
                self.display.pacing(
                    [
                        PaceWait(state.model, state.waiting_for, state.until - now, state.queued)
                        for state in client.pacing.values()
                        if state.waiting_for is not None and state.until is not None
                    ]
                )
                await trio.sleep(PACING_POLL)
        except OSError as exc:  # stderr, where plain output's wait lines go, went away
            self.output_where = self.output_where or "stderr"
            self._output_failed(exc)
            scope.cancel()

    async def _fan_out(self, client: GroqClient, requests: Sequence[Mapping[str, Any]]) -> None:
        began = trio.current_time()
        limiter = cast(trio.CapacityLimiter, self._limiter)
        checked = cast("Sequence[ChatRequest]", requests)  # each was checked when it was read
        async with open_fanout(client, checked, limiter=limiter, on_error="collect") as fanout:
            async for event in fanout:
                job = self.jobs[event.index]
                try:
                    if event.chunk is not None:
                        self.display.chunk(job.index, event.text)
                    else:
                        await self._finished(job, event, trio.current_time() - began)
                except OSError as exc:
                    self._output_failed(exc)
                    return  # leaving the fan-out cancels every request
                if self.fatal is not None:
                    return

    async def _animate(self, scope: trio.CancelScope) -> None:
        try:
            await self.display.animate()
        except OSError as exc:  # the terminal went away
            self._output_failed(exc)
            scope.cancel()

    def _output_failed(self, exc: OSError) -> None:
        if self.output_error is None:
            self.output_error = exc
            self.output_where = self.output_where or self.display.target

    async def _finished(self, job: Job, event: FanoutEvent, elapsed: float) -> None:
        error = event.error
        duration = event.metrics.duration if event.metrics is not None else None
        if duration is None:
            duration = elapsed
        if self.log is not None:
            record = result_record(
                job.index,
                job.digest,
                job.request,
                job.prompt,
                completion=event.completion,
                metrics=event.metrics,
                error=error,
                duration=duration,
            )
            try:
                await self.log.write(record)
            except OSError:
                self.output_where = "stdout" if self.log.to_stdout else self.log.path
                raise
        completion = event.completion or (error.completion if error is not None else None)
        usage = completion.usage if completion is not None else None
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens
        self.display.finished(
            job.index,
            error=describe(error) if error else None,
            seconds=duration,
            text=completion.text if completion is not None else "",
        )
        if error is not None:
            self.failed += 1
            if isinstance(error, AuthenticationError):
                self.fatal = error

    async def _watch_signals(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        with trio.open_signal_receiver(*_SIGNALS) as signals:
            task_status.started()
            async for signum in signals:
                self.signal = signal.Signals(signum)
                scope.cancel()
                return  # a second signal during cleanup takes its default action again


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")


@asynccontextmanager
async def open_client(
    settings: Mapping[str, Any], fake_pause: float | None, fake_note: str | None, stderr: TextIO
) -> AsyncIterator[GroqClient]:
    """A client for Groq, or for the built-in fake server when ``fake_pause`` is not ``None``."""
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
        stderr.write(
            f"{fake_note}: using the built-in fake Groq server at {fake.base_url} "
            "(no network, canned replies)\n"
        )
        stderr.flush()
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
            echo_text(last_user_text(body.get("messages"))) + FAKE_TAIL,
            model=model if isinstance(model, str) else DEFAULT_MODEL,
            request_id=f"req_fake{next(serial):022d}",  # Groq's shape: req_ + 26 characters
            pause=pause or None,
        )

    return reply
