"""The fake's files and batches endpoints, driven with plain httpx (not the library's client).

Shapes are checked against the official ``groq`` SDK's generated models when it is installed
(``pip install groq``), and field by field otherwise; the state machine runs on a ``MockClock``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing

from trio_groqstream.testing import FAKE_API_KEY, FakeGroq, MockGroq, open_fake_groq, text_reply

LINE = '{{"custom_id":"{}","method":"POST","url":"/v1/chat/completions","body":{}}}'
BODY = '{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}'
BATCH_FIELDS = {
    "id",
    "object",
    "endpoint",
    "errors",
    "input_file_id",
    "completion_window",
    "status",
    "output_file_id",
    "error_file_id",
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "request_counts",
    "metadata",
}


def jsonl(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def good(count: int) -> bytes:
    return jsonl(*(LINE.format(f"r{i}", BODY) for i in range(count)))


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


@pytest.fixture
async def server() -> AsyncIterator[FakeGroq]:
    async with open_fake_groq() as fake:
        yield fake


@pytest.fixture
async def http(server: FakeGroq) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {FAKE_API_KEY}"}
    async with httpx.AsyncClient(base_url=server.base_url + "/openai/v1", headers=headers) as c:
        yield c


async def upload(http: httpx.AsyncClient, data: bytes, purpose: str = "batch") -> httpx.Response:
    return await http.post("/files", data={"purpose": purpose}, files={"file": ("in.jsonl", data)})


async def start(http: httpx.AsyncClient, data: bytes, window: str = "24h") -> dict[str, Any]:
    uploaded = await upload(http, data)
    assert uploaded.status_code == 200, uploaded.text
    body = {"input_file_id": uploaded.json()["id"], "endpoint": "/v1/chat/completions"}
    created = await http.post("/batches", json=body | {"completion_window": window})
    assert created.status_code == 200, created.text
    batch: dict[str, Any] = created.json()
    return batch


async def poll_until_done(
    http: httpx.AsyncClient, batch_id: str, *, step: float = 0.01
) -> list[dict[str, Any]]:
    seen = []
    with trio.fail_after(3600):
        while True:
            batch = (await http.get(f"/batches/{batch_id}")).json()
            seen.append(batch)
            if batch["status"] in ("completed", "failed", "expired", "cancelled"):
                return seen
            await trio.sleep(step)


def sdk_model(name: str) -> Any:
    try:
        module = importlib.import_module("groq.types")
    except ImportError:
        return None
    return getattr(module, name)


async def test_a_batch_runs_to_completion(
    http: httpx.AsyncClient, clock: trio.testing.MockClock
) -> None:
    batch = await start(http, good(3))
    assert set(batch) == BATCH_FIELDS
    assert batch["status"] == "validating"
    assert batch["object"] == "batch"
    assert batch["request_counts"] == {"total": 3, "completed": 0, "failed": 0}
    seen = await poll_until_done(http, batch["id"])
    statuses = [b["status"] for b in seen]
    assert statuses == sorted(
        statuses, key=["validating", "in_progress", "finalizing", "completed"].index
    )
    assert {"in_progress", "finalizing", "completed"} <= set(statuses)
    final = seen[-1]
    assert final["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert final["error_file_id"] is None
    stamps = [final[f"{name}_at"] for name in ("created", "in_progress", "finalizing", "completed")]
    assert None not in stamps
    assert stamps == sorted(stamps)
    model = sdk_model("BatchRetrieveResponse")
    if model is not None:
        assert model.model_validate(final).status == "completed"
    content = await http.get(f"/files/{final['output_file_id']}/content")
    lines = [msgspec.json.decode(line) for line in content.content.splitlines()]
    assert [line["custom_id"] for line in lines] == ["r0", "r1", "r2"]
    first = lines[0]
    assert set(first) == {"id", "custom_id", "response", "error"}
    assert first["error"] is None
    assert first["response"]["status_code"] == 200
    assert first["response"]["body"]["object"] == "chat.completion"
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "You said: hi"
    assert first["response"]["request_id"] == first["response"]["body"]["x_groq"]["id"]


async def test_per_line_errors_go_to_the_error_file(
    server: FakeGroq, http: httpx.AsyncClient, clock: trio.testing.MockClock
) -> None:
    no_model = '{"messages":[{"role":"user","content":"hi"}]}'
    batch = await start(http, jsonl(LINE.format("ok", BODY), LINE.format("bad", no_model)))
    final = (await poll_until_done(http, batch["id"]))[-1]
    assert final["status"] == "completed"
    assert final["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    errors = (await http.get(f"/files/{final['error_file_id']}/content")).content
    (line,) = [msgspec.json.decode(raw) for raw in errors.splitlines()]
    assert line["custom_id"] == "bad"
    assert line["response"]["status_code"] == 400
    assert line["response"]["body"]["error"]["param"] == "model"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["{not json", LINE.format("a", BODY)], [(1, "invalid_json_line")]),
        ([LINE.format("a", BODY), LINE.format("a", BODY)], [(2, "duplicate_custom_id")]),
        (['["a list"]'], [(1, "invalid_json_line")]),
        ([LINE.format("a", BODY).replace("/v1/chat", "/v1/embed")], [(1, "invalid_url")]),
        ([LINE.format("a", BODY).replace('"POST"', '"GET"')], [(1, "invalid_method")]),
        ([LINE.format("", BODY)], [(1, "missing_required_parameter")]),
        ([LINE.format("a", '"text"')], [(1, "missing_required_parameter")]),
        ([""], [(None, "empty_file")]),
    ],
)
async def test_validation_fails_the_batch(
    http: httpx.AsyncClient, clock: trio.testing.MockClock, lines: list[str], expected: Any
) -> None:
    batch = await start(http, jsonl(*lines))
    final = (await poll_until_done(http, batch["id"]))[-1]
    assert final["status"] == "failed"
    assert final["failed_at"] is not None
    assert final["output_file_id"] is None
    assert [(e["line"], e["code"]) for e in final["errors"]["data"]] == expected
    assert final["errors"]["object"] == "list"


async def test_expiry_keeps_finished_results(
    server: FakeGroq, http: httpx.AsyncClient, clock: trio.testing.MockClock
) -> None:
    server.batches.timing.per_request = 10.0  # "24h" is 24 s: two of five finish
    batch = await start(http, good(5))
    final = (await poll_until_done(http, batch["id"], step=1.0))[-1]
    assert final["status"] == "expired"
    assert final["expired_at"] == final["expires_at"]
    assert final["request_counts"] == {"total": 5, "completed": 2, "failed": 3}
    output = (await http.get(f"/files/{final['output_file_id']}/content")).content
    errors = (await http.get(f"/files/{final['error_file_id']}/content")).content
    assert len(output.splitlines()) == 2
    lines = [msgspec.json.decode(raw) for raw in errors.splitlines()]
    assert [line["custom_id"] for line in lines] == ["r2", "r3", "r4"]
    assert {line["error"]["code"] for line in lines} == {"batch_expired"}
    assert {line["response"] for line in lines} == {None}


async def test_cancel_moves_through_cancelling(
    server: FakeGroq, http: httpx.AsyncClient, clock: trio.testing.MockClock
) -> None:
    server.batches.timing.per_request = 1.0
    batch = await start(http, good(5), window="7d")
    await trio.sleep(2.5)  # two requests done
    cancelled = await http.post(f"/batches/{batch['id']}/cancel")
    assert cancelled.json()["status"] == "cancelling"
    assert cancelled.json()["cancelling_at"] is not None
    final = (await poll_until_done(http, batch["id"], step=0.5))[-1]
    assert final["status"] == "cancelled"
    assert final["request_counts"]["completed"] == 2
    again = await http.post(f"/batches/{batch['id']}/cancel")
    assert again.status_code == 400
    assert "cancelled" in again.json()["error"]["message"]


async def test_the_window_and_endpoint_are_checked(
    http: httpx.AsyncClient, clock: trio.testing.MockClock
) -> None:
    file_id = (await upload(http, good(1))).json()["id"]
    base: dict[str, Any] = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    changes: list[tuple[dict[str, Any], str]] = [
        ({"completion_window": "1h"}, "completion_window"),
        ({"completion_window": "8d"}, "completion_window"),
        ({"endpoint": "/v1/embeddings"}, "endpoint"),
        ({"input_file_id": "file_nope"}, "input_file_id"),
        ({"input_file_id": 3}, "input_file_id"),
    ]
    for change, param in changes:
        answer = await http.post("/batches", json=base | change)
        assert answer.status_code == 400, change
        assert answer.json()["error"]["param"] == param
    unknown = await http.post("/batches", json=base | {"priority": "high"})
    assert "unsupported" in unknown.json()["error"]["message"]
    assert (await http.post("/batches", content=b"[]")).status_code == 400


async def test_uploads_are_checked(server: FakeGroq, http: httpx.AsyncClient) -> None:
    wrong = await upload(http, good(1), purpose="fine-tune")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "purpose"
    not_multipart = await http.post("/files", json={"purpose": "batch"})
    assert not_multipart.status_code == 400
    no_file = await http.post("/files", data={"purpose": "batch"}, files={"other": ("x", b"1")})
    assert no_file.json()["error"]["param"] == "file"
    server.batches.max_file_bytes = 10
    too_big = await upload(http, good(1))
    assert too_big.status_code == 413
    assert "10 bytes" in too_big.json()["error"]["message"]


async def test_files_endpoints(http: httpx.AsyncClient) -> None:
    uploaded = (await upload(http, good(2))).json()
    assert uploaded["object"] == "file"
    assert uploaded["purpose"] == "batch"
    assert uploaded["bytes"] == len(good(2))
    model = sdk_model("FileCreateResponse")
    if model is not None:
        assert model.model_validate(uploaded).id == uploaded["id"]
    listed = (await http.get("/files")).json()
    assert listed["object"] == "list"
    assert [f["id"] for f in listed["data"]] == [uploaded["id"]]
    assert (await http.get(f"/files/{uploaded['id']}/content")).content == good(2)
    deleted = (await http.delete(f"/files/{uploaded['id']}")).json()
    assert deleted == {"id": uploaded["id"], "object": "file", "deleted": True}
    for path in (f"/files/{uploaded['id']}", f"/files/{uploaded['id']}/content", "/batches/b_x"):
        missing = await http.get(path)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
    assert (await http.post("/batches/b_x/cancel")).status_code == 404
    assert (await http.put("/files")).json()["error"]["code"] == "unknown_url"


async def test_batches_list_and_auth(server: FakeGroq, http: httpx.AsyncClient) -> None:
    batch = await start(http, good(1))
    listed = (await http.get("/batches")).json()
    assert listed["object"] == "list"
    assert [b["id"] for b in listed["data"]] == [batch["id"]]
    refused = await http.get("/batches", headers={"authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert "wrong" not in refused.text


async def test_a_line_handler_shapes_the_answers(clock: trio.testing.MockClock) -> None:
    mock = MockGroq()
    mock.batches.line_handler = lambda body: (429, {"error": {"message": "busy"}})
    mock.batches.timing.per_request = 0.0
    headers = {"authorization": f"Bearer {FAKE_API_KEY}"}
    async with httpx.AsyncClient(
        transport=mock.transport, base_url="http://fake/openai/v1", headers=headers
    ) as http:
        batch = await start(http, good(2))
        final = (await poll_until_done(http, batch["id"]))[-1]
    assert final["request_counts"] == {"total": 2, "completed": 0, "failed": 2}
    assert final["output_file_id"] is None


async def test_a_streaming_handler_cannot_answer_a_line(clock: trio.testing.MockClock) -> None:
    mock = MockGroq(handler=lambda request: text_reply("streamed"))
    mock.batches.timing.per_request = 0.0
    headers = {"authorization": f"Bearer {FAKE_API_KEY}"}
    async with httpx.AsyncClient(
        transport=mock.transport, base_url="http://fake/openai/v1", headers=headers
    ) as http:
        batch = await start(http, good(1))
        final = (await poll_until_done(http, batch["id"]))[-1]
        errors = (await http.get(f"/files/{final['error_file_id']}/content")).content
    line = msgspec.json.decode(errors)
    assert line["response"]["status_code"] == 500
    assert "not streamed" in line["response"]["body"]["error"]["message"]
