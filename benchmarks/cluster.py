"""W2 drain on a Redis Cluster (3 masters, 3 replicas; a queue lives in one slot, so on one
master) against a single server, interleaved.

    python -m benchmarks.cluster [--jobs 20000] [--rounds 3] [--replicas 1] [--url redis+cluster://...]

Each round drains ``--jobs`` no-op jobs with one ``--burst`` worker process at concurrency
100 (W2), once on the single server and once on the cluster; the order alternates between
rounds. Both are started here on loopback (``--url``: an existing cluster instead, whose
nodes' CPU is then not read). Prints the medians, the ratio (cluster / single) and the Redis
CPU per 1,000 jobs: the single server's, and the busiest cluster master's (replication
included).
"""

from __future__ import annotations

import argparse
import statistics

import anyio
import redis

from asyncjobs.server import ClusterServers, RedisServer
from benchmarks.__main__ import bench_queue, burst


def _node_cpu(port: int) -> float:
    with redis.Redis(port=port, socket_timeout=5) as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def drain(url: str, n: int, ports: list[int]) -> tuple[float, float, float]:
    """Jobs/s, the worker's CPU seconds and the busiest node's Redis CPU seconds per 1,000 jobs
    of one drain (0 when ``ports`` is empty)."""
    queue = bench_queue(url)
    before = [_node_cpu(port) for port in ports]
    figures = await burst(url, queue, "noop", [()] * n, concurrency=100, cpu=_unread)
    after = [_node_cpu(port) for port in ports]
    await queue.aclose()
    busiest = max((b - a for a, b in zip(before, after, strict=True)), default=0.0)
    return n / figures["seconds"], figures["worker_cpu_s_per_1000"], busiest * 1000 / n


async def _unread() -> float:
    """Redis CPU is read per node around the whole call (enqueue and drain) instead."""
    return 0.0


async def main(args: argparse.Namespace) -> None:
    single = RedisServer().start()
    cluster = None if args.url else ClusterServers(replicas=args.replicas).start()
    url = args.url or (cluster.url if cluster else "")
    ports = [n.port for n in cluster.nodes] if cluster else []
    try:
        await drain(single.url, 2000, [single.port])  # warm-up
        await drain(url, 2000, ports)
        runs: dict[str, list[tuple[float, float, float]]] = {"single": [], "cluster": []}
        for i in range(args.rounds):
            order = ("single", "cluster") if i % 2 == 0 else ("cluster", "single")
            for kind in order:
                target = (single.url, [single.port]) if kind == "single" else (url, ports)
                runs[kind].append(await drain(target[0], args.jobs, target[1]))
        for kind, figures in runs.items():
            rates = [rate for rate, _, _ in figures]
            worker = statistics.median(w for _, w, _ in figures)
            cpu = statistics.median(c for _, _, c in figures)
            print(f"{kind:8} median {statistics.median(rates):,.0f} jobs/s (runs: "
                  f"{', '.join(f'{r:,.0f}' for r in rates)}); CPU s per 1,000 jobs: worker "
                  f"{worker:.3f}, Redis {cpu:.3f} (enqueue and drain; the busiest node)")
        ratio = (statistics.median(r for r, _, _ in runs["cluster"])
                 / statistics.median(r for r, _, _ in runs["single"]))
        print(f"cluster / single: {ratio:.1%}")
    finally:
        single.cleanup()
        if cluster is not None:
            cluster.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="an existing cluster's redis+cluster:// URL")
    parser.add_argument("--replicas", type=int, default=1, help="replicas per master (0: none)")
    anyio.run(main, parser.parse_args())
