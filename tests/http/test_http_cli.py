"""The command line over HTTP (`fsjobstore --url URL --token T ...`): the same commands,
run against a store served by `fsjobstore serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from httpfixtures import ADMIN, Served, serve_fixture, served_fixture  # noqa: F401 - fixtures


def fsj(served: Served, *args: str, token: str = ADMIN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSJOBSTORE_")}
    return subprocess.run([sys.executable, "-m", "fsjobstore", "--url", served.url, "--token", token, *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_create_work_show_and_stats_over_http(served: Served) -> None:
    created = fsj(served, "create", '{"n": 7}', "--task", "square")
    assert created.returncode == 0, created.stderr
    job_id = created.stdout.strip()
    square = "import json, os, sys; print(json.load(sys.stdin)['n'] ** 2); print(os.environ['FSJOBSTORE_URL'])"
    worked = fsj(served, "work", "--burst", "--", sys.executable, "-c", square)
    assert worked.returncode == 0, worked.stderr
    shown = json.loads(fsj(served, "show", "--json", job_id).stdout)
    assert (shown["state"], shown["value"]) == ("fulfilled", f"49\n{served.url}")  # its stdout, less one newline
    assert served.store.get(job_id).value == f"49\n{served.url}".encode()  # the served folder holds it
    listed = [json.loads(line) for line in fsj(served, "ls", "--json").stdout.splitlines()]
    assert [job["id"] for job in listed] == [job_id]
    assert json.loads(fsj(served, "stats", "--json").stdout)["fulfilled"] == 1


def test_a_bad_token_is_one_line_of_error(served: Served) -> None:
    denied = fsj(served, "ls", token="wrong")
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert len(denied.stderr.strip().splitlines()) == 1 and denied.stderr.startswith("fsjobstore: error:")


def test_show_names_parents_and_dependants_over_http(served: Served) -> None:
    parent = served.store.create("parent").id
    child = served.store.create("child", after=[parent]).id
    shown = fsj(served, "show", "--json", parent)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["dependants"] == [{"id": child, "state": "blocked"}]
    assert json.loads(fsj(served, "show", "--json", child).stdout)["parents"] == [{"id": parent, "state": "pending"}]


def test_delete_over_http(served: Served) -> None:
    done, waiting = served.store.create("done").id, served.store.create("waiting").id
    served.store.cancel(done)
    deleted = fsj(served, "delete", done)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"{done} deleted (was cancelled)", deleted.stderr
    refused = fsj(served, "delete", waiting)
    assert refused.returncode == 1 and "is pending: cancel it first" in refused.stderr
    assert [job.id for job in served.store.jobs()] == [waiting]
def test_pause_freeze_and_thaw_over_http(served: Served) -> None:
    assert fsj(served, "pause", "resize").stdout.startswith("paused: task resize (by ")
    assert [p.task for p in served.store.pauses()] == ["resize"]
    assert "frozen" in fsj(served, "freeze", "--timeout", "5").stdout
    assert [p.task for p in served.store.pauses()] == [None, "resize"]
    assert "paused: the whole store: frozen" in fsj(served, "stats").stdout
    assert fsj(served, "thaw").stdout == "thawed: workers take work again\n"
    assert fsj(served, "resume", "resize").stdout == "resumed: task resize\n"
    assert served.store.pauses() == []
