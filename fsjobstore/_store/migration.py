"""``fsjobstore migrate``: upgrade a store of format 1 to format 2, in place.

Format 1 kept every resolved record in ``resolved/`` itself; format 2 keeps each
in the bucket its id names (``resolved/<first 6 characters>/``). Every process
using the store must be stopped first: code of either format refuses to open a
store of the other, and a process that opened the store before the migration
would go on writing the old layout.

Crash-safe and re-runnable: the marker is first rewritten to say the migration
has begun (``"migrating_from": 1``: from then on nothing but ``migrate`` opens
the store), each record is then moved with one ``rename`` (it is in its old
place or its new one, never in both or neither), the folders are fsynced, and
only then is the marker rewritten to plain format 2. A migration killed at any
point is finished by running it again.
"""

from __future__ import annotations

import json
import stat

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.ids import is_valid_id
from .._files.layout import RECORD_SUFFIX, STORE_FORMAT, STORE_MARKER, Layout, NotAFolder, bucket_of
from ..errors import CorruptJobFile, InvalidStore
from ..interface import Progress
from .context import read_marker
from .maintenance import Ticker, maintenance_lock


def migrate(path: str, progress: Progress | None = None) -> int:
    """Bring the store at *path* to the current format; return how many records
    moved (0 for a store already there). InvalidStore if *path* holds no store or
    one of a format this code cannot upgrade."""
    layout = Layout(path)
    try:
        try:
            layout.top.anchor()
            meta = read_marker(layout)
        except (FileNotFoundError, ValueError, CorruptJobFile) as exc:
            raise InvalidStore(f"no fsjobstore store at {path} ({exc})") from None
        if meta is None or not isinstance(meta, dict):
            raise InvalidStore(f"no fsjobstore store at {path}")
        version = meta.get("format")
        if version == STORE_FORMAT and meta.get("migrating_from") is None:
            return 0
        if version not in (1, STORE_FORMAT):
            raise InvalidStore(f"store {path} has format version {version!r}; this fsjobstore upgrades 1 to "
                               f"{STORE_FORMAT}")
        try:
            layout.anchor(make=True)
        except NotAFolder as missing:  # (not `exc`: mypyc types a name by its first handler)
            raise InvalidStore(f"{missing} should be a folder of the store, and is not") from None
        with maintenance_lock(layout):
            _write_marker(layout, {**meta, "format": STORE_FORMAT, "migrating_from": 1})
            moved = _move_records(layout, progress)
            _write_marker(layout, {**{k: v for k, v in meta.items() if k != "migrating_from"},
                                   "format": STORE_FORMAT})
        return moved
    finally:
        layout.close()


def _write_marker(layout: Layout, meta: dict[str, object]) -> None:
    fsio.publish(layout.tmp, layout.top, STORE_MARKER, (json.dumps(meta) + "\n").encode(), durable=True,
                 replace=True)


def _move_records(layout: Layout, progress: Progress | None) -> int:
    """Move every record left in resolved/ itself into its bucket; fsync what changed."""
    names = [name for name in layout.resolved.names()
             if name.endswith(RECORD_SUFFIX) and is_valid_id(name[: -len(RECORD_SUFFIX)])]
    ticker = Ticker(progress, len(names))
    buckets: dict[str, Folder] = {}
    moved = 0
    for name in names:
        ticker.tick()
        source = layout.resolved.join(name)
        try:
            if not stat.S_ISREG(fsio.lstat(source).st_mode):
                continue  # (a planted symlink stays, for check to report)
        except FileNotFoundError:
            continue
        bucket = bucket_of(name[: -len(RECORD_SUFFIX)])
        if bucket not in buckets:
            folders.make_folder(layout.resolved.join(bucket), shared=layout.shared)
            buckets[bucket] = layout.bucket(bucket)
        fsio.rename(source, buckets[bucket].join(name))
        moved += 1
    for folder in buckets.values():
        folder.sync()
    layout.resolved.sync()
    return moved
