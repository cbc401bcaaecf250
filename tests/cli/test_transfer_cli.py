"""`fsjobstore export` and `import` as real processes: a round trip between two stores,
conflicts reported, bad lines named and nothing imported."""

from __future__ import annotations

import json
from pathlib import Path

from clihelpers import assert_error, fsj, ok

from fsjobstore import JobStore


def _stores(tmp_path: Path) -> tuple[Path, Path]:
    for name in ("a", "b"):
        ok(fsj("init", str(tmp_path / name)))
    return tmp_path / "a", tmp_path / "b"


def test_export_then_import_moves_every_job(tmp_path: Path) -> None:
    a, b = _stores(tmp_path)
    pending = ok(fsj("create", '{"n": 1}', "--task", "t", store=a)).strip()
    done = ok(fsj("create", '"x"', store=a)).strip()
    ok(fsj("queue", done, '"client-7"', store=a))
    ok(fsj("fulfill", done, "result", store=a))
    exported = ok(fsj("export", store=a))
    (tmp_path / "jobs.jsonl").write_text(exported)
    assert [json.loads(line)["id"] for line in exported.splitlines()] == [pending, done]

    assert ok(fsj("import", str(tmp_path / "jobs.jsonl"), store=b)).splitlines() == \
        ["imported 2, skipped 0, replaced 0, new ids 0, busy 0"]
    again = ok(fsj("import", store=b, stdin=exported)).splitlines()
    assert again[0] == "imported 0, skipped 2, replaced 0, new ids 0, busy 0"
    assert again[1:] == [f"skipped {pending}: the store has a job of that id",
                         f"skipped {done}: the store has a job of that id"]
    renamed = ok(fsj("import", "--on-conflict", "new-id", store=b, stdin=exported)).splitlines()
    assert renamed[0] == "imported 0, skipped 0, replaced 0, new ids 2, busy 0"
    assert [line.split()[2] for line in renamed[1:]] == [pending, done]
    with JobStore(a) as source, JobStore(b) as target:
        for job in source.jobs():
            copy = target.get(job.id)
            assert (copy.state, copy.request, copy.value, copy.waiting) == (job.state, job.request, job.value,
                                                                            job.waiting)
        assert target.stats()["due"] == 2  # the result and its renamed copy, each with its target
    assert ok(fsj("export", "--state", "fulfilled", store=b)).count("client-7") == 2


def test_a_bad_line_is_one_error_naming_it_and_nothing_is_imported(tmp_path: Path) -> None:
    a, b = _stores(tmp_path)
    ok(fsj("create", "1", store=a))
    line = ok(fsj("export", store=a))
    assert_error(fsj("import", store=b, stdin=line + "{\n" + line), "nothing imported: 2 bad line(s)",
                 "line 2: not JSON", "line 3: job ")
    assert ok(fsj("export", store=b)) == ""
    assert_error(fsj("import", str(tmp_path / "missing.jsonl"), store=b), "missing.jsonl")
    assert_error(fsj("--url", "http://127.0.0.1:9", "export"), "works on the store's folder")
