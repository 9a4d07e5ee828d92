"""Picking a localhost port for a server started on the fly (tests, benchmarks, a service beside a notebook)."""

from __future__ import annotations

import socket


def free_local_port() -> int:
    """A 127.0.0.1 port nothing listens on right now (the OS picks it; another process may still take it first)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
