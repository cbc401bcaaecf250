"""A purge interleaved, call by call, with a ``create`` repeated under the id of the
job it removes (what the HTTP client does when a create's reply was lost).

As the crash-point tests stop an operation at each filesystem call it makes, these
stop one operation before each of its calls and run the other, whole, from a
second store object (another process, as far as the store can tell): a create
within each step of a purge, and a purge within each step of a create. Whatever
the interleaving, the create returns, and a job it returned as pending exists
once both are done: a purge never removes a pending record it did not find
beside the resolved one it removes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from invariants import FsSpy, assert_check_clean, before_call, check_files, observe

from fsjobstore import Job, JobStore
from fsjobstore._files.ids import new_id

REQUEST = {"order": 42}
CREATES: dict[str, Callable[[JobStore, str], Job]] = {
    "create": lambda store, job_id: store.create(REQUEST, job_id=job_id),
    "create_many": lambda store, job_id: store.create_many([REQUEST], job_ids=[job_id])[0],
}


def _resolved_job(root: Path, durable: bool) -> tuple[JobStore, JobStore, str]:
    """Two store objects on a new store holding one resolved job made under an id
    the caller picked: the one that creates, and the one that purges."""
    creator = JobStore(root, durable=durable, watch=False, create=True)
    purger = JobStore(root, durable=durable, watch=False)
    job_id = new_id()
    creator.create(REQUEST, job_id=job_id)
    creator.fulfill(job_id, "done")
    return creator, purger, job_id


def _check(creator: JobStore, job_id: str, made: Job | None, failure: BaseException | None) -> None:
    assert failure is None, f"the create raised {failure!r}"
    assert made is not None
    jobs = observe(creator)
    if made.state == "pending":
        assert job_id in jobs, "the job the create returned as pending is lost"
        assert jobs[job_id].state == "pending" and jobs[job_id].request == REQUEST
    else:  # (it found the job made before, which a purge may remove afterwards)
        assert made.state == "fulfilled" and made.value == b"done"
    check_files(creator.path)
    assert_check_clean(creator, frozenset({"leftover"}))


def _count(root: Path, durable: bool, spied: str, how: str) -> int:
    creator, purger, job_id = _resolved_job(root, durable)
    spy = FsSpy()
    with spy.installed():
        if spied == "purge":
            purger.purge(older_than=0)
        else:
            CREATES[how](creator, job_id)
    creator.close()
    purger.close()
    return spy.count


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "nosync"])
@pytest.mark.parametrize("how", sorted(CREATES))
def test_a_create_within_each_step_of_a_purge_of_its_job_is_never_lost(tmp_path: Path, how: str,
                                                                       durable: bool) -> None:
    total = _count(tmp_path / "count", durable, "purge", how)
    for k in range(1, total + 1):
        creator, purger, job_id = _resolved_job(tmp_path / f"k{k}", durable)
        outcome: dict[str, Any] = {}

        def create() -> None:
            try:
                outcome["job"] = CREATES[how](creator, job_id)  # noqa: B023
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcome["error"] = exc  # noqa: B023

        spy = before_call(k, create)
        with spy.installed():
            purger.purge(older_than=0)
        assert "job" in outcome or "error" in outcome, f"call {k} of {total} never came"
        try:
            _check(creator, job_id, outcome.get("job"), outcome.get("error"))
        except AssertionError as exc:
            raise AssertionError(f"a create before purge's call {spy.calls[k - 1]!r}: {exc}") from None
        finally:
            creator.close()
            purger.close()


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "nosync"])
@pytest.mark.parametrize("how", sorted(CREATES))
def test_a_purge_within_each_step_of_a_create_never_loses_the_job(tmp_path: Path, how: str, durable: bool) -> None:
    total = _count(tmp_path / "count", durable, "create", how)
    for k in range(1, total + 1):
        creator, purger, job_id = _resolved_job(tmp_path / f"k{k}", durable)
        purged: list[BaseException] = []

        def purge() -> None:
            try:
                purger.purge(older_than=0)  # noqa: B023
            except BaseException as exc:  # noqa: BLE001 - inspected below
                purged.append(exc)  # noqa: B023

        spy = before_call(k, purge)
        made, failure = None, None
        with spy.installed():
            try:
                made = CREATES[how](creator, job_id)
            except BaseException as exc:  # noqa: BLE001 - inspected below
                failure = exc
        try:
            assert purged == [], f"the purge raised {purged}"
            _check(creator, job_id, made, failure)
        except AssertionError as exc:
            raise AssertionError(f"a purge before the create's call {spy.calls[k - 1]!r}: {exc}") from None
        finally:
            creator.close()
            purger.close()
