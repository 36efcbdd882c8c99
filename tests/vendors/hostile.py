"""A loopback server that answers one request in a hostile way, a few bytes
at a time, for at most ``lasts`` seconds (then it hangs up)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator


class Hostile:
    def __init__(self, answer: Callable[[], Iterator[bytes]], *, pause: float = 0.05, lasts: float = 8.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.pause = pause
        self.lasts = lasts
        self.request = b""
        self.hung_up_on = threading.Event()  # the client closed the connection before we were done
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _addr = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(self.lasts)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                self.request = _read_request(conn)
                ends = time.monotonic() + self.lasts
                for piece in self.answer():
                    if time.monotonic() > ends:
                        return
                    conn.sendall(piece)
                    time.sleep(self.pause)
                conn.recv(1)  # wait for the client to hang up
            except OSError:
                self.hung_up_on.set()

    def close(self) -> None:
        self.listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _sep, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return data[: len(head) + 4] + body


def trickled(data: bytes) -> Iterator[bytes]:
    """``data`` one byte at a time."""
    for index in range(len(data)):
        yield data[index:index + 1]


def endless(piece: bytes, head: bytes = b"") -> Iterator[bytes]:
    yield head
    while True:
        yield piece
