"""What the unresolved records (``pending/``, the queue folders, ``blocked/``) say
per task, for ``stats_by_task`` and the census of /metrics, without reading every
record at every call.

What was read of each record (its task, attempts and the outcomes of its
history) is kept with the record's identity (inode and ctime: a record is never
changed in place, a rewrite is a rename), per folder, in memory and in
``summaries/unresolved.tasks.json``. A folder that changed is listed and each
record ``lstat``-ed; only the records whose identity is new are read. A folder
whose inode, mtime and ctime are those its entries were listed at, and whose
mtime was settled then (buckets.py: ``SETTLED_SECONDS`` older than the
filesystem's clock), is not even listed: no change can hide behind it however
coarse the filesystem's timestamps.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.records import Record
from ..errors import CorruptJobFile
from .buckets import SETTLED_SECONDS, UNRESOLVED_TASKS, folder_state
from .entries import UnresolvedEntry, unresolved_entry

_VERSION = 1
# Records read since the file was last saved after which it is saved again, even
# while a folder is still changing: a busy store's file is at most this far behind.
SAVE_AFTER = 1024


@dataclass
class FolderTasks:
    """One folder's records as of the folder state *folder*, and their totals per task."""

    folder: list[int]  # inode, mtime_ns, ctime_ns of the folder when it was listed
    settled: bool
    records: dict[str, UnresolvedEntry]
    jobs: Counter[str] = field(default_factory=Counter)  # task -> records
    attempts: Counter[str] = field(default_factory=Counter)  # task -> attempts
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (task, outcome) -> history entries

    def __post_init__(self) -> None:
        for task, attempts, outcomes, _, _ in self.records.values():
            self.jobs[task] += 1
            self.attempts[task] += attempts
            for outcome, count in outcomes:
                self.outcomes[task, outcome] += count


def entry_of(record: Record, info: os.stat_result) -> UnresolvedEntry:
    return record.get("task") or "", record.attempts, record.outcomes(), info.st_ino, info.st_ctime_ns


class UnresolvedTasks:
    """The unresolved folders' records of one store object (one reader at a time)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._known: dict[str, FolderTasks] | None = None  # folder (relative to the store) -> what it holds
        self._unsaved = 0
        self._lock = threading.Lock()

    def read(self, wanted: Sequence[Folder], filesystem_now: Callable[[], float | None],
             report: Callable[[CorruptJobFile], None]) -> list[FolderTasks]:
        """What each folder of *wanted* holds now (a folder that is gone: nothing).
        *filesystem_now*: now on the filesystem's clock (None where nothing can be written)."""
        with self._lock:
            known = self._known if self._known is not None else self._load()
            fresh: dict[str, FolderTasks] = {}
            listed = []  # (what was listed now: the folders that changed since)
            for folder in wanted:
                name = os.path.relpath(folder.path, self.layout.root)
                tasks = self._folder(folder, known.get(name), filesystem_now, report)
                if tasks is not None:
                    fresh[name] = tasks
                    if tasks is not known.get(name):
                        listed.append(tasks)
            self._known = fresh
            # Saved when a folder listed has settled (the next reader need not list it,
            # and this one lists it no more), or once much was read: not at every count
            # of a busy store.
            if self._unsaved >= SAVE_AFTER or any(tasks.settled for tasks in listed):
                self._save(fresh)
            empty = FolderTasks([0, 0, 0], False, {})
            return [fresh.get(os.path.relpath(folder.path, self.layout.root), empty) for folder in wanted]

    def _folder(self, folder: Folder, known: FolderTasks | None, filesystem_now: Callable[[], float | None],
                report: Callable[[CorruptJobFile], None]) -> FolderTasks | None:
        try:
            state = folder_state(fsio.lstat(folder.path))
        except FileNotFoundError:
            return None  # (a queue folder tidied away since it was listed)
        if known is not None and known.settled and known.folder == state:
            return known
        # The filesystem's time first, then the folder state the entries describe, so
        # that any change after that stat has a later mtime than now.
        now = filesystem_now()
        try:
            state = folder_state(fsio.lstat(folder.path))
        except FileNotFoundError:
            return None
        before = known.records if known is not None else {}
        records: dict[str, UnresolvedEntry] = {}
        for job_id in folders.stems(folder, RECORD_SUFFIX):
            name, fd = folder.at(job_id + RECORD_SUFFIX)
            try:
                # The identity before the read: a record replaced in between is read
                # again next time, as its identity will differ from the one kept.
                info = os.lstat(name, dir_fd=fd)
                entry = before.get(job_id)
                if entry is None or entry[3] != info.st_ino or entry[4] != info.st_ctime_ns:
                    entry = entry_of(Record.load(folder.join(job_id + RECORD_SUFFIX), job_id), info)
                    self._unsaved += 1
            except FileNotFoundError:
                continue  # (resolved since it was listed)
            except CorruptJobFile as exc:
                report(exc)
                continue
            records[job_id] = entry
        settled = now is not None and state[1] < (now - SETTLED_SECONDS) * 1e9
        return FolderTasks(state, settled, records)

    def _load(self) -> dict[str, FolderTasks]:
        """What the file saved last holds (each record checked again when its folder is
        listed; a folder's totals trusted only while the folder is as it names)."""
        try:
            saved: Any = json.loads(fsio.read(self.layout.summaries.join(UNRESOLVED_TASKS)))
        except (FileNotFoundError, ValueError, CorruptJobFile):
            return {}
        if not isinstance(saved, dict) or saved.get("version") != _VERSION or not isinstance(
                saved.get("folders"), dict):
            return {}
        known = {}
        for name, fields in saved["folders"].items():
            try:
                state, settled, records = fields["folder"], fields["settled"], fields["records"]
                if not (isinstance(settled, bool) and isinstance(state, list) and len(state) == 3
                        and all(isinstance(n, int) for n in state) and isinstance(records, dict)):
                    continue
                entries = {job_id: entry for job_id, raw in records.items()
                           if (entry := unresolved_entry(raw)) is not None}
            except (KeyError, TypeError):
                continue
            # (A folder with an entry left out is not as its state says: listed again.)
            known[name] = FolderTasks(state, settled and len(entries) == len(records), entries)
        return known

    def _save(self, known: dict[str, FolderTasks]) -> None:
        saved = {"version": _VERSION, "folders": {
            name: {"folder": tasks.folder, "settled": tasks.settled, "records": tasks.records}
            for name, tasks in known.items()}}
        try:
            fsio.publish(self.layout.tmp, self.layout.summaries, UNRESOLVED_TASKS,
                         json.dumps(saved, separators=(",", ":")).encode(), durable=False, replace=True)
        except OSError:
            return  # (a cache: read again next time)
        self._unsaved = 0
