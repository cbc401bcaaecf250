"""The pending records one store object wrote last, so that a pull taking one of
them reads it back without parsing it again."""

from __future__ import annotations

from .._files.records import Record
from .._files.values import encode_compact, loads_text
from .recent import Recent

# The fields besides the request that may hold objects a caller gave or was given.
_GIVEN_VALUES = ("labels", "history", "progress")


class Written:
    """Records with the exact bytes they were written as: a file that still holds
    those bytes is that record, so reading it back costs no parse and no checks
    (what another process or host wrote is parsed as ever). Bounded: the least
    recently written is forgotten first. Safe to share between threads."""

    def __init__(self, size: int = 256) -> None:
        self._records: Recent[str, tuple[bytes, Record]] = Recent(size)

    def remember(self, record: Record, data: bytes) -> None:
        """*record* was written as *data* (a record whose request text is unknown is not kept)."""
        if record.request_json is not None:
            self._records.put(record.id, (data, record))

    def recall(self, job_id: str, data: bytes) -> Record | None:
        """The record written as *data* under *job_id*, if it is one of ours (then
        forgotten: a record is read back once, by the pull that takes it); else None."""
        known = self._records.pop(job_id)
        if known is None or known[0] != data:
            return None
        record = known[1]
        request_json = record.request_json or "null"
        # A fresh copy of each JSON value the caller gave (the request above all): the
        # caller may have changed its own objects since, and the file has not.
        # (A copy of the dict keeps its order, so the record renders as it did.)
        fields = dict(record.fields)
        fields["request"] = loads_text(request_json)
        for name in _GIVEN_VALUES:
            if type(value := fields.get(name)) in (dict, list):
                fields[name] = loads_text(encode_compact(value))
        return Record(fields, request_json)
