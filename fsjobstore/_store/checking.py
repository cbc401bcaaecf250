"""`check`: walk a store, verify the invariants of docs/format.md, optionally repair.

Repairs only do what is safe: finish a crashed resolution, make or remove
notification markers, remove leftovers that are not jobs (temp files, take-over
leftovers, planted symlinks, stray names), and move files that cannot be
parsed into ``quarantine/``. A job file is never deleted. Every file is reached
through the store's anchored folders, like every other operation: a folder
swapped for a symlink is never followed, by a check or by a repair.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterator
from functools import partial

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.ids import is_valid_id
from .._files.layout import RECORD_SUFFIX, UNDELIVERED_SUFFIX, bucket_of
from .._files.pending_buckets import is_pending_bucket
from .._files.records import Record
from ..errors import CorruptJobFile
from ..interface import Problem, Progress, Report
from ..job import BLOCKED
from . import keys
from .context import StoreContext, parse_waiting
from .maintenance import Ticker, find_leftovers, maintenance_lock, store_now


def check(ctx: StoreContext, *, repair: bool, progress: Progress | None) -> Report:
    """Verify the store; with *repair*, fix what is safe to fix. Returns a Report."""
    if repair:
        with maintenance_lock(ctx.layout):
            return _Checker(ctx, repair, progress).run()
    return _Checker(ctx, repair, progress).run()


class _Checker:
    def __init__(self, ctx: StoreContext, repair: bool, progress: Progress | None) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.repair = repair
        self.progress = progress
        self.report = Report()

    def problem(self, kind: str, path: str, detail: str, fix: Callable[[], object] | None = None) -> None:
        repaired = False
        if self.repair and fix is not None:
            fix()
            repaired = True
        self.report.problems.append(Problem(kind, path, detail, repaired))

    def quarantine(self, path: str) -> None:
        """Move *path* into ``quarantine/`` (anchored: never through a symlink)."""
        folder = self.layout.quarantine_folder()
        folders.make_folder(folder.path, shared=self.layout.shared)
        relative = path[len(self.layout.root) + 1 :].replace("/", "__")
        fsio.rename(path, folder.join(f"{relative}.{time.time_ns()}"))

    def entries(self, folder: Folder, suffix: str, other: str | None = None) -> list[str]:
        """Valid ids in *folder* (before *suffix*); report (and clear) symlinks and
        stray names (a valid id before the *other* suffix is neither)."""
        ids = []
        for name in sorted(folder.names()):
            if other is not None and name.endswith(other) and is_valid_id(name[: -len(other)]):
                continue  # (named as the store names it: the caller looks at it)
            path = folder.join(name)
            try:
                is_link = stat.S_ISLNK(fsio.lstat(path).st_mode)
            except FileNotFoundError:
                continue
            if is_link:
                self.problem("symlink", path, "a symlink planted in the store (never followed)",
                             partial(fsio.remove, path))
                continue
            stem = name[: -len(suffix)] if suffix and name.endswith(suffix) else None if suffix else name
            if stem is None or not is_valid_id(stem):
                if ".break" in name or ".new-" in name or name.endswith(".tmp"):
                    continue  # leftovers, handled with the leases and temp files
                self.problem("stray", path, "not a name the store uses", partial(self.quarantine, path))
                continue
            ids.append(stem)
        return ids

    def resolved_entries(self) -> list[str]:
        """Valid ids in the buckets of resolved/, each in the bucket its id names;
        anything else there is reported (and cleared) like a stray name."""
        layout = self.layout
        buckets = set(layout.buckets())
        ids = []
        for name in self.bucket_folders(layout.resolved, buckets.__contains__):
            for job_id in self.entries(layout.bucket(name), RECORD_SUFFIX):
                if bucket_of(job_id) == name:
                    ids.append(job_id)
                else:
                    path = layout.bucket(name).join(job_id + RECORD_SUFFIX)
                    self.problem("stray", path, "a record in another id's bucket", partial(self.quarantine, path))
        return ids

    def bucket_folders(self, parent: Folder, is_bucket: Callable[[str], bool]) -> Iterator[str]:
        """The names of *parent*'s bucket folders, in order; anything else there is
        reported: a symlink (never followed, removed by repair) or a stray name."""
        for name in sorted(parent.names()):
            path = parent.join(name)
            try:
                info = fsio.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(info.st_mode):
                self.problem("symlink", path, "a symlink planted in the store (never followed)",
                             partial(fsio.remove, path))
            elif not is_bucket(name) or not stat.S_ISDIR(info.st_mode):
                self.problem("stray", path, "not a name the store uses", partial(self.quarantine, path))
            else:
                yield name

    def read(self, path: str, job_id: str) -> Record | None:
        try:
            return Record.load(path, job_id)
        except FileNotFoundError:
            return None
        except CorruptJobFile as exc:
            self.problem("corrupt", path, exc.reason, partial(self.quarantine, path))
            return None

    def run(self) -> Report:
        layout = self.layout
        pending = self.pending_entries()
        resolved = self.resolved_entries()
        # (listed before any repair: finishing a resolution settles dependants, which
        # may move a blocked job to resolved/ after that folder was listed)
        blocked = self.entries(layout.blocked, RECORD_SUFFIX)
        ticker = Ticker(self.progress, len(pending) + len(resolved))
        resolved_ids, listed = self.check_resolved(resolved, ticker), set(resolved)
        leased = set(self.entries(layout.work_leases, ""))
        for job_id in pending:
            ticker.tick()
            path = layout.pending_path(job_id)
            if job_id in resolved_ids:
                self.problem("half-resolved", path, "resolved, but its pending record was not removed",
                             partial(self.ctx.finish_resolution, job_id))
                continue
            record = self.read(path, job_id)
            if record is not None:
                self.report.counts["running" if job_id in leased else record.state] += 1
        for job_id in self.entries(layout.due, ""):
            # (a job resolved since resolved/ was listed, by another process or by a
            # repair above settling dependants, has a fresh marker: looked at again)
            if job_id not in resolved_ids and (job_id in listed or not fsio.exists(layout.resolved_path(job_id))):
                path = layout.due.join(job_id)
                self.problem("stale-due", path, "due marker of a job that is not resolved", partial(fsio.remove, path))
        pending_ids = set(pending)
        for job_id in blocked:
            if job_id not in resolved_ids and job_id not in pending_ids and self.read(
                    layout.blocked_path(job_id), job_id) is not None:
                self.report.counts[BLOCKED] += 1
        for job_id, why in self.ctx.dependencies.unsettled():
            self.problem("unsettled", layout.blocked_path(job_id), why,
                         partial(self.ctx.dependencies.settle, job_id))
        known = resolved_ids | set(pending) | set(blocked)
        for job_id in self.entries(layout.waiting, ""):
            folder = layout.waiting_folder(job_id)
            if job_id not in known:
                self.problem("orphan-waiting", folder.path, "targets of a job that does not exist")
            for key in self.entries(folder, RECORD_SUFFIX, UNDELIVERED_SUFFIX):
                self.check_target(folder.join(key + RECORD_SUFFIX))
            for key in list(folders.scan(folder, UNDELIVERED_SUFFIX)):
                self.check_target(folder.join(key + UNDELIVERED_SUFFIX))
        self.check_keys(known)
        self.leftovers()
        return self.report

    def check_keys(self, known: set[str]) -> None:
        """Each key file must hold a job's first record; one whose job has no record
        is a creation that stopped between its two links: finished by linking it
        into ``pending/``."""
        folder = self.layout.keys
        for stem in self.entries(folder, RECORD_SUFFIX):
            name = stem + RECORD_SUFFIX
            try:
                found = keys.read_holder(self.ctx, name)
            except CorruptJobFile as exc:
                self.problem("corrupt", exc.path, exc.reason, partial(self.quarantine, exc.path))
                continue
            if found is not None and found[0].id not in known:
                self.problem("unfinished-create", folder.join(name), f"holds job {found[0].id}, which has no record",
                             partial(keys.finish, self.ctx, name, *found))

    def pending_entries(self) -> list[str]:
        """Valid ids in the buckets of ``pending/`` and the queue folders, each where
        its id names; anything else there is reported (and cleared) like a stray
        name, symlinks planted among the queue folders too (never followed)."""
        layout = self.layout
        for to in self.entries(layout.queues, ""):
            self.entries(Folder(layout.queues.join(to), keep_open=False), "")
        ids: list[str] = []
        for parent in layout.pending_parents():
            for name in self.bucket_folders(parent, is_pending_bucket):
                bucket = Folder(parent.join(name), keep_open=False)
                ids.extend(job_id for job_id in self.entries(bucket, RECORD_SUFFIX)
                           if self.in_its_bucket(bucket, job_id))
        return ids

    def in_its_bucket(self, folder: Folder, job_id: str) -> bool:
        """Whether *job_id*'s record in *folder* is where its id says; if not, a stray."""
        path = folder.join(job_id + RECORD_SUFFIX)
        if path == self.layout.pending_path(job_id):
            return True
        self.problem("stray", path, "a record outside the queue and bucket its id names",
                     partial(self.quarantine, path))
        return False

    def check_resolved(self, resolved: list[str], ticker: Ticker) -> set[str]:
        layout, ctx = self.layout, self.ctx
        resolved_ids = set()
        for job_id in resolved:
            ticker.tick()
            record = self.read(layout.resolved_path(job_id), job_id)
            if record is None:
                continue
            resolved_ids.add(job_id)
            self.report.counts[record.state] += 1
            has_due = fsio.exists(layout.due.join(job_id))
            if ctx.waiting_entries(job_id) and not has_due:
                self.problem("not-due", layout.due.join(job_id), "resolved with targets waiting, but no due marker",
                             partial(fsio.create_empty, layout.due, job_id, durable=ctx.durable))
        return resolved_ids

    def check_target(self, path: str) -> None:
        try:
            parse_waiting(fsio.read(path), path)
        except FileNotFoundError:
            return
        except CorruptJobFile as exc:
            self.problem("corrupt", path, exc.reason, partial(self.quarantine, path))

    def leftovers(self) -> None:
        layout = self.layout
        self.report.temp_files = len(layout.tmp.names())
        self.report.leases = sum(1 for folder in (layout.work_leases, layout.notify_leases)
                                 for name in folder.names() if "." not in name)
        for leftover in find_leftovers(layout, store_now(layout, strict=self.repair)):
            kind = "orphan-lease" if leftover.what.startswith("old lease") else "leftover"
            self.problem(kind, leftover.path, leftover.what, partial(fsio.remove, leftover.path))
