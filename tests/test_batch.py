"""The Batch API from the library: run_batch and the REST calls, against the fake over loopback,
hostile answers through ``httpx.MockTransport``, and result matching as plain function calls.

Batches live on the fake's compressed clock; every test that waits runs under ``loopback_clock``,
so a 24-hour completion window passes in no real time.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing

import trio_groqstream as tgs
from trio_groqstream import _batch, _batch_wire
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    RecordedRequest,
    Reply,
    Stall,
    http_error_reply,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.2}


def requests(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": f"q{i}"}]}
        | extra
        for i in range(count)
    ]


def failing_lines(*prompts: str) -> Callable[[Any], tuple[int, Any] | None]:
    """A line handler that answers Groq's 400 for the given prompts; the fake answers the rest."""

    def handler(body: Any) -> tuple[int, Any] | None:
        if body["messages"][-1]["content"] in prompts:
            error = {"message": "context_length_exceeded", "type": "invalid_request_error"}
            return 400, {"error": {**error, "code": "context_length_exceeded"}}
        return None

    return handler


# --- run_batch against the fake -----------------------------------------------------------------


async def test_run_batch_returns_completions_in_request_order(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    seen: list[tgs.BatchJob] = []
    with trio.fail_after(3600):
        results = await tgs.run_batch(client, requests(7), on_progress=seen.append, **FAST)
    assert [r.text for r in results] == [f"You said: q{i}" for i in range(7)]
    assert all(r.request_id and r.request_id.startswith("req_") for r in results)
    statuses = [job.status for job in seen]
    assert statuses[0] == "validating"
    assert statuses[-1] == "completed"
    assert "in_progress" in statuses
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)
    completed = [job.request_counts.completed for job in seen if job.request_counts]
    assert completed == sorted(completed)
    assert completed[-1] == 7
    # The lines went up without "stream" and with the library's custom ids.
    with trio.fail_after(5):
        await fake.wait_idle()
    assert fake.stats().closed_by_client == 0  # every response read to its end and closed
    upload = next(r for r in fake.requests if r.path == "/openai/v1/files")
    assert b'"stream"' not in upload.body
    assert b'"custom_id":"request-6"' in upload.body


async def test_polling_backs_off(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.batches.timing.per_request = 10.0  # 50 s of work, in a 168 s window
    polls: list[float] = []
    with trio.fail_after(3600):
        await tgs.run_batch(
            client,
            requests(5),
            completion_window="7d",
            poll_interval=1.0,
            max_poll_interval=8.0,
            on_progress=lambda job: polls.append(trio.current_time()),
        )
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(polls[1:])]
    assert gaps[:4] == [1.0, 1.5, 2.25, 3.375]
    assert max(gaps) == 8.0


async def test_failed_lines_are_typed_like_the_streaming_path(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.batches.line_handler = failing_lines("q1", "q3")
    with trio.fail_after(3600):
        results = await tgs.run_batch(client, requests(4), on_error="collect", **FAST)
    assert isinstance(results[0], tgs.ChatCompletion)
    assert results[0].text == "You said: q0"
    for index in (1, 3):
        error = results[index]
        assert isinstance(error, tgs.BadRequestError)
        assert error.status_code == 400
        assert error.code == "context_length_exceeded"
        assert error.request_id is not None
        assert "request-" in str(error)
    with trio.fail_after(3600), pytest.raises(ExceptionGroup) as caught:
        await tgs.run_batch(client, requests(4), **FAST)
    assert len(caught.value.exceptions) == 2
    assert all(isinstance(e, tgs.BadRequestError) for e in caught.value.exceptions)


async def test_expired_batch_keeps_what_finished(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.batches.timing.per_request = 10.0  # 24h is 24 s here: two requests fit
    with trio.fail_after(3600):
        results = await tgs.run_batch(
            client, requests(5), on_error="collect", poll_interval=1, max_poll_interval=4
        )
    assert [r.text for r in results[:2] if isinstance(r, tgs.ChatCompletion)] == [
        "You said: q0",
        "You said: q1",
    ]
    for error in results[2:]:
        assert isinstance(error, tgs.BatchRequestError)
        assert error.code == "batch_expired"
        assert error.custom_id.startswith("request-")


async def test_cancelling_the_wait_cancels_the_batch(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    fake.batches.timing.per_request = 5.0
    ids: list[str] = []
    with trio.move_on_after(3) as scope:
        await tgs.run_batch(client, requests(5), on_progress=lambda j: ids.append(j.id), **FAST)
    assert scope.cancelled_caught
    assert fake.requests[-1].method == "POST"
    assert fake.requests[-1].path.endswith("/cancel")
    job = await tgs.retrieve_batch(client, ids[0])
    assert job.status in ("cancelling", "cancelled")
    with trio.fail_after(3600):
        final = await tgs.wait_for_batch(client, ids[0], **FAST)
    assert final.status == "cancelled"
    assert final.cancelled_at is not None
    results = await tgs.fetch_batch_results(client, final, 5, on_error="collect")
    codes = [getattr(r, "code", "ok") for r in results]
    assert "batch_cancelled" in codes


async def test_cancelled_mid_poll_hangs_up_then_cancels_the_batch(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    def stalled(request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        return Reply(status=200, before_headers=(Stall(),), chunked=False)

    fake.route("GET", "/openai/v1/batches/{batch_id}", stalled)  # every poll hangs
    ids: list[str] = []
    with trio.move_on_after(30) as scope:
        await tgs.run_batch(client, requests(2), on_progress=lambda j: ids.append(j.id), **FAST)
    assert scope.cancelled_caught
    with trio.fail_after(5):
        await fake.wait_idle()
    assert fake.stats().closed_by_client == 1  # the hanging poll's connection was closed
    assert (fake.requests[-1].method, fake.requests[-1].path) == (
        "POST",
        f"/openai/v1/batches/{ids[0]}/cancel",
    )


async def test_cancel_on_exit_false_leaves_the_batch_running(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    ids: list[str] = []
    with trio.move_on_after(0.01):
        await tgs.run_batch(
            client,
            requests(3),
            on_progress=lambda j: ids.append(j.id),
            cancel_on_exit=False,
            **FAST,
        )
    assert not any(r.path.endswith("/cancel") for r in fake.requests)
    with trio.fail_after(3600):
        final = await tgs.wait_for_batch(client, ids[0], **FAST)
    assert final.status == "completed"


async def test_validation_failure_raises_batch_failed(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    line = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}\n'
    data = line + b"{not json\n" + line
    uploaded = await tgs.upload_batch_file(client, data)
    created = await tgs.create_batch(client, uploaded.id)
    with trio.fail_after(3600):
        final = await tgs.wait_for_batch(client, created.id, **FAST)
    assert final.status == "failed"
    with pytest.raises(tgs.BatchFailedError) as caught:
        await tgs.fetch_batch_results(client, final, 2)
    assert [(e.line, e.code) for e in caught.value.errors] == [
        (2, "invalid_json_line"),
        (3, "duplicate_custom_id"),
    ]
    assert "line 2" in str(caught.value)
    assert created.id in str(caught.value)


async def test_files_round_trip(client: tgs.GroqClient, fake: FakeGroq) -> None:
    data = _batch_wire.encode_input(requests(2), ["x", "y"])
    uploaded = await tgs.upload_batch_file(client, data, filename="mine.jsonl")
    assert uploaded.id.startswith("file_")
    assert uploaded.bytes == len(data)
    assert uploaded.purpose == "batch"
    assert uploaded.filename == "mine.jsonl"
    assert await tgs.retrieve_file(client, uploaded.id) == uploaded
    assert await tgs.download_file(client, uploaded.id) == data
    assert await tgs.delete_file(client, uploaded.id) is True
    with pytest.raises(tgs.NotFoundError):
        await tgs.retrieve_file(client, uploaded.id)


async def test_list_and_cancel_a_finished_batch(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    job = await tgs.submit_batch(client, requests(1), metadata={"run": "nightly"})
    assert job.metadata == {"run": "nightly"}
    assert job.completion_window == "24h"
    assert [b.id for b in await tgs.list_batches(client)] == [job.id]
    with trio.fail_after(3600):
        await tgs.wait_for_batch(client, job.id, **FAST)
    with pytest.raises(tgs.BadRequestError, match="completed"):
        await tgs.cancel_batch(client, job.id)


async def test_fetch_before_the_end_is_refused(client: tgs.GroqClient, fake: FakeGroq) -> None:
    job = await tgs.submit_batch(client, requests(1))
    with pytest.raises(tgs.ConfigurationError, match="wait_for_batch"):
        await tgs.fetch_batch_results(client, job, 1)


# --- bad input: a clear typed error, nothing sent -------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([*requests(2), {"messages": [{"role": "user", "content": "x"}]}], r"requests\[2\]\.model"),
        ([{"model": "m"}], r"requests\[0\]\.messages"),
        (["just a prompt"], r"requests\[0\] must be a mapping"),
        (requests(1, temprature=0.2), "temperature"),
        (requests(1, n=2), r"requests\[0\]\.n"),
        (requests(1, extra_headers={"x-a": "1"}), "cannot travel in a batch"),
        ({"model": "m", "messages": []}, "iterable of request mappings"),
        ([], "at least one request"),
    ],
)
async def test_bad_requests_are_refused_before_sending(
    client: tgs.GroqClient, fake: FakeGroq, bad: Any, match: str
) -> None:
    with pytest.raises(tgs.ConfigurationError, match=match):
        await tgs.run_batch(client, bad)
    assert fake.requests == []


@pytest.mark.parametrize("window", ["12h", "8d", "1w", "", "24", "h"])
async def test_bad_completion_window(client: tgs.GroqClient, fake: FakeGroq, window: str) -> None:
    with pytest.raises(tgs.ConfigurationError, match="completion_window"):
        await tgs.submit_batch(client, requests(1), completion_window=window)
    assert fake.requests == []


async def test_bad_arguments(client: tgs.GroqClient, fake: FakeGroq) -> None:
    with pytest.raises(tgs.ConfigurationError, match="on_error"):
        await tgs.run_batch(client, requests(1), on_error="ignore")  # type: ignore[call-overload]
    with pytest.raises(tgs.ConfigurationError, match="poll_interval"):
        await tgs.run_batch(client, requests(1), poll_interval=0)
    with pytest.raises(tgs.ConfigurationError, match="poll_interval"):
        await tgs.wait_for_batch(client, "batch_x", poll_interval=5, max_poll_interval=1)
    with pytest.raises(tgs.ConfigurationError, match="batch_id"):
        await tgs.retrieve_batch(client, "../files")
    with pytest.raises(tgs.ConfigurationError, match="metadata"):
        await tgs.create_batch(client, "file_x", metadata={"n": 1})  # type: ignore[dict-item]
    assert fake.requests == []


async def test_input_over_the_size_limit(
    client: tgs.GroqClient, fake: FakeGroq, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch_wire, "MAX_INPUT_BYTES", 1000)
    monkeypatch.setattr(_batch, "MAX_INPUT_BYTES", 1000)
    with pytest.raises(tgs.ConfigurationError, match="split the requests"):
        await tgs.submit_batch(client, requests(20))
    with pytest.raises(tgs.ConfigurationError, match="split the requests"):
        await tgs.upload_batch_file(client, b"x" * 1001)
    assert fake.requests == []


async def test_the_fake_refuses_a_file_over_its_limit(
    client: tgs.GroqClient, fake: FakeGroq
) -> None:
    fake.batches.max_file_bytes = 100
    with pytest.raises(tgs.RequestTooLargeError) as caught:
        await tgs.upload_batch_file(client, _batch_wire.encode_input(requests(2), ["a", "b"]))
    assert caught.value.attempts == 1


# --- hostile answers (in-process transport) -------------------------------------------------------


def scripted(*answers: httpx.Response) -> tuple[tgs.GroqClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return queue.pop(0)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = tgs.GroqClient(api_key=FAKE_API_KEY, base_url="https://api.groq.com", http_client=http)
    return client, sent


BATCH = {"id": "batch_1", "object": "batch", "status": "in_progress", "input_file_id": "f"}


async def test_polls_are_retried(autojump_clock: trio.testing.MockClock) -> None:
    client, sent = scripted(
        httpx.Response(503, text="upstream connect error"),
        httpx.Response(200, json=BATCH | {"unknown_new_field": 1}),
    )
    job = await tgs.retrieve_batch(client, "batch_1")
    assert job.status == "in_progress"
    assert len(sent) == 2
    assert sent[0].headers["authorization"] == f"Bearer {FAKE_API_KEY}"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_create_is_not_retried_when_it_may_have_happened(
    autojump_clock: trio.testing.MockClock, status: int
) -> None:
    client, sent = scripted(httpx.Response(status, json={"error": {"message": "boom"}}))
    with pytest.raises(tgs.InternalServerError) as caught:
        await tgs.create_batch(client, "file_1")
    assert len(sent) == 1
    assert caught.value.attempts == 1


async def test_create_is_retried_after_429(autojump_clock: trio.testing.MockClock) -> None:
    client, sent = scripted(
        httpx.Response(429, headers={"retry-after": "2"}, json={"error": {"message": "slow"}}),
        httpx.Response(200, json=BATCH),
    )
    assert (await tgs.create_batch(client, "file_1")).id == "batch_1"
    assert len(sent) == 2


async def test_errors_never_show_the_key(autojump_clock: trio.testing.MockClock) -> None:
    client, _ = scripted(
        httpx.Response(401, json={"error": {"message": f"bad key {FAKE_API_KEY}"}}),
    )
    with pytest.raises(tgs.AuthenticationError) as caught:
        await tgs.list_batches(client)
    assert FAKE_API_KEY not in str(caught.value)
    assert FAKE_API_KEY not in repr(caught.value.body)


async def test_a_body_that_is_not_a_batch(autojump_clock: trio.testing.MockClock) -> None:
    client, _ = scripted(httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(tgs.StreamProtocolError, match="batch object"):
        await tgs.retrieve_batch(client, "batch_1")


async def test_downloads_are_bounded(autojump_clock: trio.testing.MockClock) -> None:
    client, _ = scripted(httpx.Response(200, content=b"x" * 5000))
    with pytest.raises(tgs.StreamProtocolError, match="larger than 1000 bytes"):
        await tgs.download_file(client, "file_1", max_bytes=1000)


async def test_a_poll_failure_leaves_the_batch_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client, sent = scripted(
        httpx.Response(200, json={"id": "file_1", "object": "file"}),
        httpx.Response(200, json=BATCH | {"status": "validating"}),
        httpx.Response(404, json={"error": {"message": "gone"}}),
    )
    with pytest.raises(tgs.NotFoundError, match="batch_1, which goes on running"):
        await tgs.run_batch(client, requests(1), **FAST)
    assert not any(r.url.path.endswith("/cancel") for r in sent)


# --- matching results (sans-IO) -------------------------------------------------------------------


def line(custom_id: str, status: int | None, body: Any = None, error: Any = None) -> bytes:
    response = (
        None if status is None else {"status_code": status, "request_id": "req_x", "body": body}
    )
    return msgspec.json.encode(
        {"id": "batch_req_1", "custom_id": custom_id, "response": response, "error": error}
    )


def completion(text: str) -> dict[str, Any]:
    return {"object": "chat.completion", "choices": [{"message": {"content": text}}]}


def test_results_are_matched_by_custom_id_not_order() -> None:
    output = b"\n".join(
        [
            line("c", 200, completion("C")),
            b"",
            line("zzz", 200, completion("?")),
            line("a", 200, completion("A")),
        ]
    )
    errors = line("b", 429, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}})
    results = _batch_wire.parse_results(["a", "b", "c", "d"], [output, errors])
    a, b, c, d = results
    assert isinstance(a, tgs.ChatCompletion)
    assert a.text == "A"
    assert a.request_id == "req_x"
    assert isinstance(b, tgs.RateLimitError)
    assert b.code == "rate_limit_exceeded"
    assert isinstance(c, tgs.ChatCompletion)
    assert c.text == "C"
    assert isinstance(d, tgs.BatchRequestError)
    assert d.code == "missing_result"


def test_results_of_requests_that_never_ran() -> None:
    errors = line("a", None, error={"code": "batch_cancelled", "message": "cancelled"})
    expired = tgs.BatchJob(id="b", status="expired")
    a, b = _batch_wire.parse_results(["a", "b"], [errors], batch=expired)
    assert isinstance(a, tgs.BatchRequestError)
    assert a.code == "batch_cancelled"
    assert isinstance(b, tgs.BatchRequestError)
    assert b.code == "batch_expired"


def test_odd_result_lines() -> None:
    text_error = line("a", 503, "upstream down")
    bad_body = line("b", 200, {"choices": "nope"})
    a, b = _batch_wire.parse_results(["a", "b"], [text_error + b"\n" + bad_body])
    assert isinstance(a, tgs.InternalServerError)
    assert a.body == "upstream down"
    assert isinstance(b, tgs.StreamProtocolError)
    with pytest.raises(tgs.StreamProtocolError, match="not valid JSON"):
        _batch_wire.parse_results(["a"], [b"{oops"])


def test_input_lines() -> None:
    data = _batch_wire.encode_input(
        [{"model": "m", "messages": [], "stream": True, "seed": None, "n": 1}], ["id-0"]
    )
    assert msgspec.json.decode(data) == {
        "custom_id": "id-0",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [], "n": 1},
    }
    assert data.endswith(b"}\n")


def test_batch_failed_error_message() -> None:
    errors = tgs.BatchErrors(
        data=[tgs.BatchErrorEntry(line=i, code="c", message="m") for i in range(5)]
    )
    error = tgs.BatchFailedError(tgs.BatchJob(id="batch_9", status="failed", errors=errors))
    assert "batch_9" in str(error)
    assert "(and 2 more)" in str(error)
    assert "line 0: m (c)" in str(error)


async def test_lines_are_checked_like_chat_requests(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    batch = [*requests(1), *requests(1, model="no-such-model")]
    with trio.fail_after(3600):
        ok, missing = await tgs.run_batch(client, batch, on_error="collect", **FAST)
    assert isinstance(ok, tgs.ChatCompletion)
    assert isinstance(missing, tgs.NotFoundError)
    assert missing.code == "model_not_found"


async def test_fetch_counts_the_requests_itself(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    job = await tgs.submit_batch(client, requests(3))
    with trio.fail_after(3600):
        final = await tgs.wait_for_batch(client, job.id, **FAST)
    results = await tgs.fetch_batch_results(client, final)
    assert [r.text for r in results] == [f"You said: q{i}" for i in range(3)]


async def test_a_refused_create_deletes_the_upload(client: tgs.GroqClient, fake: FakeGroq) -> None:
    def refuse(request: RecordedRequest, params: Mapping[str, str]) -> Reply:
        return http_error_reply(400, message="batches are disabled for this org")

    fake.route("POST", "/openai/v1/batches", refuse)
    with pytest.raises(tgs.BadRequestError, match="disabled"):
        await tgs.submit_batch(client, requests(1))
    assert fake.requests[-1].method == "DELETE"
    assert fake.batches.files == {}


async def test_requests_may_be_any_iterable(
    client: tgs.GroqClient, fake: FakeGroq, loopback_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(3600):
        results = await tgs.run_batch(client, iter(requests(2)), **FAST)
    assert [r.text for r in results] == ["You said: q0", "You said: q1"]
    with pytest.raises(tgs.ConfigurationError, match="iterable of request mappings"):
        await tgs.run_batch(client, "not requests")  # type: ignore[arg-type]
