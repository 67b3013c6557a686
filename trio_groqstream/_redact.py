"""Secrets out of every message: a registry of the live API keys and their redaction.

Pure: no IO. Every live :class:`~trio_groqstream.GroqClient` registers its key
(:func:`register_secret`, reference-counted, dropped when the client is closed or collected), and
every :class:`~trio_groqstream.GroqStreamError` passes its text through :func:`redact` when it is
made. A key can show up in text in several forms, each redacted: as is, JSON-escaped (an error
body that echoes it), ``repr``'d as str or bytes (h11's "Illegal header value b'...'"), and
percent-encoded (a URL).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "REDACTED",
    "redact",
    "redact_value",
    "register_secret",
    "scrub_chain",
    "unregister_secret",
]

REDACTED = "<redacted>"
#: Shorter keys are placeholders for local servers ("EMPTY", "x"), not secrets: redacting them from
#: every message would mangle ordinary words. The client still redacts them from its own messages.
MIN_SECRET_LENGTH = 8

_secrets: Counter[str] = Counter()
_forms: list[str] = []  # every form of every registered secret, longest first
_lock = threading.Lock()


def _forms_of(secret: str) -> set[str]:
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return {form for form in forms if form}


def _rebuild() -> None:
    global _forms
    _forms = sorted({form for secret in _secrets for form in _forms_of(secret)}, key=len)[::-1]


def register_secret(secret: str) -> None:
    """Redact ``secret`` from every error made from now on (reference-counted)."""
    if len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets[secret] += 1
        if _secrets[secret] == 1:
            _rebuild()


def unregister_secret(secret: str) -> None:
    """Undo one :func:`register_secret` (a client was closed or collected)."""
    if len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if _secrets[secret] > 1:
            _secrets[secret] -= 1
            return
        _secrets.pop(secret, None)
        _rebuild()


def redact(text: str, *secrets: str) -> str:
    """``text`` with every form of the registered secrets (and of ``secrets``) replaced."""
    forms = _forms
    if secrets:
        extra = {form for secret in secrets if secret for form in _forms_of(secret)}
        forms = sorted(set(forms) | extra, key=len)[::-1]
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def redact_value(value: object) -> Any:
    """A parsed JSON value (an error body) with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def scrub_chain(exc: BaseException, *secrets: str) -> None:
    """Redact the string arguments of ``exc``'s chained causes and contexts (which tracebacks
    print), for exceptions raised by code that is not ours (httpx, h11...)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        with contextlib.suppress(AttributeError, TypeError):  # exotic exception types
            current.args = tuple(
                redact(arg, *secrets) if isinstance(arg, str) else arg for arg in current.args
            )
        current = current.__cause__ or current.__context__
