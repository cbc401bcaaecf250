"""Export and import: jobs in every state move to another store unchanged; a bad line
imports nothing; an id the store has already is skipped, replaced or renamed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fsjobstore import JobStore
from fsjobstore._store.transfer import ImportRejected


def _same(job: Any) -> dict[str, Any]:
    """What must survive the move (a running job arrives pending: its lease stays behind)."""
    fields = job.to_dict()
    fields["state"] = "pending" if fields["state"] == "running" else fields["state"]
    fields.pop("updated_at")
    return fields


def _source(store: JobStore) -> dict[str, str]:
    """A job in every state, with values, errors, history and waiting targets."""
    ids = {name: store.create({"name": name}, task="t", resource=None if name != "running" else "db").id
           for name in ("pending", "running", "fulfilled", "failed", "cancelled", "retried")}
    store.queue(ids["pending"], {"reply_to": "a"})
    store.queue(ids["fulfilled"], "b")
    store.queue(ids["fulfilled"], ["c", 1])
    for name in ("fulfilled", "failed", "retried", "running"):
        while (lease := store.pull_work()) is not None and lease.id != ids[name]:
            lease.release()
        assert lease is not None
        if name == "fulfilled":
            lease.fulfill(b"\xff\x00 binary")
        elif name == "failed":
            lease.fail("it broke", retry=False)
        elif name == "retried":
            lease.fail("once", retry=True)
        else:
            store.running_lease = lease  # type: ignore[attr-defined]  # (held while exporting)
    store.cancel(ids["cancelled"])
    return ids


def test_every_job_moves_to_another_store_unchanged(open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    source, target = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    ids = _source(source)
    lines = list(source.transfer.export(None, None))
    assert len(lines) == len(ids)
    report = target.transfer.import_lines(lines, "skip")
    assert sorted(report.imported) == sorted(ids.values())
    for job in source.jobs():
        assert _same(target.get(job.id)) == _same(job)
    assert target.get(ids["fulfilled"]).value == b"\xff\x00 binary"
    assert target.get(ids["retried"]).history == source.get(ids["retried"]).history != ()
    note = target.pull_notification()  # a resolved job's targets are due in the new store
    assert note is not None and note.id == ids["fulfilled"] and sorted(map(json.dumps, note.waiting)) == \
        sorted(map(json.dumps, ["b", ["c", 1]]))
    note.release()
    assert target.check().clean
    assert sorted(json.loads(line)["id"] for line in target.transfer.export(None, None)) == sorted(ids.values())


def test_export_filters_by_state_and_task(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    kept = store.create(1, task="keep").id
    store.create(2, task="other")
    store.cancel(store.create(3, task="keep").id)
    assert [json.loads(line)["id"] for line in store.transfer.export("pending", "keep")] == [kept]


@pytest.mark.parametrize("line, problem", [
    ("not json", "line 2: not JSON"),
    ("[1, 2]", "line 2: not a JSON object"),
    ('{"state": "pending"}', "line 2: no id"),
    ('{"id": "../x"}', "line 2: job id '../x' may only hold"),
    ('{"id": "A", "format": 1, "state": "done"}', "line 2: unknown state 'done'"),
    ('{"id": "A", "format": 1, "state": "pending", "request": 1}', "line 2: missing value"),
    ('{"id": "A", "format": 9}', "line 2: format version 9"),
    ('{"id": "A", "waiting": "x"}', "line 2: waiting is not a list"),
])
def test_a_bad_line_is_named_by_its_number_and_nothing_is_imported(
        open_store: Callable[..., JobStore], tmp_path: Path, snapshot: Callable[[Path], dict[str, Any]],
        line: str, problem: str) -> None:
    source, target = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    good = [source.create(n).id for n in range(2)]
    lines = list(source.transfer.export(None, None))
    before = snapshot(tmp_path / "b")
    with pytest.raises(ImportRejected, match="nothing imported: 1 bad line") as raised:
        target.transfer.import_lines([lines[0], line, lines[1]], "skip")
    assert problem in str(raised.value)
    assert snapshot(tmp_path / "b") == before
    assert target.transfer.import_lines(lines, "skip").imported == good


def test_a_value_over_the_stores_limit_and_a_repeated_id_are_refused(
        open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    source, target = open_store(tmp_path / "a"), open_store(tmp_path / "b", max_bytes=100)
    small = source.create(1).id
    big = source.create("x" * 50).id
    source.fulfill(big, "y" * 200)
    lines = list(source.transfer.export(None, None))  # in creation order: small, then big
    assert [json.loads(line)["id"] for line in lines] == [small, big]
    with pytest.raises(ImportRejected) as raised:
        target.transfer.import_lines([*lines, lines[0]], "skip")
    assert str(raised.value) == ("nothing imported: 2 bad line(s): line 2: value is 200 bytes, the store's limit "
                                 f"is 100; line 3: job {small} is on line 1 too")
    assert list(target.jobs()) == []


def test_ids_the_store_has_are_skipped_replaced_or_renamed(open_store: Callable[..., JobStore],
                                                             tmp_path: Path) -> None:
    source, target = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    done = source.create("done").id
    source.fail(done, "exported error")
    waiting = source.create("waiting").id
    lines = list(source.transfer.export(None, None))
    target.transfer.import_lines(lines, "skip")
    target.retry(done)  # the target's copies change: resolved otherwise, both
    target.fulfill(done, "the target's own")
    target.fulfill(waiting, "the target's own")

    assert sorted(target.transfer.import_lines(lines, "skip").skipped) == sorted([done, waiting])
    assert target.get(done).value == target.get(waiting).value == b"the target's own"

    renamed = target.transfer.import_lines(lines, "new-id").renamed
    assert sorted(renamed) == sorted([done, waiting])
    assert target.get(renamed[done]).error == "exported error" and target.get(renamed[waiting]).state == "pending"

    report = target.transfer.import_lines(lines, "replace")
    assert sorted(report.replaced) == sorted([done, waiting])
    assert (target.get(done).state, target.get(done).error) == ("failed", "exported error")
    assert target.get(waiting).state == "pending"
    assert target.check().clean and len(list(target.jobs())) == 4


def test_a_job_a_worker_holds_is_not_replaced(open_store: Callable[..., JobStore], tmp_path: Path) -> None:
    source, target = open_store(tmp_path / "a"), open_store(tmp_path / "b")
    job_id = source.create("x").id
    source.fulfill(job_id, "from a")
    lines = list(source.transfer.export(None, None))
    target.transfer.import_lines([line.replace('"fulfilled"', '"pending"').replace('"from a"', "null")
                                  .replace('"utf-8"', "null") for line in lines], "skip")
    lease = target.pull_work()
    assert lease is not None
    report = target.transfer.import_lines(lines, "replace")
    assert report.busy == [job_id] and report.replaced == []
    lease.fulfill("from b")
    assert target.get(job_id).value == b"from b"


def test_an_unknown_conflict_policy_is_refused(open_store: Callable[..., JobStore]) -> None:
    with pytest.raises(ValueError, match="on_conflict must be one of skip, replace, new-id"):
        open_store().transfer.import_lines([], "merge")


def test_jobs_imported_under_hand_made_ids_are_paged_through(store: JobStore) -> None:
    made = store.create("made here").id
    exported = json.loads(next(store.transfer.export(None, None)))
    lines = [json.dumps(exported | {"id": job_id, "request": job_id}) for job_id in ("job-b", "job-a")]
    assert store.transfer.import_lines(lines, "skip").imported == ["job-b", "job-a"]
    pages, after = [], None
    while page := [job.id for job in store.jobs(after=after, limit=1)]:
        pages += page
        after = page[-1]  # (a hand-made id as the cursor, as a dashboard's next page gives it)
    assert pages == sorted([made, "job-a", "job-b"])
