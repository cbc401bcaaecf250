"""Lease folders as the lease tests make them: one holders folder beside the leased one."""

from __future__ import annotations

import os
from typing import Any

from fsjobstore._files.folders import Folder
from fsjobstore._leases import HolderPool, LeaseFolder


def lease_folder(folder: Folder, seconds: float, renewer: Any) -> LeaseFolder:
    """A LeaseFolder on *folder*, as one process sees it (its own holder records,
    in ``holders/`` beside it). *renewer* may be a test double of Renewer."""
    holders = HolderPool(Folder(os.path.join(os.path.dirname(folder.path), "holders")))
    return LeaseFolder(folder, seconds, renewer, holders)
