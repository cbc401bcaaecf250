"""Every bad input is a 4xx with a JSON body naming the problem, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from httpfixtures import ADMIN, LEASE, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)
from invariants import tree

from fsjobstore import JobStore
from fsjobstore.http.server import Settings, background

MISSING = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"

# (method, path, JSON body or raw bytes, status, text the error must contain); {id} is a pending job
CASES: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/api/jobs", b"{not json", 422, "JSON"),
    ("POST", "/api/jobs", {}, 422, "body.request"),
    ("POST", "/api/jobs", {"request": 1, "colour": "red"}, 422, "body.colour"),
    ("POST", "/api/jobs", {"request": 1, "task": ""}, 422, "body.task"),
    ("POST", "/api/jobs", {"request": 1, "delay": -1}, 422, "body.delay"),
    ("POST", "/api/jobs", {"request": 1, "expires_in": 0}, 422, "body.expires_in"),
    ("POST", "/api/jobs", {"request": 1, "delay": 1, "not_before": "2030-01-01T00:00:00Z"}, 422, "not both"),
    ("POST", "/api/jobs", {"request": 1, "not_before": "2030-01-01T00:00:00"}, 422, "time zone"),
    ("POST", "/api/jobs/batch", {"jobs": [{"request": 1}, {"request": 2, "task": 5}]}, 422, "body.jobs.1.task"),
    ("POST", "/api/jobs/batch", {"jobs": []}, 422, "body.jobs"),
    ("GET", "/api/jobs/bad.id", None, 400, "may only hold ASCII letters"),
    ("GET", f"/api/jobs/{'a' * 129}", None, 400, "the limit is 128"),
    ("POST", "/api/jobs/bad.id/cancel", None, 400, "may only hold ASCII letters"),
    ("GET", f"/api/jobs/{MISSING}", None, 404, f"no job with id '{MISSING}'"),
    ("GET", "/api/jobs/nonsense", None, 404, "no job with id 'nonsense'"),  # (well-formed: import keeps ids)
    ("GET", "/api/jobs?after=nonsense", None, 400, "after 'nonsense' is not a job id"),
    ("GET", "/api/jobs?after=bad.id&state=pending", None, 400, "after 'bad.id' is not a job id"),
    ("POST", f"/api/jobs/{MISSING}/cancel", None, 404, "no job with id"),
    ("GET", "/api/jobs?state=weird", None, 422, "query.state"),
    ("GET", "/api/jobs?cursor=garbage", None, 422, "cursor 'garbage' is not one this server gave"),
    ("GET", "/api/jobs?limit=0", None, 422, "query.limit"),
    ("GET", "/api/jobs/{id}/wait?timeout=nan", None, 422, "query.timeout"),
    ("POST", "/api/jobs/{id}/fulfill", {"value": "%%%", "value_encoding": "base64"}, 422, "base64"),
    ("POST", "/api/jobs/{id}/fulfill", {"value": "x", "value_encoding": "rot13"}, 422, "body.value_encoding"),
    ("POST", "/api/jobs/{id}/fulfill", {"value": 5}, 422, "value_encoding 'utf-8' must be a string"),
    ("POST", "/api/jobs/{id}/retry", None, 409, "only failed, cancelled, expired, discarded jobs can be retried"),
    ("POST", "/api/pauses", {"task": ""}, 422, "body.task"),
    ("POST", "/api/pauses", {"reason": "x" * 1001}, 422, "body.reason"),
    ("POST", "/api/pauses", {"task": "t", "colour": "red"}, 422, "body.colour"),
    ("POST", "/api/pauses/resume", {"task": 5}, 422, "body.task"),
    ("POST", "/api/limits", {"limit": 0, "resource": "r"}, 422, "body.limit"),
    ("POST", "/api/leases/not-a-token/progress", {"progress": 1}, 410, "lease"),
    ("POST", "/api/leases/not-a-token/progress", {}, 422, "body.progress"),
    ("POST", "/api/limits", {"limit": 2}, 422, "give one of the two"),
    ("POST", "/api/limits", {"limit": 2, "resource": "r", "task": "t"}, 422, "give one of the two"),
    ("POST", "/api/jobs/{id}/fail", {"error": "x", "delay": -1}, 422, "body.delay"),
    ("POST", "/api/jobs/{id}/queue", {}, 422, "body.target"),
    ("POST", "/api/leases/no-such-token/fulfill", {"value": "x"}, 410, "no such lease"),
    ("POST", "/api/leases/no-such-token/renew", None, 410, "no such lease"),
    ("POST", "/api/work/pull", {"wait": 61}, 422, "body.wait"),
    ("POST", "/api/work/pull", {"tasks": "mail"}, 422, "body.tasks"),
    ("POST", "/api/purge", {"older_than": -1}, 422, "body.older_than"),
    ("POST", "/api/check", {"repair": "yes please"}, 422, "body.repair"),
    ("GET", "/api/nothing-here", None, 404, "Not Found"),
    ("DELETE", "/api/stats", None, 405, "Method Not Allowed"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the table of cases (each case checks the files it may not change)."""
    path = tmp_path_factory.mktemp("bad-input") / "store"
    store = JobStore(path, lease_seconds=LEASE, durable=False, create=True)
    try:
        with background(store, Settings(token=ADMIN, max_body=1024 * 1024)) as url:
            yield Served(url, store, path)
    finally:
        store.close()


@pytest.fixture
def unchanged(served: Served) -> Iterator[Callable[[], None]]:
    """Assert after the test that the store's files are as they were before it."""
    before: dict[str, Any] = {}

    def snapshot() -> None:
        before.update(tree(served.path))

    yield snapshot
    assert tree(served.path) == before, "a refused request changed the store"


def _send(served: Served, method: str, path: str, body: Any) -> Any:
    with served.http() as http:
        if isinstance(body, bytes):
            return http.request(method, path, content=body, headers={"content-type": "application/json"})
        return http.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path", "body", "status", "text"), CASES,
                         ids=[f"{c[0]} {c[1][:40]} {c[3]}" for c in CASES])
def test_bad_input_is_a_4xx_json_error_and_writes_nothing(
    shared: Served, method: str, path: str, body: Any, status: int, text: str
) -> None:
    job = shared.store.create("a pending job")
    before = tree(shared.path)
    answer = _send(shared, method, path.replace("{id}", job.id), body)
    assert tree(shared.path) == before, "a refused request changed the store"
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert set(error) == {"error", "detail"}
    assert text in answer.text


def test_too_large_bodies_are_413_whether_declared_or_streamed(
    served: Served, unchanged: Callable[[], None]
) -> None:
    unchanged()
    big = b'{"request": "' + b"x" * (1024 * 1024) + b'"}'
    with served.http() as http:
        declared = http.post("/api/jobs", content=big, headers={"content-type": "application/json"})
        streamed = http.post("/api/jobs", content=iter([big[:1000], big[1000:]]),
                             headers={"content-type": "application/json"})
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json()["error"] == "request body is larger than the limit of 1048576 bytes"


def test_a_request_over_the_stores_limit_is_413_and_a_batch_writes_none(
    serve: Callable[..., Served], tmp_path: Any
) -> None:
    served = serve(max_bytes=100)
    before = tree(served.path)
    with served.http() as http:
        one = http.post("/api/jobs", json={"request": "x" * 200})
        batch = http.post("/api/jobs/batch", json={"jobs": [{"request": "small"}, {"request": "y" * 200}]})
    assert one.status_code == batch.status_code == 413
    assert "the store's limit is 100" in batch.json()["error"]
    assert tree(served.path) == before, "the first job of the refused batch was written"


def test_commits_through_the_wrong_kind_of_lease_or_a_busy_job_are_409(
    served: Served, unchanged: Callable[[], None]
) -> None:
    job = served.store.create("work")
    done = served.store.create("done")
    served.store.queue(done.id, "target")
    served.store.fulfill(done.id, "v")
    with served.http() as http:
        work = http.post("/api/work/pull", json={}).json()["lease"]
        note = http.post("/api/notifications/pull", json={}).json()["lease"]
        unchanged()
        wrong = [http.post(f"/api/leases/{note['token']}/fulfill", json={"value": "x"}),
                 http.post(f"/api/leases/{work['token']}/done", json={"delivered": []})]
        busy = http.post(f"/api/jobs/{job.id}/fail", json={"error": "e", "retry": True})
    assert [answer.status_code for answer in wrong] == [409, 409]
    assert "is a notification lease" in wrong[0].json()["error"]
    assert busy.status_code == 409 and busy.json()["detail"] == {"type": "JobBusy", "job_id": job.id}
