"""fsjobstore.job: the Job value and its plain-JSON form (CLI --json, HTTP API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fsjobstore import Job


def test_to_dict_is_plain_json_and_from_dict_inverts_it() -> None:
    stamp = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    for value in (None, b"text", b"\xff\x00 not utf-8"):
        job = Job(id="01ABC", state="fulfilled", request={"n": [1, 2]}, value=value, error=None, attempts=2,
                  created_at=stamp, updated_at=stamp, waiting=({"to": "a"},), task="t", not_before=stamp,
                  lease_seconds=5.0, expires_in=60.0)
        data = json.loads(json.dumps(job.to_dict()))
        assert Job.from_dict(data) == job


def test_a_value_that_is_not_utf8_is_shown_as_base64() -> None:
    job = Job(id="01ABC", state="fulfilled", request=None, value=b"\xff")
    assert job.to_dict()["value"] == {"base64": "/w=="}
    assert Job(id="01ABC", state="fulfilled", request=None, value=b"ok").to_dict()["value"] == "ok"
