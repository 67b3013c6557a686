"""The fake's model catalogue: which models exist, what ``GET /openai/v1/models`` lists, and the
errors for a model that does not exist or was retired.

The default list is Groq's chat models as its models page showed them in 2025-2026 (production
models and systems, then the preview models a free account can call); tests that need other
names pass their own. Context windows and output limits are the documented ones; the fake uses
them to refuse a prompt longer than the window (``context_length_exceeded``) and to cap
``max_completion_tokens``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DECOMMISSIONED_MODELS", "DEFAULT_MODELS", "FakeModel", "catalogue"]

_CREATED = 1693721698  # the models endpoint's "created" for Groq's older models


@dataclass(frozen=True)
class FakeModel:
    """One model the fake serves.

    Attributes:
        id: The name requests use (``"llama-3.3-70b-versatile"``).
        owned_by: Shown by ``GET /openai/v1/models`` (``"Meta"``, ``"OpenAI"``, ...).
        context_window: Prompt plus answer, in tokens; a longer prompt gets Groq's 400
            ``context_length_exceeded``.
        max_completion_tokens: The most a request may ask to generate.
        reasoning: A reasoning model (its default answers carry ``reasoning``).
    """

    id: str
    owned_by: str = "Groq"
    context_window: int = 131072
    max_completion_tokens: int = 32768
    reasoning: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"a model id must be a non-empty string, not {self.id!r}")

    def as_json(self) -> dict[str, Any]:
        """The model object of ``GET /openai/v1/models`` (Groq's fields, in its order)."""
        return {
            "id": self.id,
            "object": "model",
            "created": _CREATED,
            "owned_by": self.owned_by,
            "active": True,
            "context_window": self.context_window,
            "public_apps": None,
            "max_completion_tokens": self.max_completion_tokens,
        }


DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel("llama-3.1-8b-instant", "Meta", 131072, 131072),
    FakeModel("llama-3.3-70b-versatile", "Meta", 131072, 32768),
    FakeModel("meta-llama/llama-guard-4-12b", "Meta", 131072, 1024),
    FakeModel("openai/gpt-oss-120b", "OpenAI", 131072, 65536, reasoning=True),
    FakeModel("openai/gpt-oss-20b", "OpenAI", 131072, 65536, reasoning=True),
    FakeModel("groq/compound", "Groq", 131072, 8192),
    FakeModel("groq/compound-mini", "Groq", 131072, 8192),
    FakeModel("meta-llama/llama-4-maverick-17b-128e-instruct", "Meta", 131072, 8192),
    FakeModel("meta-llama/llama-4-scout-17b-16e-instruct", "Meta", 131072, 8192),
    FakeModel("moonshotai/kimi-k2-instruct-0905", "Moonshot AI", 262144, 16384),
    FakeModel("qwen/qwen3-32b", "Alibaba Cloud", 131072, 40960, reasoning=True),
)
"""The models a fake serves unless told otherwise."""

DECOMMISSIONED_MODELS: frozenset[str] = frozenset(
    {
        "deepseek-r1-distill-llama-70b",
        "gemma-7b-it",
        "gemma2-9b-it",
        "llama-3.1-70b-versatile",
        "llama-3.2-11b-vision-preview",
        "llama-3.2-1b-preview",
        "llama-3.2-3b-preview",
        "llama-3.2-90b-vision-preview",
        "llama3-70b-8192",
        "llama3-8b-8192",
        "mixtral-8x7b-32768",
    }
)
"""Retired names: a request for one gets Groq's 400 ``model_decommissioned`` (recording 30)."""


def catalogue(models: Iterable[FakeModel | str] | None) -> dict[str, FakeModel]:
    """Models by id, from model objects or bare names (which get the default limits).

    Raises:
        TypeError: An entry is neither a :class:`FakeModel` nor a string.
    """
    if models is None:
        models = DEFAULT_MODELS
    if isinstance(models, (str, Mapping)):
        raise TypeError(f"models must be an iterable of FakeModel or str, not {models!r}")
    out: dict[str, FakeModel] = {}
    for model in models:
        if isinstance(model, str):
            model = FakeModel(model)
        elif not isinstance(model, FakeModel):
            raise TypeError(f"models takes FakeModel objects or names, not {model!r}")
        out[model.id] = model
    return out


def not_found_message(model: str) -> str:
    """Groq's words for an unknown model (recording 12, byte-exact)."""
    return f"The model `{model}` does not exist or you do not have access to it."


def decommissioned_message(model: str) -> str:
    """Groq's words for a retired model (recording 30)."""
    return (
        f"The model `{model}` has been decommissioned and is no longer supported. Please refer "
        "to https://console.groq.com/docs/deprecations for a recommendation on which model to "
        "use instead."
    )
