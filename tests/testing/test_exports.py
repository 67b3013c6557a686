"""The public surface of trio_groqstream.testing, and that the package root stays free of it."""

from __future__ import annotations

import subprocess
import sys

import trio_groqstream.testing as testing

EXPECTED = {
    "CHAT_COMPLETIONS_PATH",
    "DECOMMISSIONED_MODELS",
    "DEFAULT_MODELS",
    "DONE",
    "FAKE_API_KEY",
    "KEEPALIVE",
    "MODELS_PATH",
    "BatchTiming",
    "Drop",
    "Endpoint",
    "FakeBatches",
    "FakeGroq",
    "FakeModel",
    "FakeRateLimits",
    "Handler",
    "LineHandler",
    "MockGroq",
    "Part",
    "Pause",
    "RecordedRequest",
    "Reply",
    "ServerStats",
    "Stall",
    "drop_reply",
    "used_up_window_reply",
    "retry_after_reply",
    "held_open_reply",
    "deep_json_reply",
    "contentless_flood_reply",
    "compression_bomb_reply",
    "echo_handler",
    "echo_text",
    "eof_reply",
    "go_duration",
    "headers_never_reply",
    "http_error_reply",
    "in_stream_error_reply",
    "keepalive_only_reply",
    "mock_transport",
    "non_sse_reply",
    "open_fake_groq",
    "reasoning_reply",
    "replay_reply",
    "sse_event",
    "stall_reply",
    "text_reply",
    "tool_call_reply",
    "trickle_reply",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(testing.__all__) == EXPECTED
    assert len(testing.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(testing, name) is not None
    public = {name for name in vars(testing) if not name.startswith("_")}
    assert public == EXPECTED


def test_the_package_root_does_not_import_testing() -> None:
    code = (
        "import sys, trio_groqstream; "
        "print(any(m.startswith('trio_groqstream.testing') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_the_testing_rooms_import_each_other_without_a_cycle() -> None:
    """Each private module of the fake imports only rooms below it (TYPE_CHECKING ones too)."""
    import ast
    from pathlib import Path

    folder = Path(testing.__file__).parent
    imports: dict[str, set[str]] = {}
    for path in folder.glob("_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports[path.stem] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for imported in imports.get(name, set()):
            visit(imported, (*path, name))
        done.add(name)

    for name in imports:
        visit(name, ())
    assert {"_requests", "_scenarios", "_responder"} <= set(imports)
