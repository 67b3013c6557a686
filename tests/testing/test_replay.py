"""replay_reply: recorded real Groq responses, reproduced byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trio_groqstream.testing import DONE, Reply, replay_reply

from ._support import REAL_GROQ, load_recording, recording_names, split_events

_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection"}


@pytest.mark.parametrize("name", recording_names())
def test_replay_is_byte_exact(name: str) -> None:
    recording = load_recording(name)
    reply = replay_reply(recording)
    assert reply.status == recording["status"]
    assert reply.body_bytes() == recording["sse"].encode("utf-8")
    assert not {k.lower() for k, _ in reply.headers} & _HOP
    content_type = reply.header("content-type")
    assert content_type is not None
    assert "(" not in content_type
    if reply.status == 200:
        assert reply.chunked
        parts = [p for p in reply.body if isinstance(p, bytes)]
        assert parts == split_events(reply.body_bytes())
        assert all(part.endswith(b"\n\n") for part in parts[:-1])
    else:
        assert not reply.chunked
        assert len(reply.body) == 1


def test_replay_from_a_path() -> None:
    names = [n for n in recording_names() if n.startswith("22_")]
    if not names:
        pytest.skip(f"recording 22 not found in {REAL_GROQ}")
    reply = replay_reply(REAL_GROQ / names[0])
    assert reply.header("x-request-id") == "req_01jmefve36eajb6c1x6k8ppv5m"
    assert reply.body[-1] == DONE
    assert replay_reply(str(REAL_GROQ / names[0])) == reply


def test_replay_header_rules_on_a_synthetic_recording(tmp_path: Path) -> None:
    recording = {
        "status": 200,
        "headers": {"Transfer-Encoding": "chunked", "Connection": "keep-alive", "X-A": "1"},
        "sse": "data: {}\n\ndata: {}\r\n\r\ndata: [DONE]",
    }
    reply = replay_reply(recording)
    assert reply.headers == (("content-type", "text/event-stream"), ("X-A", "1"))
    assert reply.body == (b"data: {}\n\n", b"data: {}\r\n\r\n", b"data: [DONE]")

    error = {"status": 503, "headers": {"content-type": "text/plain (assumed)"}, "sse": "down"}
    path = tmp_path / "error.json"
    path.write_text(json.dumps(error), encoding="utf-8")
    replayed = replay_reply(path)
    assert replayed == Reply(
        status=503, headers=(("content-type", "text/plain"),), body=(b"down",), chunked=False
    )
    assert replay_reply({"status": 429, "sse": ""}).header("content-type") == "application/json"


def test_replay_rejects_a_non_object_file(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        replay_reply(path)
