"""A path inside an anchored folder, in a module of its own: a ``str`` subclass,
which mypyc cannot compile, so a compiled build leaves this module Python."""

from __future__ import annotations

from typing import Protocol


class Anchored(Protocol):
    """What a StorePath needs of its folder (a ``folders.Folder``, not imported: no cycle)."""

    @property
    def path(self) -> str: ...

    @property
    def fd(self) -> int | None: ...


class StorePath(str):
    """A path inside an anchored folder: the full path as text, reached through
    the folder's descriptor by every function of ``folders``."""

    folder: Anchored
    name: str

    def __new__(cls, folder: Anchored, name: str) -> StorePath:
        path = super().__new__(cls, folder.path + "/" + name)
        path.folder = folder
        path.name = name
        return path
