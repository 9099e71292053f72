"""asyncjobs against another checkout of itself (and, optionally, peers), in one interleaved run.

    python -m benchmarks.compare BASELINE [--runs 3] [--jobs 20000] [--peers dramatiq,saq --venvs DIR]

``BASELINE`` is a checkout of asyncjobs with its own virtualenv in ``BASELINE/.venv`` (for example
``git worktree add ../baseline <commit>`` and a ``pip install -e`` there). Each round runs the
peer driver's workloads for the baseline, this checkout and each peer, one after the other (the
order reversed every other round), on one redis-server; the table gives the medians and this
checkout's figure as a share of the baseline's. This machine's speed drifts over minutes:
compare only figures of one interleaved run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from asyncjobs.server import RedisServer
from benchmarks.peers.__main__ import ROOT, drive

FIGURES = [
    ("enqueue_one_jobs_per_s", "W1 one at a time, jobs/s"),
    ("enqueue_bulk_jobs_per_s", "W1 bulk, jobs/s"),
    ("drain_jobs_per_s", "W2 drain, jobs/s"),
    ("worker_cpu_s_per_1000_jobs", "W2 worker CPU, s per 1,000 jobs"),
    ("redis_cpu_s_per_1000_jobs", "W2 Redis CPU, s per 1,000 jobs"),
    ("pickup_ms.p50", "W3 start p50, ms"),
    ("pickup_ms.p99", "W3 start p99, ms"),
    ("end_to_end_ms.p50", "W3 result p50, ms"),
    ("end_to_end_ms.p99", "W3 result p99, ms"),
    ("sleep_jobs_wall_s", "W4 wall, s"),
    ("redis_bytes_per_pending_job", "W5 bytes per pending job"),
    ("stored_bytes_one_job", "W5 bytes per finished job"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--peers", default="")
    parser.add_argument("--venvs", type=Path, default=ROOT / ".nox" / "peers")
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    columns: dict[str, tuple[str, str, Path]] = {
        "baseline": (str(baseline / ".venv" / "bin" / "python"), "asyncjobs", baseline),
        "this": (sys.executable, "asyncjobs", ROOT),
    }
    for peer in filter(None, args.peers.split(",")):
        columns[peer] = (str(args.venvs / peer / "bin" / "python"), peer, ROOT)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in columns}
    server = RedisServer().start()
    try:
        for run in range(args.runs):
            order = list(columns.items())
            if run % 2:  # ABBA: neither side always runs first, right after the other
                order.reverse()
            for name, (python, system, root) in order:
                figures = drive(python, system, server.url, args, root)
                if figures is not None:
                    runs[name].append(figures)
                print(f"run {run + 1}/{args.runs} {name} done", file=sys.stderr, flush=True)
    finally:
        server.cleanup()
    print("| figure | " + " | ".join(columns) + " | this / baseline |")
    print("|---" * (len(columns) + 2) + "|")
    for key, label in FIGURES:
        medians = {name: statistics.median(vals) if (vals := [r[key] for r in runs[name] if key in r])
                   else None for name in columns}
        cells = [f"{v:,.2f}" if v is not None and v < 100 else f"{v:,.0f}" if v is not None else "-"
                 for v in medians.values()]
        old, new = medians["baseline"], medians["this"]
        share = f"{new / old:.1%}" if old and new is not None else "-"
        print(f"| {label} | " + " | ".join(cells) + f" | {share} |")


if __name__ == "__main__":
    main()
