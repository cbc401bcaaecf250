"""`check`: walk a store, verify the invariants of docs/format.md, optionally repair.

Repairs only do what is safe: finish a crashed resolution, make or remove
notification markers, remove leftovers that are not jobs (temp files, take-over
leftovers, planted symlinks, stray names), and move files that cannot be
parsed into ``quarantine/``. A job file is never deleted.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from . import fsio
from .errors import CorruptJobFile
from .fsio import Folder
from .ids import is_valid_id
from .job import Record
from .layout import RECORD_SUFFIX
from .store import LEFTOVER_SECONDS, JobStore


@dataclass(frozen=True)
class Problem:
    kind: str  # corrupt, symlink, stray, half-resolved, not-due, stale-due, orphan-waiting, orphan-lease, leftover
    path: str
    detail: str
    repaired: bool = False


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    temp_files: int = 0
    leases: int = 0

    @property
    def clean(self) -> bool:
        return all(problem.repaired for problem in self.problems)


def check(store: JobStore, *, repair: bool = False, progress: Callable[[int, int], None] | None = None) -> Report:
    """Verify the store; with *repair*, fix what is safe to fix. Returns a Report."""
    if repair:
        with store._maintenance():
            return _Checker(store, repair, progress).run()
    return _Checker(store, repair, progress).run()


class _Checker:
    def __init__(self, store: JobStore, repair: bool, progress: Callable[[int, int], None] | None) -> None:
        self.store = store
        self.layout = store._layout
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
        folder = os.path.join(self.layout.root, "quarantine")
        fsio.make_folder(folder)
        relative = os.path.relpath(path, self.layout.root).replace(os.sep, "__")
        os.rename(path, os.path.join(folder, f"{relative}.{time.time_ns()}"))

    def entries(self, folder: Folder, suffix: str) -> list[str]:
        """Valid ids in *folder*; report (and clear) symlinks and stray names."""
        ids = []
        for name in sorted(folder.names()):
            path = folder.join(name)
            if os.path.islink(path):
                self.problem("symlink", path, "a symlink planted in the store (never followed)",
                             partial(os.unlink, path))
                continue
            stem = name[: -len(suffix)] if suffix and name.endswith(suffix) else None if suffix else name
            if stem is None or not is_valid_id(stem):
                if ".break" in name or ".new-" in name or name.endswith(".tmp"):
                    continue  # leftovers, handled with the leases and temp files
                self.problem("stray", path, "not a name the store uses", partial(self.quarantine, path))
                continue
            ids.append(stem)
        return ids

    def read(self, path: str, job_id: str) -> Record | None:
        try:
            return Record.parse(fsio.read(path), path, job_id)
        except FileNotFoundError:
            return None
        except CorruptJobFile as exc:
            self.problem("corrupt", path, exc.reason, partial(self.quarantine, path))
            return None

    def run(self) -> Report:
        layout, store = self.layout, self.store
        pending = self.entries(layout.pending, RECORD_SUFFIX)
        resolved = self.entries(layout.resolved, RECORD_SUFFIX)
        total = len(pending) + len(resolved)
        leased = set(self.entries(layout.work_leases, ""))
        resolved_ids = set()
        for done, job_id in enumerate(resolved, 1):
            self.tick(done, total)
            record = self.read(layout.resolved_path(job_id), job_id)
            if record is None:
                continue
            resolved_ids.add(job_id)
            self.report.counts[record.state] += 1
            waiting = store._waiting_entries(job_id)
            has_due = fsio.exists(layout.due.join(job_id))
            if waiting and not has_due:
                self.problem("not-due", layout.due.join(job_id), "resolved with targets waiting, but no due marker",
                             partial(fsio.create_empty, layout.due, job_id, durable=store.durable))
        for done, job_id in enumerate(pending, len(resolved) + 1):
            self.tick(done, total)
            path = layout.pending_path(job_id)
            if job_id in resolved_ids:
                self.problem("half-resolved", path, "resolved, but its pending record was not removed",
                             partial(store._finish_resolution, job_id))
                continue
            record = self.read(path, job_id)
            if record is not None:
                self.report.counts["running" if job_id in leased else record.state] += 1
        known = resolved_ids | set(pending)
        for job_id in self.entries(layout.due, ""):
            if job_id not in resolved_ids:
                path = layout.due.join(job_id)
                self.problem("stale-due", path, "due marker of a job that is not resolved", partial(fsio.remove, path))
        for job_id in self.entries(layout.waiting, ""):
            folder = layout.waiting_folder(job_id)
            if job_id not in known:
                self.problem("orphan-waiting", folder.path, "targets of a job that does not exist")
            for key in self.entries(folder, RECORD_SUFFIX):
                self.check_target(folder.join(key + RECORD_SUFFIX))
        self.leftovers(known, resolved_ids)
        return self.report

    def check_target(self, path: str) -> None:
        try:
            entry = json.loads(fsio.read(path))
            if not isinstance(entry, dict) or "target" not in entry or not isinstance(entry.get("queued_at"), str):
                raise ValueError("not an object with target and queued_at")
        except FileNotFoundError:
            return
        except CorruptJobFile as exc:
            self.problem("corrupt", path, exc.reason, partial(self.quarantine, path))
        except (ValueError, OSError) as exc:
            self.problem("corrupt", path, f"not a waiting target ({exc})", partial(self.quarantine, path))

    def leftovers(self, known: set[str], resolved: set[str]) -> None:
        layout = self.layout
        now = time.time()
        for name in layout.tmp.names():
            self.report.temp_files += 1
            path = layout.tmp.join(name)
            if _age(path, now) > LEFTOVER_SECONDS:
                self.problem("leftover", path, "temp file of a crashed writer", partial(fsio.remove, path))
        for folder, owners in ((layout.work_leases, known), (layout.notify_leases, resolved)):
            for name in folder.names():
                path = folder.join(name)
                if "." in name:
                    if _age(path, now) > LEFTOVER_SECONDS:
                        self.problem("leftover", path, "take-over file of a crashed contender",
                                     partial(fsio.remove, path))
                    continue
                self.report.leases += 1
                if is_valid_id(name) and name not in owners and _age(path, now) > LEFTOVER_SECONDS:
                    self.problem("orphan-lease", path, "old lease on a job that is gone", partial(fsio.remove, path))

    def tick(self, done: int, total: int) -> None:
        if self.progress is not None and (done % 1000 == 0 or done == total):
            self.progress(done, total)


def _age(path: str, now: float) -> float:
    try:
        return now - os.lstat(path).st_mtime
    except FileNotFoundError:
        return 0.0
