"""The command line of issue 16's job features: unique keys, labels, deadlines,
priorities, failed-job triage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelpers import assert_error, fsj, ok

from fsjobstore import JobStore


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    JobStore(path, create=True).close()
    return path


def test_create_with_a_key_prints_the_id_of_the_job_that_has_it(store_dir: Path) -> None:
    first = ok(fsj("create", '{"n": 1}', "--key", "order-42", store=store_dir)).strip()
    assert ok(fsj("create", '{"n": 2}', "--key", "order-42", store=store_dir)).strip() == first
    assert_error(fsj("create", '{"n": 3}', "--key", "order-42", "--on-conflict", "raise", store=store_dir),
                 "order-42", first)
    assert ok(fsj("create", '{"n": 4}', "--key", "order-42", "--on-conflict", "replace",
                  store=store_dir)).strip() == first
    shown = ok(fsj("show", first, store=store_dir))
    assert "key:         order-42" in shown and '"n": 4' in shown
    assert_error(fsj("create", "1", "--key", "order-42", "--on-conflict", "extend", store=store_dir), "not_before")
    listed = [json.loads(line) for line in ok(fsj("ls", "--json", store=store_dir)).splitlines()]
    assert [(job["id"], job["key"]) for job in listed] == [(first, "order-42")]
