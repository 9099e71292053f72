"""asyncjobs beside the peer queues: the same workloads, runs interleaved, medians with min and max.

    nox -s bench_peers                     # makes the virtualenvs, then runs this
    python -m benchmarks.peers --venvs DIR [--runs 3] [--jobs 20000] [--systems asyncjobs,arq,...]
                               [--results DIR]

Each peer runs from ``DIR/<name>/bin/python`` (its pins: ``benchmarks/peers/requirements``);
asyncjobs runs from this interpreter. BullMQ's driver runs from this interpreter too (it needs
only the standard library), its producer and worker in Node, from ``benchmarks/peers/node``
(pinned by its ``package-lock.json``, installed here with ``npm ci``; left out, with a note,
where ``node`` or ``npm`` is missing). One redis-server on a free loopback port serves every run.
Writes ``benchmarks/results/peers.md`` and ``peers.json`` (or into ``--results DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import redis.asyncio as aredis

from asyncjobs.server import RedisServer
from benchmarks import ceiling
from benchmarks.peers.report import markdown

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
NODE_DIR = ROOT / "benchmarks" / "peers" / "node"
SYSTEMS = ["asyncjobs", "arq", "saq", "streaq", "taskiq", "rq", "dramatiq", "celery", "bullmq"]
IN_THIS_PYTHON = {"asyncjobs", "bullmq"}


def flat(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def node_ready() -> bool:
    """BullMQ's packages in ``benchmarks/peers/node``: ``npm ci`` unless its install is newer than
    the lock file. False, with a note, where Node or npm is missing or the install fails."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        print(f"bullmq left out: {' and '.join(missing)} not found", file=sys.stderr, flush=True)
        return False
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return True
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode:
        print(f"bullmq left out: npm ci failed:\n{proc.stderr[-3000:]}", file=sys.stderr, flush=True)
        return False
    return True


def drive(
    python: str, system: str, url: str, args: argparse.Namespace, root: Path = ROOT
) -> dict[str, Any] | None:
    """One run of the driver in ``python`` (from the checkout ``root``)."""
    proc = subprocess.run(
        [python, "-m", "benchmarks.peers.driver", system, url, "--jobs", str(args.jobs),
         "--latency-jobs", str(args.latency_jobs)],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
        timeout=1800,
    )
    if proc.returncode:  # reported, and left out of this run's figures
        print(f"{system} failed:\n{proc.stderr[-3000:]}", file=sys.stderr, flush=True)
        return None
    return flat(json.loads(proc.stdout.splitlines()[-1]))


async def lpush_loop(url: str, n: int) -> tuple[float, float]:
    """A raw loop of one LPUSH per call (redis-py asyncio, hiredis): the bound for ``.delay()``,
    in jobs/s and in Redis CPU per call (µs: what any one-at-a-time enqueue costs Redis at least,
    its request read, run and reply written)."""
    client = aredis.Redis.from_url(url)
    payload = b"x" * 80

    async def redis_cpu() -> float:
        info = await client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    cpu = await redis_cpu()
    began = time.perf_counter()
    for _ in range(n):
        await client.lpush("raw:{q}:pending", payload)
    rate = n / (time.perf_counter() - began)
    cpu_us = (await redis_cpu() - cpu) * 1e6 / n
    await client.flushall()
    await client.aclose()
    return rate, cpu_us


async def bounds(url: str, n: int) -> dict[str, float]:
    rate, cpu_us = await lpush_loop(url, n)
    return {
        "lpush_one_jobs_per_s": rate,
        "lpush_one_redis_us_per_call": cpu_us,
        "ceiling_plain_jobs_per_s": await ceiling.plain(url, n),
        "ceiling_pipelined_jobs_per_s": await ceiling.pipelined(url, n),
    }


def ratios(ours: dict[str, Any], bound: dict[str, float]) -> dict[str, float]:
    """asyncjobs's figures as fractions of the bounds measured in the same round."""
    return {
        "one_vs_lpush": ours["enqueue_one_jobs_per_s"] / bound["lpush_one_jobs_per_s"],
        "drain_vs_ceiling": ours["drain_jobs_per_s"] / bound["ceiling_plain_jobs_per_s"],
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    keys = {k for run in runs for k, v in run.items() if isinstance(v, (int, float))}
    return {
        k: {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
        for k in sorted(keys)
        if (vals := [run[k] for run in runs if k in run])
    }


def server_info(url: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        client = aredis.Redis.from_url(url, decode_responses=True)
        info = await client.info("server")
        config = await client.config_get("appendonly")
        config.update(await client.config_get("save"))
        config.update(await client.config_get("maxmemory-policy"))
        await client.aclose()
        return {"version": f"{info['redis_version']}", "mode": info["redis_mode"], **config}
    return anyio.run(read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venvs", type=Path, default=ROOT / ".nox" / "peers")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where peers.md and peers.json go (a short trial: elsewhere)")
    args = parser.parse_args()
    systems = args.systems.split(",")
    if "bullmq" in systems and not node_ready():
        systems.remove("bullmq")
    pythons = {s: sys.executable if s in IN_THIS_PYTHON else str(args.venvs / s / "bin" / "python")
               for s in systems}
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in [*systems, "bounds"]}
    server = RedisServer().start()
    try:
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
                       f"{platform.release()}",
            "python": platform.python_version(),
            "server": {"binary": server.binary, **server_info(server.url)},
            "jobs": args.jobs, "latency_jobs": args.latency_jobs, "runs": args.runs,
        }
        for run in range(args.runs):
            # the bounds just before asyncjobs's run: this VM's speed drifts over minutes, so
            # each ratio to a bound is taken within one round, and the report gives their median
            bound = anyio.run(bounds, server.url, args.jobs)
            runs["bounds"].append(bound)
            for system in systems:  # interleaved: A B C ... A B C ...
                began = time.monotonic()
                figures = drive(pythons[system], system, server.url, args)
                if figures is not None:
                    runs[system].append(figures | (ratios(figures, bound) if system == "asyncjobs" else {}))
                print(f"run {run + 1}/{args.runs} {system}: {time.monotonic() - began:.0f} s", flush=True)
    finally:
        server.cleanup()
    results = {
        **meta,
        "systems": {s: {"version": runs[s][0]["version"], "settings": runs[s][0]["settings"],
                        "runs": len(runs[s]), **summarise(runs[s])} for s in systems if runs[s]},
        "bounds": summarise(runs["bounds"]),
        "raw": runs,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "peers.json").write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    (args.results / "peers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
