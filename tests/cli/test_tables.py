"""The command line's tables keep their columns whatever the width of a value: a
queue's job ids (``<id>-<queue>``) in `ls`, the scheduler's kind in `workers`."""

from __future__ import annotations

from pathlib import Path

from clihelpers import fsj, ok

from fsjobstore import JobStore


def _columns_line_up(header: str, row: str, left: list[str], right: list[str]) -> None:
    """Each column named in *left* starts in *row* where its name starts in *header*;
    each in *right* (numbers, right-aligned) ends where its name ends."""
    for name in left:
        start = header.index(name)
        assert row[start - 1] == " " and row[start] != " ", (name, header, row)
    for name in right:
        end = header.index(name) + len(name)
        assert row[end - 1] != " " and row[end] == " ", (name, header, row)


def test_ls_keeps_its_columns_with_a_queue_id(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with JobStore(path, create=True) as store:
        queued = store.create({"n": 1}, task="render", labels={"to": "gpu-box"}, priority=-100)
        plain = store.create({"n": 2}, task="render")
    assert len(queued.id) > 26 and len(plain.id) == 26
    header, *rows = ok(fsj("ls", store=path)).splitlines()
    assert sorted(row.split()[0] for row in rows) == sorted([queued.id, plain.id])
    for row in rows:
        _columns_line_up(header, row, ["STATE", "TASK", "CREATED"], ["FAILURES"])
        assert row.split()[1:3] == ["pending", "render"]


def test_workers_keeps_its_columns_with_a_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with JobStore(path, create=True) as store:
        record = store.register_worker("scheduler", [], 1)
        try:
            header, row = ok(fsj("workers", "--watch", "0", store=path)).splitlines()
        finally:
            record.close()
    assert row.split()[1] == "scheduler"
    _columns_line_up(header, row, ["KIND", "HOST", "STARTED"], ["PID", "BEATS"])
