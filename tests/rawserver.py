"""A TCP server on loopback that misbehaves as scripted: for what ``http.server`` is too
polite to do (a byte a second, endless bodies, 10,000 headers, broken status lines).

Each connection runs ``handler(conn, head, server)`` in its own daemon thread, with the
request head read; the handler writes what it likes. Every wait in a handler goes
through ``server.pause``, which returns at once when the server stops, so no loop
outlives its test.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket, bytes, "RawServer"], None]


class RawServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.2)
        self.heads: list[bytes] = []  # every request head received, in order
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"http://{host}:{port}/"

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def paths(self) -> list[str]:
        return [head.split(b" ", 2)[1].decode("latin-1") for head in self.heads if b" " in head]

    def pause(self, seconds: float) -> bool:
        """Wait; False if the server stopped meanwhile (the handler should return)."""
        return not self.stopped.wait(seconds)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        buffer = b""
        try:
            with conn:
                while not self.stopped.is_set():
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    self.heads.append(head)
                    if self.handler(conn, head, self) is not True:  # True: keep alive
                        return
        except OSError:
            return


def answer(
    conn: socket.socket, status: str = "200 OK", body: bytes = b"", headers: list | None = None
) -> None:
    """A plain, well-formed HTTP/1.1 answer that closes the connection."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers or [])]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def trickle(conn: socket.socket, server: RawServer, data: bytes, interval: float) -> None:
    """Send ``data`` a byte at a time, ``interval`` apart, until the client hangs up."""
    for byte in data:
        if not server.pause(interval):
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return
