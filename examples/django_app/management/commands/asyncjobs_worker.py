"""``manage.py asyncjobs_worker [--concurrency N] [--burst]``: run a worker for the project's
queue (SIGINT/SIGTERM stop it gracefully)."""

from __future__ import annotations

import threading
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandParser

from asyncjobs import Worker

from ...tasks import queue


class Command(BaseCommand):
    help = "Run an asyncjobs worker for this project's queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=10)
        parser.add_argument("--burst", action="store_true",
                            help="Exit once the queue is empty and no job runs.")

    def handle(self, *args: Any, concurrency: int, burst: bool, **options: Any) -> None:
        main = threading.current_thread() is threading.main_thread()  # signals need the main thread
        worker = Worker(queue, concurrency=concurrency, burst=burst, handle_signals=main)
        anyio.run(worker.run)
        self.stdout.write(f"worker {worker.id} stopped")
