"""How ``qa serve`` takes its address: bound before anything loads, so a taken port is one line at once rather
than an ``Errno 98`` after minutes of indexing, and "serving on" is said only once uvicorn accepts on it."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import uvicorn

from qa.config import Settings
from qa.errors import PortInUse


def bind(settings: Settings) -> socket.socket:
    """A listening socket on QA_HOST:QA_PORT (port 0: any free one), or :class:`PortInUse` saying why not."""
    host, port = settings.host, settings.port
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}: {exc.strerror} (check --host or QA_HOST)") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart without TIME_WAIT delays
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is taken (another qa serve?); choose one with --port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PortInUse(f"{host} is not an address of this machine (check --host or QA_HOST)") from None
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    """uvicorn's server, calling ``announce`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self.announce()
