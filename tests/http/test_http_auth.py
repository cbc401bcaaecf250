"""Bearer tokens: none or a wrong one is 401, the read-only token may only read;
serving without tokens is allowed only on loopback, and only when asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from httpfixtures import ADMIN, READER, ROOT, Served, serve_fixture, served_fixture  # noqa: F401 (fixtures)

from fsjobstore.http.server import Settings


@pytest.mark.parametrize("token", [None, "wrong", ADMIN + "x", ""])
def test_reads_and_writes_without_a_valid_token_are_401(served: Served, token: str | None) -> None:
    with served.http(token) as http:
        for method, path, body in (("GET", "/api/stats", None), ("POST", "/api/jobs", {"request": 1}),
                                   ("GET", "/metrics", None), ("GET", "/events", None)):
            answer = http.request(method, path, json=body)
            assert answer.status_code == 401, path
            assert answer.json()["error"] == "a valid bearer token is required"
            assert answer.headers["www-authenticate"] == "Bearer"
    assert served.store.stats()["pending"] == 0


def test_the_read_only_token_reads_and_gets_403_on_every_write(served: Served) -> None:
    job = served.store.create("x")
    writes = [("/api/jobs", {"request": 1}), ("/api/jobs/batch", {"jobs": [{"request": 1}]}),
              (f"/api/jobs/{job.id}/cancel", None), (f"/api/jobs/{job.id}/fulfill", {"value": "v"}),
              (f"/api/jobs/{job.id}/queue", {"target": 1}), ("/api/work/pull", {}), ("/api/notifications/pull", {}),
              ("/api/purge", {"older_than": 0}), ("/api/check", {"repair": True}), ("/api/retry-failed", {}),
              ("/api/pauses", {}), ("/api/pauses/resume", {}), ("/api/limits", {"limit": 2, "resource": "r"})]
    with served.http(READER) as http:
        assert http.get(f"/api/jobs/{job.id}").status_code == 200
        assert http.get("/api/jobs").status_code == 200
        assert http.get("/metrics").status_code == 200
        assert http.get("/api/pauses").json() == [] and http.get("/api/holdings").json() == []
        assert http.get("/api/limits").json() == []
        for path, body in writes:
            answer = http.post(path, json=body)
            assert answer.status_code == 403, path
            assert answer.json()["error"] == "the read-only token may not change the store"
        served.store.cancel(job.id)
        answer = http.delete(f"/api/jobs/{job.id}")
        assert answer.status_code == 403 and answer.json()["error"] == "the read-only token may not change the store"
    assert served.store.get(job.id).state == "cancelled" and served.store.stats()["cancelled"] == 1
    assert served.store.pauses() == [] and served.store.limits() == []


def test_settings_refuse_unsafe_combinations() -> None:
    with pytest.raises(ValueError, match="admin token is required"):
        Settings()
    with pytest.raises(ValueError, match="only allowed on a loopback"):
        Settings(no_auth=True, host="0.0.0.0")
    with pytest.raises(ValueError, match="exclude each other"):
        Settings(no_auth=True, token="t")
    with pytest.raises(ValueError, match="must differ"):
        Settings(token="t", read_token="t")
    assert Settings(no_auth=True, host="::1").no_auth and Settings(no_auth=True, host="localhost").no_auth


@pytest.mark.parametrize(("args", "message"), [
    ([], "admin token is required"),
    (["--no-auth", "--host", "0.0.0.0"], "only allowed on a loopback address"),
])
def test_serve_refuses_to_start_unguarded(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "fsjobstore", "serve", "--store", str(tmp_path / "s"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
