"""How many unresolved records ``pending/`` and the queue folders hold, each
folder's count kept in ``summaries/pending.count.json`` by the rule a bucket's
summary is kept by (buckets.py): trusted while the folder's inode, mtime and
ctime are those it was counted at, and saved only if that mtime was already
settled, so that no change can hide behind it however coarse the filesystem's
timestamps. A folder that changed is listed again: its names are all there is
to know of it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from .._files import folders, fsio
from .._files.layout import RECORD_SUFFIX, Layout
from ..errors import CorruptJobFile
from .buckets import PENDING_COUNT, SETTLED_SECONDS, folder_state


def pending_count(layout: Layout, filesystem_now: Callable[[], float | None]) -> int:
    """How many records pending/ and the queue folders hold: each folder's saved
    count while the folder is unchanged, else by listing it. *filesystem_now*: now on
    the filesystem's clock (None where nothing can be written)."""
    path = layout.summaries.join(PENDING_COUNT)
    try:
        saved: Any = json.loads(fsio.read(path))
    except (FileNotFoundError, ValueError, CorruptJobFile):
        saved = None
    if not isinstance(saved, dict):
        saved = {}
    kept: dict[str, Any] = {}
    total = 0
    for folder in layout.pending_folders():
        name = os.path.relpath(folder.path, layout.root)
        try:
            state = folder_state(fsio.lstat(folder.path))
        except FileNotFoundError:
            continue  # (a queue folder tidied away since it was listed)
        entry = saved.get(name)
        if isinstance(entry, dict) and entry.get("folder") == state and isinstance(entry.get("count"), int):
            total += entry["count"]
            kept[name] = entry
            continue
        count = folders.count(folder, RECORD_SUFFIX)
        total += count
        now = filesystem_now()
        if now is not None and state[1] < (now - SETTLED_SECONDS) * 1e9:
            kept[name] = {"folder": state, "count": count}
    if kept != saved:
        try:
            fsio.publish(layout.tmp, layout.summaries, PENDING_COUNT, json.dumps(kept).encode(),
                         durable=False, replace=True)
        except OSError:
            pass  # (a cache)
    return total
