"""The public surface: one door, every name documented, nothing private leaking."""

from __future__ import annotations

import inspect
import subprocess
import sys

import trio_groqstream as tgs


def test_all_is_exactly_the_public_names() -> None:
    public = {
        name
        for name in dir(tgs)
        if not name.startswith("_") and not inspect.ismodule(getattr(tgs, name))
    }
    assert set(tgs.__all__) == public | {"__version__"}
    assert len(tgs.__all__) == len(set(tgs.__all__))


def test_every_export_is_documented() -> None:
    for name in tgs.__all__:
        obj = getattr(tgs, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        assert obj.__doc__, f"{name} has no docstring"


def test_every_error_derives_from_the_base() -> None:
    errors = [getattr(tgs, name) for name in tgs.__all__ if name.endswith(("Error", "Timeout"))]
    assert len(errors) > 15
    for error in errors:
        assert issubclass(error, tgs.GroqStreamError), error
    assert issubclass(tgs.APITimeoutError, tgs.APIConnectionError)
    assert issubclass(tgs.IncompleteStreamError, tgs.StreamProtocolError)


def test_root_does_not_import_testing() -> None:
    code = "import sys, trio_groqstream; print('trio_groqstream.testing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
