"""The dashboard end to end in headless Chromium (Debian's, driven by Playwright):
live counts, list, search, detail, confirmed actions (delete too), read-only view, token entry.
Screenshots go to tests/artifacts/ (and docs/dashboard.png with
FSJOBSTORE_DOCS_SCREENSHOT=1)."""

from __future__ import annotations

import os
from typing import Any

from browser import browser_fixture, page_fixture  # noqa: F401 (fixtures)
from browser import shot as _shot
from httpfixtures import ADMIN, READER, ROOT, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)
from loophelpers import wait_for

from fsjobstore.http.client import HttpStore


def _seed(served: Served) -> dict[str, str]:
    store = served.store
    ids = {}
    for n in range(3):
        store.create({"to": f"user{n}@example.org", "template": "welcome"}, task="mail")
    ids["resize"] = store.create({"image": "cat.png", "width": 640}, task="resize").id
    ids["failed"] = store.create({"to": "nobody@example.org"}, task="mail").id
    store.fail(ids["failed"], "SMTPRecipientsRefused: mailbox unavailable")
    done = store.create({"image": "dog.png", "width": 320}, task="resize")
    store.queue(done.id, {"webhook": "https://example.org/hook"})
    store.fulfill(done.id, "dog-320.png")
    ids["done"] = done.id
    return ids


def _count(page: Any, state: str) -> str:
    return str(page.locator(f'.count[data-state="{state}"] .n').inner_text())


def test_list_search_detail_and_confirmed_actions(served: Served, page: Any) -> None:
    ids = _seed(served)
    page.goto(f"{served.url}/?token={ADMIN}")
    page.wait_for_selector("#jobs tbody tr[data-id]")
    assert "token" not in page.url, "the token leaves the address bar at once"
    assert page.evaluate("sessionStorage.getItem('fsjobstore-token')") == ADMIN
    assert _count(page, "pending") == "4" and _count(page, "failed") == "1" and _count(page, "due") == "1"
    assert page.locator("#jobs tbody tr[data-id]").count() == 6
    page.wait_for_selector("#live.ok")
    page.locator(f'#jobs tr[data-id="{ids["done"]}"]').click()
    page.wait_for_selector("#detail:not([hidden])")
    assert "dog-320.png" in page.locator("#detail-fields").inner_text()
    assert "webhook" in page.locator("#detail-fields").inner_text()
    _shot(page, "dashboard")
    if os.environ.get("FSJOBSTORE_DOCS_SCREENSHOT") == "1":
        page.screenshot(path=str(ROOT / "docs" / "dashboard.png"))

    page.wait_for_selector('#tasks-table tr[data-task="resize"]')
    mail_row = page.locator('#tasks-table tr[data-task="mail"]').inner_text().split()
    assert mail_row == ["mail", "3", "0", "0", "0", "1", "0", "0", "0", "Pause"]  # (pending, blocked, running, ...)
    page.locator('#tasks-table tr[data-task="resize"]').click()  # a task's jobs
    page.wait_for_function("document.querySelectorAll('#jobs tbody tr[data-id]').length === 2")
    assert page.locator("#task").input_value() == "resize"
    page.fill("#task", "")

    page.locator('.count[data-state="failed"]').click()  # the failed list, then its detail
    page.wait_for_selector(f'#jobs tr[data-id="{ids["failed"]}"]')
    assert page.locator("#jobs tbody tr[data-id]").count() == 1
    page.locator(f'#jobs tr[data-id="{ids["failed"]}"]').click()
    page.wait_for_selector("#detail-fields >> text=mailbox unavailable")
    # (attempts counts failed attempts: named so, in the list and the detail)
    assert page.locator("#jobs thead th").all_inner_texts()[5] == "failures"
    assert "failures" in page.locator("#detail-fields").inner_text()
    page.locator('[data-action="retry"]').click()
    assert "Retry job" in page.locator("#confirm-text").inner_text()
    page.locator("#confirm button[value=cancel]").click()
    assert served.store.get(ids["failed"]).state == "failed", "nothing happens without confirmation"
    page.locator('[data-action="retry"]').click()
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=is pending again")
    assert served.store.get(ids["failed"]).state == "pending"
    _shot(page, "dashboard-retried")

    page.select_option("#state", "")
    page.fill("#q", "cat.png")
    page.locator("#filter button[type=submit]").click()
    page.wait_for_function("document.querySelectorAll('#jobs tbody tr[data-id]').length === 1")
    page.locator(f'#jobs tr[data-id="{ids["resize"]}"]').click()
    page.wait_for_selector(f'#detail-id >> text={ids["resize"]}')
    page.locator('[data-action="fulfill"]').click()
    page.fill("#fulfill-value", "cat-640.png")
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=fulfilled")
    assert served.store.get(ids["resize"]).value == b"cat-640.png"
    wait_for(lambda: _count(page, "fulfilled") == "2", what="the live count to follow")
    _shot(page, "dashboard-fulfilled")


def test_delete_a_resolved_job_after_confirmation(served: Served, page: Any) -> None:
    ids = _seed(served)
    page.goto(f"{served.url}/?token={ADMIN}")
    page.locator(f'#jobs tr[data-id="{ids["resize"]}"]').click()
    page.wait_for_selector(f'#detail-id >> text={ids["resize"]}')
    assert page.locator('[data-action="delete"]').is_disabled(), "a pending job is cancelled first"
    page.locator(f'#jobs tr[data-id="{ids["done"]}"]').click()
    page.wait_for_selector(f'#detail-id >> text={ids["done"]}')
    page.locator('[data-action="delete"]').click()
    assert "with its 1 waiting target(s), never told" in page.locator("#confirm-text").inner_text()
    _shot(page, "dashboard-delete-confirm")
    page.locator("#confirm button[value=cancel]").click()
    assert served.store.get(ids["done"]).state == "fulfilled", "nothing happens without confirmation"
    page.locator('[data-action="delete"]').click()
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=deleted")
    assert [job.id for job in served.store.jobs() if job.id == ids["done"]] == []
    wait_for(lambda: page.locator(f'#jobs tr[data-id="{ids["done"]}"]').count() == 0
             and page.locator("#detail").is_hidden(), what="the deleted job to leave the list and the detail")
    wait_for(lambda: _count(page, "due") == "0", what="the live count to follow")
    _shot(page, "dashboard-deleted")


def test_create_a_job_and_bulk_retry_failed_jobs_matching_a_filter(served: Served, page: Any) -> None:
    failed = [served.store.create({"n": n}, task="sms").id for n in range(3)]
    for job_id in failed:
        served.store.fail(job_id, "gateway timeout")
    other = served.store.create({"n": 9}, task="fax").id
    served.store.fail(other, "no line")
    page.goto(f"{served.url}/?token={ADMIN}")
    page.wait_for_selector("#jobs tbody tr[data-id]")
    page.locator("#new-job").click()
    page.fill("#new-request", '{"hello": "world"}')
    page.fill("#new-task", "greet")
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=created job")
    created = [job for job in served.store.jobs("pending") if job.task == "greet"]
    assert len(created) == 1 and created[0].request == {"hello": "world"}

    page.fill("#q", "gateway")
    page.locator("#bulk-retry").click()
    assert 'matching "gateway"' in page.locator("#confirm-text").inner_text()
    page.locator("#confirm-ok").click()
    page.wait_for_selector("#message >> text=retried 3 failed jobs")
    assert all(served.store.get(job_id).state == "pending" for job_id in failed)
    assert served.store.get(other).state == "failed", "outside the filter: left alone"


def test_health_panel_and_check(served: Served, page: Any) -> None:
    page.goto(f"{served.url}/?token={ADMIN}")
    page.wait_for_selector('[data-field="disk free"]')
    assert "GiB" in page.locator('[data-field="disk free"]').inner_text() or "MiB" in page.locator(
        '[data-field="disk free"]').inner_text()
    assert page.locator('[data-field="last check"]').inner_text() == "not run since the server started"
    page.locator("#run-check").click()
    page.wait_for_selector('[data-field="last check"] >> text=clean')
    (served.path / "pending" / "stray-file").write_text("not a job")  # a problem for check to find
    page.locator("#run-check").click()
    page.wait_for_selector('[data-field="problems"] >> text=stray-file')
    assert "1 problem(s)" in page.locator('[data-field="last check"]').inner_text()
    _shot(page, "dashboard-health")


def test_read_only_token_sees_no_actions(served: Served, page: Any) -> None:
    ids = _seed(served)
    page.goto(f"{served.url}/?token={READER}")
    page.wait_for_selector("#jobs tbody tr[data-id]")
    assert page.locator("#role").inner_text() == "read-only"
    page.locator(f'#jobs tr[data-id="{ids["failed"]}"]').click()
    page.wait_for_selector("#detail:not([hidden])")
    for selector in ("[data-action]", "#new-job", "#bulk-retry", "#run-check", "[data-pause]", "#pause-store"):
        assert page.locator(selector).count() == 0, selector
    _shot(page, "dashboard-read-only")


def test_without_a_token_the_page_asks_for_one(served: Served, page: Any) -> None:
    page.goto(served.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token-input", "wrong")
    page.locator("#login-form button").click()
    page.wait_for_selector("#login-error >> text=that token was refused")
    page.fill("#token-input", ADMIN)
    page.locator("#login-form button").click()
    page.wait_for_selector("#app:not([hidden])")
    assert page.locator("#role").inner_text() == "admin"


def test_workers_panel_shows_who_holds_what(served: Served, page: Any) -> None:
    job = served.store.create({"n": 1}, task="sms")
    with HttpStore(served.url, ADMIN, client_name="sms-worker-1") as worker:
        lease = worker.pull_work(tasks=["sms"])
        assert lease is not None
        page.goto(f"{served.url}/?token={ADMIN}")
        row = page.locator('#workers-table tr[data-worker="sms-worker-1"]')
        row.wait_for()
        text = row.inner_text()
        assert job.id in text and "sms" in text and "alive" in text
        page.locator(f'#jobs tr[data-id="{job.id}"]').click()
        page.wait_for_selector("#detail-fields >> text=sms-worker-1 (over HTTP)")
        _shot(page, "dashboard-workers")


def test_detail_shows_a_json_value_and_failed_deliveries(served: Served, page: Any) -> None:
    store = served.store
    job = store.create({"image": "fox.png"}, task="resize")
    store.queue(job.id, {"webhook": "https://example.org/down"})
    store.fulfill(job.id, {"width": 640, "file": "fox-640.png"})
    note = store.pull_notification()
    assert note is not None
    note.done([], failed=[({"webhook": "https://example.org/down"}, "ConnectError: refused")], give_up_after=1)
    page.goto(f"{served.url}/?token={ADMIN}")
    page.locator(f'#jobs tr[data-id="{job.id}"]').click()
    page.wait_for_selector("#detail-fields >> text=ConnectError: refused")
    fields = page.locator("#detail-fields").inner_text()
    assert '"file": "fox-640.png"' in fields, "a JSON value shown as JSON"
    assert "1 failures, given up" in fields
    _shot(page, "dashboard-failed-delivery")


def test_detail_links_a_job_to_its_parents_and_dependants(served: Served, page: Any) -> None:
    store = served.store
    parent = store.create({"image": "owl.png"}, task="resize")
    child = store.create({"album": "birds"}, task="publish", after=[parent.id])
    page.goto(f"{served.url}/?token={ADMIN}")
    page.locator(f'#jobs tr[data-id="{parent.id}"]').click()
    page.wait_for_selector(f'#detail-fields [data-field="dependants"] a[data-job="{child.id}"]')
    assert page.locator('#detail-fields [data-field="parents"]').inner_text() == "—"
    page.locator(f'#detail-fields a[data-job="{child.id}"]').click()  # to the child's detail...
    page.wait_for_selector(f"#detail-id >> text={child.id}")
    parents = page.locator('#detail-fields [data-field="parents"]').inner_text()
    assert parent.id in parents and "cancel" in parents
    page.locator(f'#detail-fields a[data-job="{parent.id}"]').click()  # ... and back to its parent's
    page.wait_for_selector(f"#detail-id >> text={parent.id}")
    _shot(page, "dashboard-dependencies")


def test_the_detail_shows_the_job_clicked_last_whatever_answers_last(served: Served, page: Any) -> None:
    first, second = served.store.create("first").id, served.store.create("second").id
    page.goto(f"{served.url}/?token={ADMIN}")
    page.wait_for_selector(f'#jobs tr[data-id="{second}"]')

    page.evaluate("""first => {  // the first job's answer comes 1.5 s late: after the second's
      const fetched = window.fetch;
      window.fetch = async (url, options) => {
        const answer = await fetched(url, options);
        if (String(url).endsWith("/api/jobs/" + first)) await new Promise((done) => setTimeout(done, 1500));
        return answer;
      };
    }""", first)
    page.locator(f'#jobs tr[data-id="{first}"]').click()
    page.locator(f'#jobs tr[data-id="{second}"]').click()
    page.wait_for_selector(f"#detail-id >> text={second}")
    page.wait_for_timeout(2500)  # (the first job's answer has come by now)
    assert page.locator("#detail-id").inner_text() == second
