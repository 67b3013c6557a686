"""``trio-groqstream batch``: the real console script, in subprocesses, against the standalone fake.

One fake process (``python -m trio_groqstream.testing``) serves the whole module, so separate
invocations share its batches as they would share Groq's. Its batches run on the real clock with
the fake's default timing: a few prompts finish within a second.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from trio_groqstream._cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

_BIN = str(Path(sys.executable).parent)
SCRIPT = shutil.which("trio-groqstream", path=os.pathsep.join([_BIN, os.environ["PATH"]]))
TIMEOUT = 60
BATCH_ID = re.compile(r"^batch_[0-9a-f]+$")
STATES = {"validating", "in_progress", "finalizing", "completed", "failed", "expired"}
STATES |= {"cancelling", "cancelled"}


@pytest.fixture(scope="module")
def fake_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a client of one standalone fake (started here, stopped at the end)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_groqstream.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(2)]
        found = dict(line.split("=", 1) for line in lines)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROQ_")}
        env |= {"GROQ_BASE_URL": found["GROQ_BASE_URL"], "GROQ_API_KEY": found["GROQ_API_KEY"]}
        env["TRIO_GROQSTREAM_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
        env["PATH"] = os.pathsep.join([_BIN, os.environ["PATH"]])
        yield env
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def inproc(
    fake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Runner:
    """Like :func:`run`, but in this process (so coverage sees it): ``main(argv)`` with the
    environment and stdin patched, stdout and stderr captured."""

    def call(
        env: Mapping[str, str], *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        for name in ("GROQ_API_KEY", "GROQ_BASE_URL", "TRIO_GROQSTREAM_STATE_DIR"):
            if name in env:
                monkeypatch.setenv(name, env[name])
            else:
                monkeypatch.delenv(name, raising=False)
        wrapper = io.TextIOWrapper(io.BytesIO((stdin or "").encode()))
        monkeypatch.setattr(sys, "stdin", wrapper)
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return call


def run(
    env: Mapping[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script, in a subprocess."""
    assert SCRIPT is not None
    return subprocess.run(
        [SCRIPT, *args],
        input=stdin,
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def submit(
    env: Mapping[str, str], *args: str, stdin: str | None = None, runner: Runner | None = None
) -> str:
    done = (runner or run)(env, "batch", "submit", *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    batch_id = done.stdout.splitlines()[-1]
    assert BATCH_ID.match(batch_id), done.stdout
    return batch_id


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_submit_status_fetch(fake_env: dict[str, str], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is Trio?\nWhat is a nursery?\n")
    batch_id = submit(fake_env, "-i", str(prompts))
    ledger = json.loads((tmp_path / "prompts.txt.batch").read_text())
    assert ledger["batch_id"] == batch_id
    assert ledger["requests"] == 2
    status = run(fake_env, "batch", "status", batch_id)
    assert status.returncode == 0
    assert status.stdout.split()[0] in STATES
    out = tmp_path / "batch.jsonl"
    fetched = run(fake_env, "batch", "fetch", batch_id, "-o", str(out), "--wait", "--poll", "0.05")
    assert fetched.returncode == 0, fetched.stderr
    got = records(out)
    assert [r["index"] for r in got] == [0, 1]
    assert [r["text"] for r in got] == ["You said: What is Trio?", "You said: What is a nursery?"]
    assert all(r["error"] is None for r in got)
    whole = json.loads(run(fake_env, "batch", "status", batch_id, "--json").stdout)
    assert whole["id"] == batch_id
    assert whole["status"] == "completed"
    assert whole["request_counts"] == {"total": 2, "completed": 2, "failed": 0}


def test_results_match_the_streaming_run(
    fake_env: dict[str, str], inproc: Runner, tmp_path: Path
) -> None:
    prompts = tmp_path / "same.txt"
    prompts.write_text("one\ntwo\nthree\n")
    streamed = tmp_path / "streamed.jsonl"
    done = inproc(fake_env, "-i", str(prompts), "-o", str(streamed), "--plain")
    assert done.returncode == 0, done.stderr
    batch_id = submit(fake_env, "-i", str(prompts), runner=inproc)
    batched = tmp_path / "batched.jsonl"
    assert (
        run(
            fake_env, "batch", "fetch", batch_id, "-o", str(batched), "--wait", "--poll", "0.05"
        ).returncode
        == 0
    )
    a, b = records(streamed), records(batched)
    assert [set(r) for r in a] == [set(r) for r in b]
    keep = ("index", "digest", "prompt", "text", "model", "finish_reason", "error")
    assert [{k: r[k] for k in keep} for r in sorted(a, key=lambda r: r["index"])] == [
        {k: r[k] for k in keep} for r in b
    ]
    # Interchangeable: the streaming run resumes from the batch's results and runs nothing.
    resumed = inproc(fake_env, "-i", str(prompts), "-o", str(batched), "--resume", "--plain")
    assert resumed.returncode == 0, resumed.stderr
    assert len(records(batched)) == 3


def test_a_second_submit_is_refused_unless_forced(
    fake_env: dict[str, str], inproc: Runner, tmp_path: Path
) -> None:
    prompts = tmp_path / "twice.txt"
    prompts.write_text("only once\n")
    first = submit(fake_env, "-i", str(prompts), runner=inproc)
    again = inproc(fake_env, "batch", "submit", "-i", str(prompts))
    assert again.returncode == 2
    assert first in again.stderr
    assert "--force" in again.stderr
    assert again.stdout == ""
    second = submit(fake_env, "-i", str(prompts), "--force", runner=inproc)
    assert second != first
    assert json.loads((tmp_path / "twice.txt.batch").read_text())["batch_id"] == second
    prompts.write_text("only once\nand a new one\n")  # a changed input is a new job
    assert submit(fake_env, "-i", str(prompts), runner=inproc) not in (first, second)


def test_stdin_and_prompts_are_recorded_in_the_state_dir(
    fake_env: dict[str, str], inproc: Runner
) -> None:
    submit(fake_env, "--format", "text", stdin="from stdin\n", runner=inproc)
    again = inproc(fake_env, "batch", "submit", "--format", "text", stdin="from stdin\n")
    assert again.returncode == 2
    assert "already submitted" in again.stderr
    submit(fake_env, "an argument prompt", runner=inproc)
    assert inproc(fake_env, "batch", "submit", "an argument prompt").returncode == 2
    assert len(list(Path(fake_env["TRIO_GROQSTREAM_STATE_DIR"]).glob("*.batch"))) == 2


def test_failed_lines_are_records_with_errors(
    fake_env: dict[str, str], inproc: Runner, tmp_path: Path
) -> None:
    lines = tmp_path / "mixed.jsonl"
    lines.write_text('{"prompt": "fine"}\n{"prompt": "lost", "model": "no-such-model"}\n')
    batch_id = submit(fake_env, "-i", str(lines), runner=inproc)
    out = tmp_path / "out.jsonl"
    fetched = inproc(
        fake_env, "batch", "fetch", batch_id, "-o", str(out), "--wait", "--poll", "0.05"
    )
    assert fetched.returncode == 1
    ok, lost = records(out)
    assert ok["error"] is None
    assert lost["error"]["type"] == "NotFoundError"
    assert "no-such-model" in lost["error"]["message"]


def test_cancel(fake_env: dict[str, str], inproc: Runner, tmp_path: Path) -> None:
    many = tmp_path / "many.txt"
    many.write_text("".join(f"prompt {i}\n" for i in range(300)))  # 3 s of fake work
    batch_id = submit(fake_env, "-i", str(many), runner=inproc)
    cancelled = inproc(fake_env, "batch", "cancel", batch_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.split()[0] in ("cancelling", "cancelled")
    out = tmp_path / "partial.jsonl"
    fetched = inproc(
        fake_env, "batch", "fetch", batch_id, "-o", str(out), "--wait", "--poll", "0.05"
    )
    assert fetched.returncode == 1  # most requests never ran
    got = records(out)
    assert len(got) == 300
    assert {r["error"]["type"] for r in got if r["error"]} == {"BatchRequestError"}
    again = inproc(fake_env, "batch", "cancel", batch_id)
    assert again.returncode == 1
    assert "cancelled" in again.stderr


def test_failures_exit_non_zero(fake_env: dict[str, str], inproc: Runner, tmp_path: Path) -> None:
    unknown = inproc(fake_env, "batch", "status", "batch_nope")
    assert unknown.returncode == 1
    assert "404" in unknown.stderr
    no_key = inproc(
        {k: v for k, v in fake_env.items() if k != "GROQ_API_KEY"}, "batch", "status", "b"
    )
    assert no_key.returncode == 1
    assert "GROQ_API_KEY" in no_key.stderr
    wrong_key = inproc(fake_env | {"GROQ_API_KEY": "gsk_wrong"}, "batch", "status", "batch_x")
    assert wrong_key.returncode == 1
    assert "gsk_wrong" not in wrong_key.stderr + wrong_key.stdout
    assert inproc(fake_env, "batch").returncode == 2
    assert inproc(fake_env, "batch", "fetch", "batch_x").returncode == 2  # no -o
    existing = tmp_path / "notes.txt"
    existing.write_text("mine\n")
    refused = inproc(fake_env, "batch", "fetch", "batch_x", "-o", str(existing))
    assert refused.returncode == 2
    assert existing.read_text() == "mine\n"
    bad = inproc(fake_env, "batch", "submit", "--completion-window", "1h", "a prompt")
    assert bad.returncode == 2
    assert "completion_window" in bad.stderr
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text('{"prompt": "x", "temprature": 1}\n')
    refused_line = inproc(fake_env, "batch", "submit", "-i", str(bad_line))
    assert refused_line.returncode == 2
    assert "temperature" in refused_line.stderr
    assert not (tmp_path / "bad.jsonl.batch").exists()


def test_fetch_before_the_end(fake_env: dict[str, str], inproc: Runner, tmp_path: Path) -> None:
    many = tmp_path / "slow.txt"
    many.write_text("".join(f"p{i}\n" for i in range(300)))
    batch_id = submit(fake_env, "-i", str(many), runner=inproc)
    early = inproc(fake_env, "batch", "fetch", batch_id, "-o", str(tmp_path / "early.jsonl"))
    assert early.returncode == 1
    assert "--wait" in early.stderr
    inproc(fake_env, "batch", "cancel", batch_id)
