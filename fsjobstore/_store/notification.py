"""Fulfilment notification: targets wait on a job (``queue``); once it is resolved a
due marker makes it pullable by notifiers, and ``done`` removes the targets that
were delivered. Delivery is at least once."""

from __future__ import annotations

import logging
import time
from typing import Any

from .._arguments import check_failed_deliveries
from .._files import folders, fsio
from .._files.ids import check_id
from .._files.layout import RECORD_SUFFIX, UNDELIVERED_SUFFIX
from .._files.times import now_text
from .._files.values import encode_json, value_key
from .._leases import Lease
from ..errors import CorruptJobFile, JobNotFound, LeaseLost
from .context import StoreContext
from .handles import NotificationLease
from .pausing import PullPaused, stops_all
from .pulling import claim_or_release, pull

log = logging.getLogger("fsjobstore")


class Notification:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx
        # Monotonic time of this store object's next look for jobs that should be due.
        self._next_heal = 0.0

    def queue(self, job_id: str, target: Any) -> None:
        check_id(job_id)
        ctx = self.ctx
        target_json = encode_json(target, "target", ctx.options.max_bytes)
        ctx.read(job_id)
        layout = ctx.layout
        folder = layout.waiting_folder(job_id)
        content = f'{{"target": {target_json}, "queued_at": "{now_text()}"}}\n'.encode()
        for _ in range(10):
            # (a symlink planted as the folder: publish raises CorruptJobFile, never follows it)
            if folders.make_folder(folder.path, shared=ctx.options.group_shared) and ctx.durable:
                layout.waiting.sync()
            try:
                fsio.publish(layout.tmp, folder, value_key(target) + RECORD_SUFFIX, content,
                             durable=ctx.durable, replace=False)
            except FileExistsError:
                break  # already waiting
            except FileNotFoundError:
                folder.close()  # its folder was removed as empty meanwhile: make it again
                continue
            break
        # Checked after the target is written; a resolver checks for targets after
        # publishing its result: so at least one of the two makes the job due.
        is_resolved = fsio.exists(layout.resolved_path(job_id))
        # Neither record: resolved in between (or put back by a purge that saw the
        # target), so look again; still none: purged since it was read (purge moves
        # the result aside, then looks for targets): take the target back, say so.
        if not is_resolved and self._gone(job_id):
            self._take_back(job_id, target)
        if is_resolved or fsio.exists(layout.resolved_path(job_id)):
            fsio.create_empty(layout.due, job_id, durable=ctx.durable)
            # A delete (which unlinks the targets, ours too, before the record) may
            # have removed the job since the look: then the marker goes too.
            if self._gone(job_id):
                fsio.remove(layout.due.join(job_id))
                self._take_back(job_id, target)
            self.deliver_now(job_id)

    def _gone(self, job_id: str) -> bool:
        """Whether the job has no record now: the resolved one looked at before and
        after the blocked and pending ones (resolved in between, or put back by a
        purge; a blocked job's release publishes its pending record first)."""
        layout = self.ctx.layout
        resolved = layout.resolved_path(job_id)
        pending = layout.pending_path(job_id)
        return not (fsio.exists(resolved) or fsio.exists(pending) or fsio.exists(layout.blocked_path(job_id))
                    or fsio.exists(pending) or fsio.exists(resolved))

    def _take_back(self, job_id: str, target: Any) -> None:
        layout = self.ctx.layout
        fsio.remove(layout.waiting_folder(job_id).join(value_key(target) + RECORD_SUFFIX))
        folders.remove_folder_if_empty(layout.waiting.join(job_id))
        raise JobNotFound(job_id)

    def unqueue_all(self, job_id: str, targets: Any) -> None:
        check_id(job_id)
        keys = [value_key(target) for target in targets]
        self.ctx.read(job_id)
        folder = self.ctx.layout.waiting_folder(job_id)
        for key in keys:
            fsio.remove(folder.join(key + RECORD_SUFFIX))
        if not folder.names():
            self.clear_due(job_id)

    def pull_notification(self, on_compromised: Any) -> NotificationLease | None:
        ctx = self.ctx
        if stops_all(ctx.pauses.current(), None):
            return None
        with ctx.pull_lock:
            self.heal()
            try:
                note = pull(ctx.note_leases, (ctx.due,), self._claim_unless_paused)
            except PullPaused:
                return None
        if note is not None:
            note.watch(on_compromised)
        return note

    def _claim_unless_paused(self, lease: Lease) -> NotificationLease | None:
        # Looked at after the lease is linked, as for work (see fulfilment).
        if stops_all(self.ctx.pauses.current(), None):
            raise PullPaused("the whole store")
        return self.claim(lease)

    def claim(self, lease: Lease) -> NotificationLease | None:
        """A NotificationLease on the job, or None (the lease released) if it has no
        target left, is gone or is corrupt."""
        ctx = self.ctx
        job_id = lease.name
        try:
            record = ctx.read_resolved(job_id)
        except CorruptJobFile as exc:
            ctx.report(exc)
            lease.release()
            return None
        if record is None:
            fsio.remove(ctx.layout.due.join(job_id))  # a marker left over (e.g. by a purge)
            lease.release()
            return None
        waiting = ctx.waiting_entries(job_id) or self.clear_due(job_id)
        if not waiting:
            lease.release()
            return None
        return NotificationLease(self.record_delivery, lease, record, waiting)

    def heal(self) -> None:
        """Make due every resolved job that has waiting targets and no due marker.

        Whatever step failed (a queue or a resolver that wrote what it had to and
        then died or hit ENOSPC before the marker; a delivery that removed the
        marker and could not make it again), the next notifier's pull finds it:
        every lease_seconds per store object, one listing of ``waiting/`` (jobs
        with targets only) and an lstat or two per job in it."""
        now = time.monotonic()
        if now < self._next_heal:
            return
        ctx = self.ctx
        self._next_heal = now + ctx.options.lease_seconds
        layout = ctx.layout
        for job_id in folders.scan(layout.waiting, ""):
            if fsio.exists(layout.due.join(job_id)) or not fsio.exists(layout.resolved_path(job_id)):
                continue
            if ctx.has_waiting(job_id):
                try:
                    fsio.create_empty(layout.due, job_id, durable=ctx.durable)
                except OSError as exc:  # (a full disk: the next look tries again)
                    log.warning("cannot make job %s due: %s", job_id, exc)
                    return

    def clear_due(self, job_id: str) -> list[tuple[str, Any]]:
        """Remove the due marker of a job with no targets left; return any target
        queued meanwhile (then the job is due again)."""
        ctx = self.ctx
        fsio.remove(ctx.layout.due.join(job_id))
        # queue() writes its target before it makes the job due: look again after
        # removing the marker, so a target queued meanwhile is never stranded.
        waiting = ctx.waiting_entries(job_id)
        if waiting:
            fsio.create_empty(ctx.layout.due, job_id, durable=ctx.durable)
        else:
            folders.remove_folder_if_empty(ctx.layout.waiting.join(job_id))
        return waiting

    def record_delivery(self, note: NotificationLease, delivered: list[Any], failed: list[tuple[Any, str]],
                        give_up_after: int | None, retry_in: float | None) -> None:
        """``note.done``: (fenced) count the failures, remove the delivered targets
        and those given up, then release."""
        failed = check_failed_deliveries(failed, give_up_after)
        note.name_lease.check()
        ctx = self.ctx
        if retry_in is not None:
            ctx.due.defer(note.id, retry_in)
        folder = ctx.layout.waiting_folder(note.id)
        fields_of = dict(note.entries)
        for target, error in failed:
            key = value_key(target)
            if key in fields_of:
                self._count_failure(folder, key, fields_of[key], error, give_up_after)
        for key in {value_key(target) for target in delivered}:
            fsio.remove(folder.join(key + RECORD_SUFFIX))
            fsio.remove(folder.join(key + UNDELIVERED_SUFFIX))  # (a target queued again after it was given up)
        if not ctx.waiting_entries(note.id):
            self.clear_due(note.id)
        note.release()

    def _count_failure(self, folder: folders.Folder, key: str, fields: dict[str, Any], error: str,
                       give_up_after: int | None) -> None:
        """Rewrite a waiting target's file with one more failure; at *give_up_after*
        failures write it as given up first, then remove the waiting one (a crash
        between leaves both: the target is tried once more)."""
        ctx = self.ctx
        failures = int(fields.get("failures", 0)) + 1
        limit = ctx.options.max_bytes
        content = encode_json({**fields, "failures": failures, "last_error": error[:limit],
                               "last_failed_at": now_text()}, "waiting target").encode() + b"\n"
        name = key + RECORD_SUFFIX
        if not fsio.exists(folder.join(name)):
            return  # unqueued (or delivered by hand) meanwhile: nothing to count
        given_up = give_up_after is not None and failures >= give_up_after
        fsio.publish(ctx.layout.tmp, folder, key + UNDELIVERED_SUFFIX if given_up else name, content,
                     durable=ctx.durable, replace=True)
        if given_up:
            fsio.remove(folder.join(name))
            log.warning("gave up delivering job %s to %r after %d failures; the last: %s",
                        folder.path.rsplit("/", 1)[-1], fields["target"], failures, error)

    def deliver_now(self, job_id: str) -> None:
        """Deliver a resolved job's targets through the store's ``notify`` now (if it
        has one), unless a notifier holds the job's notification lease."""
        notify = self.ctx.options.notify
        if notify is None:
            return
        lease = self.ctx.note_leases.acquire(job_id)
        if lease is None:
            return
        note = claim_or_release(self.claim, lease)
        if note is None:
            return
        delivered: list[Any] = []
        failed: list[tuple[Any, str]] = []
        job = note.job
        for target in note.waiting:
            try:
                notify(target, job)
            except Exception as exc:
                log.warning("notify(%r) for job %s failed: %s", target, job_id, exc)
                failed.append((target, f"{type(exc).__name__}: {exc}"))
            else:
                delivered.append(target)
        try:
            note.done(delivered, failed=failed)
        except LeaseLost:
            log.warning("notification lease on job %s was lost during delivery", job_id)
        finally:
            note.release()  # (done() released it, unless it raised)
