"""Job lists over HTTP in creation order read the store only as far as a page needs,
a text search included: it pages with a cursor either way, and reads on only until
its page is full."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from httpfixtures import Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)


def _search(served: Served, sort: str) -> list[str]:
    seen, cursor = [], None
    with served.http() as http:
        while True:
            params = {"q": "needle", "sort": sort, "limit": 2} | ({"cursor": cursor} if cursor else {})
            answer = http.get("/api/jobs", params=params).json()
            seen += [job["id"] for job in answer["jobs"]]
            cursor = answer["next_cursor"]
            if cursor is None:
                return seen


def test_a_text_search_pages_with_a_cursor_both_ways(served: Served) -> None:
    ids = [served.store.create({"n": n, "text": "needle" if n % 3 == 0 else "hay"}).id for n in range(12)]
    served.store.fail(ids[4], "a needle in the error")
    found = [ids[n] for n in (0, 3, 4, 6, 9)]
    assert _search(served, "created") == found
    assert _search(served, "-created") == found[::-1]


def test_a_text_search_reads_no_further_than_its_page(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    oldest = served.store.create({"text": "hay"})
    for n in range(5):
        served.store.create({"n": n, "text": "needle"})
    Path(served.store.record_path(oldest.id)).write_text("not a job")  # (read: a warning naming it)
    with served.http() as http, caplog.at_level(logging.WARNING, logger="fsjobstore"):
        first = http.get("/api/jobs", params={"q": "needle", "limit": 2}).json()
        assert len(first["jobs"]) == 2 and first["next_cursor"] is not None
        assert oldest.id not in caplog.text, "the newest jobs fill the page: the oldest is never read"
        rest = http.get("/api/jobs", params={"q": "needle", "limit": 5, "cursor": first["next_cursor"]}).json()
        assert len(rest["jobs"]) == 3 and rest["next_cursor"] is None
        assert oldest.id in caplog.text, "a search for more than there is reads to the end"


def test_a_priority_filter_pages_and_combines_with_the_others(served: Served) -> None:
    store = served.store
    urgent = [store.create({"n": n}, task="mail" if n % 2 else "sms", priority=5).id for n in range(5)]
    store.create({"n": 9}, task="mail")
    store.create({"n": 10}, task="mail", priority=-5)
    with served.http() as http:
        first = http.get("/api/jobs", params={"priority": 5, "limit": 3, "sort": "created"}).json()
        rest = http.get("/api/jobs", params={"priority": 5, "limit": 3, "sort": "created",
                                             "cursor": first["next_cursor"]}).json()
        assert [j["id"] for j in first["jobs"] + rest["jobs"]] == urgent and rest["next_cursor"] is None
        mail = http.get("/api/jobs", params={"priority": 5, "task": "mail"}).json()["jobs"]
        assert [j["id"] for j in mail] == [urgent[3], urgent[1]]
        by_change = http.get("/api/jobs", params={"priority": -5, "sort": "-updated"}).json()["jobs"]
        assert [j["request"] for j in by_change] == [{"n": 10}]
        bad = http.get("/api/jobs", params={"priority": 101})
        assert bad.status_code == 422 and "priority" in bad.json()["error"]
