"""The Job value and the job file format (Record)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fsjobstore import Job
from fsjobstore._files.records import FORMAT_VERSION, Record
from fsjobstore._files.times import now_text, parse_time, time_text
from fsjobstore._files.values import store_value
from fsjobstore.errors import CorruptJobFile
from fsjobstore.job import RESOLVED_STATES, STATES

JOB_ID = "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B"
STAMP = "2026-11-23T14:00:00.123456Z"


def fields(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "id": JOB_ID,
        "state": "pending",
        "request": {"url": "https://example.org", "n": [1, 2.5, None, True]},
        "value": None,
        "value_encoding": None,
        "error": None,
        "attempts": 0,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    base.update(changes)
    return base


def data_of(**changes: Any) -> bytes:
    return json.dumps(fields(**changes)).encode()


# -- Job ---------------------------------------------------------------------------


def test_states() -> None:
    assert {"pending", "running", "fulfilled", "failed"} <= set(STATES)
    assert {"fulfilled", "failed"} <= set(RESOLVED_STATES)
    assert "pending" not in RESOLVED_STATES and "running" not in RESOLVED_STATES


def test_job_is_immutable() -> None:
    job = Job(id=JOB_ID, state="pending", request=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.state = "fulfilled"  # type: ignore[misc]


def test_job_text_and_resolved() -> None:
    assert Job(id=JOB_ID, state="pending", request=None).text is None
    assert Job(id=JOB_ID, state="fulfilled", request=None, value="h\u00e9".encode()).text == "h\u00e9"
    assert Job(id=JOB_ID, state="fulfilled", request=None, value=b"\xff").text == "\ufffd"
    assert Job(id=JOB_ID, state="fulfilled", request=None).resolved
    assert Job(id=JOB_ID, state="failed", request=None).resolved
    assert not Job(id=JOB_ID, state="pending", request=None).resolved
    assert not Job(id=JOB_ID, state="running", request=None).resolved


# -- JSON helpers ----------------------------------------------------------------


def test_times() -> None:
    text = now_text()
    assert text.endswith("Z")
    parsed = parse_time(text)
    assert parsed.tzinfo is not None and parsed.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 5
    with pytest.raises(ValueError):
        parse_time("2026-11-23T14:00:00")  # no zone
    with pytest.raises(ValueError):
        parse_time(12)  # type: ignore[arg-type]


# -- Record ------------------------------------------------------------------------


def test_parse_and_job() -> None:
    record = Record.parse(data_of(), "/s/pending/x.json", JOB_ID)
    assert record.state == "pending" and record.attempts == 0
    job = record.job()
    assert job.id == JOB_ID
    assert job.state == "pending"
    assert job.request == fields()["request"]
    assert job.value is None and job.error is None and job.attempts == 0
    assert job.created_at == datetime(2026, 11, 23, 14, 0, 0, 123456, tzinfo=UTC)
    assert job.waiting == ()
    assert record.job(state="running", waiting=("t",)).state == "running"
    assert record.job(state="running", waiting=("t",)).waiting == ("t",)


def test_render_is_one_key_per_line_and_parses_back() -> None:
    record = Record.parse(data_of(state="fulfilled", value="ok", value_encoding="utf-8"), "p", JOB_ID)
    data = record.render()
    lines = data.decode().splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    keys = [json.loads("{" + line.rstrip(",") + "}") for line in lines[1:-1]]
    assert [next(iter(k)) for k in keys] == list(fields())
    again = Record.parse(data, "p", JOB_ID)
    assert again.fields == record.fields
    assert again.job().value == b"ok"


def test_a_record_of_many_unknown_keys_renders_as_it_holds_them() -> None:
    # Keys' texts are kept for the next render, a bounded number of them: a record
    # planted with keys of its own, any of them, still renders to what it holds.
    extra = {f'x"{n}\u00e9': [n, None] if n % 2 else None for n in range(300)}
    record = Record.parse(json.dumps(json.loads(data_of()) | extra).encode(), "p", JOB_ID)
    for _ in range(2):
        data = record.render()
        assert len(data.splitlines()) == len(record.fields) + 2
        assert Record.parse(data, "p", JOB_ID).fields == record.fields


def test_resolved_and_changed_records() -> None:
    record = Record.parse(data_of(), "p", JOB_ID)
    done = record.resolved("fulfilled", store_value(b"\xff\x00", None), None, 0)
    assert done.fields["value_encoding"] == "base64"
    assert done.job().value == b"\xff\x00"
    assert done.job().state == "fulfilled"
    assert record.state == "pending"  # the original is left as it was
    retried = record.changed(attempts=3, error="boom")
    assert (retried.attempts, retried.fields["error"]) == (3, "boom")
    assert record.attempts == 0
    assert Record.parse(retried.render(), "p", JOB_ID).fields == retried.fields


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not JSON"),
        (b"\xff\xfe garbage \x00", "not JSON"),
        (data_of()[:40], "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (data_of(format=2), "format version"),
        (data_of(format=None), "format version"),
        (data_of(id="SOMEONEELSE"), "holds id"),
        (data_of(state="running"), "unknown state"),
        (data_of(state="bogus"), "unknown state"),
        (data_of(attempts="1"), "attempts"),
        (data_of(value="x", value_encoding="rot13"), "bad field"),
        (data_of(value="!!!", value_encoding="base64"), "bad field"),
        (data_of(value=5, value_encoding="utf-8"), "bad field"),
        (data_of(created_at="yesterday"), "bad field"),
        (data_of(updated_at=None), "bad field"),
    ],
)
def test_parse_refuses_corrupt_files_naming_the_path(data: bytes, reason: str) -> None:
    path = "/store/pending/" + JOB_ID + ".json"
    with pytest.raises(CorruptJobFile) as caught:
        Record.parse(data, path, JOB_ID)
    assert caught.value.path == path
    assert path in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize("missing", ["request", "value", "value_encoding", "error", "created_at"])
def test_a_record_missing_a_field_is_corrupt_not_a_key_error(missing: str) -> None:
    broken = fields()
    del broken[missing]
    path = "/store/pending/" + JOB_ID + ".json"
    # Either parse refuses it, or it yields a Job: never a bare KeyError later.
    try:
        record = Record.parse(json.dumps(broken).encode(), path, JOB_ID)
    except CorruptJobFile as exc:
        assert exc.path == path
        return
    job = record.job()
    assert job.id == JOB_ID


@pytest.mark.parametrize("year", [200, 1970, 2026, 9999])
def test_a_time_of_any_year_is_written_as_the_reader_reads_it(year: int) -> None:
    when = datetime(year, 10, 1, 2, 49, 28, tzinfo=UTC)
    assert parse_time(time_text(when.timestamp())) == when
