"""Freezing a store: a pause of the whole store, and then waiting until every lease is
given back, so that nothing changes it while it is edited by hand, copied or moved.

Built on the store's pauses alone, so it works on any store of the interface
(a folder, or one served over HTTP). Why the wait is at least twice
``PAUSE_SEEN_WITHIN``: a puller looks at the pauses after it has linked its lease,
and its look may be that old. A lease linked by a puller that did not see the pause
was linked before its look, so within ``PAUSE_SEEN_WITHIN`` of the pause; one
listing of the leases made after that finds it (or it was given back).
"""

from __future__ import annotations

import time

from .._arguments import check_seconds
from ..interface import PAUSE_SEEN_WITHIN, Holding, Store

FREEZE_REASON = "frozen (fsjobstore freeze): thaw to resume"


def freeze(store: Store, *, timeout: float = 60.0, reason: str = FREEZE_REASON, poll: float = 0.1) -> list[Holding]:
    """Pause the whole store and wait up to *timeout* seconds for every work and
    notification lease to be given back. Returns the leases still held then
    (empty: the store is frozen). The pause stays either way: ``store.resume()``
    thaws it."""
    check_seconds("timeout", timeout, zero=True)
    store.pause(reason=reason)
    start = time.monotonic()  # (the pause is published: the settling counts from here)
    settled = start + 2 * PAUSE_SEEN_WITHIN
    deadline = max(start + timeout, settled)
    while True:
        now = time.monotonic()  # (taken before the listing: it must come after the settling)
        held = store.holdings()
        if not held and now >= settled:
            return []
        if now >= deadline:
            return held
        time.sleep(min(poll, max(0.0, deadline - now)))
