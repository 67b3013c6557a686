"""The documentation keeps its promises: every example runs, every include resolves.

Each script in ``docs/examples/`` is run the way a user would run it, with ``GROQ_API_KEY`` and
``GROQ_BASE_URL`` in the environment, except that the base URL is a :func:`open_fake_groq` server
scripted for that example (:data:`SCENARIOS`), and the clock is the loopback-safe ``MockClock``
(see ``conftest.py``), so retry waits and timeouts cost no real time. Each run must print what the
example promises, and leave the fake in the state it should (requests sent, connections closed).

The pages are checked too: every ``{literalinclude}`` names an existing example, every example is
included somewhere, every fenced ``python`` block at least compiles, and the API reference covers
every public name.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

import trio_groqstream
import trio_groqstream.testing
from trio_groqstream.testing import (
    FAKE_API_KEY,
    FakeGroq,
    Handler,
    RecordedRequest,
    Reply,
    drop_reply,
    echo_handler,
    echo_text,
    http_error_reply,
    open_fake_groq,
    stall_reply,
    text_reply,
    tool_call_reply,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted(DOCS.glob("*.md"))


# --- how the fake answers each example ------------------------------------------------------------


def slow_echo(pause: float) -> Handler:
    """The echo handler with a pause between parts, so that concurrent streams overlap."""

    def handler(request: RecordedRequest) -> Reply:
        return text_reply(echo_text(request.json["messages"][-1]["content"]), pause=pause)

    return handler


def slow_model(model: str, pause: float) -> Handler:
    """Echo, but ``model`` answers slowly: the other one wins a race."""

    def handler(request: RecordedRequest) -> Reply:
        if request.json.get("model") == model:
            return text_reply(echo_text(request.json["messages"][-1]["content"]), pause=pause)
        return echo_handler(request)

    return handler


def unknown_model(request: RecordedRequest) -> Reply:
    """What Groq answers to a model name it does not know; echo for the others."""
    model = request.json.get("model")
    if model == "no-such-model":
        return http_error_reply(
            404,
            message=f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return echo_handler(request)


async def nothing_left_open(fake: FakeGroq, *, closed_by_client: int = 0) -> None:
    with trio.fail_after(5):
        await fake.wait_idle()
    stats = fake.stats()
    assert stats.active_responses == 0
    assert stats.closed_by_client == closed_by_client


async def check_request_options(fake: FakeGroq) -> None:
    body = fake.requests[0].json
    assert "temperature" not in body  # None is not sent
    assert body["seed"] == 7
    assert body["service_tier"] == "auto"
    assert body["max_completion_tokens"] == 200
    assert body["stream_options"] == {"include_usage": True}
    assert body["stream"] is True
    assert "first_chunk_timeout" not in body  # a stream option, not a field
    await nothing_left_open(fake)


async def check_tool_calls(fake: FakeGroq) -> None:
    assert len(fake.requests) == 2
    assistant, tool = fake.requests[1].json["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["id"] == "call_fake0"
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == "call_fake0"
    assert json.loads(tool["content"]) == {"city": "Paris", "celsius": 18, "sky": "sunny"}


async def check_at_most(fake: FakeGroq, limit: int) -> None:
    await nothing_left_open(fake)
    assert 1 < fake.stats().max_active_responses <= limit


async def check_batch(fake: FakeGroq) -> None:
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths[:2] == [("POST", "/openai/v1/files"), ("POST", "/openai/v1/batches")]
    assert not any(path.endswith("/cancel") for _, path in paths)
    await nothing_left_open(fake)


async def check_race(fake: FakeGroq) -> None:
    assert len(fake.requests) == 2
    await nothing_left_open(fake, closed_by_client=1)  # the loser was cancelled and hung up


async def check_timeouts(fake: FakeGroq) -> None:
    await nothing_left_open(fake, closed_by_client=2)  # the stalled one and the abandoned one


async def check_retries(fake: FakeGroq) -> None:
    assert len(fake.requests) == 2
    await nothing_left_open(fake)


@dataclass(frozen=True)
class Scenario:
    """What the fake answers for one example, and what the run must show.

    Attributes:
        expect: substrings that stdout must contain.
        replies: pushed before the example starts; every one must be used.
        handler: answers after the replies (the echo handler by default).
        check: runs after ``main()``, with the server still up.
        virtual_seconds: the ``fail_after`` bound, in the mock clock's time: what the example
            waits for by design (a retry-after, a deadline) plus slack. It costs no real time.
        min_python: ``except*`` needs 3.11.
    """

    expect: tuple[str, ...]
    replies: tuple[Reply, ...] = ()
    handler: Handler | None = None
    check: Callable[[FakeGroq], Awaitable[None]] | None = None
    virtual_seconds: float = 10
    min_python: tuple[int, int] = (3, 10)


SCENARIOS: dict[str, Scenario] = {
    "stream_one": Scenario(
        expect=(
            echo_text("Explain structured concurrency briefly."),
            "finish reason: stop",
            "tokens: ",
            "request id: req_",
            "time to first chunk: ",
        ),
        check=nothing_left_open,
    ),
    "request_options": Scenario(
        expect=(
            echo_text("Name three prime numbers."),
            "model: llama-3.1-8b-instant",
            "total tokens: ",
        ),
        check=check_request_options,
    ),
    "tool_calls": Scenario(
        replies=(
            tool_call_reply([("get_weather", '{"city": "Paris"}')]),
            text_reply("It is 18°C and sunny in Paris."),
        ),
        expect=(
            "finish reason: tool_calls; 1 tool call(s)",
            "calling get_weather({'city': 'Paris'})",
            "It is 18°C and sunny in Paris.",
        ),
        check=check_tool_calls,
    ),
    "fanout_live": Scenario(
        handler=slow_echo(0.01),
        expect=(
            "[0] finished (stop)",
            "[2] +'said: '",
            "Why is the sky blue?\n  -> " + echo_text("Why is the sky blue?"),
            "Write a haiku about Trio.\n  -> " + echo_text("Write a haiku about Trio."),
        ),
        check=nothing_left_open,
    ),
    "gather_results": Scenario(
        handler=slow_echo(0.01),
        expect=tuple(
            f"{word}: {echo_text(f'Define {word} in ten words.')}"
            for word in ["latency", "throughput", "backpressure", "jitter"]
        ),
        check=lambda fake: check_at_most(fake, 2),
    ),
    "batch_run": Scenario(
        expect=(
            ": validating (0/4 done)",
            ": completed (4/4 done)",
            *(
                f"{word}: {echo_text(f'Define {word} in ten words.')}"
                for word in ["latency", "throughput", "backpressure", "jitter"]
            ),
        ),
        check=check_batch,
        virtual_seconds=300,
    ),
    "race_models": Scenario(
        handler=slow_model("llama-3.3-70b-versatile", pause=1.0),
        expect=(
            "llama-3.1-8b-instant won: " + echo_text("Give me a one-line definition of a nursery."),
        ),
        check=check_race,
    ),
    "collect_errors": Scenario(
        handler=unknown_model,
        expect=(
            "[1] failed: NotFoundError",
            "no-such-model: HTTP 404 (model_not_found)",
            "llama-3.1-8b-instant: " + echo_text("Say hello."),
            "llama-3.3-70b-versatile: " + echo_text("Say hello."),
        ),
        check=nothing_left_open,
    ),
    "fanout_except_star": Scenario(
        handler=unknown_model,
        expect=("unknown model, not retried: HTTP 404: The model `no-such-model` does not",),
        min_python=(3, 11),
    ),
    "shared_limiter": Scenario(
        handler=slow_echo(0.01),
        expect=("Ocean: 6 of 6 done", "Volcano: 6 of 6 done"),
        check=lambda fake: check_at_most(fake, 4),
    ),
    "stream_to_channel": Scenario(
        expect=(
            "llama-3.1-8b-instant: started, request id req_",
            "llama-3.3-70b-versatile: started, request id req_",
            "llama-3.1-8b-instant: " + echo_text("What is a channel?"),
            "llama-3.3-70b-versatile: " + echo_text("What is a channel?"),
        ),
        check=nothing_left_open,
    ),
    "timeouts": Scenario(
        replies=(stall_reply("Once upon a time"), text_reply("word " * 100, pause=1.0)),
        expect=(
            "Once upon a time\nno event for 2s (idle_timeout); kept 16 characters",
            "gave up after 60s with ",
        ),
        check=check_timeouts,
        virtual_seconds=100,
    ),
    "retries": Scenario(
        replies=(
            http_error_reply(429, retry_after=2),
            text_reply(
                "1, 2, 3, 4, 5.",
                headers=[
                    ("x-ratelimit-remaining-tokens", "0"),
                    ("x-ratelimit-reset-tokens", "7.5s"),
                ],
            ),
        ),
        expect=(
            "1, 2, 3, 4, 5.",
            "attempts: 2; waited before retries: 2.00s",
            "requests left today: 14399 of 14400",
            "tokens left this minute: 0 of 6000",
            "token window resets in: 7.5s",
            "waited 7.5s for the rate-limit window",
        ),
        check=check_retries,
        virtual_seconds=30,
    ),
    "errors_partial": Scenario(
        replies=(
            # Some text, then the connection is cut: not retried, the text was already shown.
            drop_reply("The first half of"),
        ),
        expect=(
            "APIConnectionError after 1 attempt(s)",
            "kept the partial answer: 'The first half of'",
        ),
    ),
    "testing_app": Scenario(expect=("all checks passed",), virtual_seconds=60),
    "testing_groq_rules": Scenario(expect=("all checks passed",), virtual_seconds=300),
}


def python_at_least(version: tuple[int, int]) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        sys.version_info < version,
        reason=f"needs Python {version[0]}.{version[1]} (except* syntax)",
    )


def load_example(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import ``docs/examples/<name>.py`` as a module (its ``__main__`` guard stays shut)."""
    module_name = f"_docs_example_{name}"
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=python_at_least(scenario.min_python))
        for name, scenario in sorted(SCENARIOS.items())
    ],
)
async def test_example_runs_against_the_fake(
    name: str,
    loopback_clock: MockClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = SCENARIOS[name]
    async with open_fake_groq(scenario.handler) as fake:
        fake.push(*scenario.replies)
        monkeypatch.setenv("GROQ_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("GROQ_BASE_URL", fake.base_url)
        monkeypatch.delenv("GROQ_CUSTOM_HEADERS", raising=False)
        module = load_example(name, monkeypatch)
        main: Callable[[], Awaitable[None]] = module.main
        with trio.fail_after(scenario.virtual_seconds):
            await main()
        if scenario.check is not None:
            await scenario.check(fake)
        assert fake.pending_replies == 0, "the example sent fewer requests than scripted"
        assert not fake.handler_errors
    out = capsys.readouterr().out
    for text in scenario.expect:
        assert text in out, f"{name}: {text!r} not in the output:\n{out}"


# --- the pages ----------------------------------------------------------------------------------

INCLUDE = re.compile(r"^[ \t]*```\{literalinclude\}[ \t]+(\S+)", re.MULTILINE)
# A fence may be indented (inside a list item); its closing fence has the same indentation.
FENCE = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
# Generated entries, and the few constants described by hand (autodoc cannot read the docstring of
# a re-exported value).
AUTODOC = re.compile(
    r"^\.\. (?:auto(?:class|function|exception)|py:data)::[ \t]+([\w.]+)", re.MULTILINE
)


def test_every_example_is_a_script_with_a_scenario() -> None:
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert {path.stem for path in scripts} == set(SCENARIOS)
    for path in scripts:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mains = [
            node
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef) and node.name == "main"
        ]
        assert len(mains) == 1, f"{path.name}: no module-level async def main()"
        assert not mains[0].args.args, f"{path.name}: main() must take no arguments"
        guard = tree.body[-1]
        assert isinstance(guard, ast.If), f"{path.name}: must end with the __main__ guard"
        assert ast.unparse(guard.test) == "__name__ == '__main__'", path.name
        assert any(
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "trio.run"
            and ast.unparse(node.args[0]) == "main"
            for node in ast.walk(guard)
        ), f"{path.name}: the __main__ guard must trio.run(main)"


def test_includes_resolve_and_every_example_is_included() -> None:
    included: set[Path] = set()
    for page in PAGES:
        for target in INCLUDE.findall(page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.name} includes {target}, which does not exist"
            included.add(path)
    missing = {path.resolve() for path in EXAMPLES.glob("*.py")} - included
    assert not missing, f"examples no page includes: {sorted(p.name for p in missing)}"


def fenced_blocks() -> list[Any]:
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            source = textwrap.dedent(match.group(2))
            marks = [python_at_least((3, 11))] if "except*" in source else []
            blocks.append(pytest.param(source, id=f"{page.name}:{line}", marks=marks))
    return blocks


@pytest.mark.parametrize("source", fenced_blocks())
def test_fenced_python_blocks_compile(source: str) -> None:
    # Snippets may use ``await`` and ``async with`` at the top level, as in a trio REPL.
    compile(source, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def test_the_api_reference_covers_every_public_name() -> None:
    documented = set(AUTODOC.findall((DOCS / "api.md").read_text(encoding="utf-8")))
    for module in (trio_groqstream, trio_groqstream.testing):
        wanted = {f"{module.__name__}.{name}" for name in module.__all__}
        assert not wanted - documented, f"missing from api.md: {sorted(wanted - documented)}"


def test_the_index_shows_the_readme_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^```sh\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    assert match is not None, "README.md has no sh block"
    assert match.group(1) in (DOCS / "index.md").read_text(encoding="utf-8")
