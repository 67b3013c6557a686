"""Developer sessions: ``nox -s tests lint typecheck`` (what CI runs), ``docs``, ``bench``.

CI runs ``.ci/run``; these sessions are the same commands in isolated virtualenvs.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, with branch coverage (the README's test command)."""
    session.install("-e", ".[test,compat]")
    session.run(
        "pytest",
        "--cov=trio_groqstream",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=85",
        *session.posargs,
    )


@nox.session(python=PYTHONS)
def tests_all(session: nox.Session) -> None:
    """The test suite on every supported Python that is installed."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff format --check and ruff check."""
    session.install("ruff>=0.6")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and this file."""
    session.install("-e", ".[lint]")
    session.run("mypy", "--strict")


@nox.session
def soak(session: nox.Session) -> None:
    """Long randomised cancellation and fan-out runs, and peak memory against hostile servers
    (not in CI)."""
    session.install("-e", ".[test]")
    session.env["TRIO_GROQSTREAM_SOAK"] = "20"
    session.run(
        "pytest",
        "tests/test_stream.py::test_hundreds_of_abandoned_streams_leave_nothing_open",
        "tests/test_fanout.py::test_random_cancellation_leaves_nothing_behind",
        "tests/test_soak_bounds.py",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the official SDK and the floor; see bench/README.md."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    session.install("-e", ".[docs]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
