"""Pacing of request starts by the caller's rate limits: per model, shared by one ``GroqClient``.

What limits a large fan-out on Groq is not the client but the caller's limits (requests and tokens
per minute and per day, per model). Firing requests until a 429 comes back wastes part of every
window and multiplies the 429s; so every paced request passes through :meth:`Pacer.admit` before
it is sent, and starts only when what is known about the limits leaves room for it.

What is known, per model:

* **The latest ``x-ratelimit-*`` headers**, minus what was admitted after the request that carried
  them (its estimated cost). Until the stated reset, only ``remaining`` is counted on; after it,
  the whole ``limit``. That bound holds whatever the server's limiter is (fixed windows, sliding
  windows, or a refilling bucket as Groq's), and since every response refreshes it, it stays
  tight without knowing the window's length.
* **A pace for requests that the headers do not state.** Groq reports requests per day and tokens
  per minute; requests per minute show only as 429s. Each such 429 ends an *epoch*: the requests
  the server accepted since the previous epoch ended, over the time to the new wait's end, is the
  rate the server allows. Starts are then spread evenly at a little under that rate (even spacing
  at the right rate is accepted by every kind of limiter, where bursts at a window's start are
  not), and the rate is probed up slowly while no 429 comes back.
* **A ``retry-after`` block**: after a 429, no request of that model starts before the server said.
* **Explicit limits** (``GroqClient(limits=...)``) replace the learning: starts are spread at the
  stated rates and nothing is probed.

Token costs are estimated before sending (the prompt's characters, plus ``max_completion_tokens``
or what answers have used so far) and corrected from each answer's ``usage``; estimates only ever
cover the few requests not yet reflected in a response's headers, so their errors stay small.

Every wait is bounded: the wait that the limits impose on the request at the head of the queue is
capped by that request's ``max_retry_wait`` (past it the request fails with ``RateLimitError`` and
the state that imposed it is forgotten, so it cannot stall later requests), and all of it runs
inside the request's ``total_timeout``.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import re
from collections import deque
from collections.abc import Mapping
from typing import Literal, NamedTuple

import msgspec
import trio

from ._errors import APIStatusError, ConfigurationError, RateLimitError
from ._ratelimit import RateLimits, parse_go_duration

__all__ = ["PACED", "Limits", "PaceState", "Pacer", "Ticket", "estimate_request"]

#: Set in a fan-out worker's task: its requests wait for the pacer before they are sent.
PACED: contextvars.ContextVar[bool] = contextvars.ContextVar("trio_groqstream_paced", default=False)

WaitReason = Literal["retry-after", "requests", "tokens"]

#: Paces run this far under the rate they aim at, so that timing noise does not cross it.
MARGIN = 0.03
#: Added to every server-stated reset or wait: Go durations are rounded, and clocks drift.
RESET_SLACK = 0.01
#: A learned request rate goes up after every PROBE_EVERY accepted requests without a 429: by
#: PROBE_STEP twice, then by doubling steps up to MAX_PROBE_STEP.
PROBE_EVERY = 100
PROBE_STEP = 0.01
MAX_PROBE_STEP = 0.25
#: An epoch of fewer accepted requests measures nothing: its 429 lowers the rate by
#: SHORT_EPOCH_DROP (GUESS_DROP while the rate is only a guess from a first burst), and the epoch
#: goes on until it has measured enough.
MIN_EPOCH = 12
SHORT_EPOCH_DROP = 0.9
GUESS_DROP = 0.7
#: Token estimates before any answer has been seen: characters per token, and completion tokens.
CHARS_PER_TOKEN = 4.0
DEFAULT_COMPLETION_TOKENS = 256
#: A limit counts as a refilling bucket when this many responses in a row imply refill rates
#: within IMPLIED_SPREAD of each other.
IMPLIED_SAMPLES = 3
IMPLIED_SPREAD = 0.05
#: Requests of a model sent before the first response's headers say anything about its limits.
PROBE_BURST = 8
#: Weight of the newest answer in the running corrections of the estimates.
EWMA = 0.2


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Rate limits you know, for ``GroqClient(limits=...)``: the pacer then spreads requests at
    these rates instead of learning them, and probes nothing.

    Attributes:
        requests: requests allowed per window (``None``: not limited here).
        tokens: tokens (prompt and completion) allowed per window (``None``: not limited here).
        per: the window's length in seconds (60 for Groq's per-minute limits).
    """

    requests: int | None = None
    tokens: int | None = None
    per: float = 60.0

    def __post_init__(self) -> None:
        for name in ("requests", "tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ConfigurationError(f"Limits({name}={value!r}): expected a positive int")
        if not (isinstance(self.per, (int, float)) and math.isfinite(self.per) and self.per > 0):
            raise ConfigurationError(f"Limits(per={self.per!r}): expected positive seconds")


class PaceState(msgspec.Struct, frozen=True, kw_only=True):
    """What the pacer knows and does for one model (``client.pacing[model]``).

    Attributes:
        model: the model these limits belong to (Groq's limits are per model).
        queued: requests waiting to be admitted.
        waiting_for: what the next request waits for: ``"retry-after"`` (a 429's wait),
            ``"requests"`` or ``"tokens"`` (a used-up window, or the pace); ``None`` if nothing.
        until: when (``trio.current_time()``'s clock) the next request may start, if it waits.
        requests_per_second: the pace of request starts (learned from 429s, or from ``limits=``);
            ``None`` while no limit on requests is known.
        tokens_per_second: the token pace from ``limits=`` (``None`` when learned from headers).
        remaining_requests: what the latest headers leave for requests, minus those sent since.
        remaining_tokens: what the latest headers leave for tokens, minus estimates sent since.
        admitted: requests started so far.
        rate_limited: 429s received.
        waited: seconds the queue's head spent waiting, in total.
    """

    model: str
    queued: int = 0
    waiting_for: WaitReason | None = None
    until: float | None = None
    requests_per_second: float | None = None
    tokens_per_second: float | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    admitted: int = 0
    rate_limited: int = 0
    waited: float = 0.0


# --- estimating a request's cost ----------------------------------------------------------------


class _Message(msgspec.Struct):
    content: msgspec.Raw = msgspec.Raw(b"")


class _Body(msgspec.Struct):
    model: str = ""
    messages: list[_Message] = []
    max_completion_tokens: int | None = None
    max_tokens: int | None = None


_BODY_DECODER = msgspec.json.Decoder(_Body)


def estimate_request(body: bytes) -> tuple[str, int, int | None]:
    """``(model, prompt characters, max completion tokens or None)`` of an encoded request.

    Characters of the messages' contents as sent (JSON text), a cheap proxy for prompt tokens
    whose ratio to them is learned from answers. Never raises: a body this cannot read is costed
    by its length.
    """
    try:
        parsed = _BODY_DECODER.decode(body)
    except msgspec.DecodeError:  # ValidationError too: a body the user built by hand
        return "", len(body), None
    chars = sum(len(message.content) for message in parsed.messages)
    limit = parsed.max_completion_tokens
    return parsed.model, chars, limit if limit is not None else parsed.max_tokens


# --- what a 429 says ----------------------------------------------------------------------------

# Groq: "... on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in
# 1.5s." (also tokens per minute / day, TPM / TPD).
_KIND = re.compile(r"\b(requests|tokens) per \w+|\((RPM|RPD|TPM|TPD)\)", re.IGNORECASE)
_LIMIT = re.compile(r"\bLimit (\d+)\b")
_TRY_AGAIN = re.compile(r"try again in ([0-9hmsuµμn.]+)", re.IGNORECASE)


class _Rejection(NamedTuple):
    """What a 429 says: which limit (``None`` if it does not say), the precise wait it states,
    the limit's size, and whether it is a per-minute limit."""

    kind: Literal["requests", "tokens"] | None
    wait: float | None
    limit: int | None = None
    per_minute: bool = False


def _rejection(exc: APIStatusError) -> _Rejection:
    message = exc.message
    kind: Literal["requests", "tokens"] | None = None
    error_type = (exc.error_type or "").lower()
    if error_type in ("requests", "tokens"):
        kind = "requests" if error_type == "requests" else "tokens"
    match = _KIND.search(message)
    if kind is None and match is not None:
        word = (match.group(1) or match.group(2)).lower()
        kind = "requests" if word.startswith("r") else "tokens"
    per_minute = match is not None and (
        "minute" in match.group(0).lower() or "M" in (match.group(2) or "").upper()[1:]
    )
    wait = exc.retry_after
    found = _TRY_AGAIN.search(message)
    if found is not None:
        stated = parse_go_duration(found.group(1).rstrip("."))
        # The message's wait is the precise one (retry-after is whole seconds), but only as a
        # refinement of the header: the header is what the retry honours.
        if stated is not None and (wait is None or wait - 1 < stated <= wait):
            wait = stated
    size = _LIMIT.search(message)
    return _Rejection(kind, wait, int(size.group(1)) if size is not None else None, per_minute)


# --- the pacer ----------------------------------------------------------------------------------


class Ticket:
    """One admitted request attempt: what the pacer hears back about it."""

    __slots__ = ("_pace", "cost", "prompt_chars", "sent_at", "seq")

    def __init__(
        self, pace: _ModelPace, seq: int, cost: int, prompt_chars: int, sent_at: float
    ) -> None:
        self._pace = pace
        self.seq = seq
        self.cost = cost
        self.prompt_chars = prompt_chars
        self.sent_at = sent_at

    def observe(self, limits: RateLimits) -> None:
        """The response's headers arrived (any status)."""
        self._pace.observe(self.seq, limits)

    def rejected(self, exc: APIStatusError, *, max_wait: float) -> None:
        """The request came back 429."""
        self._pace.rejected(self, exc, max_wait=max_wait)

    def used(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """The answer's ``usage``: corrects the estimates."""
        self._pace.used(self, prompt_tokens, completion_tokens)

    def finished(self) -> None:
        """The attempt ended, however: a first request no longer holds the others back."""
        self._pace.finished(self.seq)


class _ModelPace:
    """The state of one model's limits; see the module docstring."""

    def __init__(self, model: str, limits: Limits | None) -> None:
        self.model = model
        self.limits = limits
        self.lock = trio.Lock()  # FIFO: the head of the queue waits, the others queue behind
        self.changed = trio.Event()
        self.queued = 0
        self.seq = 0
        # Admitted, not yet reflected in a response's headers: (seq, estimated tokens).
        self.pending: dict[int, int] = {}
        self.pending_tokens = 0
        self.obs: RateLimits | None = None
        self.obs_seq = -1
        # The first PROBE_BURST requests of a model go out before anything is known; the others
        # wait for what the first headers say (or for the first attempt's end, if it never got
        # any) instead of bursting blind into unknown limits.
        self.probe: int | None = None
        self.probed = limits is not None
        self.blocked_until = -math.inf
        # Per limit, (limit - remaining) / reset of the latest responses (see refill_rate).
        self.implied: dict[str, deque[float]] = {
            "requests": deque(maxlen=IMPLIED_SAMPLES),
            "tokens": deque(maxlen=IMPLIED_SAMPLES),
        }
        # Request pace: learned from 429s, or explicit.
        self.request_rate: float | None = None
        self.token_rate: float | None = None
        if limits is not None:
            if limits.requests is not None:
                self.request_rate = limits.requests / limits.per * (1 - MARGIN)
            if limits.tokens is not None:
                self.token_rate = limits.tokens / limits.per * (1 - MARGIN)
        self.request_next = -math.inf
        self.token_next = -math.inf
        self.epoch_start: float | None = None
        self.epoch_accepted = 0
        self.measured = False
        self.since_change = 0
        self.probes = 0
        # Estimates, corrected by usage.
        self.chars_per_token = CHARS_PER_TOKEN
        self.completion_tokens = float(DEFAULT_COMPLETION_TOKENS)
        # Observable figures.
        self.waiting_for: WaitReason | None = None
        self.until: float | None = None
        self.admitted = 0
        self.rate_limited = 0
        self.waited = 0.0

    # -- costs

    def cost(self, prompt_chars: int, max_completion: int | None) -> int:
        # What Groq reserves at admission: the prompt plus the answer's cap, when one is set.
        completion = self.completion_tokens if max_completion is None else max_completion
        return max(1, math.ceil(prompt_chars / self.chars_per_token + completion))

    # -- admission

    def next_start(
        self, cost: int, now: float, *, spacing: bool = True
    ) -> tuple[float, WaitReason | None]:
        """When a request of ``cost`` tokens may start (``math.inf``: when something changes),
        and what it waits for. ``spacing=False`` leaves out the pace between starts."""
        if not self.probed and self.seq >= PROBE_BURST:
            return math.inf, None
        at, reason = now, None

        def later(when: float, why: WaitReason) -> None:
            nonlocal at, reason
            if when > at:
                at, reason = when, why

        later(self.blocked_until, "retry-after")
        obs = self.obs
        if obs is not None:
            for why, pending, need in (
                ("requests", len(self.pending), 1),
                ("tokens", self.pending_tokens, cost),
            ):
                remaining, limit, reset = _stated(obs, why)
                if remaining is None or remaining - pending >= need:
                    continue
                reset_at = obs.observed_at + (reset or 0.0) + RESET_SLACK
                # After the reset, the whole limit (less what went out since) is there; a request
                # bigger than that can never fit, and is sent to hear the server's 413.
                if now >= reset_at or (limit is not None and limit - pending < need):
                    continue
                refill = self.refill_rate(why)
                if refill is not None:  # a bucket: room comes back steadily, not at the reset
                    reset_at = min(
                        reset_at,
                        obs.observed_at + (need + pending - remaining) / refill + RESET_SLACK,
                    )
                later(reset_at, why)  # type: ignore[arg-type]
        if spacing:
            later(self.request_next, "requests")
            later(self.token_next, "tokens")
        return at, reason

    def refill_rate(self, kind: str) -> float | None:
        """The refill rate of a limit that behaves as a bucket, or ``None``.

        A bucket's headers say ``(limit - remaining) / reset`` = its refill rate, the same on
        every response; a window that resets at once gives no such constant. Only when the
        latest responses agree is room counted on before the stated reset.
        """
        rates = self.implied[kind]
        if len(rates) < IMPLIED_SAMPLES:
            return None
        low, high = min(rates), max(rates)
        return low if high <= low * (1 + IMPLIED_SPREAD) else None

    def token_minute(self) -> float | None:
        """The token limit's window in seconds (Groq's "minute"), when its headers show it: a
        bucket's limit over its refill rate."""
        refill = self.refill_rate("tokens")
        obs = self.obs
        if refill is None or obs is None or obs.limit_tokens is None:
            return None
        return obs.limit_tokens / refill

    def refuse(self, reason: WaitReason) -> None:
        """Forget the state that imposed a refused wait, so it cannot stall later requests: the
        next request is sent and the server says afresh."""
        if reason == "retry-after":
            self.blocked_until = -math.inf
        elif self.limits is None or reason not in ("requests", "tokens"):
            self.obs = None
        self.request_next = self.token_next = -math.inf
        self._wake()

    def admit(self, cost: int, prompt_chars: int, now: float) -> Ticket:
        self.seq += 1
        if not self.probed and self.probe is None:
            self.probe = self.seq
        self.admitted += 1
        self.pending[self.seq] = cost
        self.pending_tokens += cost
        if self.request_rate is not None:
            self.request_next = max(self.request_next, now) + 1.0 / self.request_rate
        if self.token_rate is not None:
            self.token_next = max(self.token_next, now) + cost / self.token_rate
        if self.epoch_start is None:
            self.epoch_start = now
        self.epoch_accepted += 1
        self.since_change += 1
        if (
            self.limits is None
            and self.request_rate is not None
            # A measured pace is near the limit: probing it costs a 429 each time it succeeds.
            and self.since_change >= PROBE_EVERY * (2 if self.measured else 1)
        ):
            # Probe up: gently at first, faster the longer no 429 says the pace is too high
            # (a rate learned from an unrepresentative epoch must not stay low for long).
            self.probes += 1
            step = PROBE_STEP * 2 ** max(0, self.probes - 2)
            self.request_rate *= 1 + min(step, MAX_PROBE_STEP)
            self.since_change = 0
        return Ticket(self, self.seq, cost, prompt_chars, now)

    # -- feedback

    def observe(self, seq: int, limits: RateLimits) -> None:
        if not limits.present:
            # The first answer states no limits (a server that sends none): holding the others
            # until it ends would teach nothing more, and would serialise a live fan-out.
            if seq == self.probe and not self.probed:
                self.probed = True
                self._wake()
            return
        if seq < self.obs_seq:
            return
        self.obs = limits
        self.obs_seq = seq
        self.probed = True
        for kind in ("requests", "tokens"):
            remaining, limit, reset = _stated(limits, kind)
            if remaining is None or limit is None or reset is None or reset <= 0:
                continue
            used = limit - remaining
            if used >= max(2, limit * 0.05):  # rounding makes small figures meaningless
                self.implied[kind].append(used / reset)
        for old in list(itertools.takewhile(seq.__ge__, self.pending)):
            self.pending_tokens -= self.pending.pop(old)
        self._wake()

    def resolved(self, seq: int) -> None:
        """A request's fate is known (refused, or ended without headers): it no longer waits
        to be reflected in any headers."""
        cost = self.pending.pop(seq, None)
        if cost is not None:
            self.pending_tokens -= cost

    def rejected(self, ticket: Ticket, exc: APIStatusError, *, max_wait: float) -> None:
        self.rate_limited += 1
        self.resolved(ticket.seq)  # refused requests fill nothing
        # A 429 for a request sent before the current epoch began belongs to the last one.
        stale = self.epoch_start is not None and ticket.sent_at < self.epoch_start
        if not stale:
            self.epoch_accepted -= 1
        kind, wait, limit, per_minute = _rejection(exc)
        if wait is None or wait > max_wait:
            return  # refused (or no wait named): nothing to hold later requests to
        until = trio.current_time() + wait + RESET_SLACK
        self.blocked_until = max(self.blocked_until, until)
        if self.limits is None and kind != "tokens" and not stale:
            self._learn(until, limit, per_minute=per_minute)
        self._wake()

    def _learn(self, until: float, limit: int | None, *, per_minute: bool) -> None:
        """A 429 on requests ends an epoch: what the server accepted since the last one, over
        the time until it accepts again, is the rate it allows. See the module docstring."""
        if self.epoch_start is None or until <= self.epoch_start:
            return
        span = until - self.epoch_start
        # Requests still in flight may yet come back 429: leave them out of the count.
        accepted = self.epoch_accepted - min(len(self.pending), max(self.epoch_accepted, 0))
        old = self.request_rate
        if old is None:
            # The first epoch began with the limit's whole capacity free: only what got in beyond
            # it came from the limit refilling (a bucket, or a window that reset). Often that is
            # nothing yet (a burst): then this is only a guess, to be lowered quickly.
            refilled = accepted - limit if limit is not None and accepted > limit else 0
            self.measured = refilled >= MIN_EPOCH
            rate = max(refilled if self.measured else accepted, 1) / span
            minute = self.token_minute() if per_minute else None
            if not self.measured and limit is not None and minute is not None:
                # Groq words it "requests per minute (RPM): Limit 30": a minute as long as the
                # token limit's, whose length its headers give away. A better guess.
                rate = limit / minute
        elif accepted < MIN_EPOCH:
            # Too few requests to measure anything: back off, and keep measuring.
            drop = SHORT_EPOCH_DROP if self.measured else GUESS_DROP
            self.request_rate = old * drop
            self.request_next = max(self.request_next, until)
            return
        else:
            rate = accepted / span
            self.measured = True
        self.request_rate = rate * (1 - MARGIN)
        self.request_next = max(self.request_next, until)
        self.epoch_start = until
        self.epoch_accepted = 0
        self.since_change = 0
        self.probes = 0

    def used(
        self, ticket: Ticket, prompt_tokens: int | None, completion_tokens: int | None
    ) -> None:
        if prompt_tokens and ticket.prompt_chars:
            ratio = ticket.prompt_chars / prompt_tokens
            self.chars_per_token += EWMA * (ratio - self.chars_per_token)
            self.chars_per_token = min(max(self.chars_per_token, 0.5), 16.0)
        if completion_tokens is not None:
            self.completion_tokens += EWMA * (completion_tokens - self.completion_tokens)

    def finished(self, seq: int) -> None:
        self.resolved(seq)
        if seq == self.probe and not self.probed:
            self.probed = True
            self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def state(self) -> PaceState:
        obs = self.obs
        remaining_requests = remaining_tokens = None
        if obs is not None:
            if obs.remaining_requests is not None:
                remaining_requests = obs.remaining_requests - len(self.pending)
            if obs.remaining_tokens is not None:
                remaining_tokens = obs.remaining_tokens - self.pending_tokens
        return PaceState(
            model=self.model,
            queued=self.queued,
            waiting_for=self.waiting_for,
            until=self.until,
            requests_per_second=self.request_rate,
            tokens_per_second=self.token_rate,
            remaining_requests=remaining_requests,
            remaining_tokens=remaining_tokens,
            admitted=self.admitted,
            rate_limited=self.rate_limited,
            waited=self.waited,
        )


class Pacer:
    """The pacing state of one client, per model. See the module docstring.

    Args:
        limits: known limits, for every model (one :class:`Limits`) or per model (a mapping);
            a model not in the mapping is learned.
    """

    def __init__(self, limits: Limits | Mapping[str, Limits] | None = None) -> None:
        if limits is not None and not isinstance(limits, (Limits, Mapping)):
            raise ConfigurationError(
                f"limits must be a Limits or a mapping of model name to Limits, not {limits!r}"
            )
        if isinstance(limits, Mapping):
            for model, value in limits.items():
                if not isinstance(value, Limits):
                    raise ConfigurationError(
                        f"limits[{model!r}] must be a Limits(requests=..., tokens=..., per=...), "
                        f"not {value!r}"
                    )
        self._limits = limits
        self._models: dict[str, _ModelPace] = {}

    def _for(self, model: str) -> _ModelPace:
        pace = self._models.get(model)
        if pace is None:
            limits = self._limits
            if isinstance(limits, Mapping):
                limits = limits.get(model)
            pace = self._models[model] = _ModelPace(model, limits)
        return pace

    def states(self) -> dict[str, PaceState]:
        """Per model, what the pacer knows and waits for."""
        return {model: pace.state() for model, pace in self._models.items()}

    def record(self, body: bytes) -> Ticket:
        """Admit a request without waiting (an unpaced stream): it still counts against the
        budget that paced requests see, and its answers still teach the pacer."""
        model, chars, max_completion = estimate_request(body)
        pace = self._for(model)
        return pace.admit(pace.cost(chars, max_completion), chars, trio.current_time())

    async def admit(self, body: bytes, *, max_wait: float) -> Ticket:
        """Wait until the limits of the request's model leave room for it, then admit it.

        Requests are admitted in the order they arrive (per model). The wait the limits impose
        once a request is first in line is capped by ``max_wait``: past it, raise
        :class:`RateLimitError` at once, and forget what imposed it. Cancellable throughout.
        """
        model, chars, max_completion = estimate_request(body)
        pace = self._for(model)
        cost = pace.cost(chars, max_completion)
        pace.queued += 1
        try:
            async with pace.lock:
                start = trio.current_time()
                while True:
                    now = trio.current_time()
                    at, reason = pace.next_start(cost, now)
                    if at <= now:
                        break
                    if reason is not None and at - start > max_wait + RESET_SLACK:
                        pace.refuse(reason)
                        raise _refusal(model, reason, at - start, max_wait)
                    pace.waiting_for = reason
                    pace.until = at if math.isfinite(at) else None
                    changed = pace.changed
                    with trio.move_on_at(at):  # or sooner, when news arrives
                        await changed.wait()
                pace.waited += now - start
                pace.waiting_for = pace.until = None
                if now == start:
                    await trio.lowlevel.checkpoint()
                return pace.admit(cost, chars, now)
        finally:
            pace.queued -= 1
            if pace.queued == 0:
                pace.waiting_for = pace.until = None

    async def wait_for_room(self, model: str | None = None) -> float:
        """Sleep until a request of ``model`` (every model seen, if ``None``) could start, ignoring
        the pace between starts; return the seconds waited."""
        paces = [self._for(model)] if model is not None else list(self._models.values())
        start = trio.current_time()
        for pace in paces:
            while True:
                now = trio.current_time()
                at, _ = pace.next_start(1, now, spacing=False)
                if at <= now:
                    break
                changed = pace.changed
                with trio.move_on_at(at):
                    await changed.wait()
        waited = trio.current_time() - start
        if not waited:
            await trio.lowlevel.checkpoint()
        return waited


def _stated(limits: RateLimits, kind: str) -> tuple[int | None, int | None, float | None]:
    """``(remaining, limit, reset)`` of the ``"requests"`` or ``"tokens"`` limit."""
    if kind == "requests":
        return limits.remaining_requests, limits.limit_requests, limits.reset_requests
    return limits.remaining_tokens, limits.limit_tokens, limits.reset_tokens


def _refusal(model: str, reason: WaitReason, wait: float, cap: float) -> RateLimitError:
    what = {
        "retry-after": "a 429's retry-after",
        "requests": "a used-up request window",
        "tokens": "a used-up token window",
    }[reason]
    return RateLimitError(
        f"the rate limits of model {model!r} ({what}) ask to wait {wait:.3g}s before this "
        f"request, longer than max_retry_wait={cap:g}s, so it was not sent; raise max_retry_wait "
        "to wait that long, or retry later",
        status_code=429,
        retry_after=wait,
    )
