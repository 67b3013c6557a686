"""The secrets registry: every form of a live key is redacted, and only while a client holds it."""

from __future__ import annotations

import gc
import json
from urllib.parse import quote, quote_plus

import httpx

import trio_groqstream as tgs
from trio_groqstream._redact import (
    redact,
    redact_value,
    register_secret,
    scrub_chain,
    unregister_secret,
)

ODD_KEY = "gsk_a\"b\\c/d+e%f'g"  # what escaping, repr and percent-encoding each change


def every_form(key: str) -> list[str]:
    return [
        key,
        json.dumps(key)[1:-1],
        json.dumps(key, ensure_ascii=False)[1:-1],
        repr(key)[1:-1],
        repr(key.encode())[2:-1],
        quote(key, safe=""),
        quote_plus(key, safe=""),
    ]


def test_every_form_of_a_given_key_is_redacted() -> None:
    text = " | ".join(every_form(ODD_KEY))
    redacted = redact(text, ODD_KEY)
    for form in every_form(ODD_KEY):
        assert form not in redacted
    assert redacted.count("<redacted>") == text.count("|") + 1


def test_registration_is_reference_counted() -> None:
    key = "gsk_counted_key_123"
    register_secret(key)
    register_secret(key)
    unregister_secret(key)
    assert redact(f"x {key}") == "x <redacted>"  # one holder left
    unregister_secret(key)
    assert redact(f"x {key}") == f"x {key}"
    register_secret("x")  # a placeholder key is not registered: it would mangle every message
    assert redact("x marks the spot") == "x marks the spot"
    unregister_secret("x")
    assert redact("x", "x") == "<redacted>"  # though a client still redacts it from its own


def test_a_client_registers_its_key_until_it_is_gone() -> None:
    client = tgs.GroqClient(api_key="gsk_only_while_alive")
    assert "gsk_only_while_alive" not in str(tgs.GroqStreamError("x gsk_only_while_alive"))
    del client
    gc.collect()
    assert "gsk_only_while_alive" in str(tgs.GroqStreamError("x gsk_only_while_alive"))


async def test_closing_a_client_unregisters_its_key_once() -> None:
    async with tgs.GroqClient(api_key="gsk_closed_client_key"):
        assert "<redacted>" in redact("gsk_closed_client_key")
    assert redact("gsk_closed_client_key") == "gsk_closed_client_key"


def test_values_and_chains() -> None:
    register_secret(ODD_KEY)
    try:
        body = {"error": {"message": f"bad {ODD_KEY}", ODD_KEY: [ODD_KEY, 1, None]}}
        assert ODD_KEY not in json.dumps(redact_value(body), ensure_ascii=False)
        outer = httpx.ConnectError(f"outer {ODD_KEY}")
        outer.__cause__ = ValueError(f"inner {ODD_KEY!r}")
        outer.__cause__.__context__ = outer  # a cycle must not loop forever
        scrub_chain(outer)
        assert str(outer) == "outer <redacted>"
        assert str(outer.__cause__) == "inner '<redacted>'"
    finally:
        unregister_secret(ODD_KEY)
