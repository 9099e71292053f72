"""The markdown table of a ``python -m benchmarks.peers`` run, and its targets checked."""

from __future__ import annotations

from typing import Any

COLUMNS = [
    ("enqueue_one_jobs_per_s", "W1 enqueue one at a time, jobs/s", "{:,.0f}"),
    ("enqueue_one_redis_us_per_job", "W1 one at a time, Redis µs / job", "{:.0f}"),
    ("enqueue_at_once_jobs_per_s", "W1 50 producers, jobs/s", "{:,.0f}"),
    ("enqueue_at_once_redis_us_per_job", "W1 50 producers, Redis µs / job", "{:.0f}"),
    ("enqueue_bulk_jobs_per_s", "W1 bulk enqueue, jobs/s", "{:,.0f}"),
    ("drain_jobs_per_s", "W2 drain, jobs/s", "{:,.0f}"),
    ("worker_cpu_s_per_1000_jobs", "W2 worker CPU s / 1,000 jobs", "{:.2f}"),
    ("redis_cpu_s_per_1000_jobs", "W2 redis CPU s / 1,000 jobs", "{:.2f}"),
    ("pickup_ms.p50", "W3 start p50 ms", "{:.2f}"),
    ("pickup_ms.p99", "W3 start p99 ms", "{:.2f}"),
    ("end_to_end_ms.p50", "W3 result p50 ms", "{:.2f}"),
    ("end_to_end_ms.p99", "W3 result p99 ms", "{:.2f}"),
    ("sleep_jobs_wall_s", "W4 2,000 × sleep(0.05) @200, s", "{:.2f}"),
    ("redis_bytes_per_pending_job", "W5 Redis bytes / pending job", "{:,.0f}"),
    ("stored_bytes_one_job", "W5 bytes stored for one job", "{:,.0f}"),
    ("lookup_drain_jobs_per_s", "W6 drain, a Redis GET a job, jobs/s", "{:,.0f}"),
    ("lookup_worker_cpu_s_per_1000_jobs", "W6 worker CPU s / 1,000 jobs", "{:.2f}"),
    ("echo_drain_jobs_per_s", "W7 drain, 20 KB in and out, jobs/s", "{:,.0f}"),
    ("echo_worker_cpu_s_per_1000_jobs", "W7 worker CPU s / 1,000 jobs", "{:.2f}"),
]


def cell(figure: dict[str, float] | None, fmt: str) -> str:
    if figure is None:
        return "n/a"
    spread = f"{fmt.format(figure['min'])}–{fmt.format(figure['max'])}"
    return f"**{fmt.format(figure['median'])}** <sub>{spread}</sub>"


def targets(results: dict[str, Any]) -> list[tuple[str, bool]]:
    systems = results["systems"]
    ours = systems["asyncjobs"]
    peers = {name: s for name, s in systems.items() if name != "asyncjobs"}
    python_peers = {name: s for name, s in peers.items() if name != "bullmq"}
    def med(figures: dict[str, Any], key: str) -> float:
        return float(figures[key]["median"]) if key in figures else float("nan")

    checks: list[tuple[str, bool]] = []
    if python_peers:
        best = max(python_peers, key=lambda n: med(python_peers[n], "drain_jobs_per_s"))
        ratio = med(ours, "drain_jobs_per_s") / med(python_peers[best], "drain_jobs_per_s")
        checks.append((f"W2 drain ≥ 3× the fastest Python peer ({best}): {ratio:.1f}×",
                       ratio >= 3))
    if "bullmq" in peers:
        bullmq = peers["bullmq"]
        ratio = med(ours, "drain_jobs_per_s") / med(bullmq, "drain_jobs_per_s")
        checks.append((f"W2 drain ≥ 1.5× BullMQ's: {ratio:.2f}×", ratio >= 1.5))
        mine, theirs = redis_us_per_job(ours), redis_us_per_job(bullmq)
        floor = results.get("bounds", {}).get("lpush_one_redis_us_per_call")
        floor_text = f"; a bare LPUSH a call: {floor['median']:.0f} µs" if floor else ""
        checks.append((f"Redis CPU per job, enqueue (one at a time) plus run, ≤ 0.5× BullMQ's: "
                       f"{mine:.0f} vs {theirs:.0f} µs ({mine / theirs:.2f}×{floor_text})",
                       mine <= 0.5 * theirs))
    if peers:
        fastest_one = max(med(p, "enqueue_one_jobs_per_s") for p in peers.values())
        checks.append((f"W1 one at a time faster than every peer: {med(ours, 'enqueue_one_jobs_per_s'):,.0f}"
                       f" vs {fastest_one:,.0f} jobs/s", med(ours, "enqueue_one_jobs_per_s") > fastest_one))
        leanest = min(med(p, "redis_bytes_per_pending_job") for p in peers.values())
        checks.append((f"W5 fewest bytes per pending job: {med(ours, 'redis_bytes_per_pending_job'):,.0f}"
                       f" vs {leanest:,.0f}", med(ours, "redis_bytes_per_pending_job") < leanest))
        cheapest = min(med(p, "worker_cpu_s_per_1000_jobs") for p in peers.values())
        checks.append((f"lowest worker CPU per job: {med(ours, 'worker_cpu_s_per_1000_jobs'):.2f}"
                       f" vs {cheapest:.2f} s / 1,000", med(ours, "worker_cpu_s_per_1000_jobs") < cheapest))
    worker = med(ours, "worker_cpu_s_per_1000_jobs")
    checks.append((f"W2 worker CPU ≤ 0.035 s / 1,000 jobs: {worker:.3f}", worker <= 0.035))
    at_once = med(ours, "enqueue_at_once_redis_us_per_job")
    checks.append((f"W1 50 producers: Redis CPU ≤ 25 µs a job: {at_once:.0f}", at_once <= 25))
    for key, what in (("lookup_drain_jobs_per_s", "W6 (a Redis GET a job)"),
                      ("echo_drain_jobs_per_s", "W7 (20 KB in and out)")):
        # reported beside BullMQ and the fastest Python peer
        python = {name: med(p, key) for name, p in python_peers.items() if key in p}
        shown = [f"{med(ours, key):,.0f} jobs/s"]
        if "bullmq" in peers and key in peers["bullmq"]:
            shown.append(f"BullMQ {med(peers['bullmq'], key):,.0f}")
        if python:
            best = max(python, key=lambda name: python[name])
            shown.append(f"{best} {python[best]:,.0f}")
        checks.append((f"{what} drain reported beside BullMQ and the fastest Python peer: "
                       + ", ".join(shown), len(shown) == 3))
    # ratios to the bounds: each round's own, measured beside it; their median
    plain = med(ours, "drain_vs_ceiling")
    checks.append((f"W2 drain ≥ 80% of the unbatched ceiling loop: {plain:.0%}", plain >= 0.8))
    lpush = med(ours, "one_vs_lpush")
    checks.append((f"W1 one at a time ≥ 70% of a raw LPUSH loop: {lpush:.0%}", lpush >= 0.7))
    bulk = med(ours, "enqueue_bulk_jobs_per_s")
    checks.append((f"W1 bulk ≥ 100,000 jobs/s: {bulk:,.0f}", bulk >= 100_000))
    start50, start99 = med(ours, "pickup_ms.p50"), med(ours, "pickup_ms.p99")
    checks.append((f"W3 start p50 < 1 ms and p99 < 5 ms: {start50:.2f} / {start99:.2f}",
                   start50 < 1 and start99 < 5))
    extra = med(ours, "end_to_end_ms.p50") - start50
    checks.append((f"W3 result seen within 1 ms of the start (p50): +{extra:.2f} ms", extra <= 1))
    wall = med(ours, "sleep_jobs_wall_s")
    checks.append((f"W4 within 1.3× of ideal (0.65 s): {wall:.2f} s", wall <= 0.65))
    return checks


def redis_us_per_job(figures: dict[str, Any]) -> float:
    """Redis CPU µs per job: W1's enqueue, one at a time, and W2's run."""
    enqueue = float(figures["enqueue_one_redis_us_per_job"]["median"])
    return enqueue + float(figures["redis_cpu_s_per_1000_jobs"]["median"]) * 1000


def markdown(results: dict[str, Any]) -> str:
    server = results["server"]
    lines = [
        f"{results['date']}: {results['machine']}, Python {results['python']}, Redis "
        f"{server['version']} (appendonly {server['appendonly']}), {results['jobs']:,} jobs, "
        f"{results['runs']} interleaved runs: **median** <sub>min–max</sub>",
        "",
        "| system | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name, figures in results["systems"].items():
        missing = results["runs"] - figures["runs"]
        failed = f" ({missing} of {results['runs']} runs failed)" if missing else ""
        lines.append(f"| {name} {figures['version']}{failed} | "
                     + " | ".join(cell(figures.get(key), fmt) for key, _, fmt in COLUMNS) + " |")
    bounds = results["bounds"]
    lines += [
        "",
        "Bounds on the same server: a raw loop of one LPUSH per call "
        f"{cell(bounds['lpush_one_jobs_per_s'], '{:,.0f}')} jobs/s, Redis CPU "
        f"{cell(bounds.get('lpush_one_redis_us_per_call'), '{:,.0f}')} µs a call; "
        "the ceiling loop (BLMOVE, then one Lua ack per job), 32 consumers "
        f"{cell(bounds['ceiling_plain_jobs_per_s'], '{:,.0f}')}, "
        f"pipelined {cell(bounds['ceiling_pipelined_jobs_per_s'], '{:,.0f}')} jobs/s.",
        "",
        "| system | settings |",
        "|---|---|",
        *(f"| {name} | {figures['settings']} |" for name, figures in results["systems"].items()),
        "",
        "Targets:",
        "",
        *(f"- [{'x' if ok else ' '}] {text}" for text, ok in targets(results)),
    ]
    return "\n".join(lines)
