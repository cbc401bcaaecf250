"""What a forked child must forget of its parent's leases.

The child inherits the parent's descriptors and memory but not its leases: it
must never renew them (that would keep a dead parent's leases alive), commit
through them (their token is the parent's) or remove them. Locks held by other
threads of the parent at the fork stay locked forever in the child, so every
object that forgets also gets fresh locks.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class Forgetful(Protocol):
    def forget(self) -> None:
        """Drop what belongs to the parent process, without touching any file."""


_FORGET_IN_CHILD: weakref.WeakSet[Forgetful] = weakref.WeakSet()


def forget_in_child(each: Forgetful) -> None:
    """Call ``each.forget()`` in every child this process forks from now on."""
    _FORGET_IN_CHILD.add(each)


def _forget_all() -> None:
    for each in list(_FORGET_IN_CHILD):
        each.forget()


os.register_at_fork(after_in_child=_forget_all)
