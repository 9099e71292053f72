"""Settings refuse heartbeat timings under which a live worker could look dead."""

from __future__ import annotations

import pytest

from asyncjobs import ConfigError, Settings


@pytest.mark.parametrize(("interval", "ttl"), [(2.0, 4.0), (0.4, 2.0), (0.1, 0.2), (2.0, 10.0)])
def test_a_heartbeat_of_at_most_half_the_ttl_is_accepted(interval: float, ttl: float) -> None:
    assert Settings(heartbeat_interval=interval, heartbeat_ttl=ttl).heartbeat_ttl == ttl


@pytest.mark.parametrize(("interval", "ttl"), [(3.0, 4.0), (2.01, 4.0), (4.0, 4.0), (5.0, 4.0), (0.0, 1.0)])
def test_a_heartbeat_slower_than_half_the_ttl_is_refused(interval: float, ttl: float) -> None:
    with pytest.raises(ConfigError, match="heartbeat_interval .* at most half of heartbeat_ttl"):
        Settings(heartbeat_interval=interval, heartbeat_ttl=ttl)
