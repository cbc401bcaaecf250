"""Taking a lease on the next workable name of an index folder: what pull_work and
pull_notification share. A lease whose holder stopped renewing is taken over
first; then the index is read as a stream (see candidates)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .._leases import Lease, LeaseFolder
from .candidates import Candidates

Handle = TypeVar("Handle")
# Whether a name's noted (task, resource) rules it out for this puller, without I/O.
Skip = Callable[[object], bool]


def pull(leases: LeaseFolder, indexes: Sequence[Candidates], claim: Callable[[Lease], Handle | None],
         skip: Skip | None = None) -> Handle | None:
    """The first name of *indexes*, tried in turn, that *claim* turns into a handle, or None.

    *claim* turns a lease just taken into a handle, or releases it and returns None."""
    if leases.sweep_due():
        for name in leases.sweep():
            lease = leases.take_over(name)
            if lease is not None and (handle := claim_or_release(claim, lease)) is not None:
                return handle
    for index in indexes:
        for name in index.names():
            if skip is not None:
                known = index.noted(name)
                if known is not None and skip(known):
                    continue
            if not index.present(name):
                continue  # resolved since it was listed: not worth a lease
            lease = leases.acquire(name)
            if lease is not None and (handle := claim_or_release(claim, lease)) is not None:
                return handle
    return None


def claim_or_release(claim: Callable[[Lease], Handle | None], lease: Lease) -> Handle | None:
    """claim(lease), giving the lease back if the claim raises: a lease left held
    would be renewed, and so kept from every other puller, until close."""
    try:
        return claim(lease)
    except BaseException:
        lease.release()
        raise
