"""The worker pool."""

from .observer import JobObserver
from .worker import Worker

__all__ = ["JobObserver", "Worker"]
