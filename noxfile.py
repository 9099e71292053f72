"""Developer sessions: ``nox`` runs tests, lint and typecheck; ``nox -s demo`` and ``nox -s bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "asyncjobs", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".[server]")
    session.run("asyncjobs", "demo", "--jobs", "200")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[server]")
    session.run("python", "-m", "benchmarks", *session.posargs)
