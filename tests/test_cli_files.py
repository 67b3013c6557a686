"""The results file, driven through the real console script: it never changes bytes it did not
write, ``--resume`` matches requests by their digest, and write errors end cleanly."""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import sys
from pathlib import Path

import pytest
from _cli_support import assert_usage_error, cli, read_records, text

from trio_groqstream._results import request_digest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files and devices")

CONFIG = '{\n  "name": "my app",\n  "debug": true\n}'  # pretty-printed, no final newline
NOTES = "shopping:\n- milk\n- bread\nlast line without a newline"


# --- foreign files ---------------------------------------------------------------------------


@pytest.mark.parametrize("content", [NOTES, CONFIG, "x\n", '{"index": 0}\n'], ids=repr)
@pytest.mark.parametrize("resume", [False, True], ids=["append", "resume"])
def test_a_file_that_is_not_ours_is_never_touched(
    tmp_path: Path, content: str, resume: bool
) -> None:
    path = tmp_path / "precious"
    path.write_text(content)
    before = path.stat()
    done = cli("-o", str(path), *(["--resume"] if resume else []), "a prompt")
    if resume:
        assert_usage_error(done, "precious line 1:", "not a record of this tool", "nothing was")
    else:
        assert_usage_error(done, "exists and is not empty", "--resume", "--overwrite")
    assert path.read_text() == content
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_resume_refuses_a_foreign_line_after_records(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "a").returncode == 0
    with path.open("a") as file:
        file.write("a note I added\n" + '{"index": 5, "t')  # and a cut line after it
    content = path.read_bytes()
    done = cli("-o", str(path), "--resume", "a", "b")
    assert_usage_error(done, "out.jsonl line 2: not a record of this tool")
    assert path.read_bytes() == content


def test_resume_refuses_an_unterminated_last_line_that_is_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "a").returncode == 0
    with path.open("a") as file:
        file.write("trailing words")
    content = path.read_bytes()
    assert_usage_error(cli("-o", str(path), "--resume", "a"), "line 2: not a record")
    assert path.read_bytes() == content


def test_resume_drops_only_a_cut_record(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "a", "b").returncode == 0
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"index":2,"digest":"ab')  # a crash while writing record 2
    done = cli("-o", str(path), "--resume", "a", "b", "c")
    err = text(done)[1]
    assert done.returncode == 0, err
    assert "line 3 was cut short" in err
    assert "2 of 3 requests already succeeded" in err
    assert path.read_bytes().startswith(whole)  # what was there is kept byte for byte
    assert sorted(r["prompt"] for r in read_records(path)) == ["a", "b", "c"]


def test_overwrite_replaces_and_an_empty_file_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(NOTES)
    assert cli("-o", str(path), "--overwrite", "a").returncode == 0
    assert [r["prompt"] for r in read_records(path)] == ["a"]
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert cli("-o", str(empty), "a").returncode == 0
    assert len(read_records(empty)) == 1
    assert_usage_error(cli("-o", str(path), "--overwrite", "--resume", "a"), "not both")


# --- resume by request ----------------------------------------------------------------------


def test_resume_matches_requests_not_positions(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "alpha", "beta", "gamma").returncode == 0
    done = cli("-o", str(path), "--resume", "alpha", "CHANGED", "gamma", "delta")
    err = text(done)[1]
    assert done.returncode == 0, err
    assert "2 of 4 requests already succeeded" in err
    assert "1 of its records match no request given now" in err  # beta's
    new = read_records(path)[3:]
    assert sorted((r["index"], r["prompt"]) for r in new) == [(1, "CHANGED"), (3, "delta")]


def test_every_field_sent_is_part_of_the_match(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "-m", "llama-3.1-8b-instant", "p", "p").returncode == 0
    records = read_records(path)
    request = {"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": "p"}]}
    assert {r["digest"] for r in records} == {request_digest(request)}
    done = cli("-o", str(path), "--resume", "-m", "openai/gpt-oss-20b", "p")  # another model: runs
    assert "0 of 1 requests already succeeded" in text(done)[1]
    done = cli(
        "-o", str(path), "--resume", "--temperature", "0.5", "-m", "llama-3.1-8b-instant", "p"
    )
    assert "0 of 1 requests already succeeded" in text(done)[1]
    done = cli(
        "-o", str(path), "--resume", "-m", "llama-3.1-8b-instant", "p", "p", "p"
    )  # two of three
    assert "2 of 3 requests already succeeded" in text(done)[1]


def test_resume_runs_failures_again(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "a", "b").returncode == 0
    records = sorted(read_records(path), key=lambda r: r["prompt"])  # finish order varies
    records[1]["error"] = {"type": "RateLimitError", "message": "slow down"}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = cli("-o", str(path), "--resume", "a", "b")
    assert "1 of 2 requests already succeeded" in text(done)[1]
    assert [r["prompt"] for r in read_records(path)][2:] == ["b"]


def test_resume_with_everything_done_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert cli("-o", str(path), "a").returncode == 0
    content = path.read_bytes()
    done = cli("-o", str(path), "--resume", "a")
    assert done.returncode == 0
    assert "1 of 1 requests already succeeded" in text(done)[1]
    assert "fake Groq server" not in text(done)[1]  # nothing started
    assert path.read_bytes() == content


# --- devices and write errors --------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_a_documented_status(tmp_path: Path) -> None:
    done = cli("-o", "/dev/full", "a", "b", "c")
    err = text(done)[1]
    assert done.returncode == 74, err
    assert "Traceback" not in err
    assert err.count("trio-groqstream: error:") == 1
    assert "error: cannot write to /dev/full: No space left on device" in err
    assert "(stopped: write error)" in err  # the summary
    assert "--resume" not in err  # a device cannot be resumed
    assert_usage_error(cli("-o", "/dev/full", "--resume", "a"), "needs a regular file")


def test_a_device_is_written_never_read() -> None:
    done = cli("-o", "/dev/null", "a", "b")  # reading it back would find nothing, but
    assert done.returncode == 0, text(done)[1]  # /dev/zero or a FIFO would never end


def _file_size_limit(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_write_error_mid_run_keeps_whole_records_and_resume_finishes(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    prompts = [f"prompt number {i}" for i in range(12)]
    done = cli("-c", "2", "-o", str(path), *prompts, preexec_fn=lambda: _file_size_limit(3000))
    err = text(done)[1]
    assert done.returncode == 74, err
    assert "Traceback" not in err
    assert err.count("trio-groqstream: error:") == 1
    assert f"error: cannot write to {path}: File too large" in err
    summary = next(line for line in err.splitlines() if "(stopped: write error)" in line)
    counts = re.match(
        r"(\d+) done, 0 failed(?:, (\d+) cancelled)?(?:, (\d+) not started)? in ", summary
    )
    assert counts, summary
    assert sum(int(n or 0) for n in counts.groups()) == 12  # every request accounted for
    assert f"finished results are in {path}; fix that and add --resume" in err
    kept = read_records(path)  # whole lines only: the failed write was taken back
    assert 1 <= len(kept) < 12
    assert path.stat().st_size <= 3000

    done = cli("-c", "2", "-o", str(path), "--resume", *prompts)
    assert done.returncode == 0, text(done)[1]
    assert sorted(r["prompt"] for r in read_records(path)) == sorted(prompts)


def test_a_display_write_error_is_reported_too() -> None:
    with open("/dev/full", "w") as full:
        done = cli("a", "b", stdout=full)
    err = done.stderr.decode()
    assert done.returncode == 74, err
    assert "error: cannot write to stdout: No space left on device" in err
    assert "Traceback" not in err
    assert "Exception ignored" not in err


def test_output_dash_writes_records_to_stdout(tmp_path: Path) -> None:
    done = cli("-o", "-", "a", "b")
    out, err = text(done)
    assert done.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["prompt"] for r in records) == ["a", "b"]
    assert "[0] You said: a" in err  # the display moved to stderr
    assert not (tmp_path / "-").exists()
    assert_usage_error(cli("-o", "-", "--resume", "a"), "--resume needs a results file")


def test_output_dev_stdout_is_stdout(tmp_path: Path) -> None:
    with (tmp_path / "captured").open("wb") as capture:
        done = cli("-o", "/dev/stdout", "a", "b", stdout=capture)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "captured").read_text().splitlines()
    assert sorted(json.loads(line)["prompt"] for line in lines) == ["a", "b"]  # no display


def test_an_output_directory_is_a_usage_error(tmp_path: Path) -> None:
    assert_usage_error(cli("-o", str(tmp_path), "a"), "cannot open --output", "directory")
    assert os.listdir(tmp_path) == []


def test_a_file_another_run_is_writing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with path.open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running command does
        assert_usage_error(cli("-o", str(path), "a"), "is in use by another run")
        held.write(b"a record being written\n")
        held.flush()
        for extra in (["--overwrite"], ["--resume"]):
            assert_usage_error(cli("-o", str(path), *extra, "a"), "is in use by another run")
    assert path.read_bytes() == b"a record being written\n"
    path.write_bytes(b"")
    assert cli("-o", str(path), "a").returncode == 0  # free again
