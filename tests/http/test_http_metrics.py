"""GET /metrics scraped from a real server and parsed as Prometheus parses it."""

from __future__ import annotations

from httpfixtures import LEASE, READER, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)
from loophelpers import wait_for
from prometheus_client.parser import text_string_to_metric_families

from fsjobstore import JobStore
from fsjobstore.http.server.census import CENSUS_SECONDS, fresh_for


def scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with served.http(READER) as http:
        answer = http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def test_store_gauges_and_request_latency(served: Served) -> None:
    served.store.create("waiting")
    with served.http() as http:
        http.get("/api/stats")
    samples = scrape(served)
    assert samples["fsjobstore_jobs", (("state", "pending"),)] == 1
    assert samples["fsjobstore_notifications_due", ()] == 0
    assert ("fsjobstore_oldest_pending_age_seconds", ()) in samples
    latency = ("fsjobstore_http_request_seconds_count", (("method", "GET"), ("route", "/api/stats"), ("status", "200")))
    assert samples[latency] == 1
    assert samples["fsjobstore_http_leases_reaped_total", ()] == 0


def test_jobs_attempts_failures_and_take_overs_per_task(served: Served) -> None:
    store = served.store
    bounced = store.create("a", task="mail")
    jammed = store.create("c", task="print")
    store.create("d")
    # A holder that stops renewing (as a hung or killed worker) has its lease taken over.
    with JobStore(served.path, lease_seconds=LEASE) as hung, JobStore(served.path, lease_seconds=LEASE) as taker:
        held = hung.pull_work(tasks=["mail"])
        assert held is not None and held.id == bounced.id
        hung.context.renewer.freeze()
        taken = wait_for(lambda: taker.pull_work(tasks=["mail"]), timeout=LEASE * 5, what="the take-over")
        assert taken.id == bounced.id
        taken.fail("mailbox full")
    sent = store.create("b", task="mail")
    lease = store.pull_work(tasks=["mail"])
    assert lease is not None and lease.id == sent.id
    lease.fulfill("sent")
    for retry in (True, False):
        lease = store.pull_work(tasks=["print"])
        assert lease is not None and lease.id == jammed.id
        lease.fail("paper jam", retry=retry)

    samples = scrape(served)

    def per_task(name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
        wanted = set(labels.items())
        return {key: value for (metric, key), value in samples.items()
                if metric == name and wanted <= set(key) and value}

    jobs = {(dict(k)["task"], dict(k)["state"]): v for k, v in per_task("fsjobstore_task_jobs").items()}
    assert jobs == {("mail", "failed"): 1, ("mail", "fulfilled"): 1, ("print", "failed"): 1, ("", "pending"): 1}
    failed = {dict(k)["task"]: v for k, v in per_task("fsjobstore_task_failed_attempts").items()}
    assert failed == {"mail": 2, "print": 2}  # mail: the expired lease and the failure
    attempts = {(dict(k)["task"], dict(k)["outcome"]): v for k, v in per_task("fsjobstore_task_attempts").items()}
    assert attempts == {("mail", "expired"): 1, ("mail", "failed"): 1, ("mail", "fulfilled"): 1,
                        ("print", "retried"): 1, ("print", "failed"): 1}
    assert samples["fsjobstore_lease_takeovers", (("task", "mail"),)] == 1
    assert samples["fsjobstore_lease_takeovers", (("task", "print"),)] == 0


def test_a_census_that_takes_long_is_taken_again_only_after_ten_times_as_long() -> None:
    assert fresh_for(0.01) == CENSUS_SECONDS, "a quick count: every few seconds"
    assert fresh_for(30.0) == 300.0, "a count of 30 s: a tenth of the time at most"
