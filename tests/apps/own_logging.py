"""The app of the test that a user's own logging configuration wins over ``--log-format``:
the tasks of ``observed``, and a ``logging.basicConfig`` of its own, made at import."""

from __future__ import annotations

import logging

from tests.apps.observed import queue

logging.basicConfig(level=logging.INFO, format="own-format %(levelname)s %(name)s: %(message)s")

__all__ = ["queue"]
