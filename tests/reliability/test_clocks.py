"""Clocks that disagree: a second process runs hours ahead or behind (libfaketime),
on the same store. Only this process's wall clock is faked: file times are set by
the kernel (as an NFS server sets them), so this is what a host with a wrong
clock does to a shared store.

* A relative delay (``create(not_before=seconds)``, ``fail(retry=True, delay=...)``)
  means that duration on every host.
* Retention is judged on the filesystem's clock: a result is kept for its
  ``expires_in`` whichever host resolved or purges it.
* A purge on a fast-clock host removes nothing in use (temp files being written,
  holder records), and one on a slow-clock host still removes old leftovers.

Skipped, with the reason printed, where libfaketime is not installed (``make
test`` installs it where apt-get is available).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invariants import date_resolved

from fsjobstore import JobStore

HOURS = 3


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    if not found:
        reason = "libfaketime is not installed (Debian package faketime)"
        print(f"SKIPPED clock-skew tests: {reason}")
        pytest.skip(reason)
    return found[0]


def skewed(hours: int, code: str, store: Path) -> str:
    """Run *code* (with ``store`` bound to the store's path) in a Python process whose
    wall clock is *hours* off; what it printed."""
    env = {**os.environ, "LD_PRELOAD": libfaketime(), "FAKETIME": f"{hours:+d}h",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    prelude = ("import sys, time\nfrom datetime import timedelta\nfrom fsjobstore import JobStore\n"
               "store = JobStore(sys.argv[1], watch=False, durable=False)\n"
               f"assert abs(time.time() - {time.time()} - {hours * 3600}) < 600, 'libfaketime had no effect'\n")
    result = subprocess.run([sys.executable, "-c", prelude + code + "\nstore.close()\n", str(store)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def root(tmp_path: Path) -> Path:
    JobStore(tmp_path / "store", watch=False, create=True).close()
    return tmp_path / "store"


def _pull_all(store: JobStore, wanted: set[str], seconds: float) -> set[str]:
    got: set[str] = set()
    deadline = time.monotonic() + seconds
    while got != wanted and time.monotonic() < deadline:
        lease = store.pull_work()
        if lease is None:
            time.sleep(0.05)
            continue
        got.add(lease.id)
        lease.fulfill("done")
    return got


@pytest.mark.parametrize("hours", [HOURS, -HOURS], ids=["ahead", "behind"])
def test_a_short_delay_set_on_a_skewed_host_is_that_short_here(root: Path, hours: int) -> None:
    out = skewed(hours, """
made = store.create("created", not_before=0.3).id
retried = store.create("retried").id
store.pull_work().fail("once", retry=True, delay=0.3)
print(made, retried)
""", root)
    wanted = set(out.split())
    with JobStore(root, watch=False, durable=False, create=True) as store:
        assert _pull_all(store, wanted, 30) == wanted, "a 0.3 s delay stalled the jobs"


@pytest.mark.parametrize("writer", [HOURS, -HOURS, 0], ids=["ahead", "behind", "here"])
@pytest.mark.parametrize("reader", [HOURS, -HOURS, 0], ids=["ahead", "behind", "here"])
def test_an_hour_delay_is_an_hour_whichever_hosts_set_and_read_it(root: Path, writer: int, reader: int) -> None:
    code = """
store.create("created", not_before=3600)
store.create("retried")
store.pull_work().fail("once", retry=True, delay=3600)
"""
    if writer:
        skewed(writer, code, root)
    else:
        with JobStore(root, watch=False, durable=False, create=True) as store:
            store.create("created", not_before=3600)
            store.create("retried")
            lease = store.pull_work()
            assert lease is not None
            lease.fail("once", retry=True, delay=3600)
    if reader:
        assert skewed(reader, "print(store.pull_work())", root).strip() == "None"
    else:
        with JobStore(root, watch=False, durable=False, create=True) as store:
            assert store.pull_work() is None


def test_retention_is_judged_on_the_filesystems_clock(root: Path) -> None:
    out = skewed(-HOURS, 'job = store.create("x", expires_in=3600).id\nstore.fulfill(job, "v")\nprint(job)', root)
    job = out.strip()
    with JobStore(root, watch=False, create=True) as store:
        assert store.purge() == 0, "a result kept for an hour, resolved on a slow host, purged at once"
    assert skewed(HOURS, "print(store.purge())", root).strip() == "0", "a fast-clock purger removed a fresh result"
    date_resolved(root, job, time.time() - 7200)
    assert skewed(-HOURS, "print(store.purge())", root).strip() == "1", "a slow-clock purger kept an old result"


def test_a_fast_clock_purge_removes_nothing_in_use_and_a_slow_one_still_removes_leftovers(root: Path) -> None:
    with JobStore(root, watch=False, lease_seconds=60, create=True) as store:
        idle = JobStore(root, watch=False, create=True)  # a live store object whose holder holds nothing now
        other = idle.create("released")
        lease = idle.pull_work()
        assert lease is not None
        lease.fulfill("v")
        held = store.create("held").id
        writing = root / "tmp" / ("f" * 32 + ".tmp")  # a temp file being written now
        writing.write_bytes(b'{"half": ')
        work = store.pull_work()
        assert work is not None and work.id == held
        in_use = sorted(os.listdir(root / "leases" / "holders")) + [writing.name]
        skewed(HOURS, "store.purge()", root)
        assert [p.name for p in (root / "tmp").iterdir()] == [writing.name]
        assert sorted(os.listdir(root / "leases" / "holders")) + [writing.name] == in_use
        assert not any(p.kind in ("leftover", "orphan-lease") for p in store.check().problems)
        work.fulfill("still ours")
        assert idle.get(other.id).state == "fulfilled"
        idle.close()
    past = time.time() - 7200
    os.utime(writing, (past, past))
    skewed(-HOURS, "store.purge()", root)
    assert not writing.exists(), "a slow-clock purge kept a temp file two hours old"
