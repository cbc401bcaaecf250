"""``fsjobstore migrate``: upgrade a store of format 1 or 2 to format 3, in place.

Format 1 kept every resolved record in ``resolved/`` itself; format 2 keeps each
in the bucket its id names (``resolved/<first 6 characters>/``), and format 3
each pending record too (``pending/<first 7 characters>/``, the same in each
queue folder). A format 1 store goes through both steps at once. Every process
using the store must be stopped first: code of one format refuses to open a store
of another, and a process that opened the store before the migration would go on
writing the old layout.

Crash-safe and re-runnable: the marker is first rewritten to say the migration
has begun (``"format": 3, "migrating_from": <the old format>``: from then on
nothing but ``migrate`` opens the store), each record is then moved with one
``rename`` (it is in its old place or its new one, never in both or neither),
the folders are fsynced, and only then is the marker rewritten to plain format 3.
A migration killed at any point is finished by running it again: the records
still in an old place are moved, those moved already are not looked at.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Sequence
from functools import partial

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.ids import is_valid_id
from .._files.layout import OLD_FORMATS, RECORD_SUFFIX, STORE_FORMAT, STORE_MARKER, Layout, NotAFolder, bucket_of
from .._files.pending_buckets import pending_bucket_of
from ..errors import CorruptJobFile, InvalidStore
from ..interface import Progress
from .maintenance import Ticker, maintenance_lock
from .opening import read_marker


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
        if version not in OLD_FORMATS and version != STORE_FORMAT:  # (no starred tuple: mypyc crashes on it)
            raise InvalidStore(f"store {path} has format version {version!r}; this fsjobstore upgrades "
                               f"{' and '.join(map(str, OLD_FORMATS))} to {STORE_FORMAT}")
        try:
            layout.anchor(make=True)
        except NotAFolder as missing:  # (not `exc`: mypyc types a name by its first handler)
            raise InvalidStore(f"{missing} should be a folder of the store, and is not") from None
        plain = {k: v for k, v in meta.items() if k != "migrating_from"}
        with maintenance_lock(layout):
            _write_marker(layout, {**plain, "format": STORE_FORMAT,
                                   "migrating_from": meta.get("migrating_from", version)})
            moves: list[tuple[Folder, Callable[[str], str], Callable[[str], Folder]]]
            moves = [(layout.resolved, bucket_of, layout.bucket)]
            moves += [(parent, pending_bucket_of, partial(_pending_bucket, layout, parent))
                      for parent in layout.pending_parents()]
            flat = [(folder, name, bucket, open_bucket) for folder, bucket, open_bucket in moves
                    for name in _records(folder)]
            moved = _move_records(flat, progress)
            _write_marker(layout, {**plain, "format": STORE_FORMAT})
        return moved
    finally:
        layout.close()


def _write_marker(layout: Layout, meta: dict[str, object]) -> None:
    fsio.publish(layout.tmp, layout.top, STORE_MARKER, (json.dumps(meta) + "\n").encode(), durable=True,
                 replace=True)


def _records(folder: Folder) -> list[str]:
    """The names of the records left in *folder* itself (an old layout's)."""
    return [name for name in folder.names()
            if name.endswith(RECORD_SUFFIX) and is_valid_id(name[: -len(RECORD_SUFFIX)])]


def _pending_bucket(layout: Layout, parent: Folder, name: str) -> Folder:
    return Folder(parent.join(name), keep_open=False, shared=layout.shared)


# (folder, a record's name in it, the rule naming its bucket, what opens a bucket of the folder)
Flat = tuple[Folder, str, Callable[[str], str], Callable[[str], Folder]]


def _move_records(flat: Sequence[Flat], progress: Progress | None) -> int:
    """Move every record listed in *flat* into its bucket; fsync what changed."""
    ticker = Ticker(progress, len(flat))
    buckets: dict[str, Folder] = {}
    parents: dict[str, Folder] = {}
    moved = 0
    for folder, name, bucket_rule, open_bucket in flat:
        ticker.tick()
        source = folder.join(name)
        try:
            if not stat.S_ISREG(fsio.lstat(source).st_mode):
                continue  # (a planted symlink stays, for check to report)
        except FileNotFoundError:
            continue
        bucket = bucket_rule(name[: -len(RECORD_SUFFIX)])
        key = f"{folder.path}/{bucket}"
        if key not in buckets:
            folders.make_folder(folder.join(bucket), shared=folder.shared)
            buckets[key] = open_bucket(bucket)
            parents[folder.path] = folder
        fsio.rename(source, buckets[key].join(name))
        moved += 1
    for bucket_folder in buckets.values():
        bucket_folder.sync()
    for parent in parents.values():
        parent.sync()
    return moved
