"""The real Debian binaries the monitoring tests run (promtool, prometheus, amtool, prometheus-alertmanager):
installed with apt-get when missing and running as root; otherwise skipped, or failed under CI=true."""

from __future__ import annotations

import socket

from tests.system_tools import debian_tool

PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus", "amtool": "prometheus-alertmanager",
            "prometheus-alertmanager": "prometheus-alertmanager"}


def require(binary: str) -> str:
    """Path of `binary`, installing its package if needed and possible."""
    return debian_tool(binary, PACKAGES[binary])


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now (for binaries that need a port number)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
