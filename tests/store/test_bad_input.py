"""Bad input: each refused with a clear error, and nothing written.

Every case snapshots the whole folder around the store (the store and a sentinel
folder beside it) before the call and compares it after: a refused call must not
leave a byte behind, not even a temp file or an empty folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from invariants import in_child, pending_file, tree

from fsjobstore import (
    CorruptJobFile,
    InvalidJobId,
    InvalidStore,
    JobNotFound,
    JobStore,
    JobTooLarge,
)

MAX = 1000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "sentinel" / "keep.txt").write_text("untouched")
    opened = JobStore(tmp_path / "store", lease_seconds=2.0, max_bytes=MAX, watch=False, create=True)
    yield opened
    opened.close()


@pytest.fixture
def job(store: JobStore) -> str:
    """A pending job with a target, and a resolved one, so calls reach their checks."""
    job_id = store.create({"job": 1}).id
    store.queue(job_id, "t")
    done = store.create({"job": 2}).id
    store.fulfill(done, "v")
    return job_id


def unchanged(root: Path, call: Callable[[], Any], error: type[BaseException] | tuple[type[BaseException], ...],
              match: str | None = None) -> BaseException:
    """Run *call*, which must raise *error* (matching *match*), and change nothing under *root*."""
    before = tree(root)
    with pytest.raises(error, match=match) as raised:
        result = call()
        if hasattr(result, "__next__"):
            list(result)  # a generator raises when iterated
    after = tree(root)
    assert after == before, f"the refused call changed {sorted(set(after) ^ set(before)) or 'file contents'}"
    return raised.value


class Unserialisable:
    pass


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


NOT_JSON = {
    "object": Unserialisable(),
    "set": {1, 2},
    "bytes": b"raw",
    "complex": 1j,
    "tuple-key": {(1, 2): "x"},
    "circular": _circular(),
    "function": len,
    "datetime": datetime(2026, 1, 1),
    "nested": {"ok": [1, 2, {"deep": object()}]},
}
NOT_FINITE = {
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "nested-nan": {"x": [1.0, math.nan]},
    "inf-in-list": [math.inf],
}


@pytest.mark.parametrize("value", list(NOT_JSON.values()) + list(NOT_FINITE.values()),
                         ids=list(NOT_JSON) + list(NOT_FINITE))
def test_a_request_that_is_not_json_is_refused(store: JobStore, tmp_path: Path, value: Any) -> None:
    error = unchanged(tmp_path, lambda: store.create(value), TypeError)
    assert "request" in str(error) and "JSON" in str(error)
    assert list(store.jobs()) == []


@pytest.mark.parametrize("value", list(NOT_JSON.values()) + list(NOT_FINITE.values()),
                         ids=list(NOT_JSON) + list(NOT_FINITE))
@pytest.mark.parametrize("call", ["queue", "unqueue"])
def test_a_target_that_is_not_json_is_refused(store: JobStore, job: str, tmp_path: Path, value: Any,
                                              call: str) -> None:
    error = unchanged(tmp_path, lambda: getattr(store, call)(job, value), TypeError)
    assert "target" in str(error)
    assert store.get(job).waiting == ("t",)


# (bytes are a value: kept as text, or base64)
NOT_A_VALUE = {name: value for name, value in (NOT_JSON | NOT_FINITE).items() if name != "bytes"}


@pytest.mark.parametrize("value", list(NOT_A_VALUE.values()), ids=list(NOT_A_VALUE))
def test_a_value_that_is_not_json_is_refused(store: JobStore, job: str, tmp_path: Path, value: Any) -> None:
    error = unchanged(tmp_path, lambda: store.fulfill(job, value), TypeError, "value is not JSON")
    assert "value" in str(error)
    assert store.get(job).state == "pending"


@pytest.mark.parametrize("error", [None, 5, {"e": 1}, b"bytes"], ids=["None", "int", "dict", "bytes"])
def test_an_error_that_is_not_str_or_exception_is_refused(store: JobStore, job: str, tmp_path: Path,
                                                         error: Any) -> None:
    unchanged(tmp_path, lambda: store.fail(job, error), TypeError)
    unchanged(tmp_path, lambda: store.fail(job, error, retry=True), TypeError)


@pytest.mark.parametrize("what", ["request", "request-utf8", "target", "value", "value-bytes", "error"])
def test_over_max_bytes_is_refused(store: JobStore, job: str, tmp_path: Path, what: str) -> None:
    big = "x" * (MAX + 1)
    calls: dict[str, Callable[[], Any]] = {
        "request": lambda: store.create({"data": big}),
        "request-utf8": lambda: store.create("é" * (MAX // 2 + 1)),  # fewer characters than bytes
        "target": lambda: store.queue(job, big),
        "value": lambda: store.fulfill(job, big),
        "value-bytes": lambda: store.fulfill(job, os.urandom(MAX + 1)),
        "error": lambda: store.fail(job, big),
    }
    error = unchanged(tmp_path, calls[what], JobTooLarge)
    assert isinstance(error, ValueError) and str(MAX) in str(error)


def test_just_under_max_bytes_is_accepted(store: JobStore, tmp_path: Path) -> None:
    request = "x" * (MAX - 2)  # a JSON string: two quotes
    job = store.create(request)
    store.fulfill(job.id, "y" * MAX)
    assert store.get(job.id).request == request and store.get(job.id).value == b"y" * MAX


def test_a_huge_request_is_refused_before_it_is_held_twice(tmp_path: Path) -> None:
    """The default limit (16 MiB) refuses a 64 MiB request, writing nothing."""
    opened = JobStore(tmp_path / "store", watch=False, create=True)
    try:
        unchanged(tmp_path, lambda: opened.create("x" * (64 << 20)), JobTooLarge)
    finally:
        opened.close()


BAD_IDS = {
    "slash": "a/b",
    "parent": "..",
    "parent-path": "../sentinel/keep",
    "absolute": "/etc/passwd",
    "backslash": "a\\b",
    "dot": "a.json",
    "nul": "a\x00b",
    "newline": "a\nb",
    "tab": "a\tb",
    "space": "a b",
    "cyrillic-a": "01M84C8GP2J9W3T5B\u0430WC2D859",
    "fullwidth-digit": "\uff10\uff11M84C8GP2J9W3T5BAWC2D859",
    "combining": "a\u0301",
    "empty": "",
    "129": "A" * 129,
    "none": None,
    "int": 42,
    "bytes": b"01M84C8GP2J9W3T5BAWC2D859",
}

ID_CALLS: dict[str, Callable[[JobStore, Any], Any]] = {
    "get": lambda s, i: s.get(i),
    "fulfill": lambda s, i: s.fulfill(i, "v"),
    "fail": lambda s, i: s.fail(i, "e"),
    "fail-retry": lambda s, i: s.fail(i, "e", retry=True),
    "cancel": lambda s, i: s.cancel(i),
    "retry": lambda s, i: s.retry(i),
    "queue": lambda s, i: s.queue(i, "t"),
    "unqueue": lambda s, i: s.unqueue(i, "t"),
    "unqueue_all": lambda s, i: s.unqueue_all(i, ["t"]),
    "wait": lambda s, i: s.wait(i, timeout=0.01),
}


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_a_bad_id_is_refused_by_every_call(store: JobStore, job: str, tmp_path: Path, bad: Any) -> None:
    for name, call in ID_CALLS.items():
        error = unchanged(tmp_path, lambda call=call: call(store, bad), InvalidJobId)
        assert isinstance(error, ValueError), name
        if isinstance(bad, str) and bad and "\x00" not in bad and len(bad) <= 128:
            assert repr(bad) in str(error), f"{name}: {error} does not name the id"


def test_the_longest_valid_id_is_merely_unknown(store: JobStore, tmp_path: Path) -> None:
    for name, call in ID_CALLS.items():
        if name == "wait":
            continue
        unchanged(tmp_path, lambda call=call: call(store, "A" * 128), JobNotFound)


@pytest.mark.parametrize("state", ["Pending", "done", "", "running ", "resolved", "PENDING", "*", 0, 1],
                         ids=["Pending", "done", "empty", "trailing-space", "resolved", "upper", "star", "zero", "int"])
def test_an_unknown_state_filter_is_refused(store: JobStore, job: str, tmp_path: Path, state: Any) -> None:
    error = unchanged(tmp_path, lambda: store.jobs(state=state), ValueError)
    assert "state" in str(error)


BAD_SECONDS = {"zero": 0, "negative": -1, "tiny-negative": -1e-9, "nan": math.nan, "inf": math.inf, "bool": True,
               "str": "30", "none": None}


@pytest.mark.parametrize("value", list(BAD_SECONDS.values()), ids=list(BAD_SECONDS))
@pytest.mark.parametrize("option", ["lease_seconds", "poll_interval", "retention"])
def test_bad_store_seconds_are_refused_and_nothing_is_made(tmp_path: Path, option: str, value: Any) -> None:
    if option == "retention" and value is None:
        return  # None means "keep forever"
    error = unchanged(tmp_path, lambda: JobStore(tmp_path / "store", **{option: value}), (ValueError, TypeError))
    assert option in str(error)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10", None],
                         ids=["zero", "negative", "bool", "float", "str", "none"])
def test_bad_max_bytes_is_refused(tmp_path: Path, value: Any) -> None:
    unchanged(tmp_path, lambda: JobStore(tmp_path / "store", max_bytes=value, create=True), (ValueError, TypeError),
              "max_bytes")


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, True], ids=["zero", "negative", "nan", "inf", "bool"])
def test_bad_per_job_seconds_are_refused(store: JobStore, job: str, tmp_path: Path, value: Any) -> None:
    unchanged(tmp_path, lambda: store.create("x", lease_seconds=value), ValueError, "lease_seconds")
    if value != 0:
        unchanged(tmp_path, lambda: store.create("x", expires_in=value), ValueError, "expires_in")
        unchanged(tmp_path, lambda: store.fail(job, "e", retry=True, delay=value), ValueError, "delay")
        unchanged(tmp_path, lambda: store.create("x", not_before=value), ValueError, "not_before")
        unchanged(tmp_path, lambda: store.purge(older_than=value), ValueError, "older_than")


def test_other_bad_create_options_are_refused(store: JobStore, tmp_path: Path) -> None:
    unchanged(tmp_path, lambda: store.create("x", task=""), TypeError, "task")
    unchanged(tmp_path, lambda: store.create("x", task=5), TypeError, "task")
    unchanged(tmp_path, lambda: store.create("x", resource=["r"]), TypeError, "resource")
    unchanged(tmp_path, lambda: store.create("x", not_before=datetime(2030, 1, 1)), ValueError, "timezone")
    unchanged(tmp_path, lambda: store.create("x", not_before=timedelta(days=1), lease_seconds=-5), ValueError)


# -- the store folder ---------------------------------------------------------------------------

def test_a_store_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "store"
    path.write_text("I am a file")
    error = unchanged(tmp_path, lambda: JobStore(path, create=True), InvalidStore, "not a folder")
    assert str(path) in str(error)
    unchanged(tmp_path, lambda: JobStore(path / "inner", create=True), InvalidStore)


def test_a_store_path_that_does_not_exist_with_create_false(tmp_path: Path) -> None:
    # (the error says how to make one: JobStore opens only a store that exists unless told)
    unchanged(tmp_path, lambda: JobStore(tmp_path / "nothing", create=False), InvalidStore,
              r"no such folder\): JobStore\(path, create=True\) makes one, as `fsjobstore init DIR` does")


def test_a_folder_that_is_not_a_store_is_refused_with_create_false(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.txt").write_text("someone else's")
    unchanged(tmp_path, lambda: JobStore(tmp_path / "other", create=False), InvalidStore,
              r"a folder that is not a store\): JobStore\(path, create=True\)")


def test_a_store_of_an_unknown_format_version(tmp_path: Path) -> None:
    JobStore(tmp_path / "store", watch=False, create=True).close()
    marker = tmp_path / "store" / "fsjobstore.json"
    marker.write_text(json.dumps({"format": 4, "created_at": "2030-01-01T00:00:00.000000Z"}))
    unchanged(tmp_path, lambda: JobStore(tmp_path / "store", create=True), InvalidStore, "format version 4")


def test_a_job_file_of_an_unknown_format_version(store: JobStore, tmp_path: Path) -> None:
    job = store.create({"job": 1}).id
    path = Path(pending_file(tmp_path / "store", job))
    fields = json.loads(path.read_bytes())
    fields["format"] = 2
    fields["new_field_of_format_2"] = "?"
    path.write_text(json.dumps(fields))
    error = unchanged(tmp_path, lambda: store.get(job), CorruptJobFile)
    assert error.path == str(path) and "format version 2" in str(error)
    before = tree(tmp_path)
    assert store.pull_work() is None  # skipped, never guessed at
    assert list(store.jobs()) == []
    assert tree(tmp_path) == before
    unchanged(tmp_path, lambda: store.fulfill(job, "v"), CorruptJobFile)
    unchanged(tmp_path, lambda: store.queue(job, "t"), CorruptJobFile)


def _as_nobody(work: Callable[[], str]) -> str:
    """Run *work* in a forked child that dropped root (uid/gid 65534); return what it returns."""
    def dropped() -> str:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        return work()
    return in_child(dropped)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A folder every user can reach (pytest's tmp_path is root's alone)."""
    made = Path(tempfile.mkdtemp(prefix="fsjobstore-ro-"))
    made.chmod(0o755)
    yield made
    for folder, _dirs, _files in os.walk(made):
        os.chmod(folder, 0o755)
    shutil.rmtree(made)


def _without_write_permission(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)


def _refused_and_unchanged(parent: Path, make: Callable[[], Any]) -> str:
    before = tree(parent)
    try:
        made = make()
    except InvalidStore as exc:
        outcome = f"InvalidStore: {exc}"
    else:
        made.close()
        outcome = "opened"
    assert tree(parent) == before, "a refused open wrote something"
    return outcome


def test_a_store_folder_without_write_permission(public_dir: Path) -> None:
    """An existing store opens and reads without writing (a read-only user can look);
    a write is refused with the error, and making a store where one cannot write is refused."""
    existing = public_dir / "existing"
    store = JobStore(existing, watch=False, create=True)
    job = store.create({"job": 1}).id
    store.close()
    readonly_parent = public_dir / "readonly"
    readonly_parent.mkdir()
    _without_write_permission(existing)
    _without_write_permission(readonly_parent)

    def attempt() -> str:
        before = tree(public_dir)
        with JobStore(existing, watch=False, create=False) as opened:
            read = f"{opened.get(job).state} {opened.stats()['pending']} {len(opened.check().problems)}"
            try:
                opened.create({"job": 2})
            except PermissionError:
                read += " refused"
        assert tree(public_dir) == before, "opening and reading a store wrote to it"
        return "\n".join([read, _refused_and_unchanged(public_dir, lambda: JobStore(readonly_parent / "new",
                                                                                    watch=False, create=True))])

    if os.geteuid() == 0:
        # Root ignores permissions: drop to nobody in a child process to see what a user sees.
        outcome = _as_nobody(attempt)
    else:
        outcome = attempt()
    existing_outcome, new_outcome = outcome.split("\n")
    assert existing_outcome == "pending 1 0 refused", existing_outcome
    assert new_outcome.startswith("InvalidStore") and "not writable" in new_outcome, new_outcome


def test_a_store_whose_pending_folder_is_not_writable(public_dir: Path) -> None:
    root = public_dir / "store"
    JobStore(root, watch=False, create=True).close()
    for folder, _dirs, _files in os.walk(root):
        os.chmod(folder, 0o777)
    os.chmod(root / "pending", stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)

    def attempt() -> str:
        store = JobStore(root, watch=False, create=True)
        before = tree(public_dir)
        try:
            store.create({"job": 1})
        except PermissionError as exc:
            outcome = f"PermissionError: {exc}"
        else:
            outcome = "created"
        finally:
            store.close()
        assert tree(public_dir) == before, "a refused create left a file"
        return outcome

    outcome = _as_nobody(attempt) if os.geteuid() == 0 else attempt()
    assert outcome.startswith("PermissionError"), outcome


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("call", ["create", "queue", "unqueue"])
def test_a_value_nested_deeper_than_the_limit_is_refused_naming_it(store: JobStore, job: str, tmp_path: Path,
                                                                 call: str) -> None:
    from fsjobstore._files.values import MAX_DEPTH

    deep = _nested(MAX_DEPTH + 1)
    calls: dict[str, Callable[[], Any]] = {
        "create": lambda: store.create(deep),
        "queue": lambda: store.queue(job, deep),
        "unqueue": lambda: store.unqueue(job, deep),
    }
    error = unchanged(tmp_path, calls[call], JobTooLarge)
    assert f"{MAX_DEPTH} levels" in str(error)
    # At the limit it is accepted, and reads back even from deep in a caller's stack.
    made = store.create(_nested(MAX_DEPTH)).id
    assert _read_at_depth(store, made, 600) == _nested(MAX_DEPTH)


def _read_at_depth(store: JobStore, job_id: str, frames: int) -> Any:
    return _read_at_depth(store, job_id, frames - 1) if frames else store.get(job_id).request


def test_a_planted_file_nested_too_deep_to_read_is_corrupt_not_a_crash(store: JobStore, tmp_path: Path) -> None:
    job = store.create({"job": 1}).id
    path = Path(pending_file(tmp_path / "store", job))
    record = path.read_text()
    path.write_text(record.replace('"request": {"job": 1}', '"request": ' + "[" * 5000 + "]" * 5000))
    error = unchanged(tmp_path, lambda: store.get(job), CorruptJobFile)
    assert "nested deeper" in str(error)
    assert store.pull_work() is None
    assert list(store.jobs()) == []
    assert store.stats()["pending"] == 1  # counted by name, as a corrupt file is
    assert any(problem.kind == "corrupt" for problem in store.check().problems)
