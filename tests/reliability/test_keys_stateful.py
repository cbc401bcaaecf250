"""Unique keys: random sequences of keyed creates (each conflict rule), work,
cancellation, purges and creations that stopped between their two links, against
a model of which job has each key."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fsjobstore import DuplicateJob, JobStateError, JobStore, WorkLease
from fsjobstore._files import fsio
from fsjobstore._files.ids import new_id
from fsjobstore._files.records import Record
from fsjobstore._files.values import encode_json
from fsjobstore._store.keys import key_name

KEYS = st.sampled_from(["a", "b", "c"])
RULES = st.sampled_from(["return", "raise", "replace", "extend"])


@dataclass
class Model:
    key: str | None
    request: Any
    state: str = "pending"  # pending, running (a lease held here), fulfilled, cancelled
    delayed: bool = False


class KeysMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="fsjobstore-keys-")
        path = self.folder + "/store"
        self.stores = [JobStore(path, lease_seconds=60.0, durable=False, create=True) for _ in range(2)]
        self.jobs: dict[str, Model] = {}
        self.holder: dict[str, str] = {}  # key -> id of the job that has it
        self.unfinished: dict[str, str] = {}  # key -> id of a create stopped between its links
        self.leases: dict[str, WorkLease] = {}
        self.counter = 0

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def store(self, data: st.DataObject) -> JobStore:
        return self.stores[data.draw(st.integers(0, 1))]

    def finish(self, key: str) -> None:
        """The model's side of a create with *key* meeting a stopped one: it is finished."""
        job_id = self.unfinished.pop(key, None)
        if job_id is not None:
            self.holder[key] = job_id

    @rule(data=st.data(), key=KEYS, on_conflict=RULES, delay=st.booleans())
    def create(self, data: st.DataObject, key: str, on_conflict: str, delay: bool) -> None:
        self.counter += 1
        request = {"n": self.counter}
        self.finish(key)
        holder = self.holder.get(key)
        not_before = 3600 if delay or on_conflict == "extend" else None
        model = self.jobs.get(holder) if holder else None
        try:
            job = self.store(data).create(request, key=key, on_conflict=on_conflict, not_before=not_before)
        except DuplicateJob as exc:
            assert model is not None and on_conflict == "raise" and exc.job_id == holder
            return
        except JobStateError:
            assert model is not None and on_conflict in ("replace", "extend") and model.state != "pending"
            return
        if model is None:
            assert job.key == key and job.request == request and job.id not in self.jobs
            self.jobs[job.id] = Model(key, request, delayed=not_before is not None)
            self.holder[key] = job.id
            return
        assert job.id == holder, "a second job was given a key that a job has"
        assert on_conflict in ("return", "raise") or model.state == "pending"
        if on_conflict == "replace":
            model.request = request
            model.delayed = not_before is not None
        elif on_conflict == "extend":
            model.delayed = True
        assert job.request == model.request

    @rule(key=KEYS)
    def stop_between_the_links(self, key: str) -> None:
        """A creator killed after publishing the key file, before the pending record."""
        if key in self.holder or key in self.unfinished:
            return
        self.counter += 1
        request = {"n": self.counter}
        record = Record.new(new_id(), request, encode_json(request, "request"), key=key)
        layout = self.stores[0].context.layout
        fsio.publish(layout.tmp, layout.keys, key_name(key), record.render(), durable=False, replace=False)
        self.jobs[record.id] = Model(key, request)
        self.unfinished[key] = record.id

    @rule(data=st.data())
    def work(self, data: st.DataObject) -> None:
        lease = self.store(data).pull_work()
        if lease is None:
            assert not [i for i, m in self.jobs.items()
                        if m.state == "pending" and not m.delayed and i not in self.unfinished.values()]
            return
        model = self.jobs[lease.id]
        assert model.state == "pending" and not model.delayed
        model.state = "running"
        self.leases[lease.id] = lease

    @rule(data=st.data())
    def fulfill(self, data: st.DataObject) -> None:
        if self.leases:
            job_id = data.draw(st.sampled_from(sorted(self.leases)))
            self.leases.pop(job_id).fulfill("done")
            self.jobs[job_id].state = "fulfilled"

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        live = sorted(i for i, m in self.jobs.items()
                      if m.state in ("pending", "running") and i not in self.unfinished.values())
        if live:
            job_id = data.draw(st.sampled_from(live))
            self.store(data).cancel(job_id)
            self.jobs[job_id].state = "cancelled"
            lease = self.leases.pop(job_id, None)
            if lease is not None:
                lease.release()

    @rule(data=st.data())
    def purge(self, data: st.DataObject) -> None:
        gone = [i for i, m in self.jobs.items() if m.state in ("fulfilled", "cancelled")]
        assert self.store(data).purge(older_than=0) == len(gone)
        for job_id in gone:
            key = self.jobs.pop(job_id).key
            if key is not None and self.holder.get(key) == job_id:
                del self.holder[key]

    @rule()
    def repair(self) -> None:
        report = self.stores[0].check(repair=True)
        assert sorted(p.kind for p in report.problems) == ["unfinished-create"] * len(self.unfinished)
        for key in list(self.unfinished):
            self.finish(key)

    @invariant()
    def one_job_per_key_and_the_models(self) -> None:
        listed = list(self.stores[1].jobs())
        keyed: dict[str, list[str]] = {}
        for job in listed:
            assert job.key is not None
            keyed.setdefault(job.key, []).append(job.id)
        assert {key: ids for key, ids in keyed.items() if len(ids) > 1} == {}
        assert {key: ids[0] for key, ids in keyed.items()} == self.holder
        for job in listed:
            model = self.jobs[job.id]
            assert job.request == model.request and job.state == model.state


KeysMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
TestKeysMachine = KeysMachine.TestCase
