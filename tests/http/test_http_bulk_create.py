"""create_many over HTTP: a big batch in one request within the server's body limit,
a clear 413 beyond it (nothing written), and the batch's own size limit."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
from httpfixtures import ADMIN, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)
from invariants import record_files

from fsjobstore import JobSpec
from fsjobstore.errors import JobTooLarge
from fsjobstore.http.client import HttpStore
from fsjobstore.http.server.models import MAX_BATCH

REQUEST = {"text": "a job of about two hundred bytes " * 5}


def _pending(served: Served) -> list[str]:
    return record_files(served.path, "pending")


def test_a_batch_of_thousands_is_one_request_within_the_body_limit(serve: Callable[..., Served]) -> None:
    served = serve(max_body=8 * 1024 * 1024)
    requests = [dict(REQUEST, n=n) for n in range(5000)]
    size = len(json.dumps({"jobs": [{"request": r, "id": "x" * 26} for r in requests]}))
    assert 1024 * 1024 < size < 8 * 1024 * 1024, "more than the default test limit, within this one"
    with HttpStore(served.url, ADMIN) as store:
        made = store.create_many([*requests[:-1], JobSpec(requests[-1], key="last", task="t")], task="bulk")
        assert [job.request for job in made] == requests
        assert made[-1].key == "last" and made[-1].task == "t" and made[0].task == "bulk"
        assert store.get(made[1234].id).request == requests[1234]
    assert len(_pending(served)) == 5000 and served.store.check().clean


def test_a_batch_over_the_body_limit_is_a_clear_413_and_writes_nothing(serve: Callable[..., Served]) -> None:
    served = serve(max_body=256 * 1024)
    with HttpStore(served.url, ADMIN) as store:
        with pytest.raises(JobTooLarge, match=r"request body is larger than the limit of 262144 bytes"):
            store.create_many([dict(REQUEST, n=n) for n in range(2000)])
        assert _pending(served) == [] and os.listdir(served.path / "tmp") == []
        assert len(store.create_many([dict(REQUEST, n=n) for n in range(500)])) == 500, "a smaller batch fits"


def test_a_batch_of_more_jobs_than_the_server_takes_is_refused_naming_the_limit(served: Served) -> None:
    with served.http() as http:
        answer = http.post("/api/jobs/batch", json={"jobs": [{"request": n} for n in range(MAX_BATCH + 1)]})
    assert answer.status_code == 422 and f"at most {MAX_BATCH:,}".replace(",", "") in answer.text.replace(",", "")
    assert _pending(served) == []


def test_bad_input_in_a_batch_names_its_place_and_writes_nothing(served: Served) -> None:
    with served.http() as http:
        answer = http.post("/api/jobs/batch", json={"jobs": [{"request": 1}, {"request": 2, "delay": 5,
                                                                              "not_before": "2030-01-01T00:00:00Z"}]})
    assert answer.status_code == 422 and "requests[1]: give delay or not_before, not both" in answer.text
    assert _pending(served) == []
