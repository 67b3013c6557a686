"""The ``trio-groqstream`` command, run in-process through ``main()`` and as a real process.

``main()`` calls ``trio.run`` itself, so these are plain sync tests. The built-in fake server
(``--fake``, or no ``GROQ_API_KEY``) answers; its pace is set to 0 here except where a test needs
a slow stream. The "real Groq" path talks to a fake Groq running in a thread of its own.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from _cli_support import fake_groq_elsewhere

from trio_groqstream import _cli, _inputs, _results, _run
from trio_groqstream._cli import FAKE_PAUSE_ENV, main
from trio_groqstream._display import (
    LiveDisplay,
    PlainDisplay,
    _fit_tail,
    choose_display,
    safe_text,
)
from trio_groqstream._errors import ConfigurationError
from trio_groqstream.testing import FAKE_API_KEY, echo_text

PROMPTS = ["alpha", "beta", "gamma"]
STATUS = re.compile(r"^\[(\d+)\] -- (done|failed)")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_PAUSE_ENV, "0")
    monkeypatch.delenv("GROQ_BASE_URL", raising=False)
    monkeypatch.delenv("GROQ_CUSTOM_HEADERS", raising=False)


def reply(prompt: str) -> str:
    """What the CLI's fake answers to ``prompt``."""
    return echo_text(prompt) + _run.FAKE_TAIL


def texts_from_plain(out: str) -> tuple[dict[int, str], dict[int, str]]:
    """Rebuild each prompt's text from ``[i] line`` output; also return each status line."""
    lines: dict[int, list[str]] = {}
    status: dict[int, str] = {}
    for line in out.splitlines():
        if match := STATUS.match(line):
            assert int(match[1]) not in status, "one status line per prompt"
            status[int(match[1])] = match[2]
            continue
        match = re.match(r"^\[(\d+)\](?: (.*))?$", line)
        assert match, f"untagged line {line!r}"
        lines.setdefault(int(match[1]), []).append(match[2] or "")
    return {i: "\n".join(parts) + "\n" for i, parts in lines.items()}, status


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_jsonl(path: Path, *items: object) -> Path:
    lines = (item if isinstance(item, str) else json.dumps(item) for item in items)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_clean_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    assert err.count("trio-groqstream: error:") == 1, err
    for needle in needles:
        assert needle in err


# --- output ----------------------------------------------------------------------------------


def test_plain_output_has_each_full_reply(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fake", "--plain", *PROMPTS]) == 0
    out, err = capsys.readouterr()
    texts, status = texts_from_plain(out)
    assert texts == {i: reply(p) for i, p in enumerate(PROMPTS)}
    assert status == dict.fromkeys(range(3), "done")
    assert "--fake: using the built-in fake Groq server at http://127.0.0.1:" in err
    assert "3 done, 0 failed" in err


def test_missing_api_key_selects_the_fake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    assert main(["hello"]) == 0  # stdout is not a terminal: plain lines
    out, err = capsys.readouterr()
    assert "[0] You said: hello" in out.splitlines()
    assert re.search(
        r"^GROQ_API_KEY is not set: using the built-in fake Groq server at "
        r"http://127\.0\.0\.1:\d+ \(no network, canned replies\)$",
        err,
        re.MULTILINE,
    )


def test_output_file_holds_one_record_per_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["--fake", "--plain", "--output", str(out), *PROMPTS]) == 0
    records = sorted(read_records(out), key=lambda r: r["index"])
    assert [r["index"] for r in records] == [0, 1, 2]
    assert len({r["request_id"] for r in records}) == 3
    for record, prompt in zip(records, PROMPTS, strict=True):
        assert record["prompt"] == prompt
        assert record["text"] == reply(prompt)
        assert record["model"] == _run.DEFAULT_MODEL
        assert record["finish_reason"] == "stop"
        assert record["reasoning"] is None
        assert record["tool_calls"] is None
        assert record["error"] is None
        assert record["attempts"] == 1
        assert record["usage"]["completion_tokens"] > 0
        assert record["usage"]["total_tokens"] > record["usage"]["completion_tokens"]
        assert 0 <= record["time_to_first_chunk"] <= record["duration"]


def test_jsonl_input_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b'{"prompt": "from stdin"}\n\n{"messages": [{"role": "user", "content": "m"}]}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["--fake", "--plain"]) == 0
    texts, _ = texts_from_plain(capsys.readouterr().out)
    assert texts == {0: reply("from stdin"), 1: reply("m")}


def test_jsonl_lines_become_requests(tmp_path: Path) -> None:
    """Both line shapes; options fill in what a line leaves out; blank lines are not requests."""
    path = write_jsonl(
        tmp_path / "in.jsonl",
        {"prompt": "one"},
        "",
        {"prompt": "two", "system": "be brief", "model": "other", "seed": 7},
        {"messages": [{"role": "user", "content": "three"}], "temperature": 0.5},
    )
    args = _cli.build_parser().parse_args(
        ["--input", str(path), "--system", "S", "--temperature", "1", "--max-tokens", "9"]
    )
    jobs = _cli._jobs(args, None)
    assert [(job.index, job.prompt) for job in jobs] == [(0, "one"), (1, "two"), (2, "three")]
    common = {"model": _run.DEFAULT_MODEL, "temperature": 1.0, "max_completion_tokens": 9}
    assert jobs[0].request == {
        **common,
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "one"}],
    }
    assert jobs[1].request == {
        **common,
        "model": "other",
        "seed": 7,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "two"},
        ],
    }
    assert jobs[2].request == {
        **common,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": "three"}],
    }


def test_a_messages_body_is_summarised_by_its_last_user_message() -> None:
    last_user = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    parts = [{"role": "user", "content": [{"type": "text", "text": "t"}]}]
    lines = [json.dumps({"messages": m}).encode() for m in (last_user, parts)]
    jobs = _inputs.read_jobs("x", lines, fmt="auto", system=None, defaults={})
    assert [job.prompt for job in jobs] == ["q", "(1 messages)"]


# --- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "lines", "needles"),
    [
        (["--input", "{in}"], ['{"prompt": "a"}', '{"prompt": "b"}', "{oops"],
         ["in.jsonl line 3: not valid JSON"]),
        (["--input", "{in}"], ["[1, 2]"], ["in.jsonl line 1: a JSON array", "accepted: plain"]),
        (["--input", "{in}"], ['{"system": "s"}'], ['line 1: give "prompt"', "found neither"]),
        (["--input", "{in}"], ['{"prompt": 3}'], ['line 1: "prompt" and "system" must be']),
        (["--input", "{in}"], ['{"messages": []}'], ['"messages" must be a non-empty list']),
        (["--input", "{in}"], ['{"prompt": "a", "model": 1}'], ['"model" must be a string']),
        (["--input", "{in}"], ["", "  "], ["no prompts:", "has no requests"]),
        (["--input", "{in}", "extra prompt"], ['{"prompt": "a"}'], ["not both"]),
        (["--input", "{missing}"], [], ["cannot read --input", "No such file"]),
        (["--resume", "p"], [], ["--resume needs --output"]),
        (["--output", "{missing}/out.jsonl", "p"], [], ["cannot open --output"]),
        (["--bogus", "p"], [], ["unrecognized arguments: --bogus"]),
        (["--concurrency", "0", "p"], [], ["--concurrency: expected a whole number >= 1"]),
        (["--idle-timeout", "-1", "p"], [], ["--idle-timeout: expected a number >= 0"]),
        (["--total-timeout", "0", "p"], [], ["--total-timeout: expected seconds > 0"]),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    lines: list[str],
    needles: list[str],
) -> None:
    write_jsonl(tmp_path / "in.jsonl", *lines)
    paths = {"in": tmp_path / "in.jsonl", "missing": tmp_path / "missing"}
    argv = [arg.format(**paths) for arg in argv]
    assert main(["--fake", *argv]) == 2
    out, err = capsys.readouterr()
    assert_clean_error(err, *needles)
    assert out == ""


def test_no_prompts_and_a_bad_fake_pace_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["--fake"]) == 2
    assert_clean_error(capsys.readouterr().err, "no prompts: <stdin> has no requests")
    monkeypatch.setattr(sys, "stdin", Terminal())  # nobody is piping anything in
    assert main(["--fake"]) == 2
    assert_clean_error(capsys.readouterr().err, "no prompts: give them as arguments")
    monkeypatch.setenv(FAKE_PAUSE_ENV, "soon")
    assert main(["--fake", "p"]) == 2
    assert_clean_error(capsys.readouterr().err, FAKE_PAUSE_ENV)


def test_stream_options_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    timeouts = ["--connect-timeout", "5", "--first-chunk-timeout", "5", "--idle-timeout", "5"]
    argv = [*timeouts, "--total-timeout", "none", "--max-retries", "0", "-m", "qwen/qwen3-32b", "p"]
    assert main(["--fake", *argv]) == 0
    assert "[0] -- done" in capsys.readouterr().out


def test_help_and_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["trio-groqstream", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        _cli.run()
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("trio-groqstream ")
    done = subprocess.run(
        [sys.executable, "-m", "trio_groqstream", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: trio-groqstream ")
    assert "--max-tokens" in done.stdout
    assert "exit status" in done.stdout


def test_console_script_runs_one_prompt(tmp_path: Path) -> None:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    script = shutil.which("trio-groqstream", path=path)
    assert script is not None
    env = {**os.environ, FAKE_PAUSE_ENV: "0"}
    env.pop("GROQ_API_KEY", None)
    done = subprocess.run(
        [script, "ping"], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "[0] You said: ping" in done.stdout.splitlines()
    assert "GROQ_API_KEY is not set" in done.stderr


# --- failures --------------------------------------------------------------------------------


def test_setup_error_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test")
    monkeypatch.setenv("GROQ_BASE_URL", "http://example.com")  # no key in clear text: refused
    assert main(["p"]) == 1
    assert_clean_error(capsys.readouterr().err, "ConfigurationError", "clear text")


def test_failed_requests_exit_1_and_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test")
    monkeypatch.setenv("GROQ_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    out = tmp_path / "out.jsonl"
    assert main(["--plain", "--max-retries", "0", "-o", str(out), "a", "b"]) == 1
    _, status = texts_from_plain(capsys.readouterr().out)
    assert status == {0: "failed", 1: "failed"}
    for record in read_records(out):
        assert record["error"]["type"] == "APIConnectionError"
        assert record["text"] == ""
        assert record["attempts"] == 1


def test_live_display_lists_failures_after_the_frame(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test")
    monkeypatch.setenv("GROQ_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(["--max-retries", "0", "a"]) == 1
    screen = cast(io.StringIO, sys.stdout).getvalue()
    assert "failed: APIConnectionError" in screen  # printed in full above the live region


@pytest.fixture
def groq_elsewhere() -> Iterator[str]:
    """A fake Groq with its own trio loop in a thread: the CLI's "real Groq" path talks to it."""
    with fake_groq_elsewhere() as url:
        yield url


def test_with_a_key_it_talks_to_groq_base_url(
    groq_elsewhere: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("GROQ_BASE_URL", groq_elsewhere)
    assert main(["hi", "there"]) == 0
    out, err = capsys.readouterr()
    assert texts_from_plain(out)[0] == {0: echo_text("hi") + "\n", 1: echo_text("there") + "\n"}
    assert "fake" not in err


def test_a_bad_key_stops_the_batch(
    groq_elsewhere: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_wrong")
    monkeypatch.setenv("GROQ_BASE_URL", groq_elsewhere)
    assert main(["-c", "1", "a", "b", "c"]) == 1
    out, err = capsys.readouterr()
    assert texts_from_plain(out)[1] == {0: "failed"}  # the others were never sent
    assert_clean_error(err, "AuthenticationError: HTTP 401")


# --- interruption and resume -----------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a child there")
def test_interrupt_keeps_results_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_jsonl(tmp_path / "in.jsonl", *({"prompt": f"q{i}"} for i in range(20)))
    out = tmp_path / "out.jsonl"
    argv = ["--fake", "--plain", "-c", "4", "--input", str(prompts), "--output", str(out)]
    env = {**os.environ, FAKE_PAUSE_ENV: "0.02"}  # about a second per prompt
    with subprocess.Popen(
        [sys.executable, "-m", "trio_groqstream", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        deadline = time.monotonic() + 20
        while not (out.exists() and b"\n" in out.read_bytes()):  # an observable condition
            assert process.poll() is None, "finished before it could be interrupted"
            assert time.monotonic() < deadline, "no result was written"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert b"Traceback" not in err
    assert b"add --resume" in err
    first = read_records(out)  # every line is whole JSON
    assert 1 <= len(first) < 20

    assert main([*argv, "--resume"]) == 0
    records = read_records(out)
    indexes = [record["index"] for record in records]
    assert sorted(indexes) == list(range(20))  # all there, none twice
    assert records[: len(first)] == first
    _, status = texts_from_plain(capsys.readouterr().out)
    assert set(status).isdisjoint(r["index"] for r in first)  # the finished ones were skipped


def test_ctrl_c_in_process_exits_130_with_whole_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(FAKE_PAUSE_ENV, "0.005")
    record, calls = _results.result_record, itertools.count()

    def record_then_interrupt(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if next(calls) == 0:  # Ctrl-C once, as soon as the first request finishes
            signal.raise_signal(signal.SIGINT)
        return record(*args, **kwargs)

    monkeypatch.setattr(_run, "result_record", record_then_interrupt)
    out = tmp_path / "out.jsonl"
    prompts = [f"q{i}" for i in range(12)]
    assert main(["--fake", "-c", "2", "-o", str(out), *prompts]) == 130
    err = capsys.readouterr().err
    assert re.search(r" in [\d.]+s \(interrupted by SIGINT\)$", err, re.M), err
    assert "add --resume" in err
    assert 1 <= len(read_records(out)) < 12


def test_a_library_error_grouped_by_a_nursery_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def failing(*args: object) -> None:
        raise BaseExceptionGroup("run", [BaseExceptionGroup("inner", [ConfigurationError("bad")])])

    monkeypatch.setattr(_run.Run, "run", failing)
    assert main(["--fake", "p"]) == 1
    assert_clean_error(capsys.readouterr().err, "ConfigurationError: bad")

    async def mixed(*args: object) -> None:
        raise BaseExceptionGroup("run", [ConfigurationError("bad"), RuntimeError("bug")])

    monkeypatch.setattr(_run.Run, "run", mixed)
    with pytest.raises(BaseExceptionGroup):  # a bug is not dressed up as a one-liner
        main(["--fake", "p"])


def test_requests_are_checked_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def check(request: dict[str, Any]) -> bytes:
        if request.get("seed") == 7:
            raise ConfigurationError("the request's 'seed' is not allowed here")
        return b"{}"

    monkeypatch.setattr(_cli, "encode_body", check)
    path = write_jsonl(tmp_path / "in.jsonl", {"prompt": "a"}, {"prompt": "b", "seed": 7})
    assert main(["--fake", "-i", str(path)]) == 2
    err = capsys.readouterr().err
    assert_clean_error(err, "in.jsonl line 2: the request's 'seed' is not allowed here")
    assert "fake Groq server" not in err  # nothing started


@pytest.mark.parametrize(
    "exc",
    [KeyboardInterrupt(), BaseExceptionGroup("cleanup", [KeyboardInterrupt()])],
    ids=["plain", "in a group"],
)
def test_keyboard_interrupt_anywhere_exits_130(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    async def interrupted(*args: object) -> None:
        raise exc

    monkeypatch.setattr(_run.Run, "run", interrupted)
    assert main(["--fake", "p"]) == 130


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_leaves_stops_the_batch_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())  # `trio-groqstream ... | head -1`
    assert main(["--fake", "a", "b"]) == 141
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error" not in err


def test_resume_drops_a_cut_line_and_retries_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["--fake", "-o", str(out), "a", "b"]) == 0
    first, second = sorted(read_records(out), key=lambda r: r["index"])
    second["error"] = {"type": "RateLimitError", "message": "slow"}
    cut = json.dumps({**first, "index": 2})[:40]  # a record cut short by a crash
    out.write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n{cut}")
    capsys.readouterr()
    assert main(["--fake", "--plain", "-o", str(out), "--resume", "a", "b", "c"]) == 0
    err = capsys.readouterr().err
    assert "line 3 was cut short" in err
    assert "1 of 3 requests already succeeded" in err
    records = read_records(out)
    assert [r["index"] for r in records[:2]] == [0, 1]
    assert sorted(r["index"] for r in records[2:]) == [1, 2]
    assert all(r["error"] is None for r in records[2:])


def test_resume_refuses_a_damaged_middle_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = write_jsonl(tmp_path / "out.jsonl", "garbage", {"index": 0, "error": None})
    before = out.read_bytes()
    assert main(["--fake", "-o", str(out), "--resume", "a"]) == 2
    assert_clean_error(capsys.readouterr().err, "out.jsonl line 1: not a record of this tool")
    assert out.read_bytes() == before


def test_resume_terminates_a_whole_unterminated_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["--fake", "-o", str(out), "a"]) == 0
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # an editor dropped the final newline
    assert main(["--fake", "-o", str(out), "--resume", "a", "b"]) == 0
    assert "1 of 2 requests already succeeded" in capsys.readouterr().err
    assert [r["index"] for r in read_records(out)] == [0, 1]


# --- the live display ------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_display_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(FAKE_PAUSE_ENV, "0.003")  # slow enough for a redraw or two
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    assert main(["--fake", *PROMPTS]) == 0
    frames = screen.getvalue()
    assert "\x1b[" in frames  # drawn in place with control codes
    assert "3/3 done" in frames
    assert "gamma" in frames
    assert "real Groq API instead." in frames  # the tail of each answer
    assert "[0] --" not in frames  # not the plain format
    for index, prompt in enumerate(PROMPTS):  # each answer printed whole above the live region
        assert f"[{index}] {prompt}" in frames
        assert reply(prompt).rstrip("\n") in frames
    assert "3 done, 0 failed" in capsys.readouterr().err


def test_without_rich_it_falls_back_to_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    screen, err = Terminal(), io.StringIO()
    display = choose_display([(0, "p")], plain=False, stdout=screen, stderr=err)
    assert isinstance(display, PlainDisplay)
    assert err.getvalue().count("\n") == 1
    assert "rich is not installed" in err.getvalue()
    display = choose_display([(0, "p")], plain=True, stdout=Terminal(), stderr=err)
    assert isinstance(display, PlainDisplay)


def test_plain_display_emits_lines_as_their_newline_arrives() -> None:
    out = io.StringIO()
    display = PlainDisplay([(0, "a"), (1, "b")], out=out, stderr=io.StringIO())
    display.started(0)
    display.started(1)
    display.chunk(0, "Hel")
    display.chunk(0, "")
    display.chunk(1, "x")
    assert out.getvalue() == ""
    display.chunk(0, "lo\nwor")
    assert out.getvalue() == "[0] Hello\n"
    display.chunk(0, "ld\r\n\nend")
    display.finished(1, error="APIConnectionError: gone", seconds=None)
    display.finished(0, error=None, seconds=1.5)
    assert out.getvalue().splitlines() == [
        "[0] Hello",
        "[0] world",
        "[0]",
        "[1] x",
        "[1] -- failed: APIConnectionError: gone",
        "[0] end",
        "[0] -- done in 1.50s (4 chunks)",
    ]
    assert display.summary().startswith("1 done, 1 failed in ")


def test_live_display_keeps_what_matters_in_view() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=80, height=16)
    display = LiveDisplay(
        [(i, f"prompt {i}") for i in range(20)], console=console, stderr=io.StringIO()
    )
    for i in range(8):
        display.started(i)
    display.chunk(6, "streaming text\nwith a \x1b[31m control code")
    display.finished(2, error="RateLimitError: HTTP 429", seconds=0.1)
    for i in (0, 1, 3, 4):
        display.finished(i, error=None, seconds=0.1)
    rows, hidden = display.visible_rows(5)
    assert [row.index for row in rows] == [2, 4, 5, 6, 7]  # in flight, failed, latest done
    assert hidden == 15
    console.print(display.render())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "… and 15 more" in text
    assert "5/20 done · 1 failed · 3 in flight" in text
    assert "streaming text with a  control code" in text  # flattened, the sequence removed
    assert "RateLimitError: HTTP 429" in text


def test_fit_tail_keeps_the_end_in_cells() -> None:
    assert _fit_tail("short", 10) == "short"
    assert _fit_tail("0123456789abc", 6) == "…89abc"
    assert _fit_tail("日本語のテキスト", 7) == "…キスト"  # wide characters take two cells


# --- subcommands and terminal safety ---------------------------------------------------------


def test_a_subcommand_plugs_in_and_a_prompt_can_still_be_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[list[str]] = []
    module = types.ModuleType("tgs_demo_subcommand")

    def subcommand(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    module.main = subcommand  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tgs_demo_subcommand", module)
    monkeypatch.setitem(_cli.SUBCOMMANDS, "demo", "tgs_demo_subcommand")
    assert main(["demo", "status", "--json"]) == 7
    assert seen == [["status", "--json"]]
    assert main(["--fake", "--plain", "--", "demo"]) == 0  # after --: a prompt
    assert "[0] You said: demo" in capsys.readouterr().out.splitlines()
    assert seen == [["status", "--json"]]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text\twith a tab\nand a newline", "plain text\twith a tab\nand a newline"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b[2J\x1b[1;31mred\x1b[0m", "red"),
        ("\x9b2Jc1", "c1"),
        ("a\rb\x08c\x00d\x7fe", "abcde"),
        ("\u202eevil\u202c \u2066x\u2069 \u200fy", "evil x y"),
        ("\x1b", ""),  # a sequence cut by the chunking: ESC alone is dropped
        ("日本語 é", "日本語 é"),
    ],
)
def test_safe_text_keeps_text_and_drops_what_drives_a_terminal(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown
