"""Addressed, prioritised and expiring jobs: random sequences of creates, pulls (to an
address or to nobody), commits, retries and discards, against a model. A pull takes
a job of its own address, of the highest priority waiting there, never one leased
and never one past its deadline (that one ends expired)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fsjobstore import JobStore, WorkLease

ADDRESSES = st.sampled_from([None, "a", "b"])
PRIORITIES = st.sampled_from([-2, 0, 0, 3, 100])
LABELS = st.sampled_from([{}, {"sender": "x"}, {"sender": "y", "kind": "z"}])


@dataclass
class Model:
    to: str | None
    priority: int
    labels: dict[str, str]
    state: str = "pending"
    late: bool = False  # created past its deadline: never to run


class QueuesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="fsjobstore-queues-")
        path = self.folder + "/store"
        self.stores = [JobStore(path, lease_seconds=60.0, durable=False, create=True) for _ in range(2)]
        self.jobs: dict[str, Model] = {}
        self.leases: dict[str, WorkLease] = {}

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def store(self, data: st.DataObject) -> JobStore:
        return self.stores[data.draw(st.integers(0, 1))]

    def waiting(self, to: str | None) -> list[str]:
        return [i for i, m in self.jobs.items() if m.to == to and m.state == "pending" and i not in self.leases]

    @rule(data=st.data(), to=ADDRESSES, priority=PRIORITIES, labels=LABELS, late=st.booleans())
    def create(self, data: st.DataObject, to: str | None, priority: int, labels: dict[str, str], late: bool) -> None:
        labels = {**labels, **({} if to is None else {"to": to})}
        deadline = datetime.now(UTC) + (timedelta(seconds=-1) if late else timedelta(hours=1))
        job = self.store(data).create(None, priority=priority, labels=labels, deadline=deadline)
        assert (job.priority, job.labels) == (priority, labels)
        self.jobs[job.id] = Model(to, priority, labels, late=late)

    @rule(data=st.data(), to=ADDRESSES)
    def pull(self, data: st.DataObject, to: str | None) -> None:
        waiting = self.waiting(to)
        lease = self.store(data).pull_work(to=to)
        for job_id in waiting:  # (a pull that reached a job past its deadline expired it)
            if self.jobs[job_id].late and self.stores[0].get(job_id).state == "expired":
                self.jobs[job_id].state = "expired"
        runnable = [i for i in waiting if not self.jobs[i].late]
        if lease is None:
            assert runnable == []
            return
        assert lease.id in runnable, "a job of another address, leased or past its deadline, was handed out"
        top = max(self.jobs[i].priority for i in runnable)
        assert self.jobs[lease.id].priority == top, "a lower priority was taken first"
        self.jobs[lease.id].state = "running"
        self.leases[lease.id] = lease

    @rule(data=st.data(), how=st.sampled_from(["fulfill", "retry", "release", "fail", "discard"]))
    def commit(self, data: st.DataObject, how: str) -> None:
        if not self.leases:
            return
        job_id = data.draw(st.sampled_from(sorted(self.leases)))
        lease = self.leases.pop(job_id)
        if how == "fulfill":
            lease.fulfill("x")
            self.jobs[job_id].state = "fulfilled"
        elif how == "fail":
            lease.fail("boom")
            self.jobs[job_id].state = "failed"
        elif how == "discard":
            lease.discard("invalid")
            self.jobs[job_id].state = "discarded"
        else:
            lease.fail("again", retry=True) if how == "retry" else lease.release()
            self.jobs[job_id].state = "pending"

    @rule(data=st.data())
    def retry_failed(self, data: st.DataObject) -> None:
        failed = sorted(i for i, m in self.jobs.items() if m.state in ("failed", "expired", "discarded"))
        if failed:
            job_id = data.draw(st.sampled_from(failed))
            assert self.store(data).retry(job_id).state == "pending"
            self.jobs[job_id].state = "pending"
            self.jobs[job_id].late = False  # (a retry takes its deadline away)

    @invariant()
    def listed_as_modelled(self) -> None:
        store = self.stores[1]
        shown = {i: ("pending" if m.state == "running" and i not in self.leases else m.state)
                 for i, m in self.jobs.items()}
        listed = {job.id: job for job in store.jobs()}
        assert {i: job.state for i, job in listed.items()} == shown
        for job_id, job in listed.items():
            assert (job.priority, job.labels) == (self.jobs[job_id].priority, self.jobs[job_id].labels)
        assert sorted(job.id for job in store.jobs(labels={"sender": "x"})) == sorted(
            i for i, m in self.jobs.items() if m.labels.get("sender") == "x")
        assert store.stats()["pending"] + store.stats()["running"] == sum(
            m.state in ("pending", "running") for m in self.jobs.values())


QueuesMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
TestQueuesMachine = QueuesMachine.TestCase
