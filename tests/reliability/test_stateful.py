"""Random sequences of operations against a plain in-memory model of the store."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fsjobstore import (
    JobAlreadyResolved,
    JobBusy,
    JobNotFound,
    JobStore,
    LeaseLost,
    NotificationLease,
    WorkLease,
)

UNKNOWN_ID = "0" * 26  # a valid id no generated job has (its time part is 1970)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
# A few targets that collide often, two of them the same JSON value in another key order.
targets = (
    st.sampled_from(["alice", "bob", 7, 7.5, True, None, ["x", 1], {"chat": 1, "user": "u"}, {"user": "u", "chat": 1}])
    | json_values
)
values = st.binary(max_size=12) | st.text(max_size=12)
errors = st.text(max_size=12)


def canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


@dataclass
class Model:
    request: Any
    state: str = "pending"  # pending, fulfilled or failed; running is derived from leases
    value: bytes | None = None
    error: str | None = None
    attempts: int = 0
    waiting: dict[str, Any] = field(default_factory=dict)  # canonical JSON -> target

    @property
    def resolved(self) -> bool:
        return self.state in ("fulfilled", "failed")


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="fsjobstore-stateful-")
        # Two store objects on one folder, as two processes would have.
        self.stores = [
            JobStore(self.folder + "/store", lease_seconds=60.0, durable=False, create=True),
            JobStore(self.folder + "/store", lease_seconds=60.0, durable=False, create=True),
        ]
        self.jobs: dict[str, Model] = {}
        self.order: list[str] = []
        self.work: dict[str, WorkLease] = {}  # held work leases (file on disk), by job
        self.spent_work: list[WorkLease] = []  # released or committed
        self.notes: dict[str, NotificationLease] = {}
        self.spent_notes: list[NotificationLease] = []

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def pick_id(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.order, UNKNOWN_ID]) if self.order else st.just(UNKNOWN_ID))

    def store(self, data: st.DataObject) -> JobStore:
        return self.stores[data.draw(st.integers(0, 1))]

    def shown_state(self, job_id: str) -> str:
        job = self.jobs[job_id]
        if job.state == "pending" and job_id in self.work:
            return "running"
        return job.state

    def pullable(self) -> set[str]:
        return {i for i, job in self.jobs.items() if job.state == "pending" and i not in self.work}

    def due(self) -> set[str]:
        return {i for i, job in self.jobs.items() if job.resolved and job.waiting}

    def check_result(self, job_id: str, returned: Any) -> None:
        model = self.jobs[job_id]
        assert returned.id == job_id
        assert returned.state == model.state
        assert returned.value == model.value
        assert returned.error == model.error
        assert returned.attempts == model.attempts

    # -- rules ----------------------------------------------------------------------------

    @rule(data=st.data(), request=json_values)
    def create(self, data: st.DataObject, request: Any) -> None:
        job = self.store(data).create(request)
        assert job.id not in self.jobs
        assert not self.order or job.id > self.order[-1]
        expected = json.loads(json.dumps(request))
        assert job.state == "pending" and job.request == expected
        assert (job.value, job.error, job.attempts, job.waiting) == (None, None, 0, ())
        self.jobs[job.id] = Model(request=expected)
        self.order.append(job.id)

    @rule(data=st.data())
    def pull_work(self, data: st.DataObject) -> None:
        available = self.pullable()
        lease = self.store(data).pull_work()
        if not available:
            assert lease is None
            return
        assert lease is not None, f"pull_work gave nothing while {sorted(available)} are pending"
        assert lease.id in available
        model = self.jobs[lease.id]
        assert lease.request == model.request
        assert lease.attempts == model.attempts
        assert lease.job.state == "running"
        assert not lease.compromised and not lease.released
        self.work[lease.id] = lease

    def _any_work_lease(self, data: st.DataObject) -> WorkLease:
        return data.draw(st.sampled_from([*self.work.values(), *self.spent_work]))

    @precondition(lambda self: self.work or self.spent_work)
    @rule(data=st.data())
    def release_work(self, data: st.DataObject) -> None:
        lease = self._any_work_lease(data)
        lease.release()
        assert lease.released
        if self.work.get(lease.id) is lease:
            del self.work[lease.id]
            self.spent_work.append(lease)

    def _spend(self, lease: WorkLease) -> None:
        del self.work[lease.id]
        self.spent_work.append(lease)

    @precondition(lambda self: self.work or self.spent_work)
    @rule(data=st.data(), value=values, through_store=st.booleans())
    def fulfill_through_lease(self, data: st.DataObject, value: bytes | str, through_store: bool) -> None:
        lease = self._any_work_lease(data)
        commit = (
            (lambda: self.store(data).fulfill(lease.id, value, lease=lease))
            if through_store
            else (lambda: lease.fulfill(value))
        )
        if self.work.get(lease.id) is not lease:
            try:
                commit()
            except (LeaseLost, JobAlreadyResolved):
                return
            raise AssertionError("a commit through a spent lease succeeded")
        model = self.jobs[lease.id]
        if model.resolved:
            try:
                commit()
            except JobAlreadyResolved as exc:
                assert exc.state == model.state
                return
            raise AssertionError("fulfilled a resolved job")
        job = commit()
        model.state, model.value, model.error = "fulfilled", as_bytes(value), None
        self.check_result(lease.id, job)
        assert lease.released
        self._spend(lease)

    @rule(data=st.data(), value=values)
    def fulfill_without_lease(self, data: st.DataObject, value: bytes | str) -> None:
        job_id = self.pick_id(data)
        store = self.store(data)
        if job_id not in self.jobs:
            try:
                store.fulfill(job_id, value)
            except JobNotFound:
                return
            raise AssertionError("fulfilled an unknown job")
        model = self.jobs[job_id]
        if model.resolved:
            try:
                store.fulfill(job_id, value)
            except JobAlreadyResolved as exc:
                assert exc.state == model.state
                return
            raise AssertionError("fulfilled a resolved job")
        job = store.fulfill(job_id, value)
        model.state, model.value, model.error = "fulfilled", as_bytes(value), None  # a fulfilment clears the last error
        self.check_result(job_id, job)

    @precondition(lambda self: self.work or self.spent_work)
    @rule(data=st.data(), error=errors, retry=st.booleans(), through_store=st.booleans())
    def fail_through_lease(self, data: st.DataObject, error: str, retry: bool, through_store: bool) -> None:
        lease = self._any_work_lease(data)
        commit = (
            (lambda: self.store(data).fail(lease.id, error, lease=lease, retry=retry))
            if through_store
            else (lambda: lease.fail(error, retry=retry))
        )
        if self.work.get(lease.id) is not lease:
            try:
                commit()
            except (LeaseLost, JobAlreadyResolved):
                return
            raise AssertionError("a commit through a spent lease succeeded")
        model = self.jobs[lease.id]
        if model.resolved:
            try:
                commit()
            except JobAlreadyResolved as exc:
                assert exc.state == model.state
                return
            raise AssertionError("failed a resolved job")
        job = commit()
        model.attempts += 1
        model.error = error
        model.state = "pending" if retry else "failed"
        self.check_result(lease.id, job)
        assert lease.released
        self._spend(lease)

    @rule(data=st.data(), error=errors, retry=st.booleans())
    def fail_without_lease(self, data: st.DataObject, error: str, retry: bool) -> None:
        job_id = self.pick_id(data)
        store = self.store(data)
        if job_id not in self.jobs:
            try:
                store.fail(job_id, error, retry=retry)
            except JobNotFound:
                return
            raise AssertionError("failed an unknown job")
        model = self.jobs[job_id]
        if model.resolved:
            try:
                store.fail(job_id, error, retry=retry)
            except JobAlreadyResolved as exc:
                assert exc.state == model.state
                return
            raise AssertionError("failed a resolved job")
        if retry and job_id in self.work:
            try:
                store.fail(job_id, error, retry=True)
            except JobBusy:
                return
            raise AssertionError("retried a job another worker holds")
        job = store.fail(job_id, error, retry=retry)
        model.attempts += 1
        model.error = error
        model.state = "pending" if retry else "failed"
        self.check_result(job_id, job)

    @rule(data=st.data(), target_value=targets)
    def queue(self, data: st.DataObject, target_value: Any) -> None:
        target = target_value
        job_id = self.pick_id(data)
        store = self.store(data)
        if job_id not in self.jobs:
            try:
                store.queue(job_id, target)
            except JobNotFound:
                return
            raise AssertionError("queued on an unknown job")
        store.queue(job_id, target)
        self.jobs[job_id].waiting.setdefault(canon(target), json.loads(json.dumps(target)))

    @rule(data=st.data(), use_all=st.booleans())
    def unqueue(self, data: st.DataObject, use_all: bool) -> None:
        job_id = self.pick_id(data)
        store = self.store(data)
        known = list(self.jobs[job_id].waiting.values()) if job_id in self.jobs else []
        chosen = data.draw(
            st.lists(st.sampled_from(known) | targets, max_size=3) if known else st.lists(targets, max_size=3)
        )
        if not use_all:
            chosen = chosen[:1] or ["nobody"]
        call = (lambda: store.unqueue_all(job_id, chosen)) if use_all else (lambda: store.unqueue(job_id, chosen[0]))
        if job_id not in self.jobs:
            try:
                call()
            except JobNotFound:
                return
            raise AssertionError("unqueued on an unknown job")
        call()
        for target in chosen:
            self.jobs[job_id].waiting.pop(canon(target), None)

    @rule(data=st.data())
    def pull_notification(self, data: st.DataObject) -> None:
        available = self.due() - set(self.notes)
        note = self.store(data).pull_notification()
        if not available:
            assert note is None
            return
        assert note is not None, f"pull_notification gave nothing while {sorted(available)} are due"
        assert note.id in available
        model = self.jobs[note.id]
        assert note.value == model.value
        assert note.job.state == model.state and note.job.error == model.error
        shown = [canon(target) for target in note.waiting]
        assert len(shown) == len(set(shown))
        assert set(shown) == set(model.waiting)
        assert not note.compromised and not note.released
        self.notes[note.id] = note

    def _any_note(self, data: st.DataObject) -> NotificationLease:
        return data.draw(st.sampled_from([*self.notes.values(), *self.spent_notes]))

    @precondition(lambda self: self.notes or self.spent_notes)
    @rule(data=st.data(), extra=st.lists(targets, max_size=1))
    def note_done(self, data: st.DataObject, extra: list[Any]) -> None:
        note = self._any_note(data)
        delivered = data.draw(st.lists(st.sampled_from(note.waiting), unique_by=canon) if note.waiting else st.just([]))
        delivered += extra
        if self.notes.get(note.id) is not note:
            try:
                note.done(delivered)
            except LeaseLost:
                return
            raise AssertionError("done through a spent notification lease succeeded")
        note.done(delivered)
        assert note.released
        for target in delivered:
            self.jobs[note.id].waiting.pop(canon(target), None)
        del self.notes[note.id]
        self.spent_notes.append(note)

    @precondition(lambda self: self.notes or self.spent_notes)
    @rule(data=st.data())
    def note_release(self, data: st.DataObject) -> None:
        note = self._any_note(data)
        note.release()
        assert note.released
        if self.notes.get(note.id) is note:
            del self.notes[note.id]
            self.spent_notes.append(note)

    @rule(data=st.data())
    def get_unknown(self, data: st.DataObject) -> None:
        try:
            self.store(data).get(UNKNOWN_ID)
        except JobNotFound:
            return
        raise AssertionError("got an unknown job")

    # -- what must hold after every step --------------------------------------------------

    @invariant()
    def every_job_is_as_modelled(self) -> None:
        for store in self.stores:
            for job_id, model in self.jobs.items():
                job = store.get(job_id)
                assert job.id == job_id
                assert job.state == self.shown_state(job_id), (job_id, job.state, self.shown_state(job_id))
                assert job.request == model.request
                assert job.value == model.value
                assert job.error == model.error
                assert job.attempts == model.attempts
                shown = [canon(target) for target in job.waiting]
                assert len(shown) == len(set(shown)), "a target is waiting twice"
                assert set(shown) == set(model.waiting)

    @invariant()
    def listing_and_counts_agree(self) -> None:
        store = self.stores[0]
        listed = list(store.jobs())
        assert [job.id for job in listed] == self.order  # creation order, every state
        assert [job.state for job in listed] == [self.shown_state(i) for i in self.order]
        for state in ("pending", "running", "fulfilled", "failed"):
            assert [job.id for job in store.jobs(state)] == [
                i for i in self.order if self.shown_state(i) == state
            ]
        counts = {state: 0 for state in ("pending", "running", "fulfilled", "failed")}
        for job_id in self.jobs:
            counts[self.shown_state(job_id)] += 1
        counts["due"] = len(self.due())
        stats = self.stores[1].stats()
        assert {k: v for k, v in stats.items() if k not in counts and v} == {}  # e.g. cancelled: none here
        assert {k: stats[k] for k in counts} == counts


StoreMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStoreMachine = StoreMachine.TestCase
