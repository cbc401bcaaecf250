"""Random sequences of creates, pauses, resumes, limits, pulls and commits against a
model: a pull returns a job exactly when the model has one its pauses, tasks and
limits allow, and never one they stop; ``pauses()`` and ``limits()`` are the
model's; no resource or task ever runs more jobs than its limit; every job's
progress is the last one reported through a lease on it."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fsjobstore import JobStore, WorkLease

TASKS = [None, "a", "b"]
tasks = st.sampled_from(TASKS)
pausable = st.sampled_from([None, "a", "b"])  # None: the whole store
wanted = st.none() | st.lists(tasks, min_size=1, max_size=3, unique=True)
resources = st.sampled_from([None, "gpu", "disk"])
limits = st.none() | st.integers(min_value=1, max_value=3)


class ControlMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="fsjobstore-pauses-")
        self.store = JobStore(self.folder + "/store", lease_seconds=60.0, durable=False, create=True)
        self.pending: dict[str, tuple[str | None, str | None]] = {}  # job id -> (task, resource)
        self.paused: set[str | None] = set()  # None: the whole store
        self.limits: dict[tuple[str, str], int] = {}
        # The slot leases of a limit are taken lowest first: (kind, name) -> the
        # indexes held, and what each held lease holds
        self.slots: dict[tuple[str, str], set[int]] = {}
        self.holding: dict[str, list[tuple[tuple[str, str], int]]] = {}
        self.progress: dict[str, int] = {}
        self.held: list[WorkLease] = []

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _free_slot(self, kind: str, name: str | None) -> int | None:
        """The slot a pull takes for (kind, name): the lowest free index under its
        limit; -1 for no limit at all; None if none is free."""
        if name is None:
            return -1
        limit = self.limits.get((kind, name), 1 if kind == "resource" else None)
        if limit is None:
            return -1
        held = self.slots.get((kind, name), set())
        return next((i for i in range(limit) if i not in held), None)

    def _allowed(self, task: str | None, resource: str | None, want: list[str | None] | None) -> bool:
        if None in self.paused or (want is not None and task not in want) or (task is not None and task in self.paused):
            return False
        return self._free_slot("task", task) is not None and self._free_slot("resource", resource) is not None

    @rule(task=tasks, resource=resources)
    def create(self, task: str | None, resource: str | None) -> None:
        self.pending[self.store.create("r", task=task, resource=resource).id] = (task, resource)

    @rule(limit=limits, resource=st.sampled_from(["gpu", "disk"]))
    def limit_resource(self, limit: int | None, resource: str) -> None:
        self.store.set_limit(limit, resource=resource)
        self._set(("resource", resource), limit)

    @rule(limit=limits, task=st.sampled_from(["a", "b"]))
    def limit_task(self, limit: int | None, task: str) -> None:
        self.store.set_limit(limit, task=task)
        self._set(("task", task), limit)

    def _set(self, key: tuple[str, str], limit: int | None) -> None:
        if limit is None:
            self.limits.pop(key, None)
        else:
            self.limits[key] = limit

    @rule(what=pausable)
    def pause(self, what: str | None) -> None:
        self.store.pause(what)
        self.paused.add(what)

    @rule(what=pausable)
    def resume(self, what: str | None) -> None:
        assert self.store.resume(what) is (what in self.paused)
        self.paused.discard(what)

    @rule(want=wanted)
    def pull(self, want: list[str | None] | None) -> None:
        held = {lease.id for lease in self.held}
        workable = [i for i, (task, resource) in self.pending.items()
                    if i not in held and self._allowed(task, resource, want)]
        lease = self.store.pull_work(tasks=want)
        if not workable:
            assert lease is None
            return
        assert lease is not None and lease.id in workable
        self.held.append(lease)
        task, resource = self.pending[lease.id]
        self.holding[lease.id] = []
        for kind, name in (("task", task), ("resource", resource)):
            slot = self._free_slot(kind, name)
            if name is not None and slot is not None and slot >= 0:
                self.slots.setdefault((kind, name), set()).add(slot)
                self.holding[lease.id].append(((kind, name), slot))

    @rule(value=st.integers(0, 9))
    def report(self, value: int) -> None:
        if self.held:
            self.held[-1].progress(value)
            self.progress[self.held[-1].id] = value

    @rule(fulfil=st.booleans())
    def finish_one(self, fulfil: bool) -> None:
        if not self.held:
            return
        lease = self.held.pop(0)
        for key, slot in self.holding.pop(lease.id):
            self.slots[key].discard(slot)
        if fulfil:
            assert lease.fulfill("v").progress == self.progress.pop(lease.id, None)  # (a pause never stops a commit)
            del self.pending[lease.id]
        else:
            lease.release()

    @invariant()
    def pauses_are_the_model(self) -> None:
        assert {pause.task for pause in self.store.pauses()} == self.paused
        assert {h.job_id for h in self.store.holdings()} == {lease.id for lease in self.held}
        assert {(e.kind, e.name): e.limit for e in self.store.limits()} == self.limits
        for job_id in self.pending:
            assert self.store.get(job_id).progress == self.progress.get(job_id)


ControlMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestControlMachine = ControlMachine.TestCase
