"""The context a task may ask for with a parameter annotated ``Context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a running job knows about itself.

    ``state`` is the dict that ``@queue.on_startup`` hooks filled (shared clients, pools).
    """

    job_id: str
    task: str
    attempt: int
    queue: str
    worker_id: str
    state: dict[str, Any] = field(default_factory=dict)
