"""schemathesis against the app's own OpenAPI document, over real HTTP: no input it
can generate makes the server fail (5xx), and every answer is one the document
declares (status, content type, body schema). Bounded and deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the schema tests need schemathesis (the test extra)")

from httpfixtures import ADMIN  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from fsjobstore import JobStore  # noqa: E402
from fsjobstore.http.server import Settings, background  # noqa: E402

# "Schema-valid data must be accepted": not so here, by design. Some rules are not in
# the schema (a cursor must be one the server gave; delay and not_before exclude each
# other; a time needs a zone): they are 422s naming the problem (test_http_bad_input).
SEMANTIC = positive_data_acceptance

# Long-polls would hold a case for up to a minute: generated waits are cut to this.
MAX_WAIT = 0.05


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    store = JobStore(Path(tmp_path_factory.mktemp("schema")) / "store", lease_seconds=2, durable=False, create=True)
    for n in range(3):
        store.create({"n": n}, task="t")
    try:
        with background(store, Settings(token=ADMIN, max_body=64 * 1024)) as url:
            # the event stream never ends by design: tested in test_http_api
            yield schemathesis.openapi.from_url(url + "/openapi.json").exclude(path="/events")
    finally:
        store.close()


def _bounded(case: Any) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("wait"), (int, float)):
        case.body["wait"] = min(case.body["wait"], MAX_WAIT)
    if isinstance(case.query, dict) and isinstance(case.query.get("timeout"), (int, float)):
        case.query["timeout"] = min(case.query["timeout"], MAX_WAIT)


# (schemathesis.pytest.from_fixture reads a pytest private that pytest 9 removed, so
# each operation's strategy is driven by hypothesis directly.)
def test_api_answers_as_documented(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: Any) -> None:
            _bounded(case)
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, excluded_checks=[SEMANTIC])

        answers_as_documented()
