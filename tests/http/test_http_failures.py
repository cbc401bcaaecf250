"""The failure paths of the server and the client that the other tests do not reach."""

from __future__ import annotations

import http.server
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpfixtures import (  # noqa: F401 (fixtures)
    ADMIN,
    LEASE,
    ROOT,
    Served,
    remote_fixture,
    serve_fixture,
    served_fixture,
    start_server,
    stop,
)
from invariants import pending_file, resolved_file
from loophelpers import wait_for

from fsjobstore import JobNotFound, JobStore, LeaseLost
from fsjobstore.errors import JobBusy, JobStateError
from fsjobstore.http.client import HttpStore
from fsjobstore.http.server import Settings
from fsjobstore.http.server.listing import decode_cursor, page
from fsjobstore.http.wire import LeaseEnded, RemoteError, error_from_wire, error_to_wire
from fsjobstore.interface import LossReason


def test_a_corrupt_job_file_is_a_500_with_a_json_body(served: Served) -> None:
    job = served.store.create("x")
    Path(pending_file(served.path, job.id)).write_text("{not json")
    with served.http() as http:
        answer = http.get(f"/api/jobs/{job.id}")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error", "detail": {"type": "CorruptJobFile"}}


def test_a_silent_client_on_a_cancelled_job_is_reaped_without_a_retry(served: Served) -> None:
    job = served.store.create("x")
    with served.http() as http:
        token = http.post("/api/work/pull", json={}).json()["lease"]["token"]  # and never renewed
        served.store.cancel(job.id)
        wait_for(lambda: http.post(f"/api/leases/{token}/renew").status_code == 410, timeout=LEASE * 3,
                 what="the lease given back")
    assert served.store.get(job.id).state == "cancelled" and served.store.get(job.id).attempts == 0


def test_a_server_shut_down_gracefully_gives_its_leases_back(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with JobStore(path, create=True) as store:
        job = store.create("x")
    server, url = start_server(path)
    client = HttpStore(url, ADMIN)
    try:
        assert client.pull_work() is not None
        stop(server, signal.SIGTERM)
        with JobStore(path, create=False) as store:
            assert store.get(job.id).state == "pending", "free at once, not after the lease expires"
    finally:
        client.close()
        stop(server)


def test_serve_reports_a_busy_port_and_a_bad_store_in_one_line(tmp_path: Path) -> None:
    JobStore(tmp_path / "store", create=True).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _serve(tmp_path / "store", "--port", str(port))
    (tmp_path / "file").write_text("not a folder")
    bad = _serve(tmp_path / "file", "--port", "0")
    assert busy.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert bad.returncode == 1 and "is not a folder" in bad.stderr
    assert "Traceback" not in busy.stderr + bad.stderr


def test_serve_never_makes_a_store(tmp_path: Path) -> None:
    """Only `fsjobstore init` makes one: a typo'd path or an empty mount point is refused, naming it."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("mine")
    missing = _serve(tmp_path / "typo", "--port", "0")
    empty = _serve(tmp_path / "empty", "--port", "0")
    assert missing.returncode == 1 and f"no store at {tmp_path / 'typo'}: no such folder" in missing.stderr
    assert empty.returncode == 1 and f"{tmp_path / 'empty'} is not a store" in empty.stderr
    assert "fsjobstore init" in missing.stderr + empty.stderr
    assert not (tmp_path / "typo").exists()
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["notes.txt"]


def _serve(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fsjobstore", "serve", "--store", str(store), "--token", ADMIN,
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_settings_refuse_a_tiny_body_limit_and_a_bad_poll_interval() -> None:
    with pytest.raises(ValueError, match="at least 1024 bytes"):
        Settings(token="t", max_body=10)
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        Settings(token="t", poll_interval=0)


def test_client_side_checks_raise_before_sending(remote: HttpStore) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        HttpStore("http://127.0.0.1:9", poll_interval=0)
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        remote.fulfill("01ZZZZZZZZZZZZZZZZZZZZZZZZ", object())
    with pytest.raises(ValueError, match="timezone-aware"):
        remote.create("x", not_before=datetime(2030, 1, 1))
    with pytest.raises(TypeError, match="error must be a str"):
        remote.fail("01ZZZZZZZZZZZZZZZZZZZZZZZZ", 5)  # type: ignore[arg-type]
    later = remote.create("x", not_before=timedelta(hours=1))
    assert later.not_before is not None and remote.pull_work() is None


def test_a_released_lease_cannot_commit_and_release_is_idempotent(remote: HttpStore) -> None:
    job = remote.create("x")
    lease = remote.pull_work()
    assert lease is not None
    lease.release()
    lease.release()
    with pytest.raises(LeaseLost, match="was released"):
        lease.fulfill("late")
    assert remote.get(job.id).state == "pending"


def test_on_compromised_that_raises_is_logged_and_the_loss_still_recorded(
    remote: HttpStore, caplog: pytest.LogCaptureFixture
) -> None:
    job = remote.create("x")

    def broken(_lease: Any) -> None:
        raise RuntimeError("handler bug")

    lease = remote.pull_work(broken)
    assert lease is not None
    remote.cancel(job.id)
    with caplog.at_level(logging.ERROR, logger="fsjobstore"):
        wait_for(lambda: lease.compromised, timeout=LEASE * 3, what="the loss")
        wait_for(lambda: "on_compromised for job" in caplog.text, what="the log line")


def test_releasing_when_the_server_is_gone_logs_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store"
    with JobStore(path, create=True) as store:
        store.create("x")
    server, url = start_server(path)
    client = HttpStore(url, ADMIN, timeout=2)
    try:
        lease = client.pull_work()
        assert lease is not None
        stop(server, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="fsjobstore"):
            lease.release()
        assert lease.released and "releasing the lease on job" in caplog.text
    finally:
        client.close()


@pytest.fixture
def plain_server() -> Iterator[str]:
    """A server that is not fsjobstore: a proxy's 502 in plain text."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(502)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"bad gateway")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


def test_an_answer_that_is_not_json_is_a_remote_error(plain_server: str) -> None:
    with HttpStore(plain_server, ADMIN) as client, pytest.raises(RemoteError, match="HTTP 502: bad gateway"):
        client.stats()


def test_error_bodies_become_the_stores_exceptions() -> None:
    assert isinstance(error_from_wire(404, {"error": "x", "detail": {"type": "JobNotFound", "job_id": "A"}}),
                      JobNotFound)
    assert isinstance(error_from_wire(409, {"error": "x", "detail": {"type": "JobBusy", "job_id": "A"}}), JobBusy)
    assert isinstance(error_from_wire(409, {"error": "x", "detail": {"type": "JobStateError"}}), JobStateError)
    assert isinstance(error_from_wire(410, None), LeaseLost)
    assert isinstance(error_from_wire(422, {"error": "bad", "detail": [{"where": "body"}]}), ValueError)
    status, body = error_to_wire(LeaseEnded("gone", LossReason.TAKEN_OVER)) or (0, {})
    ended = error_from_wire(status, body)
    assert status == 410 and isinstance(ended, LeaseEnded) and ended.reason is LossReason.TAKEN_OVER
    unknown = error_from_wire(410, {"error": "gone", "detail": {"type": "LeaseEnded", "reason": "NEW"}})
    assert type(unknown) is LeaseLost, "a reason this client does not know: a plain LeaseLost"
    other = error_from_wire(418, ["not", "an", "object"])
    assert isinstance(other, RemoteError) and other.status == 418


def test_cursors_and_sorts_the_server_did_not_make_are_refused() -> None:
    with pytest.raises(ValueError, match="not one this server gave"):
        decode_cursor("WzFd")  # base64 of [1]: JSON, but not a cursor
    with pytest.raises(ValueError, match="sort must be one of"):
        page([], sort="size", limit=1)


def test_the_wait_for_a_job_gives_its_state_when_time_runs_out(served: Served) -> None:
    job = served.store.create("x")
    with served.http() as http:
        start = time.monotonic()
        answer = http.get(f"/api/jobs/{job.id}/wait", params={"timeout": 0.2})
    assert answer.json()["state"] == "pending" and time.monotonic() - start < 5


def test_a_lease_lost_on_a_job_that_cannot_be_read_is_lost_as_removed(served: Served) -> None:
    job = served.store.create("x")
    with served.http() as http:
        token = http.post("/api/work/pull", json={}).json()["lease"]["token"]
        served.store.cancel(job.id)
        Path(resolved_file(served.path, job.id)).write_text("{not json")  # why it was lost: unknown
        answer = wait_for(lambda: (a := http.post(f"/api/leases/{token}/renew")).status_code == 410 and a,
                          timeout=LEASE * 3, what="the loss")
    assert answer.json()["detail"] == {"type": "LeaseEnded", "reason": "REMOVED"}
