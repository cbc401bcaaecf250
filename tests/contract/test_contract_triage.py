"""Contract: failed-job triage (fsjobstore.triage) over every store."""

from __future__ import annotations

from fsjobstore.interface import Store
from fsjobstore.triage import JobFilter, retry_matching


def _fail(store: Store, request: object, error: str, **options: object) -> str:
    job = store.create(request, **options)  # type: ignore[arg-type]
    store.fail(job.id, error)
    return job.id


def test_retry_every_job_whose_error_matches_with_progress(store: Store) -> None:
    timeouts = [_fail(store, n, f"Timeout: gave up after {n} s") for n in range(3)]
    other = _fail(store, "x", "KeyError: 'url'")
    labelled = _fail(store, "y", "timeout again", labels={"sender": "api"})
    pending = store.create("still pending").id
    where = JobFilter(state="failed", error="TIMEOUT")
    assert [job.id for job in where.jobs(store)] == [*timeouts, labelled]
    seen: list[tuple[int, int]] = []
    outcome = retry_matching(store, where, progress=lambda done, total: seen.append((done, total)))
    assert outcome.retried == [*timeouts, labelled] and outcome.skipped == {}
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert {store.get(i).state for i in [*timeouts, labelled, pending]} == {"pending"}
    assert store.get(other).state == "failed"


def test_retry_by_labels_and_task_and_say_what_was_skipped(store: Store) -> None:
    mine = _fail(store, 1, "boom", labels={"sender": "api"}, task="mail")
    _fail(store, 2, "boom", labels={"sender": "cron"}, task="mail")
    outcome = retry_matching(store, JobFilter(state="failed", task="mail", labels={"sender": "api"}))
    assert outcome.retried == [mine]
    assert retry_matching(store, JobFilter(state="failed", error="nothing like it")).retried == []
    assert len(retry_matching(store).retried) == 1  # the default: every failed job
