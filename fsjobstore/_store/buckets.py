"""The history of resolved jobs, bucket by bucket, and a summary of each bucket
kept on disk so that counting, listing and purging read only what changed.

A bucket's summary (``summaries/<bucket>.json``) holds its counts per state and
task, when its records were written and when the first of them expires, and
which of them also had a pending record. It names the bucket folder's inode,
mtime and ctime as they were *before* the bucket was read, and is trusted only
while the folder still has exactly those: any record linked into the bucket or
removed from it changes the folder's mtime and ctime, on whichever host it was
made. A summary is written only when that mtime was already at least
``SETTLED_SECONDS`` old on the filesystem's clock (a probe file's mtime) when
the folder was stat-ed: a change made afterwards gets a later mtime however
coarse the filesystem's timestamps, so it can never be mistaken for the state
the summary describes. No host's clock is compared with another's.

Every settled summary is also kept in one file, ``summaries/history.json``, each
trusted by the same rule: a new process (``fsjobstore stats``) reads that one file
instead of a file per bucket.

Summaries are a cache: any process may rewrite one (not durably), a missing or
unreadable one is rebuilt, and a store on a read-only filesystem is simply read
in full every time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .._files import folders, fsio
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.records import Record
from ..errors import CorruptJobFile
from ..job import RESOLVED_STATES
from .context import StoreContext
from .entries import Entry, is_entry

# How old a bucket's last change must be (filesystem clock) before a summary of it
# is written: above the timestamp granularity of any filesystem we run on (NFS
# servers included), so no later change can carry the same mtime.
SETTLED_SECONDS = 2.0
_VERSION = 2
_INDEX_SUFFIX = ".ids.json"
_ENTRIES_SUFFIX = ".records.json"

# The counts of pending/ and of each queue folder (pending_counts.py; a name no
# bucket can have: longer).
PENDING_COUNT = "pending.count.json"
# What was read of each unresolved record, per folder (unresolved_tasks.py).
UNRESOLVED_TASKS = "unresolved.tasks.json"
# Every settled summary, by bucket (a name no bucket can have).
_ALL_SUMMARIES = "history.json"


@dataclass
class Summary:
    """What one bucket holds, as of the folder state *folder*."""

    folder: list[int]  # inode, mtime_ns, ctime_ns of the bucket folder when it was read
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOLVED_STATES, 0))
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)  # task ("" for none) -> state -> count
    # (For /metrics.) Per task: the records' attempts, and the outcomes their histories record.
    attempts: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> outcome -> history entries
    # (For purge.) The oldest mtime of every record and of those that take the
    # store's retention, and the earliest mtime + expires_in of those with their own.
    oldest: float | None = None
    oldest_default: float | None = None
    first_expiry: float | None = None
    # ... and the newest of each, and the last expiry: all past, every record is.
    newest: float | None = None
    newest_default: float | None = None
    last_expiry: float | None = None
    # Ids that also had a pending record (a resolution not finished yet).
    also_pending: list[str] = field(default_factory=list)
    # Whether the folder's mtime was settled when it was stat-ed (see the module's
    # docstring): then any later change shows as a different folder state. Every
    # summary on disk is.
    settled: bool = False
    # (Not in the summary's file, but in <bucket>.ids.json beside it: read only by a
    # filtered listing.) The ids of each state and task, "<state>/<task>" -> ids.
    index: dict[str, list[str]] | None = None
    # (In memory only, when just built: for purge.) Each record's mtime, own
    # expires_in, and identity (inode, ctime) as it was read.
    ages: dict[str, tuple[float, float | None, tuple[int, int]]] | None = None

    def add(self, job_id: str, entry: Entry) -> None:
        state, task, mtime, expires_in, _, _, pending, attempts, outcomes = entry
        self.counts[state] = self.counts.get(state, 0) + 1
        by_state = self.tasks.setdefault(task, {})
        by_state[state] = by_state.get(state, 0) + 1
        self.attempts[task] = self.attempts.get(task, 0) + attempts
        by_outcome = self.outcomes.setdefault(task, {})
        for outcome, count in outcomes:
            by_outcome[outcome] = by_outcome.get(outcome, 0) + count
        if self.index is not None:
            self.index.setdefault(f"{state}/{task}", []).append(job_id)
        self.oldest, self.newest = _least(self.oldest, mtime), _most(self.newest, mtime)
        if expires_in:
            expiry = mtime + expires_in
            self.first_expiry, self.last_expiry = _least(self.first_expiry, expiry), _most(self.last_expiry, expiry)
        else:
            self.oldest_default = _least(self.oldest_default, mtime)
            self.newest_default = _most(self.newest_default, mtime)
        if pending:
            self.also_pending.append(job_id)
        if self.ages is not None:
            self.ages[job_id] = (mtime, expires_in, (entry[4], entry[5]))

    def has(self, state: str | None, task: str | None) -> bool:
        """Whether the bucket may hold a job in *state* (None: any) of *task* (None: any)."""
        counts = self.counts if task is None else self.tasks.get(task, {})
        return any(counts.get(s, 0) for s in (RESOLVED_STATES if state is None else (state,)))

    def expires_by(self, now: float, older_than: float | None, retention: float | None) -> bool:
        """Whether a record of the bucket may be past its time at *now* (filesystem clock)."""
        if older_than is not None:
            return self.oldest is not None and self.oldest + older_than <= now
        return (self.first_expiry is not None and self.first_expiry <= now) or (
            retention is not None and self.oldest_default is not None and self.oldest_default + retention <= now)

    def all_expired_by(self, now: float, older_than: float | None, retention: float | None) -> bool:
        """Whether every record of the bucket is past its time at *now* (filesystem clock)."""
        if older_than is not None:
            return self.newest is None or self.newest + older_than <= now
        return (self.last_expiry is None or self.last_expiry <= now) and (
            self.newest_default is None or (retention is not None and self.newest_default + retention <= now))

    def to_json(self) -> bytes:
        fields = {name: value for name, value in self.__dict__.items() if name not in ("index", "ages")}
        return json.dumps({"version": _VERSION, **fields}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Summary | None:
        try:
            return cls.from_fields(json.loads(data))
        except ValueError:
            return None

    @classmethod
    def from_fields(cls, fields: Any) -> Summary | None:
        """The summary whose fields (as ``to_json`` writes them) these are, else None."""
        if not isinstance(fields, dict):
            return None
        try:
            fields = dict(fields)
            if fields.pop("version") != _VERSION:
                return None
            return cls(**fields)
        except (ValueError, TypeError, AttributeError, KeyError):
            return None


def _least(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _most(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)


def folder_state(info: os.stat_result) -> list[int]:
    return [info.st_ino, info.st_mtime_ns, info.st_ctime_ns]


class History:
    """The resolved buckets of one store, read through their summaries."""

    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx
        self.layout: Layout = ctx.layout
        self._now: float | None = None
        self._probed = False
        # history.json, read by the first pass over every bucket of a store object that
        # remembers no summary yet, and whether a settled summary was found elsewhere since.
        self._all: dict[str, Any] | None = None
        self._found_apart = False

    def filesystem_now(self) -> float | None:
        """Now on the filesystem's clock, probed once per History (None: cannot write)."""
        if not self._probed:
            self._probed = True
            try:
                self._now = fsio.filesystem_now(self.layout.tmp)
            except OSError:
                self._now = None
        return self._now

    def unchanged(self, bucket: str, summary: Summary) -> bool:
        """Whether the bucket folder is still as *summary* describes it (never, for
        a summary not settled: a change may have kept the folder's mtime)."""
        if not summary.settled:
            return False
        try:
            return folder_state(fsio.lstat(self.layout.resolved.join(bucket))) == summary.folder
        except FileNotFoundError:
            return False

    def names(self, bucket: str) -> list[str]:
        """The ids of the records in *bucket* (unsorted)."""
        return folders.stems(self.layout.bucket(bucket), RECORD_SUFFIX)

    def summaries(self) -> Iterator[tuple[str, Summary]]:
        """Every bucket, oldest first, with its summary (rebuilt where it changed);
        history.json rewritten once all are read, if a settled one was not in it."""
        if self._all is None:
            # (Not for one bucket, such as a first page's: one small file is cheaper.)
            self._all = {} if len(self.ctx.bucket_summaries) else self._read_all()
        settled: dict[str, Summary] = {}
        for bucket in self.layout.buckets():
            summary = self.summary(bucket)
            if summary is not None:
                if summary.settled:
                    settled[bucket] = summary
                yield bucket, summary
        if self._found_apart:
            self._save_all(settled)

    def _saved_one(self, bucket: str) -> Summary | None:
        try:
            return Summary.from_json(fsio.read(self.layout.summaries.join(bucket + RECORD_SUFFIX)))
        except (FileNotFoundError, CorruptJobFile):
            return None

    def _read_all(self) -> dict[str, Any]:
        try:
            saved: Any = json.loads(fsio.read(self.layout.summaries.join(_ALL_SUMMARIES)))
        except (FileNotFoundError, ValueError, CorruptJobFile):
            return {}
        return saved if isinstance(saved, dict) else {}

    def _save_all(self, settled: dict[str, Summary]) -> None:
        """Write history.json with *settled* (every bucket's settled summary), or remove
        it if there is none."""
        layout = self.layout
        data = b",".join(b'"%s":%s' % (bucket.encode(), summary.to_json()) for bucket, summary in settled.items())
        try:
            if settled:
                fsio.publish(layout.tmp, layout.summaries, _ALL_SUMMARIES, b"{" + data + b"}", durable=False,
                             replace=True)
            else:
                fsio.remove(layout.summaries.join(_ALL_SUMMARIES))
        except OSError:
            pass  # (a cache)

    def known(self, bucket: str) -> Summary | None:
        """The bucket's summary if one made before still describes it (kept in memory,
        or saved), without reading a record; else (or if the bucket is gone) None."""
        try:
            return self._known(bucket, folder_state(fsio.lstat(self.layout.resolved.join(bucket))))
        except FileNotFoundError:
            return None

    def _known(self, bucket: str, state: list[int]) -> Summary | None:
        known: Summary | None = self.ctx.bucket_summaries.get(bucket)
        if known is not None and known.folder == state:
            return known  # (settled: as trustworthy as the one on disk, without reading it)
        in_all = Summary.from_fields(self._all.get(bucket)) if self._all else None
        saved = in_all if in_all is not None and in_all.folder == state else self._saved_one(bucket)
        if saved is not None and saved.folder == state:
            self._found_apart |= saved is not in_all
            self.ctx.bucket_summaries.put(bucket, saved)
            return saved
        return None

    def summary(self, bucket: str) -> Summary | None:
        """The bucket's summary, from disk if the folder did not change since it was
        made, else read from the records (and saved); None if the bucket is gone."""
        layout = self.layout
        try:
            state = folder_state(fsio.lstat(layout.resolved.join(bucket)))
        except FileNotFoundError:
            return None
        known = self._known(bucket, state)
        if known is not None:
            return known
        # Rebuilt: the filesystem's time first, then the folder state the summary
        # describes, so that any change after that stat has a later mtime than now.
        now = self.filesystem_now()
        try:
            state = folder_state(fsio.lstat(layout.resolved.join(bucket)))
        except FileNotFoundError:
            return None
        summary = self.build(bucket, state)
        summary.settled = now is not None and state[1] < (now - SETTLED_SECONDS) * 1e9
        if summary.settled:
            self._found_apart = True
            self.ctx.bucket_summaries.put(bucket, replace(summary, index=None, ages=None))
            index = json.dumps({"folder": state, "ids": summary.index}, separators=(",", ":")).encode()
            entries = self.ctx.bucket_entries.get(bucket)
            try:
                if entries is not None:
                    fsio.publish(layout.tmp, layout.summaries, bucket + _ENTRIES_SUFFIX,
                                 json.dumps({"folder": state, "records": entries}, separators=(",", ":")).encode(),
                                 durable=False, replace=True)
                # The index first: a summary on disk always has its index beside it.
                fsio.publish(layout.tmp, layout.summaries, bucket + _INDEX_SUFFIX, index, durable=False,
                             replace=True)
                fsio.publish(layout.tmp, layout.summaries, bucket + RECORD_SUFFIX, summary.to_json(),
                             durable=False, replace=True)
            except OSError:
                pass  # (a cache: the next reader builds it again)
        return summary

    def matching(self, bucket: str, summary: Summary, state: str | None, task: str | None) -> list[str]:
        """The ids in *bucket* of jobs in *state* and of *task* (None: any), by the
        bucket's index where it is still true, else by listing the bucket."""
        index = summary.index
        if index is None:
            try:
                saved: Any = json.loads(fsio.read(self.layout.summaries.join(bucket + _INDEX_SUFFIX)))
                if isinstance(saved, dict) and saved.get("folder") == summary.folder:
                    index = saved.get("ids")
            except (FileNotFoundError, ValueError, CorruptJobFile):
                pass
        if not isinstance(index, dict) or (state is None and task is None):
            return self.names(bucket)
        ids: list[str] = []
        for key, some in index.items():
            key_state, _, key_task = key.partition("/")
            if (state is None or key_state == state) and (task is None or key_task == task):
                ids.extend(some)
        return ids

    def build(self, bucket: str, state: list[int]) -> Summary:
        ctx, layout = self.ctx, self.layout
        known = self.entries(bucket)
        entries: dict[str, Entry] = {}
        summary = Summary(state, index={}, ages={})
        folder = layout.bucket(bucket)
        for job_id in folders.stems(folder, RECORD_SUFFIX):
            path = folder.join(job_id + RECORD_SUFFIX)
            try:
                # The identity before the read: a record replaced in between is read
                # again next time, as its identity will differ from the one kept.
                info = fsio.lstat(path)
                entry = known.get(job_id)
                if entry is None or entry[4] != info.st_ino or entry[5] != info.st_ctime_ns:
                    record = Record.load(path, job_id)
                    entry = (record.state, record.get("task") or "", info.st_mtime, record.get("expires_in"),
                             info.st_ino, info.st_ctime_ns, fsio.exists(layout.pending_path(job_id)),
                             record.attempts, record.outcomes())
                elif entry[6] and not fsio.exists(layout.pending_path(job_id)):
                    entry = (*entry[:6], False, *entry[7:])  # (its resolution finished since)
            except FileNotFoundError:
                continue
            except CorruptJobFile as exc:
                ctx.report(exc)
                continue
            entries[job_id] = entry
            summary.add(job_id, entry)
        ctx.bucket_entries.put(bucket, entries)
        return summary

    def entries(self, bucket: str) -> dict[str, Entry]:
        """What an earlier read of the bucket learnt of each record (kept in memory, or
        saved with its last summary), whatever the folder's state since: an entry is
        true of a record whose inode and ctime are still the entry's."""
        return self.ctx.bucket_entries.get(bucket) or self._saved_entries(bucket)

    def _saved_entries(self, bucket: str) -> dict[str, Entry]:
        """The entries saved with the bucket's last summary (whatever the folder's
        state since: each is checked against its record), or none."""
        try:
            saved: Any = json.loads(fsio.read(self.layout.summaries.join(bucket + _ENTRIES_SUFFIX)))
        except (FileNotFoundError, ValueError, CorruptJobFile):
            return {}
        records = saved.get("records") if isinstance(saved, dict) else None
        if not isinstance(records, dict):
            return {}
        return {job_id: tuple(entry) for job_id, entry in records.items() if is_entry(entry)}

    def forget(self, bucket: str) -> None:
        """Remove the bucket if it is empty, and its summary if the bucket is gone."""
        layout = self.layout
        folders.remove_folder_if_empty(layout.resolved.join(bucket))
        if not fsio.exists(layout.resolved.join(bucket)):
            self.ctx.bucket_entries.drop(bucket)
            self.ctx.bucket_summaries.drop(bucket)
            for suffix in (RECORD_SUFFIX, _INDEX_SUFFIX, _ENTRIES_SUFFIX):
                fsio.remove(layout.summaries.join(bucket + suffix))

    def forget_summaries(self) -> None:
        """Remove the summaries of buckets that no longer exist."""
        layout = self.layout
        buckets = set(layout.buckets())
        for name in layout.summaries.names():
            if name not in (PENDING_COUNT, UNRESOLVED_TASKS, _ALL_SUMMARIES) and name.split(".")[0] not in buckets:
                fsio.remove(layout.summaries.join(name))
        saved = self._read_all()
        if saved.keys() - buckets:
            self._save_all({bucket: summary for bucket, fields in saved.items()
                            if bucket in buckets and (summary := Summary.from_fields(fields)) is not None})
