"""Opening a store: its folder, its marker and the format it names, checked before
anything is made in it."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from .._files import folders, fsio, times
from .._files.layout import OLD_FORMATS, STORE_FORMAT, STORE_MARKER, Layout, NotAFolder
from ..errors import CorruptJobFile, InvalidStore


def _share_top_folder(path: str) -> None:
    """A group-shared store's folder must be setgid and group-writable, or what members
    make in it belongs to each one's own group and the others cannot use it: made so
    by its owner, and refused, saying what to do, for anyone else."""
    info = os.stat(path)
    if info.st_mode & stat.S_ISGID and info.st_mode & 0o070 == 0o070:
        return
    if info.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_ISGID | 0o070)
        return
    raise InvalidStore(
        f"store folder {path} is not group-shared (setgid, group read-write): what members make in it would "
        f"belong to their own groups; its owner should run: chmod g+rwxs {path}"
    )


def open_layout(layout: Layout, create: bool, *, durable: bool, group_shared: bool) -> None:
    path = layout.root
    if os.path.lexists(path) and not os.path.isdir(path):
        raise InvalidStore(f"store path {path} exists and is not a folder")
    if not create and not os.path.exists(layout.marker):
        what = "no such folder" if not os.path.lexists(path) else "a folder that is not a store"
        raise InvalidStore(f"no fsjobstore store at {path} ({what}): JobStore(path, create=True) makes one, "
                           "as `fsjobstore init DIR` does")
    # Opening an existing store writes nothing (so read-only commands work on a
    # read-only or full filesystem): only what is missing is made.
    try:
        if not os.path.isdir(path):
            try:
                folders.make_folder(path, shared=group_shared)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                folders.make_folder(path, shared=group_shared)
        if group_shared:
            _share_top_folder(path)
        layout.top.anchor()
        # The marker first: a store of another format is refused before anything
        # is made in it (an older store gets no folder of this format).
        meta = read_marker(layout)
        if meta is None:  # a new store: its folders, then the marker that says it is one
            layout.anchor(make=True)
            marker = json.dumps({"format": STORE_FORMAT, "created_at": times.now_text()}) + "\n"
            try:
                fsio.publish(layout.tmp, layout.top, STORE_MARKER, marker.encode(), durable=durable,
                             replace=False)
            except FileExistsError:
                pass  # made by another process meanwhile
            meta = read_marker(layout)
        check_format(path, meta)
        layout.anchor(make=True)
    except NotAFolder as missing:  # (a name per handler: mypyc types a name by its first one)
        raise InvalidStore(f"{missing} should be a folder of the store, and is not") from None
    except PermissionError as denied:
        raise InvalidStore(f"store folder {path} is not writable: {denied.strerror}") from None
    except (ValueError, RecursionError, OSError, CorruptJobFile) as exc:
        raise InvalidStore(f"cannot open store {path}: {exc}") from None


def read_marker(layout: Layout) -> Any:
    """The store marker's content (None if there is none yet)."""
    try:
        return json.loads(fsio.read(layout.top.join(STORE_MARKER)))
    except FileNotFoundError:
        return None


def check_format(path: str, meta: Any) -> None:
    """InvalidStore unless the marker *meta* names a store this code can use."""
    version = meta.get("format") if isinstance(meta, dict) else None
    if version in OLD_FORMATS or (version == STORE_FORMAT and meta.get("migrating_from") is not None):
        interrupted = " (its migration was interrupted)" if version != 1 else ""
        raise InvalidStore(f"store {path} has format {version}{interrupted}; this fsjobstore reads format "
                           f"{STORE_FORMAT}: stop every process using it, then run `fsjobstore migrate {path}`")
    if version != STORE_FORMAT:
        raise InvalidStore(f"store {path} has format version {version!r}; this fsjobstore reads {STORE_FORMAT}")
