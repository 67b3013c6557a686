"""Find and load the recorded real Groq responses (``../shared/real_groq``) for the tests.

The recordings live outside the repository, so a fresh clone may not have them: tests that read
them skip with a reason that says where they were looked for, rather than failing or vanishing.
Set ``TRIO_GROQSTREAM_REAL_GROQ`` to point somewhere else.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "ENV_VAR",
    "MISSING",
    "REAL_GROQ_DIR",
    "load_recordings",
    "recording_ids",
    "recording_or_skip",
    "recordings_or_skip",
    "sse_bytes",
]

ENV_VAR = "TRIO_GROQSTREAM_REAL_GROQ"
_REPO = Path(__file__).resolve().parent.parent
REAL_GROQ_DIR = Path(os.environ.get(ENV_VAR) or _REPO.parent / "shared" / "real_groq")

# The parameter id used when the directory is missing, so that a test still runs (and skips).
MISSING = "real_groq-missing"

Recording = dict[str, Any]


def _skip_reason() -> str:
    return (
        f"real Groq recordings not found at {REAL_GROQ_DIR}; these tests read the recorded Groq "
        f"responses from ../shared/real_groq (set {ENV_VAR} to point elsewhere)"
    )


@functools.cache
def load_recordings() -> list[tuple[str, Recording]]:
    """Every ``*.json`` transcript as ``(file stem, parsed JSON)``, sorted by name."""
    return [
        (path.stem, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(REAL_GROQ_DIR.glob("*.json"))
    ]


def _available() -> bool:
    return REAL_GROQ_DIR.is_dir() and bool(load_recordings())


def recordings_or_skip() -> list[tuple[str, Recording]]:
    """The recordings, or skip the calling test (with the path in the reason) if there are none."""
    if not _available():
        pytest.skip(_skip_reason(), allow_module_level=False)
    return load_recordings()


def recording_ids(*, status: int | None = 200, kind: str | None = None) -> list[str]:
    """File stems to parametrize over: those with this ``status`` and ``kind`` (``None``: any).

    When the directory is missing this returns ``[MISSING]``, so the parametrized test runs once
    and skips visibly through :func:`recording_or_skip` instead of being collected away.
    """
    if not _available():
        return [MISSING]
    return [
        name
        for name, recording in load_recordings()
        if (status is None or recording.get("status") == status)
        and (kind is None or recording.get("kind") == kind)
    ]


def recording_or_skip(name_or_prefix: str) -> Recording:
    """One recording by file stem or number prefix (``"25"``), or skip if they are missing."""
    for name, recording in recordings_or_skip():
        if name == name_or_prefix or name.startswith(f"{name_or_prefix}_"):
            return recording
    raise LookupError(f"no recording named {name_or_prefix!r} in {REAL_GROQ_DIR}")


def sse_bytes(recording: Recording) -> bytes:
    """The recorded body as the bytes that came over the wire."""
    body = recording["sse"]
    assert isinstance(body, str)
    return body.encode("utf-8")
