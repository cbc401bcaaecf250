"""Makes tests/data/v1-store-full.tar.gz: a format 1 store with every feature the
last format 1 code had (queues, priorities, labels, keys, deadlines, discards,
given-up targets, progress, schedules, pauses, limits). Run it with that code
(commit 94e52a3) on PYTHONPATH, in an empty folder:

    PYTHONPATH=<checkout of 94e52a3> python make_v1_store_full.py && tar czf v1-store-full.tar.gz store
"""

from __future__ import annotations

import json
import time

from fsjobstore import JobStore

with JobStore("store", create=True, durable=False) as store:
    ids: dict[str, str] = {}
    ids["plain"] = store.create({"n": 1}, task="encode").id
    ids["urgent"] = store.create({"n": 2}, task="encode", priority=5).id
    ids["addressed"] = store.create({"n": 3}, labels={"to": "mailer-2", "sender": "api"}).id
    ids["keyed"] = store.create({"order": 42}, key="order-42").id
    ids["keyed_done"] = store.create({"order": 7}, key="order-7").id
    store.fulfill(ids["keyed_done"], {"total": 7})
    ids["expired"] = store.create({"n": 4}, deadline=0.001).id
    time.sleep(0.05)
    ids["discarded"] = store.create({"n": 5}, task="check").id
    ids["progress"] = store.create({"n": 6}, task="render").id
    ids["given_up"] = store.create({"n": 7}, task="notify").id
    store.queue(ids["given_up"], "https://example.invalid/hook")
    store.fulfill(ids["given_up"], "sent")
    ids["due"] = store.create({"n": 8}).id
    store.queue(ids["due"], {"to": "d"})
    store.fulfill(ids["due"], b"\x00\x01")
    # a pull skips the expired job (it ends expired) and takes the others by priority
    for _ in range(10):
        lease = store.pull_work(tasks=["check"])
        if lease is None:
            break
        if lease.id == ids["discarded"]:
            lease.discard("not a valid request")
    lease = store.pull_work(tasks=["render"])
    assert lease is not None and lease.id == ids["progress"]
    lease.progress({"frame": 12})
    lease.release()
    note = store.pull_notification()
    while note is not None and note.id != ids["given_up"]:
        note.release()
        note = store.pull_notification()
    assert note is not None
    note.done([], failed=[(target, "connection refused") for target in note.waiting], give_up_after=1)
    store.pull_work(tasks=["none"])  # (ends the expired job: its deadline passed)
    store.schedules.add("nightly", cron="0 3 * * *", task="report", request={"kind": "nightly"})
    store.pause("render", reason="maintenance")
    store.set_limit(2, resource="gpu")
    with open("ids.json", "w") as handle:
        json.dump(ids, handle, indent=1)
    print(json.dumps({job_id: store.get(job_id).state for job_id in ids.values()}, indent=1))
