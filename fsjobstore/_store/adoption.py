"""Records made outside ``create()`` (a schedule's tick, an imported job), whose id
may already be taken: each is published only if no job of that id exists, so
making one twice, from any number of processes, makes it once."""

from __future__ import annotations

from .._files import fsio
from .._files.layout import RECORD_SUFFIX
from .._files.records import Record
from .context import StoreContext


def publish_pending(ctx: StoreContext, record: Record, *, linked: bool = False) -> bool:
    """Publish *record* as a pending job unless its id is pending or resolved
    already; whether it was. Create-if-absent in ``pending/`` (link), then a look at
    ``resolved/``: a job done before has no pending record to collide with; then a
    look at the pending record: one removed between the link and that look was
    taken for the leftover of a resolution by a purge of the job done before (which
    removes a pending record only while the resolved one is there, and the latter
    was gone at the look), so the job is published again. *linked*: the first link
    is made already (by a batch)."""
    layout, job_id = ctx.layout, record.id
    name, data = job_id + RECORD_SUFFIX, record.render()
    for again in (False, True):
        if again or not linked:
            try:
                ctx.into_pending(job_id, lambda bucket: fsio.publish(layout.tmp, bucket, name, data,
                                                                     durable=ctx.durable, replace=False))
            except FileExistsError:
                return False
        if fsio.exists(layout.resolved_path(job_id)):
            tidy(ctx, job_id)
            return False
        if fsio.exists(layout.pending_path(job_id)):
            return True
    return False


def tidy(ctx: StoreContext, job_id: str) -> None:
    """The pending record just made copies a job resolved before: removed as a puller
    that found it would (format.md, pull_work 5), under the work lease, so that a
    retry (which holds it while both records exist) is never undone; if someone
    holds the lease, they tidy it."""
    lease = ctx.work_leases.acquire(job_id)
    if lease is None:
        return
    try:
        if fsio.exists(ctx.layout.resolved_path(job_id)):
            ctx.finish_resolution(job_id)
    finally:
        lease.release()
