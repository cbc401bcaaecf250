"""Fixtures and helpers for the HTTP tests: a real uvicorn server on a free loopback
port, in a thread of this process (``serve``, ``served``) or as ``fsjobstore serve``
in a child process (``start_server``), and clients over real HTTP.

Not a conftest.py: pytest gives every conftest outside a package the module name
"conftest", so one here would replace tests/conftest.py for the tests that import
from it. Test modules import the fixtures they use from here (``served_fixture``
provides the ``served`` fixture, and so on; a fixture's own fixtures must be
imported too)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the HTTP tests need the server extra: pip install -e '.[server]'")

import httpx  # noqa: E402

from fsjobstore import JobStore  # noqa: E402
from fsjobstore.http.client import HttpStore  # noqa: E402
from fsjobstore.http.server import Settings, background  # noqa: E402

ADMIN = "admin-token-for-tests"
READER = "read-token-for-tests"
LEASE = 1.5
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    url: str
    store: JobStore
    path: Path

    def http(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=False)  # (plain http)


@pytest.fixture(name="serve")
def serve_fixture(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start servers over stores in tmp_path (options go to JobStore and Settings)."""
    stack: list[Any] = []

    def start(*, max_body: int = 1024 * 1024, events_interval: float = 0.1, **store_options: Any) -> Served:
        store_options.setdefault("lease_seconds", LEASE)
        store_options.setdefault("durable", False)
        store_options.setdefault("create", True)
        path = tmp_path / f"store{len(stack)}"
        store = JobStore(path, **store_options)
        settings = Settings(token=ADMIN, read_token=READER, max_body=max_body, poll_interval=events_interval)
        running = background(store, settings)
        url = running.__enter__()
        stack.append((running, store))
        return Served(url, store, path)

    yield start
    for running, store in reversed(stack):
        running.__exit__(None, None, None)
        store.close()


@pytest.fixture(name="served")
def served_fixture(serve: Callable[..., Served]) -> Served:
    return serve()


@pytest.fixture(name="remote")
def remote_fixture(served: Served) -> Iterator[HttpStore]:
    with HttpStore(served.url, ADMIN, poll_interval=0.05) as client:
        yield client


def start_server(store: Path, *extra: str, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """``fsjobstore serve`` in a child process; returns it and its URL once it listens."""
    command = [sys.executable, "-m", "fsjobstore", "serve", "--store", str(store), "--port", str(port),
               "--token", ADMIN, "--lease", str(LEASE), *extra]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith("serving "):
        child.kill()
        raise AssertionError(f"server did not start: {line!r} {child.communicate()[1]!r}")
    url = line.split(" at ")[1].strip().rstrip("/")
    deadline = time.monotonic() + 10
    while True:  # the socket listens before uvicorn serves: wait for an answer
        try:
            httpx.get(url + "/api/whoami", headers={"authorization": f"Bearer {ADMIN}"}, timeout=1)
            return child, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                child.kill()
                raise
            time.sleep(0.05)


def stop(child: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if child.poll() is None:
        child.send_signal(sig)
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
