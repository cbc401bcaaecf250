"""The transport of the HTTP client: JSON requests to ``fsjobstore serve``, its error
bodies turned back into the store's own exceptions."""

from __future__ import annotations

from typing import Any

import httpx

from .wire import error_from_wire


class Api:
    """JSON requests to the server, its error bodies turned back into exceptions."""

    def __init__(self, url: str, token: str | None, timeout: float, client_name: str) -> None:
        headers = {"x-fsjobstore-client": client_name}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self.timeout = timeout
        # (a plain-http URL needs no TLS context, whose making costs 50-90 ms a client)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout,
                                  verify=self.url.startswith("https:"),
                                  limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))

    def call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             wait: float = 0.0) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params, timeout=self.timeout + wait)
        except httpx.TransportError as exc:
            raise ConnectionError(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 204:
            return None
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:500] or response.reason_phrase}
        raise error_from_wire(response.status_code, body)

    def close(self) -> None:
        self._http.close()


class _NothingPassedOver:
    """TEMPORARY, until main's loops call ``next_work_due()``: today's loops read
    ``store._pending.next_due()`` / ``store._due.next_due()``. Remove at the merge."""

    @staticmethod
    def next_due() -> float | None:
        return None
