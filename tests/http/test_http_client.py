"""HttpStore: the store interface over HTTP, with lease loss and fencing as locally."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpfixtures import ADMIN, LEASE, READER, Served, remote_fixture, serve_fixture, served_fixture, start_server, stop  # noqa: F401 (fixtures)
from loophelpers import wait_for

from fsjobstore import JobAlreadyResolved, JobBusy, JobNotFound, JobStateError, JobStore, LeaseLost
from fsjobstore.errors import InvalidJobId, JobTooLarge
from fsjobstore.http.client import HttpStore, HttpWorkLease
from fsjobstore.http.wire import RemoteError
from fsjobstore.interface import LossReason, NotificationHandle, Store, WorkHandle

HOLDER = Path(__file__).with_name("holder.py")


def _holder(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HOLDER), url, ADMIN], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _line(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().strip()


def test_it_implements_the_interface(remote: HttpStore) -> None:
    assert isinstance(remote, Store)
    remote.create("x")
    lease = remote.pull_work()
    assert isinstance(lease, WorkHandle) and isinstance(lease, HttpWorkLease)
    lease.release()


def test_create_get_jobs_stats_and_wait(remote: HttpStore, served: Served) -> None:
    job = remote.create({"n": 1}, task="square", resource="r", not_before=0, expires_in=60, lease_seconds=5)
    assert remote.get(job.id) == served.store.get(job.id)
    many = remote.create_many([{"n": n} for n in range(600)], task="bulk")
    assert len(many) == 600 and len({j.id for j in many}) == 600
    assert [j.id for j in remote.jobs("pending")] == [job.id, *(j.id for j in many)], "paged in creation order"
    assert remote.stats()["pending"] == 601
    threading.Timer(0.2, lambda: served.store.fulfill(job.id, b"\xff")).start()
    assert remote.wait(job.id, timeout=10).value == b"\xff"
    with pytest.raises(TimeoutError, match="still pending"):
        remote.wait(many[0].id, timeout=0.2)


def test_store_errors_come_back_as_the_same_exceptions(remote: HttpStore, serve: Callable[..., Served]) -> None:
    job = remote.create("x")
    with pytest.raises(JobNotFound):
        remote.get("01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(InvalidJobId):
        remote.get("../etc")
    with pytest.raises(JobStateError, match="only failed, cancelled"):
        remote.retry(job.id)
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        remote.create({1, 2})
    with pytest.raises(ValueError, match="delay"):
        remote.create("x", not_before=-5)
    lease = remote.pull_work()
    assert lease is not None
    with pytest.raises(JobBusy):
        remote.fail(job.id, "no", retry=True)
    lease.fulfill("done")
    with pytest.raises(JobAlreadyResolved) as resolved:
        remote.cancel(job.id)
    assert resolved.value.state == "fulfilled"
    small = serve(max_bytes=50)
    with HttpStore(small.url, ADMIN) as client, pytest.raises(JobTooLarge):
        client.create("y" * 100)
    with HttpStore(small.url, READER) as reader, pytest.raises(RemoteError, match="403"):
        reader.create("no")
    with HttpStore(small.url, None) as nobody, pytest.raises(RemoteError, match="401"):
        nobody.stats()


def test_an_unreachable_server_is_a_connection_error() -> None:
    with HttpStore("http://127.0.0.1:9", ADMIN, timeout=2) as client, pytest.raises(ConnectionError):
        client.stats()


def test_a_lease_is_renewed_while_held_and_given_back_on_close(served: Served) -> None:
    job = served.store.create("slow")
    client = HttpStore(served.url, ADMIN)
    lease = client.pull_work()
    assert lease is not None
    time.sleep(LEASE * 2.5)  # longer than a lease: only renewals keep it
    assert not lease.compromised and served.store.get(job.id).state == "running"
    client.close()
    assert served.store.get(job.id).state == "pending" and lease.released


def test_a_silent_client_loses_its_lease_to_another_and_its_commit_is_fenced(
    served: Served, remote: HttpStore
) -> None:
    job = served.store.create({"n": 7})
    holder = _holder(served.url)
    try:
        assert _line(holder) == f"pulled {job.id}"
        os.kill(holder.pid, signal.SIGSTOP)  # a client that stops renewing: hung, or cut off
        taken = wait_for(lambda: remote.pull_work(), timeout=LEASE * 4, what="the job handed out again")
        assert taken.id == job.id and taken.attempts == 1, "the silent holder's attempt is counted"
        assert taken.job.error == "lease expired: its HTTP client stopped renewing it"
        os.kill(holder.pid, signal.SIGCONT)
        assert _line(holder) == "compromised TAKEN_OVER", "told once, when its renewal is refused, why"
        assert holder.stdin is not None
        holder.stdin.write("fulfill\n")
        holder.stdin.flush()
        assert _line(holder) == "lost", "the late commit raises LeaseLost"
        taken.fulfill("by the second client")
        assert served.store.get(job.id).value == b"by the second client"
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.communicate(timeout=10)
    with served.http() as http:
        assert "fsjobstore_http_leases_reaped_total 1.0" in http.get("/metrics").text


def test_a_job_cancelled_while_held_compromises_the_lease(served: Served, remote: HttpStore) -> None:
    job = remote.create("doomed")
    told: list[Any] = []
    lease = remote.pull_work(told.append)
    assert lease is not None
    remote.cancel(job.id)
    wait_for(lambda: told, timeout=LEASE * 3, what="on_compromised")
    assert told == [lease] and lease.compromised
    assert lease.loss is not None and lease.loss.reason is LossReason.RESOLVED_ELSEWHERE
    with pytest.raises((LeaseLost, JobAlreadyResolved)):
        lease.fulfill("too late")
    assert served.store.get(job.id).state == "cancelled"


def test_a_killed_server_loses_the_lease_and_a_restarted_one_hands_the_job_out_again(tmp_path: Path) -> None:
    path = tmp_path / "store"
    JobStore(path, create=True).close()
    job_id = JobStore(path, create=False).create("survives").id
    server, url = start_server(path)
    told: list[Any] = []
    client = HttpStore(url, ADMIN)
    try:
        lease = client.pull_work(told.append)
        assert lease is not None and lease.id == job_id
        stop(server, signal.SIGKILL)
        wait_for(lambda: told, timeout=LEASE * 4, what="the loss to be noticed")
        assert lease.loss is not None and lease.loss.reason is LossReason.RENEWAL_FAILED
        server, _ = start_server(path, port=int(url.rsplit(":", 1)[1]))  # where clients look for it
        with HttpStore(url, ADMIN) as again:
            taken = wait_for(lambda: again.pull_work(), timeout=LEASE * 6, what="the job after expiry")
            assert taken.id == job_id and taken.attempts == 1
            taken.fulfill("after restart")
            assert again.get(job_id).value == b"after restart"
        with pytest.raises(LeaseLost):
            lease.fulfill("from before the restart")
    finally:
        client.close()
        stop(server)


def test_notifications_through_the_client(served: Served, remote: HttpStore) -> None:
    job = remote.create("n")
    remote.queue(job.id, {"to": "a"})
    remote.queue(job.id, {"to": "b"})
    remote.unqueue(job.id, {"to": "b"})
    remote.queue(job.id, {"to": "c"})
    remote.fulfill(job.id, "result")
    note = remote.pull_notification()
    assert isinstance(note, NotificationHandle)
    assert note.waiting == [{"to": "a"}, {"to": "c"}] and note.value == b"result"
    note.done([{"to": "a"}])
    again = remote.pull_notification()
    assert again is not None and again.waiting == [{"to": "c"}]
    again.done([{"to": "c"}])
    assert remote.pull_notification() is None and remote.get(job.id).waiting == ()
    with pytest.raises(LeaseLost):
        again.done([])


def test_fail_purge_and_check_through_the_client(remote: HttpStore) -> None:
    job = remote.create("f")
    lease = remote.pull_work()
    assert lease is not None
    retried = lease.fail(RuntimeError("boom"), retry=True, delay=0)
    assert (retried.state, retried.attempts, retried.error) == ("pending", 1, "RuntimeError: boom")
    assert remote.fail(job.id, "given up").state == "failed"
    assert remote.retry(job.id).state == "pending"
    remote.cancel(job.id)
    assert remote.purge(older_than=0) == 1
    report = remote.check()
    assert report.clean and report.problems == []


def test_a_jobs_attempt_history_reaches_the_client(remote: HttpStore) -> None:
    job = remote.create("x")
    lease = remote.pull_work()
    assert lease is not None
    lease.fail("flaky", retry=True, trace="Traceback ...\nValueError: flaky")
    lease = remote.pull_work()
    assert lease is not None
    lease.fulfill("ok")
    retried, fulfilled = remote.get(job.id).history
    assert (retried["outcome"], retried["error"], retried["traceback"]) == ("retried", "flaky",
                                                                            "Traceback ...\nValueError: flaky")
    assert fulfilled["outcome"] == "fulfilled" and fulfilled["attempt"] == 2
