"""The command line's log: a start-up banner and one line per job, as text or JSON
lines, louder with -v and quieter with -q."""

from __future__ import annotations

import json
from pathlib import Path

from clihelpers import fsj, ok


def _run_one_job(store: Path, *options: str) -> str:
    ok(fsj("init", str(store)))
    ok(fsj("create", '{"n": 1}', store=store))
    ok(fsj("create", '"boom"', store=store))
    script = 'read line; [ "$line" = \'"boom"\' ] && { echo broke >&2; exit 3; }; echo fine'
    result = fsj(*options, "work", "--max-attempts", "1", "--burst", "--", "sh", "-c", script, store=store)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_json_log_lines_carry_the_banner_and_one_line_per_job(tmp_path: Path) -> None:
    lines = [json.loads(line) for line in _run_one_job(tmp_path / "s", "--log-format", "json").splitlines()]
    messages = [line["message"] for line in lines]
    assert messages[0].startswith("starting worker on ") and "concurrency 1" in messages[0]
    assert any(m.startswith("job ") and m.endswith("s") and "fulfilled in" in m for m in messages)
    failed = [line for line in lines if "attempt 1/1 failed" in line["message"]]
    assert len(failed) == 1 and failed[0]["level"] == "warning" and "broke" in failed[0]["message"]
    assert all(set(line) >= {"time", "level", "message", "pid"} for line in lines)


def test_quiet_keeps_only_warnings(tmp_path: Path) -> None:
    err = _run_one_job(tmp_path / "s", "-q")
    assert "starting worker" not in err and "fulfilled in" not in err
    assert "attempt 1/1 failed" in err


def test_notify_logs_one_line_per_delivery_with_its_job_target_and_outcome(tmp_path: Path) -> None:
    store = tmp_path / "s"
    ok(fsj("init", str(store)))
    job_id = ok(fsj("create", '"x"', "--task", "mail", store=store)).strip()
    ok(fsj("fulfill", job_id, "done", store=store))
    for target in ('{"inbox": "ok"}', '"refused"'):
        ok(fsj("queue", job_id, target, store=store))
    script = 'grep -q \'"target": "refused"\' && { echo no such inbox >&2; exit 1; }; exit 0'
    result = fsj("--log-format", "json", "notify", "--max-attempts", "1", "--burst", "--", "sh", "-c", script,
                 store=store)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    told = [(line["level"], line["message"]) for line in lines if line["message"].startswith(("job", "delivering"))]
    assert len(told) == 2, told
    assert ("info", f'job {job_id} (mail) delivered to {{"inbox":"ok"}}') in [(level, message.rsplit(" in ", 1)[0])
                                                                               for level, message in told]
    assert ("warning", f'delivering job {job_id} (mail) to "refused" failed (1 times): no such inbox') in told
