"""Bucket summaries (summaries/<bucket>.json): stats, listings and purge read a
bucket's records only when its folder changed since its summary was made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invariants import FsSpy, resolved_file

from fsjobstore import JobStore
from fsjobstore._files.ids import id_at
from fsjobstore._store.buckets import SETTLED_SECONDS


def _age(path: str | Path, seconds: float) -> None:
    """Set *path*'s mtime *seconds* back (a bucket that last changed that long ago)."""
    info = os.lstat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - int(seconds * 1e9)))


def _resolved(store: JobStore, n: int) -> list[str]:
    ids = [store.create({"n": n}).id for n in range(n)]
    for job_id in ids:
        store.fulfill(job_id, "v")
    return ids


def _cli_stats(store: JobStore) -> dict[str, int]:
    """``fsjobstore stats --json`` in a process of its own."""
    result = subprocess.run([sys.executable, "-m", "fsjobstore", "--store", store.path, "stats", "--json"],
                            capture_output=True, text=True, check=True)
    counts: dict[str, int] = json.loads(result.stdout)
    return counts


def _rewrite_in_place(path: str, old: str, new: str) -> None:
    """Change a record's content without touching its folder (what no store operation does)."""
    with open(path, "r+b") as handle:
        data = handle.read().replace(old.encode(), new.encode())
        handle.seek(0)
        handle.write(data)
        handle.truncate()


def test_stats_reads_a_bucket_again_only_when_its_folder_changed(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 3)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    assert store.stats()["fulfilled"] == 3
    summary = Path(store.path, "summaries", bucket.name + ".json")
    assert summary.exists(), "a settled bucket's summary is saved"
    # A record changed behind the store's back is not seen: the summary is trusted.
    _rewrite_in_place(resolved_file(store.path, ids[0]), '"fulfilled"', '"cancelled"')
    assert (store.stats()["fulfilled"], store.stats()["cancelled"]) == (3, 0)
    # Any change to the folder (a job resolved into it) and the bucket is read again.
    more = store.create("more")
    assert more.id[:6] == bucket.name
    store.cancel(more.id)
    assert (store.stats()["fulfilled"], store.stats()["cancelled"]) == (2, 2)


def test_a_bucket_changed_moments_ago_is_never_summarised(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 2)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    assert store.stats()["fulfilled"] == 2
    # Its mtime is within SETTLED_SECONDS of the filesystem's now: a change in the same
    # timestamp tick could go unseen, so nothing is saved and every reader reads it.
    assert time.time() - bucket.stat().st_mtime < SETTLED_SECONDS
    assert not Path(store.path, "summaries", bucket.name + ".json").exists()
    _rewrite_in_place(resolved_file(store.path, ids[0]), '"fulfilled"', '"failed"')
    assert store.stats()["failed"] == 1


def test_a_garbled_or_foreign_summary_is_rebuilt(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 2)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    summary = Path(store.path, "summaries", bucket.name + ".json")
    for garbage in (b"{not json", b"[]", json.dumps({"version": 99}).encode()):
        summary.write_bytes(garbage)
        _history(store).unlink(missing_ok=True)  # (so that the bucket's own file is read)
        assert open_store(watch=False).stats()["fulfilled"] == 2  # (a new reader: nothing in memory)
    # A summary of another folder of the same name (made again since) is not trusted.
    saved = json.loads(summary.read_text())
    saved["folder"][0] += 1
    saved["counts"]["fulfilled"] = 99
    summary.write_text(json.dumps(saved))
    _history(store).unlink()
    assert open_store(watch=False).stats()["fulfilled"] == 2


def test_a_new_process_uses_the_summaries_another_one_saved(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 2)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    assert _cli_stats(store)["fulfilled"] == 2
    assert Path(store.path, "summaries", bucket.name + ".json").exists()
    _rewrite_in_place(resolved_file(store.path, ids[0]), '"fulfilled"', '"failed"')
    assert _cli_stats(store)["fulfilled"] == 2


def test_purge_reads_each_record_of_a_bucket_that_changed_since_its_summary(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    old = _resolved(store, 3)
    for job_id in old:
        _age(resolved_file(store.path, job_id), 8 * 24 * 3600)
    bucket = Path(resolved_file(store.path, old[0])).parent
    _age(bucket, 10)
    store.stats()  # (its summary: every record past the week's retention)
    young = store.create("young")
    assert young.id[:6] == bucket.name
    store.fulfill(young.id, "v")  # into the same bucket, just now
    assert store.purge() == 3
    assert [job.id for job in store.jobs()] == [young.id]


def test_filtered_listings_skip_buckets_with_nothing_that_matches(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 3)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    assert list(store.jobs("failed")) == []  # (saves the summary: no failed job, no "mail" task)
    # A record changed behind the store's back is not read: its bucket is skipped.
    _rewrite_in_place(resolved_file(store.path, ids[0]), '"fulfilled"', '"failed"')
    assert list(store.jobs("failed")) == [] and list(store.jobs(task="mail")) == []
    assert [job.id for job in store.jobs("fulfilled")] == ids[1:]  # (a bucket with matches is read)


def test_a_filtered_listing_reads_only_the_records_the_index_names(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 3)
    failed = store.create("f", task="mail")
    store.fail(failed.id, "boom")
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    assert [job.id for job in store.jobs("failed")] == [failed.id]  # (saves the summary and its index)
    assert Path(store.path, "summaries", bucket.name + ".ids.json").exists()
    _rewrite_in_place(resolved_file(store.path, ids[0]), '"fulfilled"', '"failed"')
    assert [job.id for job in store.jobs("failed")] == [failed.id]
    assert [job.id for job in store.jobs(task="mail")] == [failed.id]


def test_purge_removes_a_bucket_left_empty_and_its_summary(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x")
    store.cancel(job.id)
    bucket = Path(resolved_file(store.path, job.id)).parent
    store.retry(job.id)  # (its bucket is left empty)
    _age(bucket, 10)
    store.stats()
    assert Path(store.path, "summaries", bucket.name + ".json").exists()
    assert store.purge() == 0
    assert not bucket.exists() and os.listdir(Path(store.path, "summaries")) == []
    store.cancel(job.id)  # (its bucket is made again)
    assert store.get(job.id).state == "cancelled" and store.stats()["cancelled"] == 1


def _records_opened(store: JobStore, call: Callable[[], object]) -> set[str]:
    """The ids of the resolved records *call* opened."""
    spy = FsSpy()
    with spy.installed():
        call()
    stems = {os.path.basename(str(c.args[0]))[:-5] for c in spy.counted("open") if str(c.args[0]).endswith(".json")}
    return {stem for stem in stems if len(stem) == 26}  # (not the summaries' files)


def test_a_bucket_read_again_reads_only_the_records_that_changed(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 30)
    bad = store.create("bad")
    store.fail(bad.id, "no")
    assert store.stats()["fulfilled"] == 30
    more = store.create("more")
    store.cancel(more.id)
    store.retry(bad.id)
    store.fulfill(bad.id, "yes")  # (a new record of the same name: read again)
    read = _records_opened(store, store.stats)
    assert not read & set(ids) and {more.id, bad.id} <= read
    assert store.stats() == {**store.stats(), "fulfilled": 31, "cancelled": 1, "failed": 0}


def test_a_new_process_reads_only_the_records_added_since_the_saved_entries(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 20)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    assert _cli_stats(store)["fulfilled"] == 20
    saved = Path(store.path, "summaries", bucket.name + ".records.json")
    assert set(json.loads(saved.read_text())["records"]) == set(ids)
    fresh = open_store(watch=False)  # (nothing remembered: what another process sees)
    more = fresh.create("more")
    assert more.id[:6] == bucket.name
    fresh.cancel(more.id)
    other = open_store(watch=False)
    assert _records_opened(other, other.stats) == {more.id}
    assert other.stats()["cancelled"] == 1 and other.stats()["fulfilled"] == 20


def test_saved_entries_of_a_foreign_form_are_not_used(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 2)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    store.stats()
    saved = Path(store.path, "summaries", bucket.name + ".records.json")
    entries = json.loads(saved.read_text())
    for job_id in ids:
        entries["records"][job_id][0] = "exploded"
    summary = Path(store.path, "summaries", bucket.name + ".json")
    for garbage in (json.dumps(entries), "{not json", "[]"):
        saved.write_text(garbage)
        summary.unlink(missing_ok=True)  # (so the bucket is read again, with these entries)
        other = open_store(watch=False)
        assert other.stats()["fulfilled"] == 2


def test_a_store_object_reads_no_summary_of_a_bucket_unchanged_since_it_read_it(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _resolved(store, 3)
    bucket = Path(resolved_file(store.path, ids[0])).parent
    _age(bucket, 10)
    assert store.stats()["fulfilled"] == 3
    spy = FsSpy()
    with spy.installed():
        assert store.stats()["fulfilled"] == 3
    assert not [c for c in spy.counted("open") if f"summaries/{bucket.name}" in str(c.args[0])]
    more = store.create("more")  # (its bucket changes: read again)
    store.cancel(more.id)
    assert store.stats()["cancelled"] == 1


def _two_buckets(store: JobStore, now_ms: int) -> list[str]:
    """Two jobs resolved in two buckets (made at *now_ms* and an hour before), both settled: their ids."""
    ids = [store.create({"n": n}, job_id=id_at(now_ms - n * 3_600_000)).id for n in range(2)]
    for job_id in ids:
        store.fulfill(job_id, "v")
        _age(Path(resolved_file(store.path, job_id)).parent, 10)
    return ids


def _summaries_opened(store: JobStore, call: Callable[[], object]) -> set[str]:
    """The names of the files in summaries/ that *call* opened."""
    spy = FsSpy()
    with spy.installed():
        call()
    return {os.path.basename(str(c.args[0])) for c in spy.counted("open") if "/summaries/" in str(c.args[0])}


def _history(store: JobStore) -> Path:
    return Path(store.path, "summaries", "history.json")


def test_a_new_store_object_reads_every_settled_summary_from_one_file(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _two_buckets(store, time.time_ns() // 1_000_000)
    assert store.stats()["fulfilled"] == 2
    assert set(json.loads(_history(store).read_text())) == {job_id[:6] for job_id in ids}
    fresh = open_store(watch=False)
    opened = _summaries_opened(fresh, lambda: fresh.stats()["fulfilled"] == 2)
    assert "history.json" in opened and not {name for name in opened if name[:6] in {i[:6] for i in ids}}
    # Trusted as the bucket's own summary is: a record changed behind the store's back is not seen.
    _rewrite_in_place(resolved_file(store.path, ids[0]), '"fulfilled"', '"failed"')
    assert _cli_stats(store)["fulfilled"] == 2


def test_an_entry_of_a_bucket_changed_since_is_not_used(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    now_ms = time.time_ns() // 1_000_000
    ids = _two_buckets(store, now_ms)
    store.stats()
    more = store.create("more", job_id=id_at(now_ms - 3_600_000 + 1))
    assert more.id[:6] == ids[1][:6]
    store.cancel(more.id)
    written = _history(store).stat().st_ino
    counts = _cli_stats(store)
    assert (counts["fulfilled"], counts["cancelled"]) == (2, 1)
    # Changed moments ago: never saved (a change in the same timestamp tick could
    # hide behind it), so history.json is left as it was, the bucket read by each reader.
    assert _history(store).stat().st_ino == written
    assert json.loads(_history(store).read_text())[more.id[:6]]["counts"]["cancelled"] == 0
    _age(Path(resolved_file(store.path, more.id)).parent, 10)
    assert (_cli_stats(store)["cancelled"], _cli_stats(store)["fulfilled"]) == (1, 2)
    assert json.loads(_history(store).read_text())[more.id[:6]]["counts"]["cancelled"] == 1


def test_a_garbled_or_foreign_history_file_is_not_used_and_is_rewritten(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _two_buckets(store, time.time_ns() // 1_000_000)
    store.stats()
    saved = json.loads(_history(store).read_text())
    foreign = {**saved, ids[0][:6]: {**saved[ids[0][:6]], "counts": {"fulfilled": 99}}}
    foreign[ids[0][:6]]["folder"] = [saved[ids[0][:6]]["folder"][0] + 1, *saved[ids[0][:6]]["folder"][1:]]
    garbled = {**saved, ids[1][:6]: {"version": 99}, ids[0][:6]: ["not", "a", "summary"]}
    for garbage in ("{not json", "[]", json.dumps(garbled), json.dumps(foreign)):
        _history(store).write_text(garbage)
        assert open_store(watch=False).stats()["fulfilled"] == 2  # (a new reader: nothing in memory)
        assert json.loads(_history(store).read_text()) == saved


def test_a_first_page_reads_the_summaries_of_its_buckets_only(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = _two_buckets(store, time.time_ns() // 1_000_000)
    store.stats()
    fresh = open_store(watch=False)
    opened = _summaries_opened(fresh, lambda: list(fresh.jobs("fulfilled", limit=1)))
    # The older bucket's summary and index: not history.json, every bucket's.
    assert opened == {ids[1][:6] + ".json", ids[1][:6] + ".ids.json"}


def test_purge_reads_old_buckets_lean_and_saves_the_summaries_of_young_ones(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    then_ms = int((time.time() - 9 * 24 * 3600) * 1000)
    old = [store.create({"n": n}, job_id=id_at(then_ms + n)).id for n in range(3)]
    for job_id in old:
        store.fulfill(job_id, "v")
        _age(resolved_file(store.path, job_id), 8 * 24 * 3600)
    young = _resolved(store, 2)
    bucket = Path(resolved_file(store.path, young[0])).parent
    _age(bucket, 10)
    opened = _records_opened(store, lambda: store.purge())
    assert opened == set(old) | set(young)  # (each its expires_in; the young bucket's, for its summary too)
    assert Path(store.path, "summaries", bucket.name + ".json").exists()
    assert sorted(job.id for job in store.jobs()) == young
    assert _records_opened(store, lambda: store.purge()) == set()  # (the young bucket: by its summary alone)


def _bucket_judged_whole(store: JobStore) -> tuple[str, str]:
    """A bucket whose saved summary says every record is past its time: a job kept a
    week by default (8 days old), one kept 30 days by its own ``expires_in`` (31
    days old, failed), and the newest, kept an hour by its own (a day old). Their ids:
    (the week's, the 30 days')."""
    week = store.create("week")
    month = store.create("month", expires_in=30 * 24 * 3600)
    hour = store.create("hour", expires_in=3600)
    store.fail(month.id, "to be retried")
    for job, days in ((week, 8), (month, 31), (hour, 1)):
        if job is not month:
            store.fulfill(job.id, "v")
        _age(resolved_file(store.path, job.id), days * 24 * 3600)
    _age(Path(resolved_file(store.path, week.id)).parent, 10)
    store.stats()  # (its summary, settled: every record past its time)
    return week.id, month.id


def test_a_record_touched_to_be_kept_longer_is_kept_by_a_purge_of_a_bucket_judged_whole(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    week, month = _bucket_judged_whole(store)
    # An operator keeps the week's job five days more: its age counts from its mtime.
    # Dated before the newest record the summary describes, the mtime alone cannot tell.
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(resolved_file(store.path, week), (two_days_ago, two_days_ago))
    assert store.purge() == 2
    assert [job.id for job in store.jobs()] == [week]
    os.utime(resolved_file(store.path, week), (two_days_ago - 6 * 24 * 3600,) * 2)
    assert store.purge() == 1  # (and once past its time again, it goes)


def test_a_record_resolved_again_during_a_purge_of_a_bucket_judged_whole_is_judged_by_its_own_time(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    week, month = _bucket_judged_whole(store)
    other = JobStore(store.path, watch=False)
    two_days_ago = time.time() - 2 * 24 * 3600

    def resolve_again() -> None:
        other.retry(month)
        other.fulfill(month, "again")
        # Its record dated before the newest the summary describes (a filesystem clock
        # set back, or a file copied back with its time): kept 30 days from then.
        os.utime(resolved_file(store.path, month), (two_days_ago, two_days_ago))

    # Once the purge has listed the bucket and found its folder as the summary names
    # it: just before it takes the first job's lease.
    def fault(call: Any) -> Any:
        if call.name != "link" or ran:
            return None
        ran.append(call)
        thread = threading.Thread(target=resolve_again)
        thread.start()
        thread.join()
        return None

    ran: list[Any] = []
    with FsSpy(fault=fault).installed():
        removed = store.purge()
    assert ran, "the purge took no lease"
    assert removed == 2
    assert store.get(month).value == b"again"
    other.close()
