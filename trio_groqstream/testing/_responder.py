"""What the fakes do with a request: record it, check the key, route it, check it like Groq, and
pick the reply (a pushed one, else the handler's).

Shared by the socket server (``_server.py``) and the in-process transport (``_mock.py``), so both
answer the same request the same way. The routes live in a per-server :class:`Router`; an
endpoint is one ``self.router.add(method, path, endpoint)`` line in :meth:`Responder.__init__`
(or :meth:`Responder.route` from a test).
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace

import msgspec
import trio

from ._answers import echo_handler, fresh_request_id
from ._batches import FakeBatches
from ._catalogue import (
    DECOMMISSIONED_MODELS,
    FakeModel,
    catalogue,
    decommissioned_message,
    not_found_message,
)
from ._chunks import error_headers, merge_headers
from ._faults import http_error_reply
from ._limits import FakeRateLimits, RateLimiter, estimate_prompt_tokens, requested_tokens
from ._replies import Reply
from ._requests import CHAT_COMPLETIONS_PATH, MODELS_PATH, Handler, RecordedRequest
from ._routes import Endpoint, Router
from ._validate import Problem, check_chat_request

__all__ = ["DEFAULT_MAX_BODY_SIZE", "Responder", "problem_reply"]

DEFAULT_MAX_BODY_SIZE = 20 * 1024 * 1024
"""The largest request body the fakes accept (bytes); a larger one gets 413 unread."""

_TOO_LARGE = "The request body is too large. Please reduce the size of the request body."


def problem_reply(
    problem: Problem, *, headers: Iterable[tuple[str, str]] = (), retry_after: int | None = None
) -> Reply:
    """Groq's error answer for ``problem``."""
    return http_error_reply(
        problem.status,
        message=problem.message,
        error_type=problem.type,
        code=problem.code,
        param=problem.param,
        headers=headers,
        retry_after=retry_after,
        request_id=fresh_request_id(),
    )


def _unknown_url(request: RecordedRequest) -> Reply:
    return http_error_reply(
        404,
        message=(
            f"Unknown request URL: {request.method} {request.path}. Please check the URL for "
            "typos, or see the docs at https://console.groq.com/docs/"
        ),
        code="unknown_url",
        request_id=fresh_request_id(),
    )


def _json_reply(payload: object) -> Reply:
    body = msgspec.json.encode(payload) + b"\n"
    return Reply(headers=error_headers(fresh_request_id()), body=(body,), chunked=False)


class Responder:
    """The script: the key check, routing, Groq's request checks, pushed replies, the handler.

    Attributes:
        handler: Answers chat requests once the pushed replies are used up; settable.
        validate: Check chat requests as Groq does (400 / 404 before any reply is used).
        models: The model catalogue, by id; replace or edit it freely.
        rate_limits: The limits enforced (``None``: none); see :class:`FakeRateLimits`.
        max_body_size: Bodies larger than this many bytes get 413.
        router: The route table.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        api_key: str,
        check_auth: bool,
        validate: bool = True,
        models: Iterable[FakeModel | str] | None = None,
        rate_limits: FakeRateLimits | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        if rate_limits is not None and not isinstance(rate_limits, FakeRateLimits):
            raise TypeError(f"rate_limits must be a FakeRateLimits or None, not {rate_limits!r}")
        if not isinstance(max_body_size, int) or max_body_size < 1:
            raise ValueError(f"max_body_size must be an int >= 1, not {max_body_size!r}")
        self.handler: Handler = echo_handler if handler is None else handler
        self.api_key = api_key
        self.check_auth = check_auth
        self.validate = validate
        self.models: dict[str, FakeModel] = catalogue(models)
        self.max_body_size = max_body_size
        self.requests: list[RecordedRequest] = []
        self.handler_errors: list[Exception] = []
        self._queue: deque[Reply] = deque()
        self._limiter = None if rate_limits is None else RateLimiter(rate_limits)
        self.router = Router()
        self.router.add("POST", CHAT_COMPLETIONS_PATH, self._chat_completions)
        self.router.add("GET", MODELS_PATH, self._list_models)
        self.router.add("GET", MODELS_PATH + "/{model}", self._retrieve_model)
        self.router.add("GET", MODELS_PATH + "/{owner}/{model}", self._retrieve_model)
        #: The Batch API's files and batches (``_batches.py``); lines answered as chat requests.
        self.batches = FakeBatches(lambda request: self._chat_completions(request, {}))
        self.batches.add_routes(self.router)

    @property
    def rate_limits(self) -> FakeRateLimits | None:
        """The limits enforced. Setting new ones starts every bucket empty."""
        return None if self._limiter is None else self._limiter.limits

    @rate_limits.setter
    def rate_limits(self, limits: FakeRateLimits | None) -> None:
        if limits is not None and not isinstance(limits, FakeRateLimits):
            raise TypeError(f"rate_limits must be a FakeRateLimits or None, not {limits!r}")
        self._limiter = None if limits is None else RateLimiter(limits)

    def route(self, method: str, path: str, endpoint: Endpoint) -> None:
        """Serve ``method path`` with ``endpoint(request, params) -> Reply`` (``{name}``
        segments of ``path`` arrive in ``params``). Replaces an existing route."""
        self.router.add(method, path, endpoint)

    def push(self, *replies: Reply) -> None:
        """Queue replies: the next chat requests get them in order; then the handler answers.

        Requests refused before a reply is chosen (401, 404, 400, 413, 429) do not use one up.
        """
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"push() takes Reply objects, not {reply!r}")
        self._queue.extend(replies)

    @property
    def pending_replies(self) -> int:
        """How many pushed replies no request has used yet (assert 0 at the end of a test)."""
        return len(self._queue)

    def _authorized(self, request: RecordedRequest) -> bool:
        token = request.bearer_token
        return token is not None and hmac.compare_digest(token.encode(), self.api_key.encode())

    def reply_too_large(self, request: RecordedRequest) -> Reply:
        """Record a request whose body was refused unread, and answer 413."""
        self.requests.append(request)
        return http_error_reply(
            413,
            message=_TOO_LARGE,
            error_type="invalid_request_error",
            code="request_too_large",
            request_id=fresh_request_id(),
        )

    def reply_for(self, request: RecordedRequest) -> Reply:
        """Record ``request`` and choose its reply."""
        if len(request.body) > self.max_body_size:
            return self.reply_too_large(request)
        self.requests.append(request)
        if self.check_auth and not self._authorized(request):
            # Groq's exact 401 body; like Groq, never echo the key that was sent.
            return http_error_reply(401, request_id=fresh_request_id())
        resolved = self.router.resolve(request.method, request.path)
        if resolved is None:
            return _unknown_url(request)
        endpoint, params = resolved
        try:
            return endpoint(request, params)
        except Exception as exc:
            # A broken endpoint (or handler) is a bug in the test or the fake, never a reason to
            # stop serving: answer 500 naming it, and keep it for asserts.
            self.handler_errors.append(exc)
            return http_error_reply(
                500,
                message=f"fake Groq handler raised {exc!r}",
                code="fake_handler_error",
                request_id=fresh_request_id(),
            )

    # --- endpoints ------------------------------------------------------------------------------

    def _check(self, request: RecordedRequest) -> Problem | None:
        body = request.json
        if body is None:
            return Problem("the request body is not valid JSON", code="invalid_json")
        problem = check_chat_request(body)
        if problem is not None:
            return problem
        model = body["model"]
        if model in DECOMMISSIONED_MODELS and model not in self.models:
            return Problem(decommissioned_message(model), code="model_decommissioned")
        known = self.models.get(model)
        if known is None:
            return Problem(not_found_message(model), code="model_not_found", status=404)
        wanted = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(wanted, int) and wanted > known.max_completion_tokens:
            name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            return Problem(
                f"'{name}' : must be less than or equal to `{known.max_completion_tokens}`, the "
                f"maximum value for `{name}` for model `{model}`",
                param=name,
                code="invalid_value",
            )
        if estimate_prompt_tokens(body) > known.context_window:
            return Problem(
                "Please reduce the length of the messages or completion.",
                param="messages",
                code="context_length_exceeded",
            )
        return None

    def _chat_completions(self, request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        body = request.json if isinstance(request.json, Mapping) else {}
        named = body.get("model")
        model = named if isinstance(named, str) else ""
        if self.validate:
            problem = self._check(request)
            if problem is not None:
                # Groq reports the limits on its refusals too; a refusal costs nothing.
                headers = (
                    ()
                    if self._limiter is None
                    else self._limiter.headers(model, trio.current_time())
                )
                return problem_reply(problem, headers=headers)
        limit_headers: tuple[tuple[str, str], ...] = ()
        if self._limiter is not None:
            admission = self._limiter.admit(model, requested_tokens(body), trio.current_time())
            if admission.problem is not None:
                return problem_reply(
                    admission.problem, headers=admission.headers, retry_after=admission.retry_after
                )
            limit_headers = admission.headers
        reply = self._queue.popleft() if self._queue else self.handler(request)
        if limit_headers:
            reply = replace(reply, headers=merge_headers(reply.headers, limit_headers))
        return reply

    def _list_models(self, request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        return _json_reply({"object": "list", "data": [m.as_json() for m in self.models.values()]})

    def _retrieve_model(self, request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        name = "/".join(params[key] for key in ("owner", "model") if key in params)
        model = self.models.get(name)
        if model is None:
            return problem_reply(
                Problem(not_found_message(name), code="model_not_found", status=404)
            )
        return _json_reply(model.as_json())
