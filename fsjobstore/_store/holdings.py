"""Who holds what: the work and notification leases held now, read from their
links (a lease is a hard link to its holder's record, which names host and pid)."""

from __future__ import annotations

import json
from typing import Any

from .._files import folders, fsio
from ..errors import CorruptJobFile
from ..interface import Holding
from .context import StoreContext


def holdings(ctx: StoreContext) -> list[Holding]:
    found = []
    for kind, folder in (("work", ctx.layout.work_leases), ("notify", ctx.layout.notify_leases)):
        for job_id in sorted(folders.scan(folder, "")):
            try:
                record = fsio.read(folder.join(job_id))
            except FileNotFoundError:
                continue  # released since the listing
            except CorruptJobFile:
                record = b""  # (planted: held by nobody we can name)
            host, pid = holder_of(record)
            found.append(Holding(kind=kind, job_id=job_id, host=host, pid=pid))
    return found


def holder_of(record: bytes) -> tuple[Any, Any]:
    """(host, pid) as a holder record tells them; None for what it does not."""
    try:
        holder = json.loads(record)
        return holder.get("host"), holder.get("pid")
    except (ValueError, AttributeError):
        return None, None
