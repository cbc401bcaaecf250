"""Removing one resolved job: the steps purge and delete share (docs/format.md,
"purge"), under the job's work lease, each safe to race a ``queue``, a ``retry``
and a ``create`` under the job's id, on any host."""

from __future__ import annotations

import os
from collections.abc import Callable

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.layout import RECORD_SUFFIX, UNDELIVERED_SUFFIX, Layout, bucket_of
from .._files.records import Record
from .._files.temp_names import temp_names
from ..errors import CorruptJobFile
from . import keys
from .context import StoreContext

# What a purge asks of a resolved record's status (lstat, under the job's lease)
# before removing it: that it is the very file judged past its time.
Expected = Callable[[os.stat_result], bool]


def purge_job(ctx: StoreContext, job_id: str, expected: Expected, bucket: Folder, *, keyed: bool) -> bool:
    """Remove a resolved job with no waiting targets (given-up ones go with it);
    False if it is in use. *expected*: whether its resolved record, as it is now,
    is the one judged past its time (one resolved again since, after a retry, is
    kept). *bucket*: its bucket's folder, opened once for every job of the bucket.
    Without *keyed* (no job has a key) its record is not read.

    Under the job's work lease, so that no ``retry`` (which holds it while it makes
    the job pending again) runs meanwhile: held for these few steps only, never
    renewed."""
    with ctx.work_leases.held_briefly(job_id) as held:
        if not held:
            return False  # being retried, or tidied by a puller: next time
        try:
            if not expected(fsio.lstat(bucket.join(job_id + RECORD_SUFFIX))):
                return False
        except FileNotFoundError:
            return False
        if ctx.dependencies.needed(job_id):
            return False  # a job made after it is still to run, and may read its value
        record = None
        if keyed:
            try:
                record = Record.load(bucket.join(job_id + RECORD_SUFFIX), job_id)
            except FileNotFoundError:
                return False
            except CorruptJobFile as exc:
                ctx.report(exc)
                return False
        return remove_resolved(ctx, job_id, record, bucket)


def _targets_folder(layout: Layout, job_id: str) -> Folder | None:
    """The job's folder of targets, opened (the one open a listing of it makes), or
    None where it is absent, the common case: then it holds no target, waiting or
    given up. A symlink planted there is never followed: None too."""
    if not folders.has_folder(layout.waiting, job_id):
        return None  # (one open: the common case)
    folder = layout.waiting_folder(job_id)
    try:
        folder.anchor()
    except (FileNotFoundError, CorruptJobFile):
        return None
    return folder


def _has_waiting(folder: Folder | None) -> bool:
    """Whether the targets' folder (see _targets_folder) holds a target still waiting."""
    return folder is not None and any(True for _ in folders.scan(folder, RECORD_SUFFIX))


def remove_resolved(ctx: StoreContext, job_id: str, record: Record | None, bucket: Folder | None = None) -> bool:
    """Remove a resolved job with no waiting targets (given-up ones go with it),
    under its work lease (held by the caller, who found its resolved record there
    under it); False if it has targets, or no resolved record. *bucket*: its
    bucket's folder, if the caller has it open.

    A pending record beside the resolved one (a resolver stopped before removing
    it) is removed first, while the resolved record is in place, as any remover of
    a pending record does: one made later is a ``create`` under this id, making
    the job again, and is kept. The job's key (if *record*, its resolved record,
    has one and it is still its own) is moved aside next: while the lease is held
    nobody finishes a creation from it, and once the job is gone the key is free.
    The resolved record is moved aside before the last look for targets: a
    ``queue`` that saw it wrote its target before, so that look finds the target
    and the record (and key) are put back; a ``queue`` that finds it gone (and no
    pending record) takes its target back and raises JobNotFound. A target is
    delivered or its ``queue`` raised."""
    layout = ctx.layout
    if _has_waiting(_targets_folder(layout, job_id)):
        return False
    if bucket is None:
        bucket = layout.bucket(bucket_of(job_id))
    resolved = bucket.join(job_id + RECORD_SUFFIX)
    fsio.remove(layout.pending_path(job_id))
    # Temp files' names: a removal that dies holding them leaves ordinary leftovers.
    aside = layout.tmp.join(f"{job_id}.purged-{temp_names.next()}")
    key_aside = _free_key(ctx, job_id, record)
    try:
        fsio.rename(resolved, aside)
    except FileNotFoundError:
        _restore_key(ctx, record, key_aside)
        return False
    targets = _targets_folder(layout, job_id)
    if _has_waiting(targets):
        # (A pending record made meanwhile by a create under this id, which saw no
        # resolved record, is then beside it: a resolution unfinished, as it was.)
        fsio.link(aside, resolved)
        fsio.remove(aside)
        _restore_key(ctx, record, key_aside)
        return False
    # Absent at the look just made, the folder holds nothing given up either: one a
    # ``queue`` makes from now on is its own, which it removes as it raises. Nor is
    # the job due: a due marker is made only for a target already written (and
    # removed before its folder), so one made from now on is a new job's, made
    # again under this id and resolved.
    if targets is not None:
        for key in list(folders.scan(targets, UNDELIVERED_SUFFIX)):
            fsio.remove(targets.join(key + UNDELIVERED_SUFFIX))
        folders.remove_folder_if_empty(layout.waiting.join(job_id))
        fsio.remove_in(layout.due, job_id)
    fsio.remove(aside)
    if key_aside is not None:
        fsio.remove(key_aside)
    ctx.dependencies.forget(job_id)
    return True


def _free_key(ctx: StoreContext, job_id: str, record: Record | None) -> str | None:
    """Move the job's key aside if *record* has one and it is still the job's: where
    it went (a temp file's name), or None."""
    if record is None or record.get("key") is None:
        return None
    key_aside = ctx.layout.tmp.join(f"{job_id}.purged-key-{temp_names.next()}")
    return key_aside if keys.free(ctx, record, key_aside) else None


def _restore_key(ctx: StoreContext, record: Record | None, key_aside: str | None) -> None:
    if key_aside is not None and record is not None:
        keys.restore(ctx, record, key_aside)
