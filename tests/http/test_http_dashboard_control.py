"""The dashboard's operator panels end to end in headless Chromium: pauses (a task's
and the whole store's, with confirmed pause and resume; the freeze), limits with the
jobs running under them, leases, schedules and loops; a job's labels, priority, key,
deadline and live progress; expired and discarded jobs; paging older and newer. A
read-only token sees the pauses but no action. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from browser import browser_fixture, page_fixture, shot  # noqa: F401 (fixtures)
from httpfixtures import ADMIN, READER, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)

from fsjobstore.loops.freeze import FREEZE_REASON


def _task_row(page: Any, task: str) -> Any:
    return page.locator(f'#tasks-table tr[data-task="{task}"]')


def test_pause_then_resume_a_task_after_confirmation(served: Served, page: Any) -> None:
    store = served.store
    for n in range(2):
        store.create({"n": n}, task="mail")
    store.create({"image": "cat.png"}, task="resize")
    page.goto(f"{served.url}/?token={ADMIN}")
    _task_row(page, "mail").locator('[data-pause="pause"]').click()
    assert "Pause task mail" in page.locator("#confirm-text").inner_text()
    page.locator("#confirm button[value=cancel]").click()
    assert store.pauses() == [], "nothing happens without confirmation"

    _task_row(page, "mail").locator('[data-pause="pause"]').click()
    page.fill("#pause-reason", "SMTP relay down")
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=task mail is paused")
    assert [(p.task, p.reason) for p in store.pauses()] == [("mail", "SMTP relay down")]
    _task_row(page, "mail").locator(".badge.paused").wait_for()
    assert _task_row(page, "resize").locator(".badge.paused").count() == 0
    assert page.locator("#task").input_value() == "", "the button does not filter the list by its task"
    assert store.pull_work(tasks=["mail"]) is None, "the pause is the store's: no worker takes a mail job"
    shot(page, "dashboard-task-paused")

    _task_row(page, "mail").locator('[data-pause="resume"]').click()
    assert "Resume task mail?" in page.locator("#confirm-text").inner_text()
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=task mail is resumed")
    assert store.pauses() == []
    _task_row(page, "mail").locator('[data-pause="pause"]').wait_for()
    assert _task_row(page, "mail").locator(".badge.paused").count() == 0

    store.pause("fax", reason="made elsewhere")  # a task with no job: a row of its own
    _task_row(page, "fax").locator(".badge.paused").wait_for()


def test_pause_and_resume_the_whole_store_and_see_a_freeze(served: Served, page: Any) -> None:
    served.store.create({"n": 1}, task="mail")
    page.goto(f"{served.url}/?token={ADMIN}")
    page.locator("#pause-store").click()
    assert "Pause the whole store" in page.locator("#confirm-text").inner_text()
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=the store is paused")
    assert [p.task for p in served.store.pauses()] == [None]
    page.wait_for_selector("#store-paused:not([hidden]) >> text=paused")
    assert "paused" in page.locator("#store-state").inner_text()
    page.locator("#resume-store").click()
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=the store is resumed")
    assert served.store.pauses() == []
    page.wait_for_selector("#store-paused[hidden]", state="attached")

    served.store.pause(reason=FREEZE_REASON)  # as `fsjobstore freeze` does
    page.wait_for_selector("#store-paused:not([hidden]) >> text=frozen")
    assert "frozen" in page.locator("#store-state").inner_text()
    shot(page, "dashboard-frozen")


def test_a_read_only_token_sees_the_pauses_but_no_pause_action(served: Served, page: Any) -> None:
    served.store.create({"n": 1}, task="mail")
    served.store.pause("mail", reason="maintenance")
    served.store.pause(reason="moving the disk")
    page.goto(f"{served.url}/?token={READER}")
    _task_row(page, "mail").locator(".badge.paused").wait_for()
    page.wait_for_selector("#store-paused:not([hidden])")
    assert "moving the disk" in page.locator("#store-state").inner_text()
    for selector in ("[data-pause]", "#pause-store", "#resume-store"):
        assert page.locator(selector).count() == 0, selector
    shot(page, "dashboard-paused-read-only")


def test_control_panel_shows_limits_with_their_running_jobs_leases_schedules_and_loops(
        served: Served, page: Any) -> None:
    store = served.store
    store.set_limit(2, resource="gpu")
    store.set_limit(3, task="render")
    job = store.create({"scene": 1}, task="render", resource="gpu")
    store.schedules.add("nightly", cron="0 3 * * *", task="report")
    store.schedules.add("often", every=60)
    store.schedules.pause("often")
    loop = store.register_worker("worker", ["render"], 2)
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    try:
        loop.beat([job.id], "task render")
        page.goto(f"{served.url}/?token={ADMIN}")
        gpu = page.locator('#limits-table tr[data-limit="resource:gpu"]')
        gpu.wait_for()
        assert "1 / 2" in gpu.inner_text() and job.id in gpu.inner_text()
        assert "1 / 3" in page.locator('#limits-table tr[data-limit="task:render"]').inner_text()
        held = page.locator(f'#holdings-table tr[data-holding="{job.id}"]').inner_text()
        assert "work" in held and "render" in held and "gpu" in held and "pid" in held
        nightly = page.locator('#schedules-table tr[data-schedule="nightly"]').inner_text()
        assert "cron '0 3 * * *' UTC" in nightly and "report" in nightly
        assert "paused" in page.locator('#schedules-table tr[data-schedule="often"]').inner_text()
        row = page.locator(f'#loops-table tr[data-loop="{loop.id}"]').inner_text()
        assert "worker" in row and job.id in row and "task render" in row and "alive" in row
        shot(page, "dashboard-control")
    finally:
        lease.release()
        loop.close()
    page.wait_for_selector("#holdings-table >> text=none")
    assert "0 / 2" in page.locator('#limits-table tr[data-limit="resource:gpu"]').inner_text()


def test_job_labels_priority_key_deadline_and_live_progress(served: Served, page: Any) -> None:
    store = served.store
    job = store.create({"scene": 7}, task="render", labels={"to": "gpu-box", "team": "vfx"}, priority=5,
                       deadline=timedelta(hours=1), key="render-7")
    store.create({"scene": 8}, task="render")
    lease = store.pull_work(to="gpu-box")
    assert lease is not None and lease.id == job.id
    try:
        lease.progress({"frames": 10})
        page.goto(f"{served.url}/?token={ADMIN}")
        row = page.locator(f'#jobs tr[data-id="{job.id}"]')
        assert "gpu-box" in row.inner_text() and "5" in row.inner_text().split()
        for field, value in (("#to", "gpu-box"), ("#priority", "5")):
            page.fill(field, value)
            page.locator("#filter button[type=submit]").click()
            page.wait_for_function("document.querySelectorAll('#jobs tbody tr[data-id]').length === 1")
            page.fill(field, "")
            page.locator("#filter button[type=submit]").click()
            page.wait_for_function("document.querySelectorAll('#jobs tbody tr[data-id]').length === 2")
        row.click()
        page.wait_for_selector('[data-field="progress"] >> text="frames": 10')
        assert page.locator('[data-field="labels"]').inner_text().split() == ["to=gpu-box", "team=vfx"]
        assert page.locator('[data-field="priority"]').inner_text() == "5"
        assert page.locator('[data-field="key"]').inner_text() == "render-7"
        assert page.locator('[data-field="deadline"]').inner_text() != "—"
        assert "pid" in page.locator('[data-field="held by"]').inner_text()
        lease.progress({"frames": 20})  # followed without a click
        page.wait_for_selector('[data-field="progress"] >> text="frames": 20')
        shot(page, "dashboard-progress")
    finally:
        lease.release()


def test_expired_and_discarded_jobs_are_counted_and_listed(served: Served, page: Any) -> None:
    store = served.store
    late = store.create({"n": 1}, task="report", deadline=3600)
    then = time.time() - 3601  # as if made an hour ago by the filesystem's clock
    os.utime(store.record_path(late.id), (then, then))
    assert store.pull_work(tasks=["report"]) is None and store.get(late.id).state == "expired"
    bad = store.create({"n": "not a number"}, task="sum")
    lease = store.pull_work(tasks=["sum"])
    assert lease is not None
    lease.discard("request is not a number")
    page.goto(f"{served.url}/?token={ADMIN}")
    page.wait_for_selector("#jobs tbody tr[data-id]")
    assert page.locator('.count[data-state="expired"] .n').inner_text() == "1"
    assert page.locator('.count[data-state="discarded"] .n').inner_text() == "1"
    page.locator('.count[data-state="discarded"]').click()
    page.wait_for_function("document.querySelectorAll('#jobs tbody tr[data-id]').length === 1")
    page.locator(f'#jobs tr[data-id="{bad.id}"]').click()
    page.wait_for_selector("#detail-fields >> text=request is not a number")
    assert page.locator('[data-action="retry"]').is_enabled(), "a discarded job can be retried by hand"
    page.locator('.count[data-state="expired"]').click()
    page.locator(f'#jobs tr[data-id="{late.id}"]').click()
    page.wait_for_selector('[data-field="deadline"] >> text=passed before it started')
    shot(page, "dashboard-expired")


def test_panels_are_not_refreshed_while_the_tab_is_hidden(served: Served, page: Any) -> None:
    page.goto(f"{served.url}/?token={ADMIN}")
    page.wait_for_selector("#store-state >> text=taking work")
    page.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})")
    page.wait_for_timeout(3500)  # (a load begun before the tab was hidden has ended)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    served.store.pause(reason="while nobody looks")
    page.wait_for_timeout(4000)  # (longer than the control panel's 3 s between loads)
    assert not [url for url in requests if "/api/control" in url]
    assert page.locator("#store-paused").is_hidden()
    page.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => false})")
    page.wait_for_selector("#store-paused:not([hidden])")


def test_the_job_list_pages_older_and_newer(served: Served, page: Any) -> None:
    ids = [served.store.create({"n": n}).id for n in range(45)]
    newest_first = ids[::-1]
    page.goto(f"{served.url}/?token={ADMIN}")

    def shown() -> list[str]:
        page.wait_for_function("document.querySelectorAll('#jobs tbody tr[data-id]').length > 0")
        return [str(row.get_attribute("data-id")) for row in page.locator("#jobs tbody tr[data-id]").all()]

    assert shown() == newest_first[:20]
    assert page.locator("#next").inner_text() == "Older →" and page.locator("#prev").is_disabled()
    page.locator("#next").click()
    page.wait_for_selector("#page-no >> text=page 2")
    assert shown() == newest_first[20:40]
    page.locator("#next").click()
    page.wait_for_selector("#page-no >> text=page 3")
    assert shown() == newest_first[40:] and page.locator("#next").is_disabled()
    page.locator("#prev").click()
    page.wait_for_selector("#page-no >> text=page 2")
    assert shown() == newest_first[20:40]
    page.select_option("#sort", "created")
    page.wait_for_selector("#page-no >> text=page 1")
    page.wait_for_selector(f'#jobs tbody tr[data-id="{ids[0]}"]')
    assert shown() == ids[:20] and page.locator("#next").inner_text() == "Newer →"
