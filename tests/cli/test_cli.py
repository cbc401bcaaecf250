"""The `fsjobstore` command line, run as real subprocesses (`python -m fsjobstore`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clihelpers import assert_error, cli_env, fsj, ok, popen, stop
from invariants import pending_file, resolved_file
from loophelpers import wait_for

from fsjobstore import Job, JobStore

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
UNKNOWN_ID = "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    JobStore(path, create=True).close()
    return path


def create(store: Path, request: Any, *options: str) -> str:
    out = ok(fsj("create", json.dumps(request), *options, store=store))
    job_id = out.strip()
    assert len(job_id) == 26 and "\n" not in job_id
    return job_id


# -- create / show / ls / stats ---------------------------------------------------------------


def test_create_with_options_and_show(store_dir: Path) -> None:
    before = time.time()
    job_id = create(store_dir, {"url": "https://example.org", "n": [1, 2]}, "--task", "fetch",
                    "--resource", "example.org", "--delay", "1h", "--expires-in", "7d", "--lease", "45s")
    shown = json.loads(ok(fsj("show", job_id, "--json", store=store_dir)))
    assert shown["id"] == job_id
    assert shown["state"] == "pending"
    assert shown["task"] == "fetch"
    assert shown["resource"] == "example.org"
    assert shown["request"] == {"url": "https://example.org", "n": [1, 2]}
    assert shown["value"] is None and shown["error"] is None
    assert shown["attempts"] == 0 and shown["waiting"] == []
    not_before = datetime.fromisoformat(shown["not_before"]).timestamp()
    assert before + 3600 - 5 <= not_before <= time.time() + 3600 + 5
    with JobStore(store_dir, create=True) as store:
        job = store.get(job_id)
        assert job.expires_in == 7 * 86400
        assert job.lease_seconds == 45
        assert store.pull_work() is None, "a job delayed by an hour is not pullable"
    with JobStore(store_dir, create=True) as store:
        binary = store.create("binary").id
        store.fulfill(binary, b"\xff\x00")
    shown = json.loads(ok(fsj("show", binary, "--json", store=store_dir)))
    assert (shown["value"], shown["value_encoding"]) == ("/wA=", "base64")
    text = ok(fsj("show", job_id, store=store_dir))
    assert f"id:          {job_id}" in text
    assert "state:       pending" in text
    assert "task:        fetch" in text
    assert '{"url": "https://example.org", "n": [1, 2]}' in text


def test_store_option_and_environment_variable(tmp_path: Path) -> None:
    by_option = tmp_path / "a"
    by_env = tmp_path / "b"
    ok(fsj("init", str(by_option)))
    ok(fsj("init", store=by_env))
    first = ok(fsj("--store", str(by_option), "create", '"one"')).strip()
    second = ok(fsj("create", '"two"', store=by_env)).strip()
    # --store wins over the environment variable.
    third = ok(fsj("--store", str(by_option), "create", '"three"', store=by_env)).strip()
    with JobStore(by_option, create=True) as store:
        assert {j.id: j.request for j in store.jobs()} == {first: "one", third: "three"}
    with JobStore(by_env, create=True) as store:
        assert [j.request for j in store.jobs()] == ["two"]
    assert second not in {first, third}


def test_ls_table_json_and_filters(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        a = store.create({"n": 1}, task="resize").id
        b = store.create({"n": 2}, task="email").id
        c = store.create("no task").id
        store.fulfill(b, "sent")
    table = ok(fsj("ls", store=store_dir)).splitlines()
    assert table[0].split()[:4] == ["ID", "STATE", "TASK", "FAILURES"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert set(rows) == {a, b, c}
    assert rows[a][1:4] == ["pending", "resize", "0"]
    assert rows[b][1:3] == ["fulfilled", "email"]
    assert rows[c][1:3] == ["pending", "-"]
    assert next(line for line in table if line.startswith(a)).endswith('{"n": 1}')

    listed = [json.loads(line) for line in ok(fsj("ls", "--json", store=store_dir)).splitlines()]
    assert {j["id"]: j["state"] for j in listed} == {a: "pending", b: "fulfilled", c: "pending"}
    assert next(j for j in listed if j["id"] == b)["value"] == "sent"
    assert next(j for j in listed if j["id"] == a)["task"] == "resize"

    listing = ok(fsj("ls", "--json", "--state", "pending", store=store_dir))
    pending = [json.loads(line)["id"] for line in listing.splitlines()]
    assert sorted(pending) == sorted([a, c])
    resize = ok(fsj("ls", "--task", "resize", store=store_dir)).splitlines()
    assert len(resize) == 2 and resize[1].startswith(a)
    assert ok(fsj("ls", "--json", "--task", "email", "--state", "pending", store=store_dir)) == ""
    bad = fsj("ls", "--state", "bogus", store=store_dir)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


@pytest.mark.parametrize(("option", "value", "error"), [
    ("--after", "no such/id", "after 'no such/id' is not a job id"),
    ("--after", "../x", "after '../x' is not a job id"),
    ("--limit", "0", "0 is not in the range x>=1"),
])
def test_ls_refuses_a_bad_page_as_a_usage_error(store_dir: Path, option: str, value: str, error: str) -> None:
    # (the HTTP API refuses them too: `after` 400 as any bad id, `limit` 422 as any bad parameter)
    create(store_dir, "a job")
    bad = fsj("ls", option, value, store=store_dir)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stdout == ""
    assert f"Invalid value for '{option}'" in bad.stderr and error in bad.stderr


def test_ls_and_show_count_failed_attempts_and_say_so(store_dir: Path) -> None:
    # `attempts` counts failed attempts: a job fulfilled at its second try has 1,
    # which a column named TRIES told a reader was the number of tries made.
    with JobStore(store_dir, create=True) as store:
        job_id = store.create("flaky").id
        lease = store.pull_work()
        assert lease is not None
        lease.fail("boom", retry=True, delay=0)
        lease = store.pull_work()
        assert lease is not None
        lease.fulfill("done")
    header, row = ok(fsj("ls", store=store_dir)).splitlines()
    assert header.split()[3] == "FAILURES" and row.split()[1:4] == ["fulfilled", "-", "1"]
    assert "failures:    1" in ok(fsj("show", job_id, store=store_dir)).splitlines()


def test_stats_json(store_dir: Path) -> None:
    empty = json.loads(ok(fsj("stats", "--json", store=store_dir)))
    assert empty == {"pending": 0, "blocked": 0, "running": 0, "fulfilled": 0, "failed": 0, "cancelled": 0,
                     "expired": 0, "discarded": 0, "due": 0}
    with JobStore(store_dir, create=True) as store:
        ids = [store.create(n).id for n in range(5)]
        store.fulfill(ids[0], "v")
        store.fail(ids[1], "e")
        store.cancel(ids[2])
        store.queue(ids[0], "someone")
        lease = store.pull_work()
        assert lease is not None
        counts = json.loads(ok(fsj("stats", "--json", store=store_dir)))
        assert counts == {"pending": 1, "blocked": 0, "running": 1, "fulfilled": 1, "failed": 1, "cancelled": 1,
                          "expired": 0, "discarded": 0, "due": 1}
        lease.release()
    text = ok(fsj("stats", store=store_dir))
    assert "pending: 2" in text and "fulfilled: 1" in text and "due: 1" in text


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_stats_watch_stops_cleanly_on_ctrl_c(store_dir: Path, inherited: str) -> None:
    # (started with SIGINT ignored, as a background job of a non-interactive shell
    # is: it used to sleep through Ctrl-C for ever)
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if inherited == "ignored" else None
    proc = subprocess.Popen([sys.executable, "-m", "fsjobstore", "stats", "--json", "--watch", "--interval", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(store_dir, None), preexec_fn=ignore)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert all(json.loads(line)["pending"] == 0 for line in lines)
        status, _out, err, _took = stop(proc, signal.SIGINT, timeout=20)  # (a bound that catches a hang)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 0, err
    assert "Traceback" not in err


# -- fulfill / fail / cancel / retry / queue / purge -----------------------------------------------


def test_fulfill_fail_cancel_retry_queue(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        a, b, c = (store.create(n).id for n in range(3))
    assert ok(fsj("queue", a, '{"inbox": "x"}', store=store_dir)).split()[0] == a
    assert ok(fsj("queue", a, '{"inbox": "x"}', store=store_dir)).split()[0] == a  # idempotent
    assert ok(fsj("fulfill", a, "the value", store=store_dir)).strip() == f"{a} fulfilled"
    assert ok(fsj("fail", b, "it broke", store=store_dir)).strip() == f"{b} failed"
    assert ok(fsj("cancel", c, store=store_dir)).strip() == f"{c} cancelled"
    with JobStore(store_dir, create=True) as store:
        job_a = store.get(a)
        assert (job_a.state, job_a.value, job_a.waiting) == ("fulfilled", b"the value", ({"inbox": "x"},))
        assert (store.get(b).state, store.get(b).error) == ("failed", "it broke")
        assert store.get(c).state == "cancelled"
    assert ok(fsj("retry", b, store=store_dir)).strip() == f"{b} pending"
    assert ok(fsj("retry", c, store=store_dir)).strip() == f"{c} pending"
    with JobStore(store_dir, create=True) as store:
        assert store.get(b).state == "pending" and store.get(b).attempts == 0
        assert store.get(c).state == "pending"
    # A job is resolved at most once.
    assert_error(fsj("fulfill", a, "again", store=store_dir), "already fulfilled")
    assert_error(fsj("cancel", a, store=store_dir), "already fulfilled")
    with JobStore(store_dir, create=True) as store:
        assert store.get(a).value == b"the value"


def test_retry_of_a_pending_job_is_refused_saying_it_is_pending(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        job_id = store.create("p").id
    line = assert_error(fsj("retry", job_id, store=store_dir))
    assert "pending" in line, f"the job is pending, the message says: {line}"


def test_delete_removes_a_resolved_job_and_refuses_a_pending_one(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        done, waiting = store.create("done").id, store.create("waiting").id
        store.queue(done, "t1")
        store.fail(done, "broke")
    assert ok(fsj("delete", done, store=store_dir)).strip() == f"{done} deleted (was failed)"
    assert_error(fsj("delete", done, store=store_dir), f"no job with id {done!r}")
    line = assert_error(fsj("delete", waiting, store=store_dir), "is pending: cancel it first")
    assert waiting in line
    with JobStore(store_dir) as store:
        assert [job.id for job in store.jobs()] == [waiting] and store.stats()["due"] == 0


def test_purge(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        done = store.create("done").id
        keep = store.create("pending").id
        store.fulfill(done, "v")
    assert ok(fsj("purge", store=store_dir)).strip() == "removed 0 jobs"
    assert ok(fsj("purge", "--older-than", "1h", store=store_dir)).strip() == "removed 0 jobs"
    assert ok(fsj("purge", "--older-than", "0s", store=store_dir)).strip() == "removed 1 jobs"
    with JobStore(store_dir, create=True) as store:
        assert [job.id for job in store.jobs()] == [keep]
    bad = fsj("purge", "--older-than", "soon", store=store_dir)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_purge_shows_progress_on_a_large_store(store_dir: Path) -> None:
    from fsjobstore._files.ids import new_id

    total = 1500
    with JobStore(store_dir, durable=False, create=True) as store:
        model = store.create("model")
        store.fulfill(model.id, "v")
    data = Path(resolved_file(store_dir, model.id)).read_text()
    for _ in range(total - 1):
        job_id = new_id()
        path = Path(resolved_file(store_dir, job_id))
        path.parent.mkdir(exist_ok=True)
        path.write_text(data.replace(model.id, job_id))
    result = fsj("purge", "--older-than", "0s", store=store_dir)
    assert ok(result).strip() == f"removed {total} jobs"
    assert "purging" in result.stderr, "a large purge shows its progress on stderr"


def test_demo_on_a_tmp_store(tmp_path: Path) -> None:
    path = tmp_path / "demo"
    out = ok(fsj("demo", str(path), cwd=tmp_path, timeout=60))
    assert "Created 6 jobs" in out
    assert out.count(" fulfilled ") >= 6
    assert "after 1 failed attempt\n" in out
    # Told for a newcomer: no counts of an empty store before, no Python dicts, where to look next.
    assert "Counts before" not in out and "{'pending'" not in out
    assert "The store now holds 6 jobs: 6 fulfilled (`fsjobstore --store demo stats` counts them)." in out
    assert "This one failed once, then was fulfilled: demo/resolved/" in out
    assert '("format": the version of this file\'s layout' in out
    assert out.endswith("Look around: fsjobstore --store demo ls  (then: show ID)\n")
    with JobStore(path, create=True) as store:
        assert store.stats()["fulfilled"] == 6
    assert not (tmp_path / "demo-store").exists(), "the demo must use the store it is given"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serve_prints_the_url_serves_the_demo_store_and_removes_it_when_stopped(
        tmp_path: Path, sig: signal.Signals) -> None:
    httpx = pytest.importorskip("httpx", reason="demo --serve needs the server extra")
    proc = popen("demo", "--serve", "--port", "0", "--jobs", "2", cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert proc.stdout is not None
    lines = []
    while not (line := proc.stdout.readline()).startswith("serving "):
        assert line, f"ended before serving: {lines} {proc.communicate()[1]}"
        lines.append(line)
    url = line.rsplit(" at ", 1)[1].strip()
    [store] = tmp_path.glob("fsjobstore-demo-*")
    assert line.startswith(f"serving {store} at http://127.0.0.1:") and "Created 2 jobs" in "".join(lines)
    page = wait_for(lambda: _get(httpx, url), timeout=20, what="the server to answer")
    assert page.status_code == 200 and "fsjobstore" in page.text
    assert httpx.get(url + "api/stats").json()["fulfilled"] == 2, "the demo's store, without a token"
    status, out, err, _took = stop(proc, sig, timeout=20)
    assert status == 0 and "Traceback" not in err, err
    assert out == f"Stopped. Removed the demo's store, {store}.\n"
    assert list(tmp_path.iterdir()) == [], "the temporary store is removed, and nothing else made"


def test_demo_serve_on_a_port_in_use_fails_at_once_before_the_demo_runs(tmp_path: Path) -> None:
    pytest.importorskip("httpx", reason="demo --serve needs the server extra")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fsj("demo", "--serve", "--port", str(port), cwd=tmp_path, env={"TMPDIR": str(tmp_path)})
    assert_error(result, f"cannot listen on 127.0.0.1:{port}")
    assert result.stdout == "", "nothing of the demo ran"
    assert list(tmp_path.iterdir()) == [], "no store made"


def _get(httpx: Any, url: str) -> Any:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_demo_delivers_every_notification(tmp_path: Path) -> None:
    # The demo queues one target per job and says how many it delivered; it must
    # not stop its notifier before the last job's notification is due.
    for run in range(3):
        path = tmp_path / f"demo{run}"
        out = ok(fsj("demo", str(path), "--jobs", "2", cwd=tmp_path, timeout=60))
        assert "Delivered 2 notifications" in out, out
        with JobStore(path, create=True) as store:
            assert store.stats()["due"] == 0
            assert all(job.waiting == () for job in store.jobs())


# -- errors: one line, non-zero, no traceback --------------------------------------------------------

COMMANDS_ON_A_JOB = [
    ("show", []),
    ("show", ["--json"]),
    ("fulfill", ["v"]),
    ("fail", ["e"]),
    ("cancel", []),
    ("retry", []),
    ("queue", ['"t"']),
]


@pytest.mark.parametrize("args", [["ls"], ["show", UNKNOWN_ID], ["stats", "--json"], ["fulfill", UNKNOWN_ID, "v"],
                                  ["queue", UNKNOWN_ID, '"t"'], ["purge"]],
                         ids=lambda a: a[0])
def test_missing_store(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "no-such-store"
    assert_error(fsj("--store", str(missing), *args), str(missing))
    assert not missing.exists(), "commands other than create and work must not create a store"


def test_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    not_a_store = tmp_path / "empty-folder"
    not_a_store.mkdir()
    assert_error(fsj("ls", store=not_a_store), str(not_a_store))
    assert os.listdir(not_a_store) == []


def test_no_store_given(tmp_path: Path) -> None:
    assert_error(fsj("ls", cwd=tmp_path), "FSJOBSTORE_DIR")


@pytest.mark.parametrize("command,extra", COMMANDS_ON_A_JOB, ids=lambda v: v if isinstance(v, str) else None)
def test_unknown_id(store_dir: Path, command: str, extra: list[str]) -> None:
    assert_error(fsj(command, UNKNOWN_ID, *extra, store=store_dir), UNKNOWN_ID)


@pytest.mark.parametrize("command,extra", COMMANDS_ON_A_JOB, ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_id(store_dir: Path, command: str, extra: list[str], snapshot: Any) -> None:
    before = snapshot(store_dir)
    assert_error(fsj(command, "../x", *extra, store=store_dir), "../x")
    assert snapshot(store_dir) == before


@pytest.mark.parametrize("bad_id", ["a/b", "x.json", "..", "a" * 200])
def test_other_invalid_ids(store_dir: Path, bad_id: str) -> None:
    assert_error(fsj("show", bad_id, store=store_dir))


def test_invalid_json(store_dir: Path, snapshot: Any) -> None:
    with JobStore(store_dir, create=True) as store:
        job_id = store.create("x").id
    before = snapshot(store_dir)
    assert_error(fsj("create", "{bad", store=store_dir), "JSON")
    assert_error(fsj("create", "not json at all", store=store_dir), "JSON")
    assert_error(fsj("queue", job_id, "{'single': 1}", store=store_dir), "JSON")
    assert snapshot(store_dir) == before


def _corrupt(store_dir: Path, garbage: bytes) -> tuple[str, str]:
    with JobStore(store_dir, create=True) as store:
        bad = store.create("will be corrupted").id
        good = store.create("fine").id
    Path(pending_file(store_dir, bad)).write_bytes(garbage)
    return bad, good


@pytest.mark.parametrize("command,extra", COMMANDS_ON_A_JOB, ids=lambda v: v if isinstance(v, str) else None)
def test_corrupt_job_file(store_dir: Path, command: str, extra: list[str]) -> None:
    bad, _good = _corrupt(store_dir, b"garbage{")
    assert_error(fsj(command, bad, *extra, store=store_dir), bad, "corrupt")
    assert Path(pending_file(store_dir, bad)).read_bytes() == b"garbage{", "a corrupt file is left for a person"


@pytest.mark.parametrize("garbage", [b"\xff\xfe\x00 binary", b"[1, 2]", b"", b'{"format": 1}'],
                         ids=["binary", "array", "empty", "incomplete"])
def test_corrupt_job_file_contents(store_dir: Path, garbage: bytes) -> None:
    bad, _good = _corrupt(store_dir, garbage)
    assert_error(fsj("show", bad, store=store_dir), bad)


def test_ls_skips_and_reports_a_corrupt_job_file(store_dir: Path) -> None:
    bad, good = _corrupt(store_dir, b"garbage{")
    listed = fsj("ls", "--json", store=store_dir)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [good]
    assert bad in listed.stderr


# -- work -- COMMAND ----------------------------------------------------------------------------------


def _work_until_resolved(store_dir: Path, cwd: Path, job_ids: list[str], *args: str) -> tuple[list[Job], float]:
    """Run `fsjobstore work ARGS` until every job is resolved, then SIGTERM it and
    check it stopped cleanly; return the jobs and how long it took to stop."""
    proc = popen("work", *args, store=store_dir, cwd=cwd)
    try:
        with JobStore(store_dir, poll_interval=0.05, create=True) as store:
            jobs = [store.wait(job_id, timeout=20) for job_id in job_ids]
        status, _out, err, took = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 0, err
    assert "Traceback" not in err
    return jobs, took


def test_work_with_a_shell_script_worker(tmp_path: Path, store_dir: Path) -> None:
    worker = tmp_path / "worker.sh"
    shutil.copy(SCRIPTS / "worker.sh", worker)
    worker.chmod(0o755)
    requests = [{"text": "hello"}, {"text": "please fail"}, {"text": "world", "n": 2}]
    with JobStore(store_dir, create=True) as store:
        ids = [store.create(request).id for request in requests]
    jobs, took = _work_until_resolved(store_dir, tmp_path, ids, "--max-attempts", "2", "--backoff", "0.05",
                                      "--poll-interval", "0.05", "--", "./worker.sh")
    assert took < 3.0, f"an idle worker took {took:.1f} s to stop on SIGTERM"
    hello, bad, world = jobs
    assert hello.state == "fulfilled"
    assert hello.value == f'{ids[0]}|1|{json.dumps(requests[0])}'.encode()
    assert world.state == "fulfilled"
    assert world.value == f'{ids[2]}|1|{json.dumps(requests[2])}'.encode()
    assert bad.state == "failed"
    assert bad.attempts == 2
    assert bad.value is None
    assert bad.error == f'cannot do {json.dumps(requests[1])} (attempt 2)', "stderr alone is the error"


def test_work_result_loses_one_trailing_newline_as_shell_substitution_does(tmp_path: Path, store_dir: Path) -> None:
    worker = tmp_path / "worker.sh"
    worker.write_text('#!/bin/sh\ncase "$(cat)" in\n  *echo*) echo 42;;\n  *blank*) printf "a\\n\\n";;\n'
                      '  *bare*) printf x;;\n  *json*) echo \'{"n": 1}\';;\nesac\n')
    worker.chmod(0o755)
    with JobStore(store_dir, create=True) as store:
        ids = [store.create(kind).id for kind in ("echo", "blank", "bare", "json")]
    ok(fsj("work", "--burst", "--", "./worker.sh", store=store_dir, cwd=tmp_path))
    with JobStore(store_dir) as store:
        assert [store.get(job_id).value for job_id in ids] == [b"42", b"a\n", b"x", b'{"n": 1}']


def _work_one_job(tmp_path: Path, store_dir: Path, script: str, *options: str) -> str | None:
    """The error of a job done by `work --max-attempts 1 OPTIONS -- ./worker.sh` running *script*."""
    worker = tmp_path / "worker.sh"
    worker.write_text("#!/bin/sh\n" + script)
    worker.chmod(0o755)
    with JobStore(store_dir, create=True) as store:
        job_id = store.create({"n": 1}).id
    (job,), _took = _work_until_resolved(store_dir, tmp_path, [job_id], "--max-attempts", "1", "--poll-interval",
                                         "0.05", *options, "--", "./worker.sh")
    assert job.state == "failed" and job.attempts == 1 and job.value is None
    return job.error


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("cat >/dev/null\necho 'no space left on device: /data/out.bin' >&2\nexit 3\n",
         "no space left on device: /data/out.bin"),
        # Surrounding blank lines and spaces go; inner lines, and a partial stdout, do not leak in.
        ("printf 'partial result'\nprintf '\\n  first line\\n  second line  \\n\\n' >&2\nexit 3\n",
         "first line\n  second line"),
        ("cat >/dev/null\nexit 3\n", "command exited with status 3"),
        ("printf '  \\n' >&2\nexit 3\n", "command exited with status 3"),
    ],
    ids=["stderr", "stderr-stripped", "no-stderr", "blank-stderr"],
)
def test_work_failed_command_records_its_stderr_exactly(
    tmp_path: Path, store_dir: Path, script: str, error: str
) -> None:
    assert _work_one_job(tmp_path, store_dir, script) == error


def test_work_command_past_its_timeout_fails_the_attempt(tmp_path: Path, store_dir: Path) -> None:
    assert _work_one_job(tmp_path, store_dir, "exec sleep 30\n", "--timeout", "0.2") == \
        "command timed out after 0.2 s"


def test_work_runs_only_the_given_tasks_and_a_command_gone_since_start_fails_the_job(
    tmp_path: Path, store_dir: Path
) -> None:
    # Checked at start, but a command can disappear later: then each attempt fails, saying why.
    command = tmp_path / "vanishing.sh"
    command.write_text("#!/bin/sh\ncat\n")
    command.chmod(0o755)
    proc = popen("work", "--task", "mine", "--max-attempts", "1", "--poll-interval", "0.05",
                 "--", str(command), store=store_dir, cwd=tmp_path)
    try:
        with JobStore(store_dir, poll_interval=0.05, create=True) as store:
            done = store.wait(store.create("x", task="mine").id, timeout=20)
            command.unlink()
            other = store.create("other", task="other").id
            missing = store.create("x", task="mine").id
            failed = store.wait(missing, timeout=20)
            time.sleep(0.2)
            assert store.get(other).state == "pending"
        status, _out, err, _took = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 0, err
    assert done.state == "fulfilled" and done.value == b'"x"'
    assert failed.state == "failed"
    assert failed.error == f"command not found: {command}"


def test_work_on_sigterm_finishes_the_job_in_flight(tmp_path: Path, store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        job_id = store.create({"slow": True}).id
    proc = popen("work", "--poll-interval", "0.05", "--", "sh", "-c", "sleep 0.8; cat",
                 store=store_dir, cwd=tmp_path)
    try:
        with JobStore(store_dir, create=True) as store:
            wait_for(lambda: store.get(job_id).state == "running", what="the job to start")
            status, _out, err, took = stop(proc, timeout=10)
            job = store.get(job_id)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 0, err
    assert job.state == "fulfilled"
    assert job.value == json.dumps({"slow": True}).encode()


def test_work_on_ctrl_c_lets_the_command_in_flight_finish(tmp_path: Path, store_dir: Path) -> None:
    # Ctrl-C in a terminal sends SIGINT to the whole foreground process group:
    # the worker and the COMMAND it runs. The spec: SIGINT, like SIGTERM, shuts
    # down gracefully and lets running handlers finish, so the job in flight
    # must not become a failed attempt (with --max-attempts 1: a failed job).
    with JobStore(store_dir, create=True) as store:
        job_id = store.create({"ctrl": "c"}).id
    marker = tmp_path / "command-started"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fsjobstore", "work", "--max-attempts", "1", "--poll-interval", "0.05",
         "--", "sh", "-c", 'touch "$0"; sleep 0.8; cat', str(marker)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=cli_env(store_dir),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        with JobStore(store_dir, create=True) as store:
            wait_for(marker.exists, what="the command to start")
            assert store.get(job_id).state == "running"
            os.killpg(proc.pid, signal.SIGINT)
            _out, err = proc.communicate(timeout=10)
            job = store.get(job_id)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert job.state in ("fulfilled", "pending"), f"Ctrl-C made the job in flight {job.state}: {job.error}"
    assert job.attempts == 0, f"Ctrl-C counted a failed attempt: {job.error}"


# -- notify -- COMMAND ----------------------------------------------------------------------------------

DELIVER = """
import json, os, sys
payload = json.load(sys.stdin)
if payload["target"] == "refuse":
    print("target refused", file=sys.stderr)
    sys.exit(1)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"env_job_id": os.environ["FSJOBSTORE_JOB_ID"], **payload}) + "\\n")
"""


def test_notify_with_a_command(tmp_path: Path, store_dir: Path) -> None:
    out = tmp_path / "delivered.jsonl"
    with JobStore(store_dir, create=True) as store:
        a = store.create({"n": 1})
        store.queue(a.id, "t1")
        store.queue(a.id, {"hook": 2})
        store.queue(a.id, "refuse")
        store.fulfill(a.id, "va")
        b = store.create({"n": 2})
        store.queue(b.id, "t3")
        store.fail(b.id, "err")
        pending = store.create({"n": 3})
        store.queue(pending.id, "not yet")
    proc = popen("notify", "--poll-interval", "0.05", "--", sys.executable, "-c", DELIVER, str(out),
                 store=store_dir, cwd=tmp_path)
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 3, what="three deliveries")
        time.sleep(0.2)
        status, _out, err, took = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 0, err
    assert took < 3.0
    delivered = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(json.dumps(d["target"]) for d in delivered) == sorted(['"t1"', '{"hook": 2}', '"t3"'])
    for d in delivered:
        assert set(d) == {"env_job_id", "target", "job"}
        assert d["env_job_id"] == d["job"]["id"]
        if d["job"]["id"] == a.id:
            assert d["job"]["state"] == "fulfilled" and d["job"]["value"] == "va"
            assert d["job"]["request"] == {"n": 1}
        else:
            assert d["job"]["id"] == b.id
            assert d["job"]["state"] == "failed" and d["job"]["error"] == "err"
            assert d["job"]["value"] is None
    with JobStore(store_dir, create=True) as store:
        assert store.get(a.id).waiting == ("refuse",), "a failed delivery stays waiting"
        assert store.get(b.id).waiting == ()
        assert store.get(pending.id).waiting == ("not yet",)


# -- papercuts (#16) --------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [[], ["--json"]], ids=["table", "json"])
def test_ls_into_a_reader_that_stops_early_is_quiet(store_dir: Path, options: list[str]) -> None:
    # `fsjobstore ls | head -1`: more than a pipe holds, so the listing meets the closed pipe.
    with JobStore(store_dir, durable=False, create=True) as store:
        for n in range(1500):
            store.create({"n": n, "padding": "x" * 60})
    proc = popen("ls", *options, store=store_dir)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=30)
    assert err == "", "nothing on stderr, as `seq 100000 | head -1`"
    assert proc.returncode == -signal.SIGPIPE, "ended as Unix tools do (shells report 141, and say nothing)"


def test_ls_state_due_lists_resolved_jobs_with_notifications_to_deliver(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        due = store.create("due")
        store.queue(due.id, "someone")
        store.fulfill(due.id, "v")
        failed_due = store.create("failed, due")
        store.queue(failed_due.id, "someone")
        store.fail(failed_due.id, "e")
        store.fulfill(store.create("nobody waits").id, "v")
        store.queue(store.create("pending, waited for").id, "someone")
    listing = ok(fsj("ls", "--state", "due", "--json", store=store_dir))
    listed = [json.loads(line)["id"] for line in listing.splitlines()]
    assert sorted(listed) == sorted([due.id, failed_due.id])
    assert json.loads(ok(fsj("stats", "--json", store=store_dir)))["due"] == len(listed)


def test_store_options_after_the_subcommand(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    decoy = tmp_path / "decoy"
    ok(fsj("init", str(store_dir)))
    ok(fsj("init", str(decoy)))
    job_id = ok(fsj("create", '"x"', "--store", str(store_dir), store=decoy)).strip()
    assert json.loads(ok(fsj("show", job_id, "--store", str(store_dir), "--json")))["id"] == job_id
    assert job_id in ok(fsj("ls", "--store", str(store_dir), "--group-shared"))
    assert ok(fsj("cancel", "--store", str(store_dir), job_id)).strip() == f"{job_id} cancelled"
    with JobStore(decoy, create=True) as store:
        assert list(store.jobs()) == []
    result = fsj("work", "--store", str(store_dir / "nowhere"), "--", "cat")
    assert_error(result, str(store_dir / "nowhere"))


def _holders(store_dir: Path) -> list[str]:
    return os.listdir(store_dir / "leases" / "holders")


def test_retry_leaves_no_holder_record_behind(store_dir: Path) -> None:
    with JobStore(store_dir, create=True) as store:
        pending = store.create("pending").id
        failed = store.create("failed").id
        store.fail(failed, "e")
    assert _holders(store_dir) == []
    assert_error(fsj("retry", pending, store=store_dir), "pending")
    assert _holders(store_dir) == [], "a failed retry left its holder record"
    assert ok(fsj("retry", failed, store=store_dir)).strip() == f"{failed} pending"
    assert _holders(store_dir) == [], "a retry left its holder record"


# -- create from stdin or a file ----------------------------------------------------------------------


def test_create_reads_the_request_from_stdin_or_a_file(tmp_path: Path, store_dir: Path) -> None:
    request = {"text": "x" * 10_000, "list": [1, 2, 3]}
    from_stdin = ok(fsj("create", "-", "--task", "t", store=store_dir, stdin=json.dumps(request))).strip()
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    from_file = ok(fsj("create", f"@{path}", store=store_dir)).strip()
    with JobStore(store_dir, create=True) as store:
        assert store.get(from_stdin).request == request and store.get(from_stdin).task == "t"
        assert store.get(from_file).request == request
    assert_error(fsj("create", "-", store=store_dir, stdin="{bad"), "stdin", "JSON")
    assert_error(fsj("create", f"@{tmp_path / 'missing.json'}", store=store_dir), "missing.json")


# -- init: the only command that makes a store (#8) ---------------------------------------------------


def test_only_init_makes_a_store(tmp_path: Path) -> None:
    typo = tmp_path / "jbos"
    assert_error(fsj("create", '"x"', store=typo), str(typo), "fsjobstore init")
    assert_error(fsj("work", "--", "cat", store=typo), str(typo))
    assert_error(fsj("notify", "--", "cat", store=typo), str(typo))
    assert not typo.exists()
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    assert_error(fsj("create", '"x"', store=home), str(home), "not a store")
    assert os.listdir(home) == ["notes.txt"], "nothing scattered into a folder that is not a store"
    assert_error(fsj("init", str(home)), str(home), "holds other files (notes.txt)", "a new or empty folder")
    assert os.listdir(home) == ["notes.txt"], "init makes no store among other files"
    (home / "jobs").mkdir()
    assert ok(fsj("init", str(home / "jobs"))).strip() == f"made a store at {home / 'jobs'}", "an empty folder"
    assert ok(fsj("init", str(typo))).strip() == f"made a store at {typo}"
    assert ok(fsj("init", store=typo)).strip() == f"store already at {typo}"
    job_id = ok(fsj("create", '"x"', store=typo)).strip()
    with JobStore(typo, create=False) as store:
        assert store.get(job_id).request == "x"


# -- the demo never touches a store it did not make (#7) ---------------------------------------------


def test_demo_ignores_fsjobstore_dir_and_runs_again_in_its_own_store(
    tmp_path: Path, store_dir: Path, snapshot: Any
) -> None:
    with JobStore(store_dir, create=True) as store:
        job = store.create({"real": "work"})
        store.queue(job.id, {"reply_to": "a real client"})
        store.fulfill(job.id, "a real result")
    before = snapshot(store_dir)
    first = ok(fsj("demo", "--jobs", "2", store=store_dir, cwd=tmp_path, timeout=60))
    assert f"Store: {tmp_path / 'demo-store'}" in first
    assert snapshot(store_dir) == before, "the demo touched the store in $FSJOBSTORE_DIR"
    again = ok(fsj("demo", "--jobs", "2", store=store_dir, cwd=tmp_path, timeout=60))
    assert "The store now holds 4 jobs: 4 fulfilled (`fsjobstore --store demo-store stats`" in again
    assert snapshot(store_dir) == before


@pytest.mark.parametrize("kind", ["store", "folder", "file"])
def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, snapshot: Any, kind: str) -> None:
    target = tmp_path / "demo-store"
    if kind == "store":
        with JobStore(target, create=True) as store:
            store.create("a real job")
    elif kind == "folder":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    else:
        target.write_text("mine")
    before = snapshot(tmp_path)
    assert_error(fsj("demo", cwd=tmp_path, timeout=60), str(target), "not made by the demo")
    assert snapshot(tmp_path) == before


def test_demo_refuses_an_explicit_store_option(tmp_path: Path, store_dir: Path, snapshot: Any) -> None:
    before = snapshot(tmp_path)
    assert_error(fsj("--store", str(store_dir), "demo", cwd=tmp_path), "demo DIR")
    assert snapshot(tmp_path) == before


def test_demo_with_one_job(tmp_path: Path) -> None:
    out = ok(fsj("demo", str(tmp_path / "one"), "--jobs", "1", cwd=tmp_path, timeout=60))
    assert "Delivered 1 notifications" in out
    assert ok(fsj("check", store=tmp_path / "one")).splitlines()[-1] == "clean", "the demo's mark is no problem"


def test_show_tells_each_attempt_and_its_traceback(tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    ok(fsj("init", str(store_path)))
    with JobStore(store_path, durable=False, create=True) as store:
        job = store.create("x")
        lease = store.pull_work()
        assert lease is not None
        lease.fail("ValueError: flaky", retry=True, trace="Traceback (most recent call last):\nValueError: flaky")
        lease = store.pull_work()
        assert lease is not None
        lease.fulfill("ok")
    out = ok(fsj("show", job.id, store=store_path)).splitlines()
    at = out.index("history:")
    assert out[at + 1].startswith("  #1 retried on ") and out[at + 1].endswith(": ValueError: flaky")
    assert out[at + 2:at + 4] == ["      Traceback (most recent call last):", "      ValueError: flaky"]
    assert out[at + 4].startswith("  #2 fulfilled on ")
    shown = json.loads(ok(fsj("show", "--json", job.id, store=store_path)))
    assert [entry["outcome"] for entry in shown["history"]] == ["retried", "fulfilled"]


def test_deeply_nested_json_is_an_error_not_a_traceback(store_dir: Path, snapshot: Any) -> None:
    with JobStore(store_dir, create=True) as store:
        job_id = store.create("x").id
    before = snapshot(store_dir)
    for depth in (101, 60_000):  # beyond the store's limit; beyond what Python's reader can parse
        deep = "[" * depth + "]" * depth
        assert_error(fsj("create", deep, store=store_dir), "REQUEST" if depth > 1000 else "levels")
        assert_error(fsj("queue", job_id, deep, store=store_dir), "TARGET" if depth > 1000 else "levels")
    assert snapshot(store_dir) == before


@pytest.mark.parametrize("option", ["--delay", "--expires-in", "--lease"])
@pytest.mark.parametrize("duration", ["99999999999999w", "1" * 400])
def test_an_out_of_range_duration_is_an_error_not_a_traceback(store_dir: Path, option: str, duration: str) -> None:
    result = fsj("create", "1", option, duration, store=store_dir)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "longest duration" in result.stderr
    with JobStore(store_dir, create=True) as store:
        assert list(store.jobs()) == []


def test_fulfill_json_keeps_a_json_value_and_show_prints_it_as_the_file_holds_it(store_dir: Path) -> None:
    with JobStore(store_dir) as store:
        job = store.create("x")
        bad = store.create("y")
    ok(fsj("fulfill", job.id, '{"rows": 3}', "--json", store=store_dir))
    shown = json.loads(ok(fsj("show", job.id, "--json", store=store_dir)))
    assert (shown["value"], shown["value_encoding"]) == ({"rows": 3}, "json")
    with JobStore(store_dir) as store:
        assert store.get(job.id).result == {"rows": 3}
    assert '"value": {"rows": 3}' in Path(resolved_file(store_dir, job.id)).read_text()  # readable with cat
    assert_error(fsj("fulfill", bad.id, "{rows", "--json", store=store_dir), "VALUE is not valid JSON")
    with JobStore(store_dir) as store:
        assert store.get(bad.id).state == "pending"


def test_notify_gives_a_failing_target_up_and_show_tells_why(store_dir: Path) -> None:
    with JobStore(store_dir) as store:
        job = store.create("x")
        store.queue(job.id, {"to": "down"})
        store.fulfill(job.id, "v")
    deliver = "import sys; sys.stdin.read(); sys.exit('mailbox full')"
    ok(fsj("notify", "--max-attempts", "2", "--backoff", "0.05", "--poll-interval", "0.05", "--burst", "--",
           sys.executable, "-c", deliver, store=store_dir))
    text = ok(fsj("show", job.id, store=store_dir))
    assert "failed deliveries:" in text
    assert '{"to": "down"}: 2 failures, given up' in text and "mailbox full" in text
    assert "waiting:" not in text
    assert json.loads(ok(fsj("stats", "--json", store=store_dir)))["due"] == 0
