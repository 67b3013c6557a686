"""Part (a): decode only. The same reads through each client's bytes-to-typed-chunks path.

Every variant takes the list of reads and returns ``(chunks, text_len)``: the number of chunk
objects it produced and the total length of their ``choices[0].delta.content``, so the consumer's
work is the same everywhere and correctness is checked on every run. No network, no event loop:
each variant is a plain synchronous loop over in-memory reads.
"""

from __future__ import annotations

import codecs
import gc
import json
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from trio_groqstream import Accumulator, SSEDecoder
from trio_groqstream._wire import CHUNK_DECODER

from ._data import content_len

__all__ = ["VARIANTS", "Variant", "time_variant"]

Result = tuple[int, int]
Variant = Callable[[list[bytes]], Result]


# --- trio_groqstream ---------------------------------------------------------------------------


def _tgs(reads: list[bytes], *, accumulate: bool) -> Result:
    """What ``ChatStream``'s producer does per read (``_pump`` + ``_decode``).

    ``SSEDecoder.feed_payloads``, then per event the ``[DONE]`` and event-type checks,
    ``CHUNK_DECODER`` and the two in-stream error checks; with ``accumulate``, also what
    ``ChatStream.receive`` adds per chunk: ``Accumulator.add``.
    """
    decoder = SSEDecoder()
    decode = CHUNK_DECODER.decode
    acc = Accumulator()
    add = acc.add
    chunks = text = 0
    done = False
    payload: bytes | str
    for data in reads:
        for event in decoder.feed_payloads(data):
            if type(event) is bytes:  # a plain data event's payload, as the pump gets it
                payload = event
                if payload == b"[DONE]":
                    done = True
                    break
            else:
                assert not isinstance(event, bytes)
                payload = event.data
                if payload == "[DONE]":
                    done = True
                    break
                if event.event != "message":
                    continue
            chunk = decode(payload)
            if chunk.error is not None:
                raise AssertionError("unexpected in-stream error")
            x_groq = chunk.x_groq
            if x_groq is not None and x_groq.error is not None:
                raise AssertionError("unexpected x_groq.error")
            if accumulate:
                add(chunk)
            chunks += 1
            text += content_len(chunk)
        if done:
            break
    if accumulate and len(acc.snapshot().text) != text:
        raise AssertionError("the accumulator's text does not match the deltas")
    return chunks, text


def tgs_decode(reads: list[bytes]) -> Result:
    return _tgs(reads, accumulate=False)


def tgs_decode_acc(reads: list[bytes]) -> Result:
    return _tgs(reads, accumulate=True)


# --- the official SDK --------------------------------------------------------------------------


@cache
def _sdk_parts() -> tuple[Any, Any, Any, Any]:
    import groq
    import httpx
    from groq._streaming import SSEDecoder as GroqSSEDecoder
    from groq._utils import is_mapping
    from groq.types.chat import ChatCompletionChunk

    client = groq.Groq(api_key="bench", base_url="http://127.0.0.1:9", max_retries=0)
    response = httpx.Response(200, request=httpx.Request("POST", "http://127.0.0.1:9/"))
    process = client._process_response_data

    def per_event(data: object) -> Any:
        return process(data=data, cast_to=ChatCompletionChunk, response=response)

    return GroqSSEDecoder, is_mapping, per_event, client


def sdk_replicated(reads: list[bytes]) -> Result:
    """``groq._streaming.SSEDecoder().iter_bytes`` plus, per event, exactly the body of
    ``Stream.__stream__``: ``startswith("[DONE]")``, ``sse.json()`` (``json.loads``), the error
    check, and ``client._process_response_data`` (``construct_type`` into the pydantic
    ``ChatCompletionChunk``, as the SDK does with its default non-strict validation)."""
    decoder_cls, is_mapping, per_event, _client = _sdk_parts()
    chunks = text = 0
    for sse in decoder_cls().iter_bytes(iter(reads)):
        if sse.data.startswith("[DONE]"):
            break
        if sse.event is None:
            data = sse.json()
            if is_mapping(data) and data.get("error"):
                raise AssertionError("unexpected in-stream error")
            chunk = per_event(data)
            chunks += 1
            text += content_len(chunk)
    return chunks, text


def sdk_stream(reads: list[bytes]) -> Result:
    """The SDK's own ``groq.Stream`` over an in-memory ``httpx.Response``: the real object, so
    the replicated variant can be checked against it (it adds httpx's ``iter_bytes`` per read)."""
    import httpx
    from groq import Stream
    from groq.types.chat import ChatCompletionChunk

    client = _sdk_parts()[3]
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=iter(reads),
        request=httpx.Request("POST", "http://127.0.0.1:9/"),
    )
    chunks = text = 0
    stream = Stream(cast_to=ChatCompletionChunk, response=response, client=client)
    for chunk in stream:
        chunks += 1
        text += content_len(chunk)
    return chunks, text


# --- httpx-sse ---------------------------------------------------------------------------------


def httpx_sse_json(reads: list[bytes]) -> Result:
    """httpx-sse's path as ``EventSource.iter_sse`` runs it: ``iter_text`` (an incremental UTF-8
    decoder, as httpx's ``TextDecoder``), ``SSELineDecoder``, ``SSEDecoder.decode`` per line, then
    ``json.loads`` per event (httpx-sse's ``ServerSentEvent.json``)."""
    from httpx_sse._decoders import SSEDecoder as LineEventDecoder
    from httpx_sse._decoders import SSELineDecoder

    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = SSELineDecoder()
    events = LineEventDecoder()
    loads = json.loads
    chunks = text = 0

    def all_lines() -> Iterator[str]:
        for data in reads:
            decoded = text_decoder.decode(data)
            if decoded:
                yield from lines.decode(decoded)
        yield from lines.flush()

    for line in all_lines():
        sse = events.decode(line.rstrip("\n"))
        if sse is None:
            continue
        if sse.data == "[DONE]":
            break
        chunk = loads(sse.data)
        chunks += 1
        choices = chunk["choices"]
        if choices:
            content = choices[0]["delta"].get("content")
            if content:
                text += len(content)
    return chunks, text


# --- the floor ---------------------------------------------------------------------------------


def floor(reads: list[bytes]) -> Result:
    """The least work that still yields typed chunks: split on ``b"\\n\\n"``, strip ``data: ``,
    one typed msgspec decode (the library's own ``CHUNK_DECODER``, so the decode is identical and
    only the framing and plumbing differ). It assumes LF-only, one-line events: not a real SSE
    decoder, just the lower bound."""
    decode = CHUNK_DECODER.decode
    tail = b""
    chunks = text = 0
    for data in reads:
        if tail:
            data = tail + data
        events = data.split(b"\n\n")
        tail = events.pop()
        for event in events:
            payload = event[6:]
            if payload == b"[DONE]":
                return chunks, text
            chunk = decode(payload)
            chunks += 1
            text += content_len(chunk)
    return chunks, text


VARIANTS: dict[str, Variant] = {
    "floor": floor,
    "tgs": tgs_decode,
    "tgs+acc": tgs_decode_acc,
    "httpx-sse+json": httpx_sse_json,
    "sdk": sdk_replicated,
    "sdk-Stream": sdk_stream,
}

DESCRIPTIONS = {
    "floor": "split on b'\\n\\n' + typed msgspec decode (CHUNK_DECODER)",
    "tgs": "trio_groqstream: SSEDecoder.feed_payloads + CHUNK_DECODER + checks",
    "tgs+acc": "trio_groqstream as above + Accumulator.add",
    "httpx-sse+json": "httpx-sse line/event decoders + json.loads",
    "sdk": "groq SDK: SSEDecoder.iter_bytes + json.loads + construct_type",
    "sdk-Stream": "groq SDK: the real groq.Stream over an in-memory httpx.Response",
}


def time_variant(fn: Variant, reads: list[bytes]) -> tuple[float, Result]:
    """Seconds (CPU time of this process) for one pass, after a collection so that garbage from
    the previous variant is not charged to this one."""
    gc.collect()
    start = time.process_time()
    result = fn(reads)
    return time.process_time() - start, result
