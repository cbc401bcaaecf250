"""Running the app under uvicorn: in the foreground (``fsjobstore serve``) or in a
background thread (tests, benchmarks), on a socket bound beforehand so that port 0
gives a free port whose number is known before the first request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ...store import JobStore
from .app import create_app
from .context import Settings


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said outright: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and accepted sockets inherit a 0 here (then each answer on a kept-alive
    # connection waited 40 ms for the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server(store: JobStore, settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(store, settings), log_level="warning", access_log=False,
        # An open event stream would otherwise hold a shutdown for as long as it stays open.
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


@contextmanager
def background(store: JobStore, settings: Settings, port: int = 0) -> Iterator[str]:
    """Serve *store* in a thread for the block; yields the base URL."""
    sock = bind(settings.host, port)
    running = server(store, settings)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, name="fsjobstore-http", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not running.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        yield url_of(sock)
    finally:
        running.should_exit = True
        thread.join(10)
        sock.close()
