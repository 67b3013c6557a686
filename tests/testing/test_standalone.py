"""``python -m trio_groqstream.testing``: a fake in a process of its own, stopped by a signal."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
from functools import partial

import httpx
import pytest
import trio

from trio_groqstream.testing import CHAT_COMPLETIONS_PATH, FAKE_API_KEY, FakeGroq
from trio_groqstream.testing._standalone import build_parser, main, serve

from ._support import CHAT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


async def read_lines(stream: trio.abc.ReceiveStream, count: int) -> list[str]:
    data = b""
    while data.count(b"\n") < count:
        chunk = await stream.receive_some(4096)
        assert chunk, f"the fake exited early, after printing {data!r}"
        data += chunk
    return data.decode().splitlines()[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serves_until_a_signal_then_exits_cleanly(signum: signal.Signals) -> None:
    port = free_port()
    command = [sys.executable, "-m", "trio_groqstream.testing", "--port", str(port)]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    [*command, "--requests-per-minute", "1"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                )
            )
            assert process.stdout is not None
            lines = await read_lines(process.stdout, 2)
            assert lines == [
                f"GROQ_BASE_URL=http://127.0.0.1:{port}",
                f"GROQ_API_KEY={FAKE_API_KEY}",
            ]
            base_url = lines[0].partition("=")[2]
            headers = {"authorization": f"Bearer {FAKE_API_KEY}"}
            async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
                first = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
                second = await http.post(CHAT_COMPLETIONS_PATH, json=CHAT)
            # A client that hangs mid-request must not keep the fake from stopping.
            async with await trio.open_tcp_stream("127.0.0.1", port) as hanging:
                await hanging.send_all(b"POST /openai/v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
                process.send_signal(signum)
                assert await process.wait() == 0
                try:
                    left = await hanging.receive_some(100)
                except trio.BrokenResourceError:  # a reset: the fake had unread bytes
                    left = b""
                assert left == b""  # closed by the fake on its way out
            assert process.stderr is not None
            errors = (await process.stderr.receive_some(65536)).decode()
    assert first.status_code == 200
    assert second.status_code == 429  # the limit holds across the process's requests
    assert signal.Signals(signum).name in errors
    assert "Traceback" not in errors


def test_a_taken_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--port", "70000"], ["--port", "x"], ["--requests-per-minute", "0"], ["--minute", "-1"]],
)
def test_a_bad_command_line_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "expected" in capsys.readouterr().err


async def test_serve_in_process_with_options() -> None:
    argv = ["--model", "my-model", "--no-validate", "--no-auth", "--api-key", "k"]
    options = build_parser().parse_args([*argv, "--tokens-per-day", "5", "--day", "2"])
    out = io.StringIO()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            fake: FakeGroq = await nursery.start(partial(serve, options, out=out))
            async with httpx.AsyncClient(base_url=fake.base_url) as http:
                listed = await http.get("/openai/v1/models")
                anything = await http.post(
                    CHAT_COMPLETIONS_PATH, json={"model": "my-model", "messages": "x"}
                )
            nursery.cancel_scope.cancel()
    assert out.getvalue().splitlines() == [f"GROQ_BASE_URL={fake.base_url}", "GROQ_API_KEY=k"]
    assert [m["id"] for m in listed.json()["data"]] == ["my-model"]
    assert anything.status_code == 200
    assert fake.rate_limits is not None
    assert (fake.rate_limits.tokens_per_day, fake.rate_limits.day) == (5, 2.0)


def test_the_module_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_groqstream.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "GROQ_BASE_URL" in result.stdout
    assert "--tokens-per-minute" in result.stdout
