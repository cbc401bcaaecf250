"""fsjobstore.job: the Job value and its plain-JSON form (CLI --json, HTTP API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fsjobstore import Job


def test_to_dict_is_plain_json_and_from_dict_inverts_it() -> None:
    stamp = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    for value, encoding in ((None, None), (b"text", "utf-8"), (b"\xff\x00 not utf-8", "base64"),
                            (b'{"a": [1, null]}', "json")):
        job = Job(id="01ABC", state="fulfilled", request={"n": [1, 2]}, value=value, value_encoding=encoding,
                  error=None, attempts=2,
                  created_at=stamp, updated_at=stamp, waiting=({"to": "a"},), task="t", not_before=stamp,
                  lease_seconds=5.0, expires_in=60.0)
        data = json.loads(json.dumps(job.to_dict()))
        assert Job.from_dict(data) == job


def test_a_value_is_shown_as_the_jobs_file_holds_it() -> None:
    def shown(value: bytes, encoding: str | None = None) -> tuple[object, object]:
        data = Job(id="01ABC", state="fulfilled", request=None, value=value, value_encoding=encoding).to_dict()
        return data["value"], data["value_encoding"]

    assert shown(b"\xff") == ("/w==", "base64")
    assert shown(b"ok") == ("ok", "utf-8")
    assert shown(b'{"rows": 3}', "json") == ({"rows": 3}, "json")
    assert Job(id="01ABC", state="fulfilled", request=None, value=b'{"rows": 3}', value_encoding="json").result \
        == {"rows": 3}


def test_from_dict_names_a_value_it_cannot_decode() -> None:
    data = Job(id="01ABC", state="fulfilled", request=None, value=b"ok").to_dict()
    with pytest.raises(ValueError, match="value_encoding must be"):
        Job.from_dict(data | {"value_encoding": "rot13"})


def test_a_deferred_job_is_the_job_it_stands_for() -> None:
    """deferred_job (what the store returns from create, fulfill...) works its fields
    out when first read, and is then a Job like any other: equal, printed, copied,
    pickled and replaced as the Job it stands for, and as immutable."""
    import copy
    import dataclasses
    import pickle

    from fsjobstore.job import deferred_job

    stamp = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
    made: list[int] = []
    job = Job(id="01ABC", state="fulfilled", request={"n": 1}, value=b"ok", value_encoding="utf-8",
              created_at=stamp, updated_at=stamp, labels={"to": "x"}, history=({"attempt": 1},))

    def make() -> Job:
        made.append(1)
        return job

    deferred = deferred_job(make)
    assert made == [] and isinstance(deferred, Job)
    assert deferred.id == "01ABC" and deferred.text == "ok" and deferred.labels == {"to": "x"}
    assert made == [1]  # once, whatever is read after
    assert deferred == job and job == deferred and not deferred != job
    assert deferred != dataclasses.replace(job, attempts=3)
    assert repr(deferred) == repr(job)
    assert deferred.to_dict() == job.to_dict() and dataclasses.asdict(deferred) == dataclasses.asdict(job)
    for copied in (copy.copy(deferred), copy.deepcopy(deferred), pickle.loads(pickle.dumps(deferred))):
        assert type(copied) is Job and copied == job
    assert dataclasses.replace(deferred_job(make), state="failed") == dataclasses.replace(job, state="failed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        deferred.state = "pending"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        deferred.no_such_field  # type: ignore[attr-defined]  # noqa: B018
