"""benchmarks/compiled.py: the modules it compiles and those it keeps Python."""
from __future__ import annotations

from pathlib import Path

import fsjobstore
from benchmarks.compiled import KEPT_PYTHON, STRONG_SET, WEAKLY_HELD, compiled_modules

PACKAGE = Path(fsjobstore.__file__).parent


def test_every_module_kept_python_exists_and_says_why() -> None:
    for name, why in KEPT_PYTHON.items():
        assert (PACKAGE / name).is_file(), f"{name} is kept Python but no longer exists"
        assert why
    assert set(WEAKLY_HELD) <= set(KEPT_PYTHON)


def test_the_hot_layers_are_compiled_less_the_modules_kept_python() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in compiled_modules(PACKAGE, weakly_held=False)}
    assert {"_files/records.py", "_files/fsio.py", "_store/pulling.py", "_store/fulfilment.py",
            "_leases/lease.py"} <= names
    assert not names & set(KEPT_PYTHON)
    assert all(name.split("/")[0] in ("_files", "_leases", "_store") for name in names)
    with_weak = {path.relative_to(PACKAGE).as_posix() for path in compiled_modules(PACKAGE, weakly_held=True)}
    assert with_weak - names == set(WEAKLY_HELD)


def test_the_registry_all_replaces_is_still_there() -> None:
    assert STRONG_SET[0] in (PACKAGE / "_leases" / "fork.py").read_text()
