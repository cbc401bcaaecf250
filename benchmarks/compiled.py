#!/usr/bin/env python3
"""A copy of a checkout with its lifecycle's modules compiled by mypyc, to measure
what compiling the hot path is worth (issue 15, target 1).

    python benchmarks/compiled.py OUT [--checkout DIR] [--all]

Copies the checkout's committed ``fsjobstore`` (``git archive HEAD``) to OUT and
compiles there, in place, the modules of ``_files``, ``_leases`` and ``_store``
less those in ``KEPT_PYTHON``; then measure the copy as any checkout:
``benchmarks/lifecycle_cost.py --checkout OUT`` (and the checkout itself in the
same run, for before and after). Needs mypy (``.[dev]``) and a C compiler; one
compile takes 3-8 minutes on this 2-core VM.

``KEPT_PYTHON`` says why each module stays Python. ``--all`` compiles those of
them that only block a working store at run time (weak references), to measure
what they would add: the store it makes leaks every store object (see there).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Module (relative to fsjobstore/) -> why a compiled build leaves it Python.
KEPT_PYTHON = {
    "job.py": "Job is a frozen dataclass and a deferred Job fills its slots on first read "
              "(__getattr__ on unset slots); a native class has no unset slots",
    "_files/wakeup.py": "a nested class; off the lifecycle (inotify)",
    "_files/storepath.py": "a str subclass: mypyc compiles no subclass of a builtin",
    "_leases/fork.py": "keeps every object to forget in a child in a WeakSet",
    "_store/context.py": "StoreContext is put in fork.py's WeakSet: a native class takes no weak reference",
    "_leases/holders.py": "HolderPool: in fork.py's WeakSet, as StoreContext",
    "_leases/folder.py": "LeaseFolder: in fork.py's WeakSet, as StoreContext",
    "_leases/renewer.py": "Renewer: in fork.py's WeakSet, as StoreContext",
    "_store/bulk.py": "BulkCreation is JobStore's base class: a Python class cannot inherit from a native one",
}
# Of KEPT_PYTHON, those that compile and run once fork.py keeps strong references (--all).
WEAKLY_HELD = ("_store/context.py", "_leases/holders.py", "_leases/folder.py", "_leases/renewer.py",
               "_leases/fork.py")
STRONG_SET = ("_FORGET_IN_CHILD: weakref.WeakSet[Forgetful] = weakref.WeakSet()",
               "_FORGET_IN_CHILD: list[Forgetful] = []")


def compiled_modules(package: Path, *, weakly_held: bool) -> list[Path]:
    """The modules to compile: every one of the three lower layers not kept Python."""
    kept = {name for name in KEPT_PYTHON if not (weakly_held and name in WEAKLY_HELD)}
    found = sorted(path for layer in ("_files", "_leases", "_store") for path in (package / layer).glob("*.py"))
    return [path for path in found if path.relative_to(package).as_posix() not in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--checkout", type=Path, default=HERE.parent)
    parser.add_argument("--all", action="store_true", help="also compile the weakly held classes (leaks)")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists: give a new folder")
    args.out.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(args.checkout), "archive", "HEAD", "fsjobstore"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(args.out)], input=archive, check=True)
    package = args.out / "fsjobstore"
    if args.all:
        fork = package / "_leases" / "fork.py"
        text = fork.read_text()
        if STRONG_SET[0] not in text:
            parser.error(f"{fork} no longer holds {STRONG_SET[0]!r}: update benchmarks/compiled.py")
        fork.write_text(text.replace(*STRONG_SET).replace(".add(each)", ".append(each)"))
    modules = [str(path.relative_to(args.out)) for path in compiled_modules(package, weakly_held=args.all)]
    subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=args.out, check=True)
    print(f"compiled {len(modules)} modules into {args.out}; measure it with "
          f"benchmarks/lifecycle_cost.py --checkout {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
