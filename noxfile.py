"""Developer sessions: ``nox`` runs tests (the unit and integration tiers), lint and typecheck.

``nox -s chaos`` (fault injection with real servers and worker processes), ``nox -s soak`` (the
long chaos run), ``nox -s docs`` (the documentation site, ``mkdocs build --strict``),
``nox -s demo``, ``nox -s screenshots`` (the dashboard's, into ``docs/screenshots``, with the
system's chromium), ``nox -s bench`` (asyncjobs alone) and ``nox -s bench_peers`` (beside the
peers).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def chaos(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "chaos", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "soak", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "asyncjobs", "tests", "benchmarks", "examples", "docs/snippets",
                "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".[server]")
    session.run("asyncjobs", "demo", "--jobs", "200")


@nox.session
def screenshots(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "asyncjobs.dashboard.screenshots", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[server,uvloop]")
    session.run("python", "-m", "benchmarks", *session.posargs)


PEERS = ["arq", "saq", "streaq", "taskiq", "rq", "dramatiq", "celery"]


@nox.session
def bench_peers(session: nox.Session) -> None:
    """Each peer in a virtualenv of its own, pinned by ``benchmarks/peers/requirements/<peer>.txt``;
    BullMQ in Node, from ``benchmarks/peers/node`` (the harness runs ``npm ci`` there)."""
    session.install("-e", ".[server,uvloop]")  # asyncjobs as its fast install runs
    venvs = Path(session.virtualenv.location).parent / "peers"
    for peer in PEERS:
        python = venvs / peer / "bin" / "python"
        if not python.exists():
            session.run("python", "-m", "venv", str(venvs / peer))
        session.run(str(python), "-m", "pip", "install", "-q", "-r",
                    f"benchmarks/peers/requirements/{peer}.txt", external=True)
    session.run("python", "-m", "benchmarks.peers", "--venvs", str(venvs), *session.posargs)
