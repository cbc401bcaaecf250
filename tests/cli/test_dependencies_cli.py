"""The command line of job dependencies: create --after (repeatable), show's tree,
ls --state blocked, and an unknown parent refused in one line."""

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


def test_create_after_blocks_and_show_displays_the_tree(store_dir: Path) -> None:
    a = ok(fsj("create", '"a"', store=store_dir)).strip()
    b = ok(fsj("create", '"b"', store=store_dir)).strip()
    child = ok(fsj("create", '"c"', "--after", a, "--after", b, "--on-parent-failure", "run",
                   store=store_dir)).strip()
    shown = ok(fsj("show", child, store=store_dir))
    assert "state:       blocked" in shown and "on_parent_failure: run" in shown
    assert f"parents:\n  {a}  pending\n  {b}  pending\n" in shown
    assert f"dependants:\n  {child}  blocked\n" in ok(fsj("show", a, store=store_dir))
    assert "on_parent_failure" not in ok(fsj("show", a, store=store_dir)), "said only of a job with parents"
    listed = [json.loads(line)["id"] for line in ok(fsj("ls", "--json", "--state", "blocked", store=store_dir))
              .splitlines()]
    assert listed == [child]
    with JobStore(store_dir) as store:
        store.fulfill(a, "A")
        store.fail(b, "boom")
    tree = json.loads(ok(fsj("show", "--json", child, store=store_dir)))
    assert tree["state"] == "pending" and tree["after"] == [a, b]
    assert tree["parents"] == [{"id": a, "state": "fulfilled"}, {"id": b, "state": "failed"}]
    assert json.loads(ok(fsj("show", "--json", a, store=store_dir)))["dependants"] == [
        {"id": child, "state": "pending"}]


def test_an_unknown_parent_is_refused_in_one_line_and_nothing_is_made(store_dir: Path) -> None:
    missing = "01M8WH1BC6151J6DQXBKNNGCJ2"
    assert_error(fsj("create", '"c"', "--after", missing, store=store_dir), missing, "to wait for")
    assert ok(fsj("ls", "--json", store=store_dir)) == ""
