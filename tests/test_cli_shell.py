"""The console script in a shell: input formats, pipes, terminals, signals and messages."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_support import (
    assert_usage_error,
    cli,
    environment,
    fake_groq_elsewhere,
    in_terminal,
    read_records,
    start,
    text,
    wait_for_line,
    write_lines,
)

from trio_groqstream.testing import FAKE_API_KEY, RecordedRequest, Reply, http_error_reply

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and terminals")

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-B]|\x1b[=>]")


def prompts_of(out: str) -> dict[int, str]:
    """Each prompt's echo from plain output: ``[i] You said: PROMPT``."""
    return {int(m[1]): m[2] for m in re.finditer(r"^\[(\d+)\] You said: (.*)$", out, re.M)}


# --- input -----------------------------------------------------------------------------------


def test_plain_text_on_stdin() -> None:
    done = cli(stdin=b"What is Trio?\n")
    out, err = text(done)
    assert done.returncode == 0, err
    assert prompts_of(out) == {0: "What is Trio?"}


def test_a_text_file_one_prompt_per_line(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst prompt\r\n\n  \nSecond \xe2\x80\xa8 prompt\nno newline")
    done = cli("-i", str(path), "-o", str(tmp_path / "out.jsonl"))
    assert done.returncode == 0, text(done)[1]
    prompts = sorted((r["index"], r["prompt"]) for r in read_records(tmp_path / "out.jsonl"))
    assert prompts == [(0, "First prompt"), (1, "Second \u2028 prompt"), (2, "no newline")]


def test_jsonl_is_detected_and_format_can_be_forced(tmp_path: Path) -> None:
    jsonl = write_lines(tmp_path / "in.jsonl", [{"prompt": "from json"}])
    out, err = text(cli("-i", str(jsonl)))
    assert prompts_of(out) == {0: "from json"}, err
    done = cli("--format", "text", stdin=b'{"prompt": "literal"}\n')  # a prompt that is JSON
    assert prompts_of(text(done)[0]) == {0: '{"prompt": "literal"}'}
    assert_usage_error(cli("--format", "jsonl", stdin=b"plain words\n"), "line 1: not valid JSON")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b'{\n  "prompt": "pretty"\n}\n', "line 1: starts like JSON but is not a JSON object"),
        (b'[{"prompt": "a"}]\n', "line 1: a JSON array"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "line 1: not UTF-8 text"),
        (b"text\x00with a NUL\n", "line 1: a NUL byte"),
    ],
    ids=["pretty JSON", "JSON array", "binary", "NUL"],
)
def test_when_detection_fails_it_names_the_accepted_formats(data: bytes, needle: str) -> None:
    done = cli(stdin=data)
    assert_usage_error(done, needle, "accepted: plain text", "JSONL", "--format text|jsonl")


def test_no_prompts_at_all_is_a_usage_error() -> None:
    assert_usage_error(cli(stdin=b"\n  \n"), "no prompts: <stdin> has no requests")


# --- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus", "p"], "unrecognized arguments: --bogus"),
        (["-c", "0", "p"], "argument -c/--concurrency: expected a whole number >= 1"),
        (["--format", "yaml", "p"], "argument --format: invalid choice: 'yaml'"),
        (["--resume", "p"], "--resume needs --output"),
        (["-i", "/nonexistent/prompts.txt"], "cannot read --input"),
    ],
)
def test_usage_errors_are_one_line_and_a_pointer_to_help(args: list[str], needle: str) -> None:
    assert_usage_error(cli(*args), needle)


def test_help_documents_formats_and_statuses() -> None:
    done = cli("--help")
    out = text(done)[0]
    assert done.returncode == 0
    for needle in ("--format", "--overwrite", "'-o -'", "74", "141", "143"):
        assert needle in out


def test_a_wrong_key_counts_the_requests_never_started() -> None:
    prompts = [f"q{i}" for i in range(40)]
    with fake_groq_elsewhere() as url:
        env = environment(GROQ_API_KEY="gsk_wrong", GROQ_BASE_URL=url)
        one_at_a_time = cli("-c", "1", *prompts, env=env)
        eight = cli(*prompts, env=env)
    for done, concurrency in ((one_at_a_time, 1), (eight, 8)):
        err = text(done)[1]
        assert done.returncode == 1
        assert "error: AuthenticationError: HTTP 401" in err
        assert "Traceback" not in err
        summary = r"^0 done, 1 failed, (?:(\d+) cancelled, )?(\d+) not started in [\d.]+s \(stopped"
        match = re.search(summary, err, re.M)
        assert match, err
        cancelled, not_started = int(match[1] or 0), int(match[2])
        assert 1 + cancelled + not_started == 40
        assert not_started >= 40 - 4 * concurrency  # the run stopped at the first 401


# --- pipes and signals -------------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    with start("-c", "2", *[f"q{i}" for i in range(200)], env=environment()) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        wait_for_line(process.stdout, b"You said")
        process.stdout.close()  # `| head -1`
        err = process.stderr.read().decode()
        assert process.wait(60) == 141
    assert "error" not in err
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert "done," not in err  # no summary: the reader asked for no more


def test_a_closed_pipe_on_records_to_stdout_too() -> None:
    with start("-o", "-", *[f"q{i}" for i in range(200)], env=environment()) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        json.loads(process.stdout.readline())
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(60) == 141
    assert "Traceback" not in err


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_with_a_summary_and_a_resume_hint(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    out = tmp_path / "out.jsonl"
    prompts = [f"q{i}" for i in range(30)]
    env = environment(TRIO_GROQSTREAM_FAKE_PAUSE="0.01")  # about half a second per prompt
    with start("-c", "3", "-o", str(out), *prompts, env=env) as process:
        assert process.stdout is not None
        wait_for_line(process.stdout, b"-- done")  # one record is written
        process.send_signal(signum)
        _, err_bytes = process.communicate(timeout=60)
    err = err_bytes.decode()
    assert process.returncode == status, err
    assert "Traceback" not in err
    assert re.search(rf"not started in [\d.]+s \(interrupted by {signum.name}\)$", err, re.M)
    assert f"finished results are in {out}; to go on, add --resume" in err
    first = read_records(out)
    assert 1 <= len(first) < 30

    done = cli("-c", "3", "-o", str(out), "--resume", *prompts)
    assert done.returncode == 0
    assert f"{len(first)} of 30 requests already succeeded" in text(done)[1]
    assert sorted(r["prompt"] for r in read_records(out)) == sorted(prompts)


# --- terminals -----------------------------------------------------------------------------------


def test_a_terminal_shows_every_answer_in_full() -> None:
    words = " ".join(f"w{i:03}" for i in range(150))  # far longer than the live tail
    others = [f"prompt number {i}" for i in range(30)]  # many finish within one frame
    status, screen, _ = in_terminal(words, *others)
    assert status == 0
    shown = ANSI.sub(b"", screen).decode()
    flat = " ".join(shown.split())
    assert f"You said: {words}" in flat
    for prompt in others:  # printed once, in full (the live rows flatten newlines)
        assert shown.count(f"You said: {prompt}\r\nThis answer comes") == 1
    assert "31/31 done" in shown


def test_progress_on_stderr_when_stdout_is_redirected() -> None:
    status, screen, piped = in_terminal("a", "b", stdout_is_terminal=False)
    assert status == 0
    assert prompts_of(piped.decode()) == {0: "a", 1: "b"}  # plain lines on stdout
    shown = ANSI.sub(b"", screen).decode()
    assert "2/2 done" in shown  # the progress line on the terminal
    assert "You said" not in shown  # the answers went to stdout only


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m \u202egnirts desrever\u202c \x9b31m\r\x07end"


def test_plain_output_cannot_drive_the_terminal(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = cli("--plain", "-o", str(out), HOSTILE)
    shown = done.stdout.decode()
    assert done.returncode == 0
    for bad in ("\x1b", "\x9b", "\x07", "\r", "\u202e", "\u202c"):
        assert bad not in shown
    assert "[0] You said: red gnirts desrever end" in shown.splitlines()
    assert read_records(out)[0]["text"].startswith(f"You said: {HOSTILE}")  # exact in the file


def test_the_live_display_cannot_be_driven_either() -> None:
    status, screen, _ = in_terminal(HOSTILE)
    assert status == 0
    assert b"pwned" not in screen
    assert b"\x1b[2J" not in screen
    assert "\u202e".encode() not in screen


def test_a_hostile_server_error_cannot_drive_the_terminal() -> None:
    def handler(request: RecordedRequest) -> Reply:
        return http_error_reply(401, message="\x1b]0;pwned\x07denied\x1b[2J \u202eevil")

    with fake_groq_elsewhere(handler) as url:
        env = environment(GROQ_API_KEY=FAKE_API_KEY, GROQ_BASE_URL=url)
        done = cli("--plain", "a", env=env)
    out, err = text(done)
    assert done.returncode == 1
    assert "denied evil" in err
    assert "[0] -- failed: AuthenticationError: HTTP 401: denied evil" in out
    for shown in (out, err):
        for bad in ("\x1b", "\x07", "\u202e", "pwned"):
            assert bad not in shown


def test_both_streams_into_a_closed_pipe() -> None:
    """`trio-groqstream ... 2>&1 | head -1`: the first line read is the fake's note on stderr."""
    with start(*[f"q{i}" for i in range(200)], stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        assert b"fake Groq server" in process.stdout.readline()
        process.stdout.close()
        assert process.wait(60) == 141
