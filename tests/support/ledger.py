"""The ledger of every execution: what the chaos app's tasks wrote, one file per worker process
(see ``chaos_app``), read back to count runs, find what a killed process held, and spot overlaps."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Ledger:
    starts: dict[str, list[tuple[int, int, float]]] = field(default_factory=lambda: defaultdict(list))
    ends: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def read(cls, folder: Path) -> Ledger:
        ledger = cls()
        for path in folder.glob("*.log"):
            for line in path.read_text().splitlines():
                parts = line.split()
                if parts[0] == "S" and len(parts) == 5:
                    ledger.starts[parts[1]].append((int(parts[2]), int(parts[3]), float(parts[4])))
                elif parts[0] == "E" and len(parts) == 4:
                    ledger.ends[parts[1]].append((int(parts[2]), float(parts[3])))
        return ledger

    def started(self) -> int:
        return sum(len(v) for v in self.starts.values())

    def completed(self) -> int:
        return sum(len(v) for v in self.ends.values())

    def in_flight(self, pid: int) -> set[str]:
        """Jobs that pid started and did not end (what it held when it died)."""
        return {
            job for job, runs in self.starts.items()
            for p, _, _ in runs if p == pid and not any(ep == pid for ep, _ in self.ends.get(job, ()))
        }

    def overlaps_within_a_process(self) -> int:
        """Runs of one job in one process that overlapped in time (a run's end is the first
        end after its start)."""
        count = 0
        for job, runs in self.starts.items():
            for pid in {p for p, _, _ in runs}:
                starts = sorted(t for p, _, t in runs if p == pid)
                ends = sorted(t for p, t in self.ends.get(job, ()) if p == pid)
                count += sum(1 for later, end in zip(starts[1:], ends, strict=False) if later < end)
        return count

    def overlaps(self) -> int:
        """Pairs of completed runs of one job on two processes that overlapped in time."""
        count = 0
        for job, ends in self.ends.items():
            runs = []
            for pid, end in ends:
                begin = max((t for p, _, t in self.starts[job] if p == pid and t <= end), default=end)
                runs.append((begin, end, pid))
            runs.sort()
            for (_, e1, p1), (b2, _, p2) in zip(runs, runs[1:], strict=False):
                if p1 != p2 and b2 < e1:
                    count += 1
        return count
