"""Rate limits: at most so many job starts per period, across every worker (a task's
``rate_limit=``, a queue's ``Settings(rate_limit=)``), kept in Redis by ``scripts/lib/rate.lua``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .errors import ConfigError


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` starts (of a task, or of a queue's jobs) per ``per`` (a timedelta or
    seconds), across every worker: ``RateLimit(100, per=timedelta(seconds=1))``, or ``"100/s"``
    (also ``/m``, ``/h``)."""

    count: int
    per: timedelta | float = timedelta(seconds=1)

    _UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}

    @classmethod
    def parse(cls, value: RateLimit | str, owner: str = "") -> RateLimit:
        if isinstance(value, str):
            count, _, unit = value.partition("/")
            if not count.strip().isdigit() or unit.strip() not in cls._UNITS:
                raise ConfigError(f"{owner}: rate_limit {value!r} must look like '100/s', "
                                  "'5/m' or '1000/h'")
            value = cls(int(count), timedelta(seconds=cls._UNITS[unit.strip()]))
        seconds = value.per.total_seconds() if isinstance(value.per, timedelta) else float(value.per)
        if isinstance(value.count, bool) or not isinstance(value.count, int) or value.count < 1 \
                or not seconds * 1000 >= 1:
            raise ConfigError(f"{owner}: a rate limit needs a positive count and period, "
                              f"not {value!r}")
        return value

    def wire(self) -> str:
        """As ``When.limits`` carries it: ``<count>/<period in ms>``."""
        seconds = self.per.total_seconds() if isinstance(self.per, timedelta) else float(self.per)
        return f"{self.count}/{round(seconds * 1000)}"
