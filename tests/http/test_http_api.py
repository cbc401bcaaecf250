"""The JSON API over real HTTP: every operation, lists, metrics, events, documents."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from httpfixtures import ADMIN, LEASE, READER, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)

from fsjobstore.http.client import HttpStore


def test_create_get_list_and_stats(served: Served) -> None:
    with served.http() as http:
        made = http.post("/api/jobs", json={"request": {"n": 1}, "task": "square", "expires_in": 60})
        assert made.status_code == 201
        job = made.json()
        assert (job["state"], job["request"], job["task"], job["expires_in"]) == ("pending", {"n": 1}, "square", 60)
        assert http.get(f"/api/jobs/{job['id']}").json() == job
        assert served.store.get(job["id"]).request == {"n": 1}, "written to the store itself"
        batch = http.post("/api/jobs/batch", json={"jobs": [{"request": n, "task": "other"} for n in range(3)]})
        assert batch.status_code == 201 and len(batch.json()["jobs"]) == 3
        stats = http.get("/api/stats").json()
        assert stats == {"pending": 4, "blocked": 0, "running": 0, "fulfilled": 0, "failed": 0, "cancelled": 0,
                         "expired": 0, "discarded": 0, "due": 0}
        listed = http.get("/api/jobs", params={"task": "other"}).json()
        assert [j["request"] for j in listed["jobs"]] == [2, 1, 0], "newest first by default"
        assert listed["next_cursor"] is None


def test_list_pages_with_a_cursor_sorts_and_searches(served: Served) -> None:
    ids = [served.store.create({"word": word}).id for word in ("apple", "banana", "cherry", "damson", "apricot")]
    with served.http() as http:
        seen, cursor = [], None
        while True:
            params = {"sort": "created", "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = http.get("/api/jobs", params=params).json()
            seen += [j["id"] for j in page["jobs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids
        found = http.get("/api/jobs", params={"q": "AP"}).json()["jobs"]
        assert [j["request"]["word"] for j in found] == ["apricot", "apple"]
        served.store.fail(ids[1], "disk on fire")
        errors = http.get("/api/jobs", params={"q": "fire", "state": "failed"}).json()["jobs"]
        assert [j["id"] for j in errors] == [ids[1]]
        by_update = http.get("/api/jobs", params={"sort": "-updated", "limit": 1}).json()["jobs"]
        assert by_update[0]["id"] == ids[1], "the job changed last comes first"


def test_resolve_by_hand_retry_queue_and_notify(served: Served) -> None:
    store = served.store
    job = store.create("x")
    with served.http() as http:
        assert http.post(f"/api/jobs/{job.id}/queue", json={"target": {"inbox": 1}}).status_code == 204
        done = http.post(f"/api/jobs/{job.id}/fulfill", json={"value": "/wA=", "value_encoding": "base64"}).json()
        assert done["state"] == "fulfilled" and store.get(job.id).value == b"\xff\x00"
        assert done["value"] == "/wA=" and done["value_encoding"] == "base64", "not UTF-8: sent as base64"
        assert http.post(f"/api/jobs/{job.id}/cancel").status_code == 409
        pulled = http.post("/api/notifications/pull", json={}).json()["lease"]
        assert pulled["waiting"] == [{"inbox": 1}] and pulled["job"]["id"] == job.id
        assert http.post(f"/api/leases/{pulled['token']}/done", json={"delivered": [{"inbox": 1}]}).status_code == 204
        assert store.get(job.id).waiting == ()
        other = store.create("y")
        http.post(f"/api/jobs/{other.id}/fail", json={"error": "no"})
        again = http.post(f"/api/jobs/{other.id}/retry").json()
        assert (again["state"], again["attempts"]) == ("pending", 0)
        http.post(f"/api/jobs/{other.id}/queue", json={"target": "t"})
        http.post(f"/api/jobs/{other.id}/unqueue", json={"targets": ["t"]})
        assert store.get(other.id).waiting == ()
        assert http.post(f"/api/jobs/{other.id}/cancel").json()["state"] == "cancelled"


def test_pull_renew_and_commit_through_a_token(served: Served) -> None:
    job = served.store.create({"n": 2})
    with served.http() as http:
        lease = http.post("/api/work/pull", json={"tasks": [None]}).json()["lease"]
        assert lease["job"]["id"] == job.id and lease["job"]["state"] == "running"
        assert served.store.get(job.id).state == "running"
        assert http.post(f"/api/leases/{lease['token']}/renew").json() == {"lease_seconds": 1.5}
        assert http.post("/api/work/pull", json={}).json() == {"lease": None, "next_due": None}
        done = http.post(f"/api/leases/{lease['token']}/fulfill", json={"value": "4"})
        assert done.json()["state"] == "fulfilled" and served.store.get(job.id).value == b"4"
        assert http.post(f"/api/leases/{lease['token']}/renew").status_code == 410, "a committed lease is gone"


def test_pull_waits_for_work_created_meanwhile(served: Served) -> None:
    timer = threading.Timer(0.3, lambda: served.store.create("late"))
    timer.start()
    with served.http() as http:
        lease = http.post("/api/work/pull", json={"wait": 5}).json()["lease"]
    timer.join()
    assert lease is not None and lease["job"]["request"] == "late"


def test_bulk_retry_of_failed_jobs_matching_a_filter(served: Served) -> None:
    store = served.store
    wanted = [store.create("a", task="mail").id for _ in range(2)]
    other = store.create("b", task="print").id
    for job_id in [*wanted, other]:
        store.fail(job_id, "smtp down" if job_id in wanted else "no paper")
    with served.http() as http:
        answer = http.post("/api/retry-failed", json={"q": "smtp"}).json()
    assert sorted(answer["retried"]) == sorted(wanted) and answer["skipped"] == {}
    assert store.get(other).state == "failed" and all(store.get(j).state == "pending" for j in wanted)


def test_bulk_retry_by_error_labels_and_state(served: Served) -> None:
    store = served.store
    late = store.create("a", labels={"sender": "api"}, deadline=0.001)
    mine = store.create("b", labels={"sender": "api"})
    other = store.create("c", labels={"sender": "cron"})
    store.fail(mine.id, "Timeout after 30 s")
    store.fail(other.id, "Timeout after 30 s")
    time.sleep(0.01)
    assert store.pull_work() is None  # (expires the late one)
    with served.http() as http:
        failed = http.post("/api/retry-failed", json={"error": "TIMEOUT", "label": ["sender=api"]}).json()
        expired = http.post("/api/retry-failed", json={"state": "expired"}).json()
        refused = http.post("/api/retry-failed", json={"label": ["nameless"]})
    assert failed == {"retried": [mine.id], "skipped": {}} and expired == {"retried": [late.id], "skipped": {}}
    assert refused.status_code == 422 and "NAME=VALUE" in refused.json()["error"]
    assert store.get(other.id).state == "failed"


def test_purge_check_health_and_whoami(served: Served) -> None:
    job = served.store.create("old")
    served.store.cancel(job.id)
    with served.http() as http:
        assert http.get("/api/health").json()["last_check"] is None
        assert http.post("/api/purge", json={"older_than": 0}).json() == {"removed": 1}
        report = http.post("/api/check", json={}).json()
        assert report["clean"] is True and report["problems"] == []
        health = http.get("/api/health").json()
        assert health["last_check"]["clean"] is True
        assert 0 < health["disk_free_bytes"] <= health["disk_total_bytes"]
        assert health["inodes_total"] == 0 or 0 < health["inodes_free"] <= health["inodes_total"]
        assert http.get("/api/whoami").json() == {"role": "admin"}
    with served.http(READER) as http:
        assert http.get("/api/whoami").json() == {"role": "read"}


def test_events_stream_the_counts_when_they_change(served: Served) -> None:
    with served.http() as http, http.stream("GET", "/events") as stream:
        events = []
        lines = stream.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[6:])["stats"])
                if len(events) == 1:
                    served.store.create("new")
                else:
                    break
    assert events[0]["pending"] == 0 and events[1]["pending"] == 1


def test_openapi_document_and_dashboard_are_served(served: Served) -> None:
    with served.http(None) as http:
        spec = http.get("/openapi.json").json()
        assert "/api/work/pull" in spec["paths"] and spec["info"]["title"] == "fsjobstore"
        page = http.get("/")
        assert page.status_code == 200 and "<title>fsjobstore</title>" in page.text
        assert http.get("/static/app.js").status_code == 200
        assert http.get("/static/../app.py").status_code == 404
        assert http.get("/static/nothing.js").json()["error"] == "no file 'nothing.js'"


def test_many_waiting_pulls_do_not_hold_up_other_requests(serve: Callable[..., Served]) -> None:
    served = serve(poll_interval=10)  # each waiting pull then waits in one piece, not in 1 s slices
    waiting = 60  # more than the 40 threads plain requests run in
    with httpx.Client(base_url=served.url, headers={"authorization": f"Bearer {ADMIN}"}, verify=False,
                      limits=httpx.Limits(max_connections=waiting + 5), timeout=30) as http, \
            ThreadPoolExecutor(waiting) as pool:
        pulls = [pool.submit(http.post, "/api/work/pull", json={"wait": 3}) for _ in range(waiting)]
        time.sleep(1.0)  # every pull is waiting now
        start = time.monotonic()
        assert http.get("/api/stats").status_code == 200
        answered_in = time.monotonic() - start
        assert all(pull.result().json() == {"lease": None, "next_due": None} for pull in pulls)
    assert answered_in < 0.5, f"stats waited {answered_in:.2f} s behind the long-polls"


def test_workers_are_listed_with_their_tasks_jobs_and_liveness(served: Served) -> None:
    job = served.store.create("x", task="mail")
    with HttpStore(served.url, ADMIN, client_name="worker-7") as worker, served.http() as http:
        lease = worker.pull_work(tasks=["mail", None])
        assert lease is not None
        [row] = http.get("/api/workers").json()
        assert (row["name"], row["tasks"], row["jobs"], row["pulls"], row["alive"]) == (
            "worker-7", ["mail", None], [job.id], 1, True)
        assert row["address"] == "127.0.0.1"
        lease.release()
        time.sleep(LEASE + 0.2)  # heard from no more (its lease is gone: nothing to renew)
        [row] = http.get("/api/workers").json()
        assert (row["jobs"], row["alive"]) == ([], False)


def test_counts_per_task_and_state(served: Served) -> None:
    store = served.store
    for _ in range(2):
        store.create("m", task="mail")
    failed = store.create("p", task="print")
    store.fail(failed.id, "jam")
    store.create("none")
    with served.http() as http:
        counts = http.get("/api/stats/tasks").json()
    zero = dict.fromkeys(("pending", "blocked", "running", "fulfilled", "failed", "cancelled", "expired",
                          "discarded"), 0)
    assert counts == {"mail": zero | {"pending": 2}, "print": zero | {"failed": 1}, "": zero | {"pending": 1}}


def test_a_jobs_own_lease_length_applies_to_its_work_lease_only(served: Served) -> None:
    job = served.store.create("x", lease_seconds=7)
    served.store.queue(job.id, "target")
    with served.http() as http:
        work = http.post("/api/work/pull", json={}).json()["lease"]
        assert work["lease_seconds"] == 7
        http.post(f"/api/leases/{work['token']}/fulfill", json={"value": "v"})
        note = http.post("/api/notifications/pull", json={}).json()["lease"]
        assert note["lease_seconds"] == 1.5, "the store's length, as for a local notifier"


def test_a_batch_makes_jobs_after_others_and_nothing_for_a_missing_parent(served: Served) -> None:
    with served.http() as http:
        parent = http.post("/api/jobs", json={"request": 1}).json()["id"]
        missing = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
        refused = http.post("/api/jobs/batch", json={"jobs": [{"request": 2}, {"request": 3, "after": [missing]}]})
        assert refused.status_code == 404 and missing in refused.json()["error"]
        made = http.post("/api/jobs/batch", json={"jobs": [
            {"request": 2}, {"request": 3, "after": [parent], "on_parent_failure": "run"}]}).json()["jobs"]
        assert [(job["state"], job["after"]) for job in made] == [("pending", []), ("blocked", [parent])]
        assert made[1]["on_parent_failure"] == "run"
    assert [job.id for job in served.store.jobs()] == [parent, made[0]["id"], made[1]["id"]]
