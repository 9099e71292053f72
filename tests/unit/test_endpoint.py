"""Cluster and sentinel URLs are read in one place (``asyncjobs.endpoint``); a malformed one is
one ``ConfigError`` line, raised as soon as ``Settings`` (or a ``Queue``) is made."""

from __future__ import annotations

import pytest

from asyncjobs import ConfigError, Queue, Settings
from asyncjobs.endpoint import Endpoint, parse


def test_a_server_url_goes_to_redis_py_as_it_is() -> None:
    for url in ("redis://localhost:6379/0", "rediss://h:1/2", "unix:///tmp/r.sock?db=1"):
        assert parse(url) == Endpoint("server", url)


def test_cluster_urls() -> None:
    ep = parse("redis+cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002")
    assert (ep.kind, ep.nodes, ep.ssl) == (
        "cluster", (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)), False)
    ep = parse("rediss+cluster://app:s%40cret@h:7000/0")
    assert (ep.nodes, ep.username, ep.password, ep.ssl) == ((("h", 7000),), "app", "s@cret", True)
    assert parse("redis+cluster://:pw@h:1/").server_kwargs() == {"username": None, "password": "pw"}


def test_sentinel_urls() -> None:
    ep = parse("redis+sentinel://s1:26379,s2/mymaster/3")
    assert (ep.kind, ep.nodes, ep.service, ep.db) == (
        "sentinel", (("s1", 26379), ("s2", 26379)), "mymaster", 3)
    assert parse("redis+sentinel://s1/mymaster").db == 0


@pytest.mark.parametrize(("url", "message"), [
    ("redis+cluster://", "names no host"),
    ("redis+cluster://h:70000", "'70000' is not a port"),
    ("redis+cluster://h:x", "'x' is not a port"),
    ("redis+cluster://:1", "names no host"),
    ("redis+cluster://h:1/2", "a cluster has only database 0"),
    ("redis+cluster://h:1?ssl=true", "takes no ?options"),
    ("redis+sentinel://s1:26379", "must end in /<service name>[/<db>]"),
    ("redis+sentinel://s1:26379/mymaster/x", "must end in /<service name>[/<db>]"),
    ("redis+sentinel://s1:26379/a/0/b", "must end in /<service name>[/<db>]"),
])
def test_a_malformed_url_is_one_config_error_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("[", r"\[")) as info:
        Settings(redis_url=url)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        Queue("q", url)


def test_the_password_never_shows_in_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse("redis+cluster://u:topsecret@h:1/5")
    assert "topsecret" not in str(info.value)
