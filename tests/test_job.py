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
