"""Test your Groq streaming code against a fake Groq: scripted streams, errors and network faults.

Two fakes answer the same scripts:

* :func:`open_fake_groq` runs a real HTTP/1.1 server on ``127.0.0.1`` (a free port). Use it for
  anything about connections: timeouts, resets, keep-alive, and proving that a cancelled stream
  closed its connection (``stats().closed_by_client``, :meth:`FakeGroq.wait_idle`).
* :class:`MockGroq` (or :func:`mock_transport`) answers in-process through
  ``httpx.MockTransport``: no sockets, for tests of what the client makes of the bytes.

Out of the box the server behaves like Groq: it refuses what Groq refuses (400
``invalid_request_error`` naming the field, 404 ``model_not_found`` for a model not in its
catalogue, 413 for an oversized body), serves ``GET /openai/v1/models``, and, given
:class:`FakeRateLimits`, enforces request and token limits with Groq's headers, 429 and 413.
``python -m trio_groqstream.testing --port N`` runs it in a process of its own.

Each valid request gets the next reply given to ``push()``, then whatever the handler returns (by
default :func:`echo_handler`: ``"You said: <last user message>"``, as a stream or a
``chat.completion`` as the request asks, honouring tools, JSON mode and the token limit). A
:class:`Reply` is plain data, built by the scenario functions (``text_reply``,
``tool_call_reply``, ``http_error_reply``, ``drop_reply``, ``stall_reply``, ``replay_reply``, ...)
or by hand from bytes and the faults :class:`Pause`, :class:`Stall` and :class:`Drop`::

    import pytest
    import trio.testing
    from trio_groqstream.testing import FAKE_API_KEY, open_fake_groq, stall_reply, text_reply

    @pytest.fixture
    def clock() -> trio.testing.MockClock:
        # Skips real waits (Pause, stalls, timeouts) but not loopback IO in flight.
        return trio.testing.MockClock(autojump_threshold=0.02)

    async def test_my_app(clock):
        async with open_fake_groq() as fake:
            fake.push(text_reply("Hello there!"), stall_reply("Hel"))
            app = MyApp(base_url=fake.base_url, api_key=FAKE_API_KEY)
            assert await app.ask("hi") == "Hello there!"
            with pytest.raises(MyTimeout):  # the second answer stalls after "Hel"
                await app.ask("hi again")
            with trio.fail_after(5):
                await fake.wait_idle()  # the server has seen the client hang up
            assert fake.stats().closed_by_client == 1
            assert fake.requests[0].json["messages"][-1]["content"] == "hi"

The same script in-process, where no socket is needed::

    mock = MockGroq(replies=[drop_reply("Hel")])  # some text, then a network error
    app = MyApp(http_client=httpx.AsyncClient(transport=mock.transport), api_key="any")

The server's bytes follow what real Groq sends (see the recorded streams replayed by
:func:`replay_reply`): one SSE event per HTTP chunk, Groq's key order, ``x_groq`` ids equal to the
``x-request-id`` header, rate-limit headers, usage in the finish chunk. A ``MockClock`` with
autojump turns every :class:`Pause` and stall into an instant jump, so timeout tests take no real
time. With :class:`MockGroq` pytest-trio's ``autojump_clock`` is right; beside real sockets give the
clock a small ``autojump_threshold`` as above, or it may jump while loopback bytes are in flight.

The package root ``trio_groqstream`` does not import this module; it needs ``h11``
(``pip install trio-groqstream[testing]``).
"""

from ._answers import echo_handler as echo_handler
from ._answers import echo_text as echo_text
from ._batches import BatchTiming as BatchTiming
from ._batches import FakeBatches as FakeBatches
from ._batches import LineHandler as LineHandler
from ._catalogue import DECOMMISSIONED_MODELS as DECOMMISSIONED_MODELS
from ._catalogue import DEFAULT_MODELS as DEFAULT_MODELS
from ._catalogue import FakeModel as FakeModel
from ._chunks import DONE as DONE
from ._chunks import KEEPALIVE as KEEPALIVE
from ._chunks import sse_event as sse_event
from ._faults import drop_reply as drop_reply
from ._faults import eof_reply as eof_reply
from ._faults import headers_never_reply as headers_never_reply
from ._faults import http_error_reply as http_error_reply
from ._faults import keepalive_only_reply as keepalive_only_reply
from ._faults import non_sse_reply as non_sse_reply
from ._faults import stall_reply as stall_reply
from ._hostile import compression_bomb_reply as compression_bomb_reply
from ._hostile import contentless_flood_reply as contentless_flood_reply
from ._hostile import deep_json_reply as deep_json_reply
from ._hostile import held_open_reply as held_open_reply
from ._hostile import retry_after_reply as retry_after_reply
from ._hostile import used_up_window_reply as used_up_window_reply
from ._limits import FakeRateLimits as FakeRateLimits
from ._limits import go_duration as go_duration
from ._mock import MockGroq as MockGroq
from ._mock import mock_transport as mock_transport
from ._replay import replay_reply as replay_reply
from ._replies import Drop as Drop
from ._replies import Part as Part
from ._replies import Pause as Pause
from ._replies import Reply as Reply
from ._replies import Stall as Stall
from ._requests import CHAT_COMPLETIONS_PATH as CHAT_COMPLETIONS_PATH
from ._requests import FAKE_API_KEY as FAKE_API_KEY
from ._requests import MODELS_PATH as MODELS_PATH
from ._requests import Handler as Handler
from ._requests import RecordedRequest as RecordedRequest
from ._routes import Endpoint as Endpoint
from ._scenarios import in_stream_error_reply as in_stream_error_reply
from ._scenarios import reasoning_reply as reasoning_reply
from ._scenarios import text_reply as text_reply
from ._scenarios import tool_call_reply as tool_call_reply
from ._scenarios import trickle_reply as trickle_reply
from ._server import FakeGroq as FakeGroq
from ._server import ServerStats as ServerStats
from ._server import open_fake_groq as open_fake_groq

__all__ = [
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
    "compression_bomb_reply",
    "contentless_flood_reply",
    "deep_json_reply",
    "drop_reply",
    "echo_handler",
    "echo_text",
    "eof_reply",
    "go_duration",
    "headers_never_reply",
    "held_open_reply",
    "http_error_reply",
    "in_stream_error_reply",
    "keepalive_only_reply",
    "mock_transport",
    "non_sse_reply",
    "open_fake_groq",
    "reasoning_reply",
    "replay_reply",
    "retry_after_reply",
    "sse_event",
    "stall_reply",
    "text_reply",
    "tool_call_reply",
    "trickle_reply",
    "used_up_window_reply",
]
