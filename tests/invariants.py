"""Shared helpers for the reliability tests: the invariants of docs/format.md, checked
from the outside, and a stand-in for ``os`` in fsjobstore.fsio / fsjobstore.lease that
counts, records and breaks the filesystem calls the store makes.

* ``observe(store)`` cross-checks ``get``, ``jobs``, ``jobs(state=...)`` and ``stats``
  (invariants 1, 3, 6) and returns what ``get`` says of every job.
* ``check_files(root)`` reads every file a reader may look at (``pending/``,
  ``resolved/``, ``waiting/``, ``due/``) and fails on any that is partial, and on any
  name that is not a record, a temp file or a lease (invariants 2, 7).
* ``assert_check_clean(store)`` runs ``check(repair=True)``, requires that it only
  found (and repaired) what a crash may leave, then that a plain ``check`` is clean.
* ``FsSpy`` replaces the ``os`` seen by fsio and lease (never the real module, so
  pytest and the rest of the process are untouched).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import fsjobstore._files.folders as folders_module
import fsjobstore._files.fsio as fsio_module
import fsjobstore._leases.clock as lease_clock
from fsjobstore import JobStore
from fsjobstore._files.ids import is_valid_id
from fsjobstore._files.pending_buckets import pending_bucket_of
from fsjobstore._files.queues import queue_of
from fsjobstore._files.records import Record
from fsjobstore._files.values import canonical_json
from fsjobstore.job import RESOLVED_STATES, STATES, Job

# -- the invariants -------------------------------------------------------------------

# What check(repair=True) may find after a crash: a resolution or queue cut
# between its steps, a due marker a crashed retry left, and leftovers.
CRASH_PROBLEMS = frozenset({"half-resolved", "not-due", "stale-due", "leftover", "unfinished-create", "unsettled"})

TOP_LEVEL = {"fsjobstore.json", "maintenance.lock", "tmp", "pending", "resolved", "summaries", "waiting", "due", "keys",
             "queues", "blocked", "dependants", "paused", "limits", "schedules", "workspaces",
             "leases", "quarantine", "workers"}
_BROKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}\.(break|new-[0-9a-f]+)$")


def resolved_file(root: str | os.PathLike[str], job_id: str) -> str:
    """Where a job's resolved record is (docs/format.md, Layout: its id's bucket)."""
    return os.path.join(root, "resolved", job_id[:6], job_id + ".json")


def pending_file(root: str | os.PathLike[str], job_id: str) -> str:
    """Where a job's pending record is (docs/format.md, Layout: its queue's folder, then
    its id's bucket)."""
    queue = queue_of(job_id)
    parent = os.path.join(root, "pending") if queue is None else os.path.join(root, "queues", *queue)
    return os.path.join(parent, pending_bucket_of(job_id), job_id + ".json")


def age_resolved(root: str | os.PathLike[str], job_id: str, seconds: float) -> None:
    """Make the job's resolved record *seconds* older (as if written then)."""
    date_resolved(root, job_id, os.lstat(resolved_file(root, job_id)).st_mtime - seconds)


def date_resolved(root: str | os.PathLike[str], job_id: str, mtime: float) -> None:
    """Make the job's resolved record look written at *mtime*, and say so to its bucket's
    summary as a write would: a bucket summary is trusted while its folder is unchanged,
    and a utime alone changes only the file (a summary saved before would hide it)."""
    path = resolved_file(root, job_id)
    os.utime(path, (os.lstat(path).st_atime, mtime))
    touched = os.path.join(os.path.dirname(path), ".touched.tmp")
    with open(touched, "w"):
        pass
    os.unlink(touched)


def record_files(root: str | os.PathLike[str], folder: str) -> list[str]:
    """The paths of the records in blocked/, or in every bucket of pending/ (or a queue
    folder) or resolved/."""
    top = os.path.join(root, folder)
    if folder == "blocked":
        return [os.path.join(top, name) for name in os.listdir(top)]
    buckets = [os.path.join(top, name) for name in os.listdir(top)]
    return [os.path.join(bucket, name) for bucket in buckets if os.path.isdir(bucket) for name in os.listdir(bucket)]


def key_of(target: Any) -> str:
    """The file stem the store gives a waiting target (docs/format.md, Layout)."""
    return hashlib.sha256(canonical_json(json.loads(json.dumps(target))).encode()).hexdigest()[:32]


def observe(store: JobStore) -> dict[str, Job]:
    """Every job as get() reports it, after checking that get, jobs and stats agree.

    Fails if a job is listed twice, in two states, or in a state get() does not
    report; if a per-state listing disagrees with the full one; if stats counts
    differ from the listing or are negative; or if a job's waiting targets repeat.
    """
    listed = list(store.jobs())
    ids = Counter(job.id for job in listed)
    twice = [job_id for job_id, n in ids.items() if n > 1]
    assert not twice, f"jobs() lists {twice} more than once"
    by_state: dict[str, set[str]] = {state: set() for state in STATES}
    got: dict[str, Job] = {}
    for job in listed:
        assert job.state in STATES, f"job {job.id} has unknown state {job.state!r}"
        by_state[job.state].add(job.id)
        now = store.get(job.id)
        assert now.state == job.state, f"job {job.id}: jobs() says {job.state}, get() says {now.state}"
        assert now.value == job.value and now.request == job.request
        if now.state == "fulfilled":
            assert now.value is not None, f"job {job.id} is fulfilled without a value"
        else:
            assert now.value is None, f"job {job.id} is {now.state} with value {now.value!r}"
        targets = [canonical_json(t) for t in now.waiting]
        assert len(targets) == len(set(targets)), f"job {job.id} waits for duplicate targets {now.waiting}"
        got[job.id] = now
    for state in STATES:
        only = {job.id for job in store.jobs(state=state)}
        assert only == by_state[state], f"jobs(state={state!r}) gives {sorted(only)}, jobs() {sorted(by_state[state])}"
    stats = store.stats()
    negative = {k: v for k, v in stats.items() if v < 0}
    assert not negative, f"stats() has negative counts {negative} (full stats {stats})"
    for state in STATES:
        assert stats[state] == len(by_state[state]), (
            f"stats() says {stats[state]} {state}, jobs() lists {len(by_state[state])} (stats {stats})")
    return got


def check_files(root: str | os.PathLike[str]) -> None:
    """Every file a reader may open is complete; every other name is a known leftover."""
    root = os.fspath(root)
    for name in os.listdir(root):
        assert name in TOP_LEVEL, f"unexpected {name!r} at the top of the store"
    for folder in ("tmp", "pending", "resolved", "waiting", "due", "leases", "leases/work", "leases/notify",
                   "leases/resource"):
        path = os.path.join(root, folder)
        assert os.path.isdir(path) and not os.path.islink(path), f"{folder}/ is not a real folder"
    for name in os.listdir(os.path.join(root, "tmp")):
        assert name.endswith(".tmp"), f"tmp/{name} is not a temp file"
    for bucket in os.listdir(os.path.join(root, "resolved")):
        assert is_valid_id(bucket) and len(bucket) <= 6, f"resolved/{bucket} is not a bucket"
        assert os.path.isdir(os.path.join(root, "resolved", bucket)), f"resolved/{bucket} is not a folder"
    queue_folders = [os.path.join("queues", to, level) for to in _names(root, "queues")
                     for level in _names(root, "queues", to)]
    for folder in ("pending", *queue_folders):
        for bucket in os.listdir(os.path.join(root, folder)):
            path = os.path.join(root, folder, bucket)
            assert is_valid_id(bucket) and len(bucket) <= 7, f"{folder}/{bucket} is not a bucket"
            assert os.path.isdir(path) and not os.path.islink(path), f"{folder}/{bucket} is not a folder"
    for folder, states in (*((f, ("pending",)) for f in ["pending", "blocked", *queue_folders]),
                           ("resolved", RESOLVED_STATES)):
        for path in record_files(root, folder):
            name = os.path.basename(path)
            if folder != "resolved" and folder != "blocked":
                assert path == pending_file(root, name[:-5]), f"{folder}/{name} is not where its id names"
            assert name.endswith(".json") and is_valid_id(name[:-5]), f"{folder}/{name} is not a record name"
            assert not os.path.islink(path), f"{folder}/{name} is a symlink"
            with open(path, "rb") as handle:
                record = Record.parse(handle.read(), path, name[:-5])  # CorruptJobFile if partial
            assert record.state in states, f"{folder}/{name} holds state {record.state}"
    for job_id in os.listdir(os.path.join(root, "waiting")):
        folder = os.path.join(root, "waiting", job_id)
        assert is_valid_id(job_id) and os.path.isdir(folder) and not os.path.islink(folder), f"waiting/{job_id}"
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "rb") as handle:
                entry = json.loads(handle.read())
            fields = set(entry) - {"failures", "last_error", "last_failed_at"}  # (after failed deliveries)
            assert fields == {"target", "queued_at"}, f"waiting/{job_id}/{name} holds {entry}"
            assert name in (key_of(entry["target"]) + ".json", key_of(entry["target"]) + ".undelivered"), (
                f"waiting/{job_id}/{name} is not named by its target")
    for parent in _names(root, "dependants"):
        assert is_valid_id(parent), f"dependants/{parent}"
        for name in os.listdir(os.path.join(root, "dependants", parent)):
            path = os.path.join(root, "dependants", parent, name)
            assert is_valid_id(name) and os.path.getsize(path) == 0, f"dependants/{parent}/{name}"
    for name in os.listdir(os.path.join(root, "due")):
        path = os.path.join(root, "due", name)
        assert is_valid_id(name) and os.path.getsize(path) == 0, f"due/{name}"
    for kind in ("work", "notify", "resource"):
        for name in os.listdir(os.path.join(root, "leases", kind)):
            assert is_valid_id(name) or _BROKEN.match(name), f"leases/{kind}/{name}"
    workers = os.path.join(root, "workers")
    for name in os.listdir(workers) if os.path.isdir(workers) else []:
        with open(os.path.join(workers, name), "rb") as handle:
            record = json.loads(handle.read())  # complete: replaced by rename, never written in place
        assert name == f"{record['id']}.json" and record["kind"] in ("worker", "notifier"), f"workers/{name}"


def _names(root: str, *parts: str) -> list[str]:
    folder = os.path.join(root, *parts)
    return os.listdir(folder) if os.path.isdir(folder) else []


def leftovers(root: str | os.PathLike[str]) -> list[str]:
    """Temp files and half-broken leases (what purge removes once they are old)."""
    root = os.fspath(root)
    found = [os.path.join("tmp", n) for n in os.listdir(os.path.join(root, "tmp"))]
    for kind in ("work", "notify", "resource"):
        found += [os.path.join("leases", kind, n) for n in os.listdir(os.path.join(root, "leases", kind))
                  if "." in n]
    return sorted(found)


def age_leftovers(root: str | os.PathLike[str], seconds: float = 7200.0) -> None:
    """Make every temp file and lease file look *seconds* old (for purge's hour rule)."""
    root = os.fspath(root)
    past = time.time() - seconds
    folders = [os.path.join(root, "tmp")] + [os.path.join(root, "leases", k) for k in ("work", "notify", "resource")]
    for folder in folders:
        for name in os.listdir(folder):
            os.utime(os.path.join(folder, name), (past, past), follow_symlinks=False)


def assert_check_clean(store: JobStore, allowed: frozenset[str] = CRASH_PROBLEMS) -> list[str]:
    """check(repair=True) finds only *allowed* kinds and repairs them all; then check() is clean.

    Returns the kinds repaired."""
    first = store.check(repair=True)
    unexpected = [p for p in first.problems if p.kind not in allowed]
    assert not unexpected, f"check found {unexpected}"
    assert first.clean, f"check --repair left {[p for p in first.problems if not p.repaired]}"
    second = store.check()
    assert second.clean and not second.problems, f"after repair check still finds {second.problems}"
    return sorted(p.kind for p in first.problems)


def tree(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Every entry under *root* (not following symlinks): folders as None, files as
    their bytes, symlinks as ("symlink", target)."""
    found: dict[str, Any] = {}
    root = os.fspath(root)
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        for name in dirs + files:
            path = os.path.join(folder, name)
            key = os.path.normpath(os.path.join(rel, name))
            if _is_holder_record(key):
                continue
            if os.path.islink(path):
                found[key] = ("symlink", os.readlink(path))
            elif os.path.isdir(path):
                found[key] = None
            else:
                with open(path, "rb") as handle:
                    found[key] = handle.read()
    return found


def _is_holder_record(key: str) -> bool:
    # A store object's holder record (leases/holders/<token>) is process state, like
    # an open descriptor: made at its first lease, removed when it closes. It holds
    # no job data, so "nothing changed" does not count it.
    parts = key.split(os.sep)
    return len(parts) >= 3 and parts[-3:-1] == ["leases", "holders"]


def files_only(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if v is not None}


# -- a stand-in for os in fsio and lease -----------------------------------------------

COUNTED = ("open", "write", "pwrite", "fsync", "rename", "link", "unlink", "mkdir", "rmdir")
# Also recorded (with their paths) for the "nothing outside the store" checks.
PATHS = ("open", "rename", "link", "unlink", "mkdir", "rmdir", "listdir", "stat", "lstat", "scandir")


class Crash(BaseException):
    """The process died here (a BaseException, so no `except Exception` handles it)."""


def _full_paths(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """*args* with each name given relative to a folder descriptor (dir_fd=...)
    made a full path: where that folder really is now (wherever its old name
    points), then the name within it. Other arguments are kept as they are."""
    keys = ("src_dir_fd", "dst_dir_fd") if name in ("rename", "link") else ("dir_fd",)
    full = list(args)
    if name in ("listdir", "scandir") and full and isinstance(full[0], str) and full[0].startswith("/proc/self/fd/"):
        # A listing through a folder descriptor's /proc link: where that folder really is.
        full[0] = os.readlink(full[0]).removesuffix(" (deleted)")
    for index, key in enumerate(keys):
        dir_fd = kwargs.get(key)
        if dir_fd is not None and index < len(full) and isinstance(full[index], str):
            folder = os.readlink(f"/proc/self/fd/{dir_fd}").removesuffix(" (deleted)")
            full[index] = os.path.normpath(os.path.join(folder, full[index]))
    return tuple(full)


class Call:
    __slots__ = ("name", "args", "index")

    def __init__(self, name: str, args: tuple[Any, ...], index: int) -> None:
        self.name, self.args, self.index = name, args, index

    def __repr__(self) -> str:
        shown = []
        for arg in self.args:
            if isinstance(arg, (bytes, bytearray, memoryview)):
                shown.append(f"<{len(arg)} bytes>")
            elif isinstance(arg, str):
                shown.append(arg.split("/store/", 1)[-1] if "/store/" in arg else arg)
            else:
                shown.append(repr(arg))
        return f"#{self.index} {self.name}({', '.join(shown)})"


Fault = Callable[[Call], "BaseException | Callable[..., Any] | None"]


class FsSpy:
    """Counts the calls fsio and lease make to ``os`` (from the test's own thread
    only, so a renewal thread never shifts the count) and may break one.

    * ``fault(call)`` returns an exception to raise instead of the call, a callable
      to run instead of it, or None to let it through.
    * ``crash_at=k``: call k raises Crash, and from then on every counted call in
      any thread raises Crash too: a dead process does nothing more, not even the
      clean-up its ``except``/``finally`` blocks would do.
    """

    def __init__(self, *, crash_at: int | None = None, fault: Fault | None = None,
                 record_paths: bool = False, every_thread: bool = False) -> None:
        self.calls: list[Call] = []
        self.crash_at = crash_at
        self.fault = fault
        self.dead = False
        self.crashed_call: Call | None = None
        self.record_paths = record_paths
        self.paths: list[tuple[str, str]] = []  # (call, real path of the folder it reached into)
        self.thread = threading.get_ident()
        self.every_thread = every_thread  # count (and fault) the calls of every thread, not the test's only
        self._modules: list[tuple[Any, Any]] = []

    @property
    def count(self) -> int:
        return len(self.calls)

    def counted(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    @contextmanager
    def installed(self) -> Iterator[FsSpy]:
        proxy = _OsProxy(self)
        self._modules = [(fsio_module, fsio_module.os), (folders_module, folders_module.os)]
        for module, _ in self._modules:
            module.os = proxy  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            for module, real in self._modules:
                module.os = real  # type: ignore[attr-defined]

    def _record(self, name: str, args: tuple[Any, ...], full: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for arg, path in zip(args[: 2 if name in ("rename", "link") else 1], full, strict=False):
            if not isinstance(arg, (str, bytes, os.PathLike)):
                continue
            if path is not arg:
                self.paths.append((name, path))  # reached through a folder descriptor: resolved
                continue
            path = os.fsdecode(arg)
            # Where the call really reaches: the final component is not followed
            # (O_NOFOLLOW, rename, link, unlink, lstat), every folder above it is.
            folder, leaf = os.path.split(os.path.abspath(path))
            real = os.path.join(os.path.realpath(folder), leaf)
            if name in ("listdir", "scandir", "stat"):
                real = os.path.realpath(path)
            self.paths.append((name, real))

    def before(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
               ) -> Callable[..., Any] | None:
        kwargs = kwargs or {}
        full = _full_paths(name, args, kwargs)
        if self.record_paths and name in PATHS:
            self._record(name, args, full, kwargs)
        if name not in COUNTED:
            return None
        if self.dead:
            raise Crash(f"{name} after the crash")
        if threading.get_ident() != self.thread and not self.every_thread:
            return None
        call = Call(name, full, len(self.calls) + 1)
        self.calls.append(call)
        if self.crash_at is not None and call.index == self.crash_at:
            self.dead = True
            self.crashed_call = call
            raise Crash(repr(call))
        if self.fault is not None:
            outcome = self.fault(call)
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome is not None:
                return outcome
        return None


class _OsProxy:
    """Looks like ``os`` to fsio and lease; routes the interesting calls through a spy."""

    def __init__(self, spy: FsSpy) -> None:
        self._spy = spy

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in COUNTED and name not in PATHS:
            return real
        spy = self._spy

        def call(*args: Any, **kwargs: Any) -> Any:
            instead = spy.before(name, args, kwargs)
            if instead is not None:
                return instead(*args, **kwargs)
            return real(*args, **kwargs)

        return call


def oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class nth:
    """A fault: the *n*-th call to os.*name* fails with OSError(*code*).

    With ``partial_write`` a failing write first writes half its data (a disk
    filling up mid-file), and the write after it fails. ``failed_at`` is the
    index of the call that raised."""

    def __init__(self, name: str, n: int, code: int, *, partial_write: bool = False) -> None:
        self.name, self.n, self.code, self.partial_write = name, n, code, partial_write
        self.seen = 0
        self.partial = False
        self.failed_at: int | None = None

    def __call__(self, call: Call) -> BaseException | Callable[..., Any] | None:
        if call.name != self.name or self.failed_at is not None:
            return None
        self.seen += 1
        if self.partial:
            self.partial = False
            self.failed_at = call.index
            return oserror(self.code)
        if self.seen != self.n:
            return None
        if self.partial_write and self.name == "write" and len(call.args[1]) > 1:
            self.partial = True
            fd, data = call.args
            return lambda *_a, **_k: os.write(fd, bytes(data)[: len(data) // 2])
        self.failed_at = call.index
        return oserror(self.code)


ENOSPC, EIO, ESTALE = errno.ENOSPC, errno.EIO, errno.ESTALE


# -- a clock for lease expiry -----------------------------------------------------------

class FakeClock:
    """Stands in for the lease layer's clock (fsjobstore._leases.clock.now):
    monotonic() is what the test says."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def fake_lease_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    real = lease_clock.now
    lease_clock.now = clock.monotonic
    try:
        yield clock
    finally:
        lease_clock.now = real


def die(store: JobStore) -> None:
    """What a SIGKILL does to a store object: its renewals stop, its descriptors
    close, and nothing it holds is released or cleaned up."""
    store.context.abandon()


def lease_files(root: str | os.PathLike[str]) -> list[str]:
    """Live lease names (not half-broken leftovers) under leases/work and leases/notify."""
    root = os.fspath(root)
    return sorted(os.path.join(kind, n) for kind in ("work", "notify")
                  for n in os.listdir(os.path.join(root, "leases", kind)) if "." not in n)


def reap(store: JobStore, clock: FakeClock, rounds: int = 20) -> None:
    """Let the leases of dead holders expire and be taken over (by pulls), releasing
    whatever the pulls hand out, until no lease file is left."""
    for _ in range(rounds):
        if not lease_files(store.path):
            return
        clock.advance(1000.0)
        lease = store.pull_work()
        if lease is not None:
            lease.release()
        note = store.pull_notification()
        if note is not None:
            note.release()
    raise AssertionError(f"leases of dead holders never expired: {lease_files(store.path)}")


def pull_work_eventually(store: JobStore, clock: FakeClock, tries: int = 6) -> Any:
    for _ in range(tries):
        lease = store.pull_work()
        if lease is not None:
            return lease
        clock.advance(1000.0)
    return None


def drain(store: JobStore, clock: FakeClock, value: str = "drained") -> dict[str, list[Any]]:
    """Fulfil every pending job and deliver every due target; return the targets
    delivered, by job id. Afterwards nothing is pending, due, waiting or leased."""
    while (lease := pull_work_eventually(store, clock, 3)) is not None:
        with lease:
            lease.fulfill(value)
    delivered: dict[str, list[Any]] = {}
    for _ in range(1000):
        note = store.pull_notification()
        if note is None:
            clock.advance(1000.0)
            note = store.pull_notification()
            if note is None:
                break
        with note:
            delivered.setdefault(note.id, []).extend(note.waiting)
            note.done(note.waiting)
    root = store.path
    assert record_files(root, "pending") == [], "jobs left pending after draining"
    assert os.listdir(os.path.join(root, "due")) == [], "notifications left due after draining"
    assert os.listdir(os.path.join(root, "waiting")) == [], "targets left waiting after draining"
    assert lease_files(root) == [], "leases left after draining"
    return delivered


def in_child(work: Callable[[], str]) -> str:
    """Run *work* in a forked child and return what it returned; a child that raised
    fails the calling test with the child's error."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read)
            message = work()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message, code = f"child failed: {type(exc).__name__}: {exc}", 1
        os.write(write, message.encode())
        os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    message = b"".join(chunks).decode()
    assert os.waitstatus_to_exitcode(status) == 0, message
    return message


def plain_repr(value: object) -> str:
    """A parametrize id: repr without memory addresses (``<object object at 0x...>``),
    so that every pytest-xdist worker collects the same tests."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def before_call(k: int, other: Callable[[], Any]) -> FsSpy:
    """A spy that runs *other* to its end (in a thread of its own, so that its calls
    are not counted) just before the *k*-th call of the spied thread: one operation
    interleaved whole within each step of another."""
    def fault(call: Any) -> Any:
        if call.index != k:
            return None

        def then_call(*args: Any, **kwargs: Any) -> Any:
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
            return getattr(os, call.name)(*args, **kwargs)
        return then_call
    return FsSpy(fault=fault)
