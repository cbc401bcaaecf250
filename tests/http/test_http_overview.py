"""The dashboard's operator routes: /api/control (pauses, freeze, limits with the jobs
running under them, leases with their jobs) and /api/schedules, read with the
read-only token; what they change is changed through the routes of the control API,
which refuse that token."""

from __future__ import annotations

from httpfixtures import ADMIN, READER, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)

from fsjobstore.loops.freeze import FREEZE_REASON


def test_control_tells_pauses_limits_their_running_jobs_and_leases(served: Served) -> None:
    store = served.store
    store.set_limit(2, resource="gpu")
    store.set_limit(4, task="render")
    running = store.create({"scene": 1}, task="render", resource="gpu")
    store.create({"scene": 2}, task="mail")
    store.pause("mail", reason="relay down")
    lease = store.pull_work(tasks=["render"])
    assert lease is not None
    try:
        with served.http(READER) as http:
            control = http.get("/api/control").json()
    finally:
        lease.release()
    assert [(p["task"], p["reason"]) for p in control["pauses"]] == [("mail", "relay down")]
    assert control["frozen"] is False
    assert control["limits"] == [
        {"kind": "resource", "name": "gpu", "limit": 2, "running": [running.id]},
        {"kind": "task", "name": "render", "limit": 4, "running": [running.id]},
    ]
    [held] = control["holdings"]
    assert (held["kind"], held["job_id"], held["task"], held["resource"]) == ("work", running.id, "render", "gpu")


def test_control_tells_a_freeze_from_another_pause_of_the_store(served: Served) -> None:
    with served.http(READER) as http:
        served.store.pause(reason="disk move")
        assert http.get("/api/control").json()["frozen"] is False
        served.store.pause(reason=FREEZE_REASON)
        control = http.get("/api/control").json()
    assert control["frozen"] is True and [p["task"] for p in control["pauses"]] == [None]


def test_a_lease_on_a_job_deleted_since_is_listed_without_task(served: Served) -> None:
    store = served.store
    job = store.create({"n": 1}, task="hook")
    store.queue(job.id, "https://example.org/hook")
    store.fulfill(job.id, "done")
    note = store.pull_notification()
    assert note is not None
    try:
        store.delete(job.id)  # (the notify lease outlives its job until it is given back)
        with served.http(READER) as http:
            held = http.get("/api/control").json()["holdings"]
    finally:
        note.release()
    assert [(h["kind"], h["job_id"], h["task"], h["resource"]) for h in held] == [("notify", job.id, None, None)]


def test_schedules_listed_with_their_next_and_last_tick(served: Served) -> None:
    store = served.store
    store.schedules.add("nightly", cron="0 3 * * *", task="report", request={"kind": "daily"})
    store.schedules.add("often", every=60)
    store.schedules.pause("often")
    with served.http(READER) as http:
        listed = http.get("/api/schedules").json()
    assert [(s["name"], s["when"], s["task"], s["paused"], s["last_tick"]) for s in listed] == [
        ("nightly", "cron '0 3 * * *' UTC", "report", False, None),
        ("often", "every 60 s", None, True, None),
    ]
    assert listed[0]["next_tick"].endswith("T03:00:00.000000Z")


def test_the_read_only_token_cannot_pause_or_resume(served: Served) -> None:
    served.store.pause("mail")
    with served.http(READER) as http:
        for path, body in (("/api/pauses", {"task": "print"}), ("/api/pauses/resume", {"task": "mail"})):
            answer = http.post(path, json=body)
            assert answer.status_code == 403, path
            assert answer.json() == {"error": "the read-only token may not change the store", "detail": None}
    assert [p.task for p in served.store.pauses()] == ["mail"]
