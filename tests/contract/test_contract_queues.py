"""Contract: labels, addressed jobs and priorities on every store."""

from __future__ import annotations

import pytest

from fsjobstore import Job, Worker
from fsjobstore.interface import Store


def test_labels_are_kept_shown_and_filtered_on(store: Store) -> None:
    mail = store.create({"n": 1}, labels={"sender": "api", "to": "mailer"})
    store.create({"n": 2}, labels={"sender": "cron"})
    store.create({"n": 3})
    assert store.get(mail.id).labels == {"sender": "api", "to": "mailer"}
    assert [job.id for job in store.jobs(labels={"sender": "api"})] == [mail.id]
    assert [job.request for job in store.jobs("pending", labels={"sender": "cron"})] == [{"n": 2}]
    assert len(list(store.jobs(labels={}))) == 3
    assert list(store.jobs(labels={"sender": "api", "to": "other"})) == []


def test_an_addressed_job_is_taken_only_by_a_pull_addressed_to_it(store: Store) -> None:
    mine = store.create("for w7", labels={"to": "w7"})
    anyone = store.create("for anyone")
    assert store.pull_work(to="w8") is None
    lease = store.pull_work()
    assert lease is not None and lease.id == anyone.id
    lease.release()
    lease = store.pull_work(to="w7")
    assert lease is not None and lease.id == mine.id and lease.job.labels == {"to": "w7"}
    lease.fulfill("done")
    assert store.pull_work(to="w7") is None


def test_a_higher_priority_is_taken_first(store: Store) -> None:
    low = store.create("low", priority=-3)
    normal = store.create("normal")
    high = store.create("high", priority=5)
    urgent_for_w7 = store.create("urgent", priority=9, labels={"to": "w7"})
    taken = []
    while (lease := store.pull_work()) is not None:
        taken.append(lease.id)
        lease.fulfill("x")
    assert taken == [high.id, normal.id, low.id]
    assert store.get(high.id).priority == 5 and store.get(normal.id).priority == 0
    assert store.get(urgent_for_w7.id).state == "pending"


@pytest.mark.parametrize("options", [{"labels": {"a": 1}}, {"labels": ["to"]}, {"priority": 101},
                                     {"priority": "high"}, {"labels": {"to": ""}}])
def test_bad_labels_or_priorities_are_refused_and_write_nothing(store: Store, options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        store.create(1, **options)  # type: ignore[arg-type]
    assert list(store.jobs()) == []


def test_a_worker_with_an_address_does_only_the_jobs_addressed_to_it(store: Store) -> None:
    mine = [store.create(n, labels={"to": "w7"}).id for n in range(3)]
    other = store.create("other", labels={"to": "w8"})
    anyone = store.create("anyone")

    def handle(job: Job) -> str:
        return f"done by w7: {job.request}"

    Worker(store, handle, to="w7", poll_interval=0.05).run(burst=True)
    assert [store.get(job_id).state for job_id in mine] == ["fulfilled"] * 3
    assert store.get(other.id).state == "pending" and store.get(anyone.id).state == "pending"
