"""What a read learnt of one record, kept with the record's identity (inode and
ctime: a record is never changed in place, a rewrite is a rename), so that a
folder read again reads only the records whose identity is new: a resolved
bucket's (buckets.py) and an unresolved folder's (unresolved_tasks.py). Saved as
JSON lists; one read back is used only if it has an entry's form."""

from __future__ import annotations

from typing import Any

from ..job import RESOLVED_STATES

# The outcomes a record's attempt history records: (outcome, entries), sorted.
Outcomes = tuple[tuple[str, int], ...]
# A resolved record: state, task ("" for none), mtime, own expires_in, inode, ctime
# (ns), whether a pending record was there too, attempts, outcomes.
Entry = tuple[str, str, float, "float | None", int, int, bool, int, Outcomes]
# An unresolved record: task ("" for none), attempts, outcomes, inode, ctime (ns).
UnresolvedEntry = tuple[str, int, Outcomes, int, int]


def is_entry(entry: object) -> bool:
    """Whether *entry* (from a file) has an Entry's form."""
    if not (isinstance(entry, list) and len(entry) == 9):
        return False
    state, task, mtime, expires_in, ino, ctime, pending, attempts, outcomes = entry
    return (state in RESOLVED_STATES and isinstance(task, str) and isinstance(mtime, int | float)
            and (expires_in is None or isinstance(expires_in, int | float)) and isinstance(ino, int)
            and isinstance(ctime, int) and isinstance(pending, bool) and isinstance(attempts, int)
            and _are_outcomes(outcomes))


def unresolved_entry(raw: Any) -> UnresolvedEntry | None:
    """The UnresolvedEntry *raw* (from a file) is, if it has one's form."""
    # (Read for every unresolved record a new process counts: type checks, not isinstance.)
    if type(raw) is not list or len(raw) != 5:
        return None
    task, attempts, outcomes, ino, ctime = raw
    if not (type(task) is str and type(attempts) is int and type(ino) is int and type(ctime) is int
            and (outcomes == [] or _are_outcomes(outcomes))):
        return None
    return task, attempts, tuple((outcome, count) for outcome, count in outcomes), ino, ctime


def _are_outcomes(outcomes: Any) -> bool:
    return isinstance(outcomes, list) and all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], int)
        for pair in outcomes)
