"""A create whose answer is lost on the way back: the client sends it again, and the
server, finding the job the first one made under the client's id, returns it. One
job, however the connection failed. A real server behind a real TCP proxy that
drops answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from httpfixtures import ADMIN, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)

from fsjobstore.http.client import HttpStore


class DroppingProxy:
    """Forwards connections to *upstream*; the first *drops* requests whose first
    line starts with *prefix* reach the server, and their answers are thrown away
    (the client's connection closed instead)."""

    def __init__(self, upstream: str, prefix: bytes, drops: int) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.prefix, self.drops = prefix, drops
        self.seen = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as server:
            # One request per connection: this proxy never keeps it alive.
            request = client.recv(1 << 20)
            while b"\r\n\r\n" not in request:
                request += client.recv(1 << 20)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += client.recv(1 << 20)
            head = head.replace(b"Connection: keep-alive", b"Connection: close")
            server.sendall(head + b"\r\n\r\n" + body)
            answer = b""
            while chunk := server.recv(1 << 20):
                answer += chunk
            with self.lock:
                drop = request.startswith(self.prefix) and self.seen < self.drops
                self.seen += request.startswith(self.prefix)
            if not drop:
                client.sendall(answer)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(served: Served) -> Iterator[DroppingProxy]:
    made = DroppingProxy(served.url, b"POST /api/jobs", drops=1)
    yield made
    made.close()


def test_a_create_whose_answer_was_lost_makes_one_job(served: Served, proxy: DroppingProxy) -> None:
    with HttpStore(proxy.url, ADMIN) as client:
        job = client.create({"n": 7}, task="square")
    assert proxy.seen == 2, "sent twice: the first answer was lost"
    assert [(j.id, j.request) for j in served.store.jobs()] == [(job.id, {"n": 7})]


def test_a_batch_whose_answer_was_lost_makes_each_job_once(served: Served, proxy: DroppingProxy) -> None:
    with HttpStore(proxy.url, ADMIN) as client:
        jobs = client.create_many([1, 2, 3], task="count")
    assert proxy.seen == 2
    assert sorted((j.id, j.request) for j in served.store.jobs()) == sorted((j.id, j.request) for j in jobs)


def test_the_api_returns_the_job_an_id_was_given_and_refuses_it_for_another(served: Served) -> None:
    job_id = "01M8WFKPYVJG7KDDFFK8CCH5Y8"
    with served.http() as http:
        first = http.post("/api/jobs", json={"id": job_id, "request": {"n": 1}})
        again = http.post("/api/jobs", json={"id": job_id, "request": {"n": 1}})
        other = http.post("/api/jobs", json={"id": job_id, "request": {"n": 2}})
        bad = http.post("/api/jobs", json={"id": "job-1", "request": {"n": 1}})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert other.status_code == 409 and "is taken by a job with another request" in other.json()["error"]
    assert bad.status_code == 422 and bad.json()["detail"][0]["where"] == "body.id"
    assert [j.request for j in served.store.jobs()] == [{"n": 1}]
