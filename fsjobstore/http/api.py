"""The transport of the HTTP client: JSON requests to ``fsjobstore serve``, its error
bodies turned back into the store's own exceptions."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from .wire import error_from_wire

log = logging.getLogger("fsjobstore")

# Seconds between the tries of a repeatable request whose connection failed.
RETRY_PAUSES = (0.1, 0.5, 2.0)


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
             wait: float = 0.0, repeatable: bool = False) -> Any:
        """One request; a *repeatable* one (it does the same however often it is sent)
        is sent again after a transport error, which may have lost its answer."""
        for pause in (*(RETRY_PAUSES if repeatable else ()), None):
            try:
                response = self._http.request(method, path, json=json, params=params, timeout=self.timeout + wait)
                break
            except httpx.TransportError as exc:
                if pause is None:
                    raise ConnectionError(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from exc
                log.info("%s %s: %s; sending it again in %s s", method, path, exc, pause)
                time.sleep(pause)
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

