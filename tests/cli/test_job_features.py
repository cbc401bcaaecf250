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


def test_labels_priorities_and_a_worker_for_one_address(store_dir: Path, tmp_path: Path) -> None:
    mail = ok(fsj("create", '"hello"', "--label", "to=mailer", "--label", "sender=api", store=store_dir)).strip()
    urgent = ok(fsj("create", '"urgent"', "--priority", "5", store=store_dir)).strip()
    plain = ok(fsj("create", '"plain"', store=store_dir)).strip()
    assert_error(fsj("create", "1", "--label", "nameless", store=store_dir), "NAME=VALUE")
    refused = fsj("create", "1", "--priority", "101", store=store_dir)  # (click's usage error)
    assert refused.returncode == 2 and "101 is not in the range" in refused.stderr
    listed = ok(fsj("ls", "--label", "sender=api", store=store_dir)).splitlines()
    assert len(listed) == 2 and listed[1].startswith(mail) and "to=mailer" in listed[1]
    shown = ok(fsj("show", urgent, store=store_dir))
    assert "priority:    5" in shown
    assert 'labels:      {"to": "mailer", "sender": "api"}' in ok(fsj("show", mail, store=store_dir))
    script = tmp_path / "echo.sh"
    script.write_text("#!/bin/sh\ncat\n")
    script.chmod(0o755)
    ok(fsj("work", "--burst", "--to", "mailer", "--", str(script), store=store_dir))
    states = {job["id"]: job["state"] for job in map(json.loads, ok(fsj("ls", "--json", store=store_dir)).splitlines())}
    assert states == {mail: "fulfilled", urgent: "pending", plain: "pending"}


def test_a_deadline_expires_a_job_and_exit_65_discards_one(store_dir: Path, tmp_path: Path) -> None:
    late = ok(fsj("create", '"late"', "--deadline", "0.001", store=store_dir)).strip()
    bad = ok(fsj("create", '"bad"', store=store_dir)).strip()
    script = tmp_path / "refuse.sh"
    script.write_text("#!/bin/sh\necho 'not a request I can do' >&2\nexit 65\n")
    script.chmod(0o755)
    ok(fsj("work", "--burst", "--max-attempts", "5", "--", str(script), store=store_dir))
    assert "state:       expired" in ok(fsj("show", late, store=store_dir))
    shown = ok(fsj("show", bad, store=store_dir))
    assert "state:       discarded" in shown and "error:       not a request I can do" in shown
    assert "failures:    0" in shown
    assert [line.split()[0] for line in ok(fsj("ls", "--state", "expired", store=store_dir)).splitlines()[1:]] == [late]


def test_ls_by_error_and_retry_every_match_with_a_progress_bar(store_dir: Path) -> None:
    with JobStore(store_dir) as store:
        timeouts = []
        for n in range(3):
            job = store.create(n)
            store.fail(job.id, "Timeout after 30 s")
            timeouts.append(job.id)
        other = store.create("x")
        store.fail(other.id, "KeyError: 'url'")
    listed = ok(fsj("ls", "--state", "failed", "--error", "timeout", store=store_dir)).splitlines()[1:]
    assert [line.split()[0] for line in listed] == timeouts
    assert_error(fsj("retry", store=store_dir), "give an ID, or a filter")
    assert_error(fsj("retry", other.id, "--error", "x", store=store_dir), "not both")
    done = fsj("retry", "--error", "timeout", store=store_dir)
    assert ok(done).strip() == "retried 3 jobs" and "retrying" in done.stderr
    states = {job["id"]: job["state"] for job in map(json.loads, ok(fsj("ls", "--json", store=store_dir)).splitlines())}
    assert states == {**dict.fromkeys(timeouts, "pending"), other.id: "failed"}
