"""Job workspaces: a folder per job in the store, for inputs and results of any size.

``workspaces/<id>/input/`` holds what the job's creator staged; it is moved into
place (rename) before the job is published, so a worker never sees a job without
its inputs. Each attempt writes in a folder of its own,
``workspaces/<id>/attempts/<n>-<random>/``; the one whose commit wins is named in
the resolved record (``"workspace"``), published with the result in the same
atomic, create-if-absent step. So a late holder, whose commit is refused by the
fence, never has its files taken as the result: they stay in its own attempt
folder, which nothing names. docs/format.md, "Workspaces", has the rules.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from typing import Any

from .._files import folders, fsio
from .._files.ids import check_id, is_valid_id
from ..errors import CorruptJobFile, JobNotFound
from ..job import Job
from . import creation
from .context import StoreContext
from .handles import WorkLease

_STAGING = ".staging"
_ATTEMPT = re.compile(r"\d+-[0-9a-f]{8}")
# A workspace whose job is gone is removed by purge once unchanged this long (on the
# filesystem's clock): long enough for a creator that staged it to publish its job.
ORPHAN_SECONDS = 60.0


@dataclass(frozen=True)
class Workspace:
    """A job's workspace: its folder, its input (None: none staged), the folder of
    the attempt whose result was committed (None: none yet), and every file in it,
    relative to the folder, sorted."""

    path: str
    input: str | None
    result: str | None
    files: list[str]


class Workspaces:
    """Every store call reaches the workspaces through anchored folders (never a
    symlink a neighbour planted); the paths handed out are for handlers to use."""

    def __init__(self, ctx: StoreContext) -> None:
        self._ctx = ctx
        self._top = self._sub(ctx.layout.top, "workspaces")

    def stage(self) -> str:
        """A new folder to put a job's inputs in, then give to ``create``."""
        staging = self._made(self._top, _STAGING)
        return str(self._made(staging, os.urandom(8).hex()).path)

    def create(self, staged: str | os.PathLike[str], request: Any, **options: Any) -> Job:
        """Create a job (as ``JobStore.create``) whose input is the folder *staged*
        (from ``stage()``), moved into its workspace before the job is published."""
        staged = os.path.abspath(os.fspath(staged))
        name = os.path.basename(staged)
        if os.path.dirname(staged) != os.path.join(self._top.path, _STAGING) or not re.fullmatch("[0-9a-f]{16}", name):
            raise ValueError(f"{staged} is not a folder made by stage() in this store")
        source = self._sub(self._top, _STAGING).join(name)
        if not fsio.exists(source):
            raise ValueError(f"{staged} is not a folder made by stage() in this store (gone, or given already)")

        def move_in(job_id: str) -> None:
            fsio.rename(source, self._made(self._top, job_id).join("input"))

        return creation.create(self._ctx, request, before_publish=move_in, **options)

    def attempt(self, lease: WorkLease) -> str:
        """A new, empty folder for this attempt at the lease's job to write in."""
        attempts = self._made(self._made(self._top, lease.id), "attempts")
        return str(self._made(attempts, f"{lease.attempts + 1}-{os.urandom(4).hex()}").path)

    def fulfill(self, lease: WorkLease, value: Any, folder: str) -> Job:
        """Fulfil the job through *lease*, its result the attempt folder *folder*
        (from ``attempt``): named in the resolved record, so committed with it or not
        at all (LeaseLost, JobAlreadyResolved: another's result stands)."""
        name = os.path.basename(folder)
        if os.path.dirname(os.path.abspath(folder)) != os.path.join(self._top.path, lease.id, "attempts") \
                or not _ATTEMPT.fullmatch(name):
            raise ValueError(f"{folder} is not an attempt folder of job {lease.id}")
        lease.carry(workspace=name)
        return lease.fulfill(value)

    def get(self, job_id: str) -> Workspace | None:
        """The job's workspace, None if it has none. JobNotFound if there is no such job."""
        check_id(job_id)
        record, _ = self._ctx.read(job_id)
        if not fsio.exists(self._top.join(job_id)):
            return None
        folder = self._sub(self._top, job_id)
        try:
            files = sorted(_files(folder))
        except (FileNotFoundError, CorruptJobFile):
            return None
        named = record.get("workspace")
        path = os.path.join(self._top.path, job_id)
        result = os.path.join(path, "attempts", named) if isinstance(named, str) and _ATTEMPT.fullmatch(named) \
            else None
        has_input = any(name.startswith("input/") for name in files) or fsio.exists(folder.join("input"))
        return Workspace(path, os.path.join(path, "input") if has_input else None, result, files)

    def remove_orphans(self) -> int:
        """Remove the workspaces of jobs that no longer exist (purged), and stagings
        never used, once unchanged for ORPHAN_SECONDS; how many were removed."""
        now = fsio.filesystem_now(self._ctx.layout.tmp)
        removed = 0
        for name in self._top.names():
            if name == _STAGING:
                staging = self._sub(self._top, _STAGING)
                removed += sum(_remove_if_old(staging, staged, now) for staged in staging.names())
            elif is_valid_id(name):
                try:
                    self._ctx.read(name)
                except JobNotFound:
                    removed += _remove_if_old(self._top, name, now)
        return removed

    def _sub(self, parent: folders.Folder, name: str) -> folders.Folder:
        return folders.Folder(parent.join(name), keep_open=False, shared=self._ctx.options.group_shared)

    def _made(self, parent: folders.Folder, name: str) -> folders.Folder:
        """The folder *name* in *parent*, made if missing (parents included)."""
        if parent is self._top:
            folders.make_folder(self._top.path, shared=self._ctx.options.group_shared)
        folder = self._sub(parent, name)
        folders.make_folder(folder.path, shared=self._ctx.options.group_shared)
        return folder


def _files(folder: folders.Folder, prefix: str = "") -> list[str]:
    """Every file under *folder* (anchored: a symlink in it is listed, never followed)."""
    found = []
    for name in folder.names():
        path = folder.join(name)
        if stat.S_ISDIR(fsio.lstat(path).st_mode):
            found += _files(folders.Folder(path, keep_open=False), f"{prefix}{name}/")
        else:
            found.append(prefix + name)
    return found


def _remove_if_old(parent: folders.Folder, name: str, now: float) -> bool:
    """Remove *parent*/*name*, a tree, if it and its attempts folder are unchanged
    for ORPHAN_SECONDS (on the filesystem's clock, as *now*)."""
    path = parent.join(name)
    try:
        changed = [fsio.lstat(path).st_mtime]
        if fsio.exists(attempts := folders.Folder(path, keep_open=False).join("attempts")):
            changed.append(fsio.lstat(attempts).st_mtime)
    except (FileNotFoundError, CorruptJobFile):
        return False
    if now - max(changed) < ORPHAN_SECONDS:
        return False
    entry, dir_fd = folders.reach(path)
    shutil.rmtree(entry, dir_fd=dir_fd)  # (by descriptors: a symlink inside is removed, never followed)
    return True
