"""Unique keys: at most one job per key, from its creation until it is purged.

A keyed job's first record gets two names, both hard links to one file, each
published create-if-absent: ``keys/<hash>.json`` first, then
``pending/<id>.json``. The first link decides which job has the key, on every
host. A creator that stops between the two links leaves the key holding the
whole job: whoever next meets the key with no job behind it (a ``create`` with
that key, ``check --repair``) links it into ``pending/`` under the job's work
lease, so the job is never lost and never made twice. Purge frees the key,
under the same lease, before the job's resolved record goes.
"""

from __future__ import annotations

import errno
import json
import time
from typing import Any

from .._files import fsio
from .._files.folders import Folder
from .._files.ids import is_valid_id
from .._files.layout import RECORD_SUFFIX
from .._files.records import Record
from .._files.values import value_key
from ..errors import CorruptJobFile, DuplicateJob, JobBusy, JobNotFound, JobStateError
from ..job import PENDING, Job
from .context import StoreContext

ON_CONFLICT = ("return", "raise", "replace", "extend")
MAX_KEY_LENGTH = 1000
# Rounds of (publish, find the holder) a create makes while the holder of its key
# is being purged or finished by another process, before it gives up (JobBusy).
ROUNDS = 100
# A pending job's lease is also taken for an instant by pullers passing it over
# (another task's): a replace or extend tries this many times before calling it running.
LEASE_TRIES = 20
PAUSE = 0.01


def check_key(key: object, on_conflict: object) -> None:
    """ValueError naming the problem unless *key* is None or a key (a non-empty string
    of at most MAX_KEY_LENGTH characters) and *on_conflict* one of ON_CONFLICT."""
    if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH):
        raise ValueError(f"key must be a non-empty string of at most {MAX_KEY_LENGTH} characters, not {key!r:.80}")
    if on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")


def key_name(key: str) -> str:
    """The file name of *key* in ``keys/``."""
    return value_key(key) + RECORD_SUFFIX


def create(ctx: StoreContext, record: Record, on_conflict: str, changes: dict[str, Any]) -> Job:
    """Publish *record* (a new keyed job) unless its key is taken; then act on the
    job that has it as *on_conflict* says (*changes*: the fields a replace or an
    extend sets)."""
    layout = ctx.layout
    key = str(record.get("key"))
    name = key_name(key)
    pending_name = record.id + RECORD_SUFFIX
    holder_id = record.id
    for _ in range(ROUNDS):
        try:
            pending = layout.pending_folder(record.id, durable=ctx.durable)
            fsio.publish_linked(layout.tmp, ((layout.keys, name), (pending, pending_name)), record.render(),
                                durable=ctx.durable)
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ESTALE):
                raise
            # The bucket was removed (empty) by a purge after the key's link was made
            # (the first): the key file, our record, is linked into the bucket made again.
            try:
                finish_link(ctx, layout.keys.join(name), record.id)
            except FileExistsError:
                pass  # (linked by a repair meanwhile)
            return record.job()
        else:
            if fsio.exists(layout.resolved_path(record.id)):
                # Finished from the key by another process, done and resolved before
                # our second link made the pending record again: tidy it.
                ctx.finish_resolution(record.id)
            return record.job()
        found = read_holder(ctx, name)
        if found is None:
            continue  # purged since: the key is free again
        holder, identity = found
        holder_id = holder.id
        try:
            existing, state = ctx.read(holder_id)
        except JobNotFound:
            # The key's creator stopped (or is) between its two links: finish it.
            if not finish(ctx, name, holder, identity):
                time.sleep(PAUSE)
            continue
        if holder_id == record.id:
            return existing.job(state=state)  # our own, finished by another process meanwhile
        return _on_conflict(ctx, ctx.job(existing, state), key, on_conflict, changes)
    raise JobBusy(holder_id)


def refuse_taken(ctx: StoreContext, key: str, job_id: str) -> None:
    """DuplicateJob if another job than *job_id* has *key* now (a check before a
    batch writes anything; a create may still take the key before the batch does)."""
    found = read_holder(ctx, key_name(key))
    if found is not None and found[0].id != job_id:
        raise DuplicateJob(key, found[0].id)


def read_holder(ctx: StoreContext, name: str) -> tuple[Record, tuple[int, int]] | None:
    """The record a key file holds (the first record of the job that has the key)
    and the file's identity; None if there is no such key. CorruptJobFile if it
    does not parse."""
    path = ctx.layout.keys.join(name)
    identity = fsio.identity(path)
    try:
        data = fsio.read(path)
    except FileNotFoundError:
        return None
    try:
        job_id = json.loads(data).get("id")
    except (ValueError, AttributeError, RecursionError):
        job_id = None
    if not isinstance(job_id, str) or not is_valid_id(job_id):
        raise CorruptJobFile(path, "not the record of a job")
    record = Record.parse(data, path, job_id)
    return (record, identity) if identity is not None else None


def finish(ctx: StoreContext, name: str, holder: Record, identity: tuple[int, int]) -> bool:
    """Link the key file *name* (seen with *identity*, holding *holder*) into
    ``pending/``, if its job has neither a pending nor a resolved record: its
    creator stopped between its two links. Under the job's work lease, which a
    purge holds while it frees the key, so a purged job never comes back. False
    if the lease or the key file changed hands meanwhile (try again)."""
    layout = ctx.layout
    job_id = holder.id
    lease = ctx.work_leases.acquire(job_id)
    if lease is None:
        return False
    try:
        path = layout.keys.join(name)
        if fsio.identity(path) != identity:
            return False  # purged, or the creator's second link landed (a link changes the ctime)
        if fsio.exists(layout.pending_path(job_id)) or fsio.exists(layout.resolved_path(job_id)):
            return True
        try:
            finish_link(ctx, path, job_id)
        except FileExistsError:
            return True  # the creator's own link, just now
        return True
    finally:
        lease.release()


def finish_link(ctx: StoreContext, path: str, job_id: str) -> None:
    """Link the key file *path* (the job's first record) into the job's pending
    bucket. FileExistsError if the job has a pending record."""
    def link(bucket: Folder) -> None:
        fsio.link(path, bucket.join(job_id + RECORD_SUFFIX))
        if ctx.durable:
            bucket.sync()

    ctx.into_pending(job_id, link)


def free(ctx: StoreContext, record: Record, aside: str) -> bool:
    """Move the key of *record* (a job being purged) to *aside*, if the key is still
    that job's; whether it moved. The caller holds the job's work lease."""
    key = record.get("key")
    if key is None:
        return False
    name = key_name(key)
    try:
        found = read_holder(ctx, name)
    except CorruptJobFile as exc:
        ctx.report(exc)
        return False
    if found is None or found[0].id != record.id:
        return False
    try:
        fsio.rename(ctx.layout.keys.join(name), aside)
    except FileNotFoundError:
        return False
    return True


def restore(ctx: StoreContext, record: Record, aside: str) -> None:
    """Give the key moved aside by ``free`` back to *record*'s job (a purge that kept
    it after all). A new job with the key made meanwhile keeps it."""
    try:
        fsio.link(aside, ctx.layout.keys.join(key_name(str(record.get("key")))))
    except FileExistsError:
        pass
    fsio.remove(aside)


def _on_conflict(ctx: StoreContext, job: Job, key: str, on_conflict: str, changes: dict[str, Any]) -> Job:
    if on_conflict == "return":
        return job
    if on_conflict == "raise":
        raise DuplicateJob(key, job.id)
    return _change_pending(ctx, job.id, key, on_conflict, changes)


def _change_pending(ctx: StoreContext, job_id: str, key: str, on_conflict: str, changes: dict[str, Any]) -> Job:
    """Rewrite the pending job that has *key* with *changes* (a new request and
    delay for replace, a new delay for extend), under its work lease so that no
    worker takes it meanwhile. JobStateError if it is running or resolved."""
    for _ in range(LEASE_TRIES):
        lease = ctx.work_leases.acquire(job_id)
        if lease is not None:
            break
        time.sleep(PAUSE)
    else:
        raise JobStateError(f"job {job_id!r} with key {key!r} is running: only a pending job can be changed "
                            f"({on_conflict})")
    layout = ctx.layout
    try:
        try:
            record = Record.load(layout.pending_path(job_id), job_id)
        except FileNotFoundError:
            record = None
        if record is None or fsio.exists(layout.resolved_path(job_id)):
            state = _state(ctx, job_id)
            raise JobStateError(f"job {job_id!r} with key {key!r} is {state}: only a pending job can be changed "
                                f"({on_conflict})")
        if on_conflict == "replace":
            replaced = record.changed(request=changes["request"], not_before=changes["not_before"],
                                      delay=changes["delay"])
            record = Record(replaced.fields, changes["request_json"])  # (rendered with the new request's text)
        else:
            record = record.changed(not_before=changes["not_before"], delay=changes["delay"])
        ctx.write_pending(record)
    finally:
        lease.release()
    return ctx.job(record, PENDING)


def _state(ctx: StoreContext, job_id: str) -> str:
    try:
        return ctx.read(job_id)[1]
    except JobNotFound:
        return "purged"
