"""Commands for operators: live workers, purge, check and repair, and the demo."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import socket
import sys
import tempfile
from contextlib import nullcontext

import click

from ..store import JobStore, migrate_store
from .base import DURATION, Context, cli, fail_with, one_line_errors, pass_context, progress_bar, store_options
from .serving import listen, run_server


@cli.command()
@store_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--watch", "watch", type=DURATION, default=3.5, show_default=True,
              help="How long to watch other hosts' heartbeats before calling a worker dead.")
@pass_context
def workers(ctx: Context, as_json: bool, watch: float) -> None:
    """List running workers and notifiers (and dead ones whose record stayed); a
    live one that a pause stops is shown paused."""
    with ctx.store() as store, one_line_errors():
        found = store.workers(watch=watch)
    if as_json:
        for info in found:
            click.echo(json.dumps(dataclasses.asdict(info), ensure_ascii=False))
        return
    click.echo(f"{'STATUS':8}  {'KIND':9}  {'HOST':16}  {'PID':>7}  {'BEATS':>6}  {'STARTED (UTC)':19}  "
               "CURRENT / TASKS")
    for info in found:
        status = {True: "paused" if info.paused else "alive", False: "dead", None: "unknown"}[info.alive]
        tasks = "any task" if info.tasks is None else ",".join(str(t) for t in info.tasks)
        if info.paused:
            tasks += f" (paused: {info.paused})"
        click.echo(f"{status:8}  {info.kind:9}  {info.host[:16]:16}  {info.pid:>7}  {info.beats:>6}  "
                   f"{info.started_at[:19].replace('T', ' '):19}  {' '.join(info.current) or '-'} / {tasks}")




@cli.command()
@store_options
@click.option("--older-than", type=DURATION,
              help="Remove jobs resolved longer ago than this (default: each job's expiry).")
@pass_context
def purge(ctx: Context, older_than: float | None) -> None:
    """Remove expired resolved jobs and leftovers of crashed writers."""
    with ctx.store() as store, one_line_errors(), progress_bar("purging") as progress:
        removed = store.purge(older_than, progress=progress)
    click.echo(f"removed {removed} jobs")


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False)
@store_options
@pass_context
def migrate(ctx: Context, folder: str | None) -> None:
    """Upgrade the store in DIR (default: --store) to this version's format, in place.

    Stop every process that uses the store first. Safe to interrupt: run it again
    to finish (the store refuses to open until then).
    """
    path = folder or ctx.path
    if not path:
        fail_with("no store given: fsjobstore migrate DIR")
    with one_line_errors(), progress_bar("migrating") as progress:
        moved = migrate_store(path, progress=progress)
    click.echo(f"moved {moved} records; {path} is up to date")


@cli.command(name="check")
@store_options
@click.option("--repair", is_flag=True, help="Fix what is safe to fix (never deletes a job).")
@pass_context
def check_store(ctx: Context, repair: bool) -> None:
    """Verify every invariant of the store; exit 0 only when it is clean."""
    with ctx.store() as store, one_line_errors(), progress_bar("checking") as progress:
        report = store.check(repair=repair, progress=progress)
    click.echo("jobs: " + ("  ".join(f"{state}: {n}" for state, n in sorted(report.counts.items())) or "none"))
    click.echo(f"temp files: {report.temp_files}  lease files: {report.leases}")
    for problem in report.problems:
        status = " (repaired)" if problem.repaired else ""
        click.echo(f"{problem.kind}: {problem.path}: {problem.detail}{status}")
    click.echo("clean" if report.clean else f"{sum(not p.repaired for p in report.problems)} problem(s)")
    sys.exit(0 if report.clean else 1)




@cli.command()
@click.argument("folder", metavar="[DIR]", required=False)
@click.option("--jobs", "count", type=click.IntRange(1, 1000), default=6, show_default=True)
@click.option("--serve", is_flag=True, help="Then serve the store with the dashboard on 127.0.0.1 until Ctrl-C "
              "(in a temporary store, removed then, unless DIR is given).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="With --serve: the port (0: any free port).")
@pass_context
def demo(ctx: Context, folder: str | None, count: int, serve: bool, port: int) -> None:
    """Run a short end-to-end demonstration in a store of its own, DIR (default ./demo-store).

    The demo never touches a store it did not make: DIR must be new, empty, or
    a store an earlier demo made (it leaves a mark there). $FSJOBSTORE_DIR is
    not used.
    """
    from .demo import claim_folder, run_demo  # (on use: it runs loops; see fsjobstore/__init__.py)

    if ctx.given:
        fail_with("the demo makes its own store and never uses --store: give it a new folder, `fsjobstore demo DIR`")
    logging.getLogger("fsjobstore").setLevel(logging.ERROR)  # the demo tells its own story
    # (the port taken first: one in use fails at once, not after the demo ran)
    with listen("127.0.0.1", port) if serve else nullcontext() as sock:
        temporary = serve and folder is None
        path = tempfile.mkdtemp(prefix="fsjobstore-demo-") if temporary else folder or "demo-store"
        try:
            with one_line_errors():
                claim_folder(path)
                run_demo(path, count, click.echo)
            if sock is not None:
                _serve_demo(path, sock)
        finally:
            if temporary:
                shutil.rmtree(path, ignore_errors=True)
        if sock is not None:
            click.echo("Stopped." + (f" Removed the demo's store, {path}." if temporary else ""))


def _serve_demo(path: str, sock: socket.socket) -> None:
    from ..http.server.context import Settings  # (there: listen found the server extra)

    click.echo("The dashboard shows this store; no token is needed on this loopback address. Ctrl-C stops.")
    with one_line_errors(), JobStore(path) as store:
        run_server(store, Settings(no_auth=True, host="127.0.0.1"), sock)
