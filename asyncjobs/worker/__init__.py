"""The worker pool."""

from .worker import Worker

__all__ = ["Worker"]
