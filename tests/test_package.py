"""The package's shape: the public API as pinned, and imports that go one way, down
the layers (files and records, leases, store workflows, the facade, loops, CLI)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
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


def test_a_build_states_the_license_without_a_deprecation_warning(tmp_path: Path) -> None:
    # (setuptools 77 on warns of a license given as a table, and will refuse it from 2027)
    source = tmp_path / "source"  # (a copy: a build writes build/ and *.egg-info beside what it builds)
    shutil.copytree(PACKAGE, source / "fsjobstore", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(PACKAGE.parent / name, source)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    assert "Deprecat" not in built.stdout + built.stderr
    (wheel,) = tmp_path.glob("fsjobstore-*.whl")
    with zipfile.ZipFile(wheel) as files:
        metadata = next(files.read(name) for name in files.namelist() if name.endswith(".dist-info/METADATA"))
    assert b"License-Expression: MIT\n" in metadata and b"License-File: LICENSE\n" in metadata
