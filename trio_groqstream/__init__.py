"""Trio-native streaming client for Groq's chat completions (placeholder, being built)."""

from ._version import __version__ as __version__
