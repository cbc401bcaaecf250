"""Makes tests/data/v2-store-full.tar.gz: a format 2 store (pending records flat in
pending/ and each queue folder) with what a format 3 migration moves and must keep:
pending jobs made over several hours (so in many format 3 buckets), queued,
addressed and keyed ones, a blocked job waiting for its parent, a running job's
progress, a batch, a retried job, resolved jobs with a target due and one given up,
a schedule, a pause and a limit. Run it with the last format 2 code on PYTHONPATH,
in an empty folder:

    PYTHONPATH=<checkout of format 2> python make_v2_store_full.py && tar czf v2-store-full.tar.gz store ids.json
"""

from __future__ import annotations

import json
import time

from fsjobstore import JobStore
from fsjobstore._files.ids import id_at

HOUR_MS = 3_600_000

with JobStore("store", create=True, durable=False) as store:
    now_ms = int(time.time() * 1000)
    ids: dict[str, str] = {}
    ids["plain"] = store.create({"n": 1}, task="encode").id
    ids["urgent"] = store.create({"n": 2}, task="encode", priority=5).id
    ids["addressed"] = store.create({"n": 3}, labels={"to": "mailer-2", "sender": "api"}).id
    ids["keyed"] = store.create({"order": 42}, key="order-42").id
    ids["parent"] = store.create({"n": 4}, task="parent").id
    ids["blocked"] = store.create({"n": 5}, after=[ids["parent"]], priority=1).id
    ids["progress"] = store.create({"n": 6}, task="render").id
    ids["retried"] = store.create({"n": 7}, task="flaky").id
    ids["done"] = store.create({"n": 8}).id
    store.queue(ids["done"], {"to": "d"})
    store.fulfill(ids["done"], b"\x00\x01")
    ids["given_up"] = store.create({"n": 9}, task="notify").id
    store.queue(ids["given_up"], "https://example.invalid/hook")
    store.fulfill(ids["given_up"], "sent")
    # Jobs made over the last ten hours: a format 3 bucket holds ~33 s of them.
    old = [store.create({"old": n}, job_id=id_at(now_ms - hours * HOUR_MS), priority=n % 2).id
           for n, hours in enumerate(range(1, 11))]
    ids["oldest"], ids["oldest_plain"] = old[-1], old[-2]
    batch = store.create_many([{"batch": n} for n in range(50)], task="batch")
    ids["batch_first"], ids["batch_last"] = batch[0].id, batch[-1].id
    lease = store.pull_work(tasks=["render"])
    assert lease is not None and lease.id == ids["progress"]
    lease.progress({"frame": 12})
    lease.release()
    lease = store.pull_work(tasks=["flaky"])
    assert lease is not None and lease.id == ids["retried"]
    lease.fail("try again", retry=True)
    note = store.pull_notification()
    while note is not None and note.id != ids["given_up"]:
        note.release()
        note = store.pull_notification()
    assert note is not None
    note.done([], failed=[(target, "connection refused") for target in note.waiting], give_up_after=1)
    store.schedules.add("nightly", cron="0 3 * * *", task="report", request={"kind": "nightly"})
    store.pause("render", reason="maintenance")
    store.set_limit(2, resource="gpu")
    with open("ids.json", "w") as handle:
        json.dump(ids, handle, indent=1)
    print(json.dumps(store.stats(), indent=1))
