"""One field of a record read from its line, where the file is laid out as
``Record.render`` writes it (each field one line: JSON text holds no newline),
without parsing the rest: for a purge, which asks every record it judges."""

from __future__ import annotations

from . import fsio
from .records import RECORD_START, Record

_EXPIRES_IN = b'\n "expires_in": '


def expires_in_of(path: str, job_id: str) -> float | None:
    """The ``expires_in`` of job *job_id*'s record at *path*, from its line; a file
    laid out otherwise is parsed in full (CorruptJobFile if it is no record).
    FileNotFoundError if absent."""
    data = fsio.read(path)
    start = data.rfind(_EXPIRES_IN)  # (the last, as JSON takes the last of a repeated key)
    if (start > 0 and data.startswith(RECORD_START) and data.endswith(b"\n}\n")
            and data.count(b"\n") == data.count(b'\n "') + 2 and f'\n "id": "{job_id}",\n'.encode() in data):
        start += len(_EXPIRES_IN)
        text = data[start:data.find(b",\n", start)]
        if text == b"null":
            return None
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if seconds >= 0 and seconds != float("inf"):
            return seconds
    expires_in = Record.parse(data, path, job_id).get("expires_in")
    return None if expires_in is None else float(expires_in)
