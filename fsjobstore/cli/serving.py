"""``fsjobstore serve``: the HTTP API and dashboard over one store.

FastAPI and uvicorn are imported only when the command runs, so the rest of the
command line works without the ``server`` extra.
"""

from __future__ import annotations

import signal
import socket
import sys
from typing import TYPE_CHECKING

import click

from ..store import JobStore
from .base import cli, fail_with, open_local, parse_duration

if TYPE_CHECKING:
    from ..http.server.context import Settings


def _duration(text: str) -> float:
    return parse_duration(text)


@cli.command()
@click.option("--store", "path", metavar="DIR", help="The store folder (default: $FSJOBSTORE_DIR).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0: any free port.")
@click.option("--token", envvar="FSJOBSTORE_TOKEN", help="Admin bearer token (or $FSJOBSTORE_TOKEN).")
@click.option("--read-token", envvar="FSJOBSTORE_READ_TOKEN", help="Read-only token ($FSJOBSTORE_READ_TOKEN).")
@click.option("--no-auth", is_flag=True, help="Serve without tokens (only on a loopback address).")
@click.option("--lease", "lease", default="30s", show_default=True, help="Lease length for jobs without their own.")
@click.option("--max-body", type=click.IntRange(1024), default=32 * 1024 * 1024, show_default=True,
              help="Largest request body in bytes.")
@click.option("--poll-interval", default="1s", show_default=True, help="How often live views look for changes.")
@click.pass_context
def serve(ctx: click.Context, path: str | None, host: str, port: int, token: str | None, read_token: str | None,
          no_auth: bool, lease: str, max_body: int, poll_interval: str) -> None:
    """Serve the store over HTTP: the JSON API, /metrics, /events and the dashboard at /."""
    path = path or getattr(ctx.obj, "path", None)
    if not path:
        raise click.UsageError("no store given: pass --store DIR or set FSJOBSTORE_DIR")
    try:
        from ..http.server.context import Settings
    except ImportError as exc:
        fail_with(f"the server needs the 'server' extra (pip install 'fsjobstore[server]'): {exc}")
    try:
        settings = Settings(token=token, read_token=read_token, no_auth=no_auth, max_body=max_body,
                            poll_interval=_duration(poll_interval), host=host)
    except ValueError as exc:
        fail_with(str(exc))
    with listen(host, port) as sock, open_local(path, bool(getattr(ctx.obj, "group_shared", False)),
                                                lease_seconds=_duration(lease)) as store:
        run_server(store, settings, sock)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on *host*:*port*, or one clear line saying why there is none
    (the server extra missing, the port in use: told before anything else is done)."""
    try:
        from ..http.server.run import bind
    except ImportError as exc:
        fail_with(f"serving needs the 'server' extra (pip install 'fsjobstore[server]'): {exc}")
    try:
        return bind(host, port)
    except OSError as exc:
        fail_with(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def run_server(store: JobStore, settings: Settings, sock: socket.socket) -> None:
    """Serve *store* on *sock* until SIGINT or SIGTERM, saying where first."""
    from ..http.server.run import server, url_of

    click.echo(f"serving {store.path} at {url_of(sock)}/")
    sys.stdout.flush()
    # uvicorn shuts down gracefully on SIGINT or SIGTERM, then raises the signal again:
    # both end here as KeyboardInterrupt, so that the caller closes (or removes) its store.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server(store, settings).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
