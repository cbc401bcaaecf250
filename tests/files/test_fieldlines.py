"""A record's expires_in read from its line (what a purge asks of every record it
judges), and read in full from a file laid out otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsjobstore._files.fieldlines import expires_in_of
from fsjobstore._files.records import Record
from fsjobstore._files.values import encode_json
from fsjobstore.errors import CorruptJobFile

JOB_ID = "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B"


def _record(tmp_path: Path, expires_in: float | None, request: object = None) -> Path:
    request = {"n": 1} if request is None else request
    path = tmp_path / f"{JOB_ID}.json"
    path.write_bytes(Record.new(JOB_ID, request, encode_json(request, "request", 1 << 20),
                                expires_in=expires_in).render())
    return path


@pytest.mark.parametrize("expires_in", [None, 0, 60, 2.5, 86400 * 30])
def test_the_line_gives_what_the_record_holds(tmp_path: Path, expires_in: float | None) -> None:
    assert expires_in_of(str(_record(tmp_path, expires_in)), JOB_ID) == expires_in


def test_an_expires_in_inside_the_request_is_not_the_records(tmp_path: Path) -> None:
    path = _record(tmp_path, None, {"expires_in": 5, "note": 'x\n "expires_in": 7,\n'})
    assert expires_in_of(str(path), JOB_ID) is None


def test_a_file_laid_out_otherwise_is_read_in_full(tmp_path: Path) -> None:
    path = _record(tmp_path, 30)
    fields = json.loads(path.read_bytes())
    fields["request"] = {"expires_in": 1}
    path.write_text(json.dumps(fields, indent=4))  # (a hand-edited file: nested lines, other indents)
    assert expires_in_of(str(path), JOB_ID) == 30


@pytest.mark.parametrize("change", [b'"expires_in": "soon"', b'"expires_in": [1]',
                                    b'"id": "01JD3Z6M6W4Q8S1V2X3Y4Z5A6C"'])
def test_a_line_that_is_no_records_is_reported_corrupt(tmp_path: Path, change: bytes) -> None:
    path = _record(tmp_path, 30)
    key = change.split(b":")[0]
    data = path.read_bytes()
    start = data.index(key)
    path.write_bytes(data[:start] + change + data[data.index(b",\n", start):])
    with pytest.raises(CorruptJobFile):
        expires_in_of(str(path), JOB_ID)


def test_an_absent_record_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        expires_in_of(str(tmp_path / f"{JOB_ID}.json"), JOB_ID)
