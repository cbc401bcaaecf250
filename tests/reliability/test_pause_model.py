"""Random sequences of creates, pauses, resumes, pulls and commits against a model:
a pull returns a job exactly when the model has one its pauses and tasks allow,
and never one they stop; ``pauses()`` is the model's set; freeze finds no lease."""

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


class PauseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="fsjobstore-pauses-")
        self.store = JobStore(self.folder + "/store", lease_seconds=60.0, durable=False, create=True)
        self.pending: dict[str, str | None] = {}  # job id -> task
        self.paused: set[str | None] = set()  # None: the whole store
        self.held: list[WorkLease] = []

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _allowed(self, task: str | None, want: list[str | None] | None) -> bool:
        if None in self.paused or (want is not None and task not in want):
            return False
        return task is None or task not in self.paused

    @rule(task=tasks)
    def create(self, task: str | None) -> None:
        self.pending[self.store.create("r", task=task).id] = task

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
        workable = [i for i, task in self.pending.items() if i not in held and self._allowed(task, want)]
        lease = self.store.pull_work(tasks=want)
        if not workable:
            assert lease is None
            return
        assert lease is not None and lease.id in workable
        self.held.append(lease)

    @rule(fulfil=st.booleans())
    def finish_one(self, fulfil: bool) -> None:
        if not self.held:
            return
        lease = self.held.pop(0)
        if fulfil:
            lease.fulfill("v")  # (a pause never stops a commit)
            del self.pending[lease.id]
        else:
            lease.release()

    @invariant()
    def pauses_are_the_model(self) -> None:
        assert {pause.task for pause in self.store.pauses()} == self.paused
        assert {h.job_id for h in self.store.holdings()} == {lease.id for lease in self.held}


PauseMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPauseMachine = PauseMachine.TestCase
