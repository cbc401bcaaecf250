"""GET /metrics: the store's state read at each scrape, and request latency.

A registry per app (not prometheus_client's global one), so that several apps in
one process (the tests) each report only their own store.

Attempts, failures and take-overs are read from the jobs themselves (their
``attempts`` and attempt ``history``), the one source every host writes: a
counter kept by this server would miss what local workers and other servers do.
So they are gauges over the jobs now in the store (a purge or a retry lowers
them), counted at most every few seconds (census.py) from the bucket summaries
and what was read of the unresolved records before: a scrape reads only the
records that changed since the last.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ...job import PENDING, STATES
from ...views import Census
from .context import Context


class StoreCollector(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        store = self.ctx.store
        stats = store.stats()
        jobs = GaugeMetricFamily("fsjobstore_jobs", "Jobs in the store per state.", labels=["state"])
        for state in STATES:
            jobs.add_metric([state], stats[state])
        yield jobs
        yield from _census_metrics(self.ctx.census.get())
        yield GaugeMetricFamily("fsjobstore_notifications_due", "Resolved jobs with targets to notify.",
                                value=stats["due"])
        oldest = next(store.jobs(PENDING), None)  # (creation order: the first is the oldest)
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest.created_at.timestamp())
        yield GaugeMetricFamily("fsjobstore_oldest_pending_age_seconds",
                                "Age of the oldest job waiting for a worker (0: none).", value=age)
        held = GaugeMetricFamily("fsjobstore_http_leases", "Leases held for HTTP clients.", labels=["kind"])
        entries = self.ctx.leases.entries()
        for kind in ("work", "notification"):
            held.add_metric([kind], sum(1 for entry in entries if entry.kind == kind))
        yield held
        yield CounterMetricFamily(
            "fsjobstore_http_leases_reaped",
            "HTTP leases given back because their client stopped renewing (a take-over).",
            value=self.ctx.leases.reaped,
        )


def _census_metrics(census: Census) -> Iterator[Metric]:
    by_task = GaugeMetricFamily("fsjobstore_task_jobs", "Jobs in the store per task (\"\": none) and state.",
                                labels=["task", "state"])
    for task, states in sorted(census.jobs.items()):
        for state, count in states.items():
            by_task.add_metric([task, state], count)
    yield by_task
    failed = GaugeMetricFamily(
        "fsjobstore_task_failed_attempts",
        "Failed attempts (fail() calls and expired leases) counted by the jobs now in the store, per task; "
        "a retry() counts its job's from zero again.", labels=["task"])
    for task in sorted(census.jobs):
        failed.add_metric([task], census.failed_attempts[task])
    yield failed
    attempts = GaugeMetricFamily(
        "fsjobstore_task_attempts",
        "Attempts in the histories of the jobs now in the store (each keeps its last 10), per task and outcome: "
        "fulfilled, failed, retried (failed, to be tried again), expired (taken over).",
        labels=["task", "outcome"])
    for (task, outcome), count in sorted(census.outcomes.items()):
        attempts.add_metric([task, outcome], count)
    yield attempts
    takeovers = GaugeMetricFamily(
        "fsjobstore_lease_takeovers",
        "Attempts that ended in a lease take-over (its holder stopped renewing and another took the job), "
        "as the histories of the jobs now in the store record them (each keeps its last 10), per task. "
        "HTTP clients gone silent are fsjobstore_http_leases_reaped.", labels=["task"])
    expired = census.takeovers()
    for task in sorted(census.jobs):
        takeovers.add_metric([task], expired[task])
    yield takeovers


class Metrics:
    def __init__(self, ctx: Context) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(ctx))
        self.latency = Histogram(
            "fsjobstore_http_request_seconds", "Time to answer an HTTP request.",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
