"""The package's shape: the public API as pinned, and imports that go one way, down
the layers (files and records, leases, store workflows, the facade, loops, CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

import fsjobstore
from fsjobstore import JobStore, NotificationLease, WorkLease
from fsjobstore.interface import NotificationHandle, Store, WorkHandle

PACKAGE = Path(fsjobstore.__file__).parent

# Lower numbers are lower layers. A module may import only from lower layers, or
# from its own subpackage.
LAYERS = {
    "errors": 0, "job": 0, "views": 0, "_arguments": 0,
    "interface": 1, "specs": 1, "_files": 1,
    "_leases": 2,
    "_store": 3,
    "store": 4, "triage": 4, "parents": 4,
    "loops": 5,
    "http": 6,
    "cli": 7,
    "__init__": 8, "__main__": 9,
}


def test_the_public_api_is_pinned() -> None:
    assert fsjobstore.__all__ == [
        "AttemptFailed", "Backoff", "CorruptJobFile", "DuplicateJob", "InvalidJobId", "InvalidStore", "Job",
        "JobAlreadyResolved", "JobBusy", "JobNotFound", "JobSpec", "JobStateError", "JobStore", "JobStoreError",
        "JobTooLarge", "LeaseLost", "NotificationLease", "Notifier", "WorkLease", "Worker",
    ]
    assert all(hasattr(fsjobstore, name) for name in fsjobstore.__all__)


def test_the_local_store_implements_the_interface(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, create=True) as store:
        assert isinstance(store, Store)
        store.create("x")
        store.create("y")
        lease = store.pull_work()
        assert isinstance(lease, WorkLease) and isinstance(lease, WorkHandle)
        assert lease is not None
        store.queue(lease.id, "t")
        lease.fulfill("v")
        note = store.pull_notification()
        assert isinstance(note, NotificationLease) and isinstance(note, NotificationHandle)
        assert note is not None
        note.release()


def _layer(parts: list[str]) -> tuple[int, str]:
    top = parts[0] if parts else "__init__"
    return LAYERS[top], top


def test_imports_go_down_the_layers() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        module = parts if parts[-1] != "__init__" else parts[:-1]
        rank, top = _layer(module)
        package = parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = package[: len(package) - node.level + 1]
            target = base + (node.module.split(".") if node.module else [])
            names = [target + [alias.name] for alias in node.names] if not node.module else [target]
            for imported in names:
                if not imported or imported[0] not in LAYERS:
                    continue  # a name of the package's __init__ (e.g. __version__)
                their_rank, their_top = _layer(imported)
                if their_top != top and their_rank >= rank:
                    wrong.append(f"{'.'.join(parts)} imports {'.'.join(imported)}")
                if top == "loops" and their_top in ("store", "_store", "_leases"):
                    wrong.append(f"{'.'.join(parts)} reaches past the interface to {'.'.join(imported)}")
    assert wrong == []
