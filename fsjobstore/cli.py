"""The ``fsjobstore`` command line: create, inspect and operate on a store by hand.

Errors are one line on stderr and exit status 1 (2 for a misused command),
never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from . import __version__
from .errors import AttemptFailed, JobStoreError
from .job import STATES, Job
from .loops import Backoff, Notifier, Worker
from .store import JobStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer is a typing mistake, and would not fit the dates a job shows.
_MAX_DURATION = 100 * 365 * 86400


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '7d', '2w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 15m, 12h or 7d")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds > _MAX_DURATION:
        raise click.BadParameter(f"{text!r} is longer than the longest duration, 100 years")
    return seconds


def DURATION(value: str | float) -> float:  # noqa: N802 - used as a click type
    return value if isinstance(value, float) else parse_duration(str(value))


def _fail(message: str) -> NoReturn:
    click.echo(f"fsjobstore: error: {message}", err=True)
    sys.exit(1)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the errors a user can cause into one clear line."""
    try:
        yield
    except (JobStoreError, ValueError, TypeError, TimeoutError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail(f"{what} is not valid JSON ({exc}): {text!r}")
    except RecursionError:
        _fail(f"{what} is nested too deeply to read")


class Context:
    def __init__(self, path: str | None, group_shared: bool) -> None:
        self.path = path
        self.group_shared = group_shared

    def store(self, *, create: bool = False, **options: Any) -> JobStore:
        if not self.path:
            _fail("no store given: pass --store DIR or set FSJOBSTORE_DIR")
        with _errors():
            return JobStore(self.path, create=create, group_shared=self.group_shared, **options)


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "path", envvar="FSJOBSTORE_DIR", metavar="DIR",
              help="The store folder (default: $FSJOBSTORE_DIR).")
@click.option("--group-shared", is_flag=True, envvar="FSJOBSTORE_GROUP_SHARED",
              help="Make files 0660 and folders 2770 whatever the umask, for a store shared by one group.")
@click.version_option(__version__, prog_name="fsjobstore")
@click.pass_context
def cli(ctx: click.Context, path: str | None, group_shared: bool) -> None:
    """Operate on an fsjobstore job store: a folder of JSON job files."""
    ctx.obj = Context(path, group_shared)


@cli.command()
@click.argument("request")
@click.option("--task", help="The kind of job (workers may take only some tasks).")
@click.option("--resource", help="Jobs with the same resource never run at the same time.")
@click.option("--delay", type=DURATION, help="Not to be worked on before this long from now.")
@click.option("--expires-in", type=DURATION, help="Keep this long after it is resolved (for purge).")
@click.option("--lease", "lease_seconds", type=DURATION, help="This job's lease length.")
@pass_context
def create(ctx: Context, request: str, task: str | None, resource: str | None, delay: float | None,
           expires_in: float | None, lease_seconds: float | None) -> None:
    """Add a job whose request is the JSON value REQUEST; print its id."""
    value = _json_arg(request, "REQUEST")
    store = ctx.store(create=True)
    with _errors():
        job = store.create(value, task=task, resource=resource, not_before=delay, expires_in=expires_in,
                           lease_seconds=lease_seconds)
    click.echo(job.id)


@cli.command(name="ls")
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("--task", help="Only jobs of this task.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def list_jobs(ctx: Context, state: str | None, task: str | None, as_json: bool) -> None:
    """List jobs (a table; --json for one JSON object per line)."""
    store = ctx.store()
    with _errors():
        jobs = (job for job in store.jobs(state) if task is None or job.task == task)
        if as_json:
            for job in jobs:
                click.echo(json.dumps(job.to_dict(), ensure_ascii=False))
            return
        click.echo(f"{'ID':26}  {'STATE':9}  {'TASK':12}  {'TRIES':>5}  {'CREATED (UTC)':19}  REQUEST")
        for job in jobs:
            request = json.dumps(job.request, ensure_ascii=False)
            request = request if len(request) <= 40 else request[:37] + "..."
            click.echo(f"{job.id:26}  {job.state:9}  {(job.task or '-')[:12]:12}  {job.attempts:>5}  "
                       f"{job.created_at:%Y-%m-%d %H:%M:%S}  {request}")


@cli.command()
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@pass_context
def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """Show one job."""
    store = ctx.store()
    with _errors():
        job = store.get(job_id).to_dict()
    if as_json:
        click.echo(json.dumps(job, ensure_ascii=False, indent=2))
        return
    for key, value in job.items():
        if value is None or value == []:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"{key + ':':12} {text}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.option("--watch", is_flag=True, help="Print again every --interval until interrupted.")
@click.option("--interval", type=DURATION, default=2.0, show_default=True)
@pass_context
def stats(ctx: Context, as_json: bool, watch: bool, interval: float) -> None:
    """Count jobs per state (and notifications due)."""
    store = ctx.store()
    try:
        while True:
            with _errors():
                counts = store.stats()
            if as_json:
                click.echo(json.dumps(counts))
            else:
                click.echo("  ".join(f"{state}: {count}" for state, count in counts.items()))
            if not watch:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


def _print_job(job: Job) -> None:
    click.echo(f"{job.id} {job.state}")


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("value")
@pass_context
def fulfill(ctx: Context, job_id: str, value: str) -> None:
    """Fulfil job ID with VALUE (text)."""
    with _errors():
        _print_job(ctx.store().fulfill(job_id, value))


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("error")
@pass_context
def fail(ctx: Context, job_id: str, error: str) -> None:
    """Resolve job ID as failed with the message ERROR."""
    with _errors():
        _print_job(ctx.store().fail(job_id, error))


@cli.command()
@click.argument("job_id", metavar="ID")
@pass_context
def cancel(ctx: Context, job_id: str) -> None:
    """Cancel job ID (pending or running: its worker is told)."""
    with _errors():
        _print_job(ctx.store().cancel(job_id))


@cli.command()
@click.argument("job_id", metavar="ID")
@pass_context
def retry(ctx: Context, job_id: str) -> None:
    """Return failed or cancelled job ID to pending."""
    with _errors():
        _print_job(ctx.store().retry(job_id))


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("target")
@pass_context
def queue(ctx: Context, job_id: str, target: str) -> None:
    """Add the JSON value TARGET to the targets waiting for job ID's result."""
    value = _json_arg(target, "TARGET")
    with _errors():
        store = ctx.store()
        store.queue(job_id, value)
        _print_job(store.get(job_id))


def _run_command(command: list[str], stdin: bytes, env: dict[str, str], timeout: float | None) -> bytes:
    """Run COMMAND and return its stdout. A failure raises AttemptFailed so that the job's
    error is the command's own words (its stderr), not a Python exception type."""
    try:
        # Its own session: a Ctrl-C at the terminal stops the loop gracefully and
        # must not kill the command in flight with it.
        done = subprocess.run(command, input=stdin, capture_output=True, env={**os.environ, **env}, timeout=timeout,
                              start_new_session=True)
    except FileNotFoundError:
        raise AttemptFailed(f"command not found: {command[0]}") from None
    except subprocess.TimeoutExpired:
        raise AttemptFailed(f"command timed out after {timeout} s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise AttemptFailed(message or f"command exited with status {done.returncode}")
    return done.stdout


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True)
@click.option("--max-attempts", type=click.IntRange(1), default=3, show_default=True)
@click.option("--backoff", type=DURATION, default=1.0, show_default=True, help="First retry delay.")
@click.option("--timeout", type=DURATION, help="Kill COMMAND after this long (a failed attempt).")
@click.option("--task", "tasks", multiple=True, help="Only jobs of this task (repeatable).")
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def work(ctx: Context, concurrency: int, max_attempts: int, backoff: float, timeout: float | None,
         tasks: tuple[str, ...], poll_interval: float, command: tuple[str, ...]) -> None:
    """Do jobs with COMMAND, in any language: `fsjobstore work -- ./handler.sh`.

    COMMAND runs once per job with the request JSON on stdin and FSJOBSTORE_JOB_ID,
    FSJOBSTORE_ATTEMPT and FSJOBSTORE_TASK in its environment. Exit status 0:
    its stdout fulfils the job. Non-zero: the attempt failed, stderr is the error.
    Stops gracefully on SIGTERM or Ctrl-C.
    """
    store = ctx.store(create=True, poll_interval=poll_interval)

    def handler(job: Job) -> bytes:
        env = {"FSJOBSTORE_JOB_ID": job.id, "FSJOBSTORE_ATTEMPT": str(job.attempts + 1),
               "FSJOBSTORE_TASK": job.task or "", "FSJOBSTORE_DIR": store.path}
        return _run_command(list(command), json.dumps(job.request).encode(), env, timeout)

    handlers: Any = {task: handler for task in tasks} if tasks else handler
    with _errors():
        Worker(store, handlers, concurrency=concurrency, max_attempts=max_attempts,
               backoff=Backoff(base=backoff)).run()
    store.close()


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True)
@click.option("--timeout", type=DURATION, help="Kill COMMAND after this long (a failed delivery).")
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def notify(ctx: Context, concurrency: int, timeout: float | None, poll_interval: float,
           command: tuple[str, ...]) -> None:
    """Deliver results with COMMAND: `fsjobstore notify -- ./deliver.py`.

    COMMAND runs once per waiting target with {"target": ..., "job": {...}} on
    stdin. Exit status 0: delivered. Non-zero: retried later with backoff.
    """
    store = ctx.store(create=True, poll_interval=poll_interval)

    def deliver(target: Any, job: Job) -> None:
        payload = json.dumps({"target": target, "job": job.to_dict()}, ensure_ascii=False).encode()
        _run_command(list(command), payload, {"FSJOBSTORE_JOB_ID": job.id, "FSJOBSTORE_DIR": store.path}, timeout)

    with _errors():
        Notifier(store, deliver, concurrency=concurrency).run()
    store.close()


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback that shows a bar on stderr once the work is large."""
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 1000:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@cli.command()
@click.option("--older-than", type=DURATION,
              help="Remove jobs resolved longer ago than this (default: each job's expiry).")
@pass_context
def purge(ctx: Context, older_than: float | None) -> None:
    """Remove expired resolved jobs and leftovers of crashed writers."""
    store = ctx.store()
    with _errors(), _progress("purging") as progress:
        removed = store.purge(older_than, progress=progress)
    click.echo(f"removed {removed} jobs")


@cli.command(name="check")
@click.option("--repair", is_flag=True, help="Fix what is safe to fix (never deletes a job).")
@pass_context
def check_store(ctx: Context, repair: bool) -> None:
    """Verify every invariant of the store; exit 0 only when it is clean."""
    store = ctx.store()
    with _errors(), _progress("checking") as progress:
        report = store.check(repair=repair, progress=progress)
    click.echo("jobs: " + ("  ".join(f"{state}: {n}" for state, n in sorted(report.counts.items())) or "none"))
    click.echo(f"temp files: {report.temp_files}  lease files: {report.leases}")
    for problem in report.problems:
        status = " (repaired)" if problem.repaired else ""
        click.echo(f"{problem.kind}: {problem.path}: {problem.detail}{status}")
    click.echo("clean" if report.clean else f"{sum(not p.repaired for p in report.problems)} problem(s)")
    sys.exit(0 if report.clean else 1)


@cli.command()
@click.option("--jobs", "count", type=click.IntRange(1, 1000), default=6, show_default=True)
@pass_context
def demo(ctx: Context, count: int) -> None:
    """Run a short end-to-end demonstration on a store (default ./demo-store)."""
    from .demo import run_demo

    logging.getLogger("fsjobstore").setLevel(logging.ERROR)  # the demo tells its own story
    with _errors():
        run_demo(ctx.path or "demo-store", count, click.echo)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cli(prog_name="fsjobstore")
