"""``docs/cli.md`` keeps its promises: every ``sh`` example runs (``bash -eu``), in order, in one
empty directory, against the built-in fake; a ``text`` block right after one shows lines of its
output; the exit status table lists exactly the statuses the command uses."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _cli_support import TIMEOUT, environment

from trio_groqstream import _cli

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w+)\n(?P<body>.*?)^(?P=indent)```\n", re.M | re.S)


def blocks() -> list[tuple[str, str, bool]]:
    """``(language, code, follows a block)`` for each fenced block of the page."""
    found, end = [], -1
    page = PAGE.read_text()
    for match in FENCE.finditer(page):
        follows = end >= 0 and not page[end : match.start()].strip()
        found.append((match["lang"], textwrap.dedent(match["body"]), follows))
        end = match.end()
    return found


@pytest.mark.skipif(sys.platform == "win32", reason="the examples are POSIX shell")
def test_every_shell_example_runs(tmp_path: Path) -> None:
    ran = 0
    output = ""
    for lang, code, follows in blocks():
        if lang == "text" and follows and output:
            for line in code.splitlines():
                assert line in output, f"{line!r} is not in the output of the example before"
        if lang != "sh":
            output = ""
            continue
        done = subprocess.run(
            ["bash", "-eu", "-c", code],  # no pipefail: `| head -1` is an example
            cwd=tmp_path,
            env=environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"{code}\n--- stderr:\n{done.stderr}"
        assert "Traceback" not in done.stderr
        output = done.stdout + done.stderr
        ran += 1
    assert ran >= 10


def test_the_exit_status_table_is_complete() -> None:
    section = PAGE.read_text().split("## Exit status", 1)[1].split("\n## ", 1)[0]
    documented = {int(m[1]) for m in re.finditer(r"^\| (\d+) \|", section, re.M)}
    used = {_cli.EXIT_OK, _cli.EXIT_FAILED, _cli.EXIT_USAGE, _cli.EXIT_WRITE_ERROR, _cli.EXIT_PIPE}
    assert documented == used | set(_cli.EXIT_SIGNAL.values())
