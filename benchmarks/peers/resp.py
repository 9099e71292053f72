"""A minimal blocking RESP2 client (standard library only), so the driver needs nothing a peer lacks."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit


class Redis:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        self._file = self._sock.makefile("rb")

    def __call__(self, *args: str | bytes | int) -> Any:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(out))
        return self._read()

    def _read(self) -> Any:
        line = self._file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def info(self, section: str) -> dict[str, str]:
        text = self("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def cpu_seconds(self) -> float:
        info = self.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stored_bytes(self) -> int:
        """Bytes of every key name and value in the database (strings, lists, sets, hashes, streams)."""
        total = 0
        for key in self("KEYS", "*"):
            total += len(key)
            kind = self("TYPE", key)
            if kind == "string":
                total += self("STRLEN", key)
            elif kind == "list":
                total += sum(map(len, self("LRANGE", key, 0, -1)))
            elif kind == "set":
                total += sum(map(len, self("SMEMBERS", key)))
            elif kind in ("hash", "zset"):
                items = self("HGETALL", key) if kind == "hash" else self("ZRANGE", key, 0, -1, "WITHSCORES")
                total += sum(map(len, items))
            elif kind == "stream":
                for _, fields in self("XRANGE", key, "-", "+"):
                    total += sum(map(len, fields))
        return total

    def close(self) -> None:
        self._file.close()
        self._sock.close()
