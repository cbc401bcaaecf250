"""`fsjobstore create --many FILE|-`: a job per JSON line, every line checked first."""

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


def lines(*bodies: object) -> str:
    return "".join(json.dumps(body) + "\n" for body in bodies)


def test_each_line_is_a_job_with_the_options_as_defaults(tmp_path: Path, store_dir: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(lines({"request": {"n": 1}}, {"request": 2, "key": "k", "priority": 5, "delay": 3600},
                          {"request": 3, "task": "own", "labels": {"to": "mailer"},
                           "deadline": "2030-01-01T00:00:00Z"}) + "\n")
    ids = ok(fsj("create", "--many", str(path), "--task", "base", "--label", "from=cli", store=store_dir)).split()
    with JobStore(store_dir) as store:
        first, keyed, own = (store.get(job_id) for job_id in ids)
        assert (first.request, first.task, first.labels) == ({"n": 1}, "base", {"from": "cli"})
        assert (keyed.key, keyed.priority, keyed.not_before is not None) == ("k", 5, True)
        assert (own.task, own.labels, own.deadline and own.deadline.year) == ("own", {"to": "mailer"}, 2030)
    again = ok(fsj("create", "--many", "-", store=store_dir, stdin=lines({"request": "x", "key": "k"}))).split()
    assert again == [ids[1]], "a key a job has: its id, as create --key prints"


def test_a_big_batch_from_stdin_prints_an_id_per_line(store_dir: Path) -> None:
    out = ok(fsj("create", "--many", "-", store=store_dir, timeout=120,
                 stdin=lines(*({"request": {"i": i}} for i in range(3000)))))
    ids = out.split()
    assert len(ids) == len(set(ids)) == 3000
    with JobStore(store_dir) as store:
        assert store.get(ids[2999]).request == {"i": 2999} and store.stats()["pending"] == 3000


@pytest.mark.parametrize(("text", "fragments"), [
    (lines({"request": 1}, {"request": 2, "priority": 500}), ("line 2 of stdin", "priority")),
    (lines({"request": 1}) + "\n" + lines({"request": 2, "key": "k"}, {"request": 3, "key": "k"}),
     ("line 4 of stdin", "the key 'k'")),
    (lines({"request": 1}, {"reqest": 2}), ("line 2 of stdin", "no field reqest")),
    (lines({"request": 1}, [2]), ("line 2 of stdin", '"request"')),
    (lines({"request": 1}) + "{bad\n", ("line 2 of stdin", "JSON")),
    (lines({"request": 1, "delay": 5, "not_before": "2030-01-01T00:00:00Z"}), ("give delay or not_before",)),
    (lines({"request": 1, "not_before": "tomorrow"}), ("line 1", "a time with a zone")),
    (lines({"request": 1, "delay": -5}), ("line 1 of stdin: delay must be",)),
    (lines({"request": 1, "deadline_in": 0}), ("line 1 of stdin: deadline_in must be",)),
    (lines({"request": 1, "id": "01M8WFKPYVJG7KDDFFK8CCH5Y8"}), ("line 1 of stdin: no field id", "pick")),
    ("\n" + lines({"request": 1, "key": "k"}, {"request": 2}, {"request": 3, "key": "k"}),
     ("line 4 of stdin: the key 'k' is given to line 2 too",)),
    (lines({"request": 1}, {"request": 2, "after": ["01ZZZZZZZZZZZZZZZZZZZZZZZZ"]}),
     ("line 2 of stdin", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")),
])
def test_bad_input_on_any_line_names_it_and_makes_nothing(store_dir: Path, text: str,
                                                          fragments: tuple[str, ...]) -> None:
    assert_error(fsj("create", "--many", "-", store=store_dir, stdin=text), *fragments)
    with JobStore(store_dir) as store:
        assert store.stats()["pending"] == 0


def test_many_and_a_request_or_a_key_do_not_go_together(tmp_path: Path, store_dir: Path) -> None:
    assert_error(fsj("create", "--many", "-", "{}", store=store_dir, stdin=""), "no REQUEST")
    assert_error(fsj("create", "--many", "-", "--key", "k", store=store_dir, stdin=""), "a key per line")
    assert_error(fsj("create", store=store_dir), "REQUEST", "--many")
    assert_error(fsj("create", "--many", str(tmp_path / "missing.jsonl"), store=store_dir), "missing.jsonl")
    assert_error(fsj("create", "--many", "-", "--label", "nameless", store=store_dir, stdin=""), "NAME=VALUE")


def test_every_bad_line_is_named_up_to_a_cap_and_nothing_is_made(store_dir: Path) -> None:
    text = lines({"request": 1}, {"reqest": 2}) + "{bad\n" + lines({"request": 4, "delay": "soon"})
    result = fsj("create", "--many", "-", store=store_dir, stdin=text)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = result.stderr.splitlines()
    assert [error.removeprefix("fsjobstore: error: ").split(":")[0] for error in errors[:3]] == [
        "line 2 of stdin", "line 3 of stdin is not valid JSON (Expecting property name enclosed in double quotes",
        "line 4 of stdin"]
    assert errors[3] == "fsjobstore: error: 3 bad lines in stdin: no job was made"
    many = fsj("create", "--many", "-", store=store_dir, stdin="[]\n" * 50).stderr.splitlines()
    assert len(many) == 21 and many[-1].endswith("50 bad lines in stdin, the first 20 named above: no job was made")
    assert many[19].startswith("fsjobstore: error: line 20 of stdin: ")
    with JobStore(store_dir) as store:
        assert store.stats()["pending"] == 0


def test_a_line_may_wait_for_jobs_that_exist(store_dir: Path) -> None:
    parent = ok(fsj("create", '"parent"', store=store_dir)).strip()
    ids = ok(fsj("create", "--many", "-", store=store_dir,
                 stdin=lines({"request": 1}, {"request": 2, "after": [parent], "on_parent_failure": "run"}))).split()
    with JobStore(store_dir) as store:
        plain, child = (store.get(job_id) for job_id in ids)
    assert (plain.state, child.state, child.after, child.on_parent_failure) == ("pending", "blocked", (parent,), "run")
    assert_error(fsj("create", "--many", "-", "--after", parent, store=store_dir, stdin=""), '"after"', "line")
