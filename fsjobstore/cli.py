"""The ``fsjobstore`` command line: create, inspect and operate on a store by hand.

Errors are one line on stderr and exit status 1 (2 for a misused command),
never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from . import __version__
from .commands import Command
from .errors import JobStoreError
from .job import STATES, Job
from .layout import STORE_MARKER
from .loops import Backoff, Notifier, Worker
from .loops.base import Loop
from .store import JobStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '7d', '2w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 15m, 12h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


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
    except BrokenPipeError:
        raise  # (a reader that stopped reading: see _Cli.invoke)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        _fail(f"{what} is not valid JSON ({exc}): {shown!r}")


def _job_dict(job: Job) -> dict[str, Any]:
    value: Any = None
    if job.value is not None:
        try:
            value = job.value.decode("utf-8")
        except UnicodeDecodeError:
            value = {"base64": __import__("base64").b64encode(job.value).decode("ascii")}
    return {
        "id": job.id,
        "state": job.state,
        "task": job.task,
        "resource": job.resource,
        "request": job.request,
        "value": value,
        "error": job.error,
        "attempts": job.attempts,
        "waiting": list(job.waiting),
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "not_before": job.not_before.isoformat() if job.not_before else None,
    }


class Context:
    def __init__(self, path: str | None, group_shared: bool, *, given: bool) -> None:
        self.path = path
        self.group_shared = group_shared
        self.given = given  # --store on the command line (not $FSJOBSTORE_DIR)

    def store(self, **options: Any) -> JobStore:
        """The store, which must exist: only `init` makes one (a typo'd path, or an
        NFS mount point while unmounted, must not become a new store)."""
        if not self.path:
            _fail("no store given: pass --store DIR or set FSJOBSTORE_DIR")
        path = os.path.abspath(self.path)
        if not os.path.lexists(path):
            _fail(f"no store at {path}: no such folder (make a store with: fsjobstore init DIR)")
        # (a folder we may not search is left to the store to report: "not a store" would mislead)
        searchable = os.path.isdir(path) and os.access(path, os.X_OK)
        if searchable and not os.path.lexists(os.path.join(path, STORE_MARKER)):
            _fail(f"{path} is not a store (make one with: fsjobstore init DIR)")
        with _errors():
            return JobStore(self.path, create=False, group_shared=self.group_shared, **options)


pass_context = click.make_pass_decorator(Context)


def _die_of_sigpipe() -> NoReturn:
    """A reader that stopped reading (`fsjobstore ls | head`) is no error: end as
    Unix tools do, killed by SIGPIPE, which shells do not report."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # (what is left in the buffer goes nowhere at exit)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    raise SystemExit(128 + signal.SIGPIPE)  # (should another thread take the signal first)


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Here, not in click's main(), which turns a closed pipe into "exit 1".
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            _die_of_sigpipe()


def _set_store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = ctx.find_object(Context)
        assert obj is not None
        obj.path, obj.given = value, True


def _set_group_shared(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    obj = ctx.find_object(Context)
    assert obj is not None
    obj.group_shared = obj.group_shared or value


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--store and --group-shared after the subcommand too (`fsjobstore ls --store DIR`)."""
    command = click.option("--group-shared", is_flag=True, expose_value=False, callback=_set_group_shared,
                           help="As before the subcommand.")(command)
    return click.option("--store", metavar="DIR", expose_value=False, callback=_set_store,
                        help="The store folder (as before the subcommand).")(command)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "path", envvar="FSJOBSTORE_DIR", metavar="DIR",
              help="The store folder (default: $FSJOBSTORE_DIR).")
@click.option("--group-shared", is_flag=True, envvar="FSJOBSTORE_GROUP_SHARED",
              help="Make files 0660 and folders 2770 whatever the umask, for a store shared by one group.")
@click.version_option(__version__, prog_name="fsjobstore")
@click.pass_context
def cli(ctx: click.Context, path: str | None, group_shared: bool) -> None:
    """Operate on an fsjobstore job store: a folder of JSON job files."""
    given = ctx.get_parameter_source("path") == click.core.ParameterSource.COMMANDLINE
    ctx.obj = Context(path, group_shared, given=given)


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False)
@store_options
@pass_context
def init(ctx: Context, folder: str | None) -> None:
    """Make a store in DIR (default: --store or $FSJOBSTORE_DIR); the only command that does."""
    path = folder or ctx.path
    if not path:
        _fail("no folder given: fsjobstore init DIR")
    existed = os.path.lexists(os.path.join(path, STORE_MARKER))
    with _errors(), JobStore(path, create=True, group_shared=ctx.group_shared) as store:
        click.echo(f"{'store already at' if existed else 'made a store at'} {store.path}")


def _request_text(argument: str) -> tuple[str, str]:
    """REQUEST as given, from stdin (-) or from a file (@FILE); and what to call it."""
    if argument == "-":
        return sys.stdin.read(), "the request on stdin"
    if argument.startswith("@"):
        with _errors(), open(argument[1:], encoding="utf-8") as f:
            return f.read(), f"the request in {argument[1:]}"
    return argument, "REQUEST"


@cli.command()
@click.argument("request")
@store_options
@click.option("--task", help="The kind of job (workers may take only some tasks).")
@click.option("--resource", help="Jobs with the same resource never run at the same time.")
@click.option("--delay", type=DURATION, help="Not to be worked on before this long from now.")
@click.option("--expires-in", type=DURATION, help="Keep this long after it is resolved (for purge).")
@click.option("--lease", "lease_seconds", type=DURATION, help="This job's lease length.")
@pass_context
def create(ctx: Context, request: str, task: str | None, resource: str | None, delay: float | None,
           expires_in: float | None, lease_seconds: float | None) -> None:
    """Add a job whose request is the JSON value REQUEST; print its id.

    REQUEST `-` reads the JSON from stdin, `@FILE` from FILE.
    """
    value = _json_arg(*_request_text(request))
    with ctx.store() as store, _errors():
        job = store.create(value, task=task, resource=resource, not_before=delay, expires_in=expires_in,
                           lease_seconds=lease_seconds)
    click.echo(job.id)


def _jobs(store: JobStore, state: str | None, task: str | None) -> Iterator[Job]:
    due = state == "due"  # (as stats counts it: resolved, with targets waiting for the result)
    for job in store.jobs(None if due else state):
        if (task is None or job.task == task) and (not due or (job.resolved and job.waiting)):
            yield job


@cli.command(name="ls")
@store_options
@click.option("--state", type=click.Choice([*STATES, "due"]),
              help="Only jobs in this state (due: resolved, with notifications to deliver).")
@click.option("--task", help="Only jobs of this task.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def list_jobs(ctx: Context, state: str | None, task: str | None, as_json: bool) -> None:
    """List jobs (a table; --json for one JSON object per line)."""
    with ctx.store() as store, _errors():
        jobs = _jobs(store, state, task)
        if as_json:
            for job in jobs:
                click.echo(json.dumps(_job_dict(job), ensure_ascii=False))
            return
        click.echo(f"{'ID':26}  {'STATE':9}  {'TASK':12}  {'TRIES':>5}  {'CREATED (UTC)':19}  REQUEST")
        for job in jobs:
            request = json.dumps(job.request, ensure_ascii=False)
            request = request if len(request) <= 40 else request[:37] + "..."
            click.echo(f"{job.id:26}  {job.state:9}  {(job.task or '-')[:12]:12}  {job.attempts:>5}  "
                       f"{job.created_at:%Y-%m-%d %H:%M:%S}  {request}")


@cli.command()
@click.argument("job_id", metavar="ID")
@store_options
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@pass_context
def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """Show one job."""
    with ctx.store() as store, _errors():
        job = _job_dict(store.get(job_id))
    if as_json:
        click.echo(json.dumps(job, ensure_ascii=False, indent=2))
        return
    for key, value in job.items():
        if value is None or value == []:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"{key + ':':12} {text}")


@cli.command()
@store_options
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.option("--watch", is_flag=True, help="Print again every --interval until interrupted.")
@click.option("--interval", type=DURATION, default=2.0, show_default=True)
@pass_context
def stats(ctx: Context, as_json: bool, watch: bool, interval: float) -> None:
    """Count jobs per state (and notifications due)."""
    with ctx.store() as store:
        _print_stats(store, as_json, watch, interval)


def _print_stats(store: JobStore, as_json: bool, watch: bool, interval: float) -> None:
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
@store_options
@pass_context
def fulfill(ctx: Context, job_id: str, value: str) -> None:
    """Fulfil job ID with VALUE (text)."""
    with ctx.store() as store, _errors():
        _print_job(store.fulfill(job_id, value))


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("error")
@store_options
@pass_context
def fail(ctx: Context, job_id: str, error: str) -> None:
    """Resolve job ID as failed with the message ERROR."""
    with ctx.store() as store, _errors():
        _print_job(store.fail(job_id, error))


@cli.command()
@click.argument("job_id", metavar="ID")
@store_options
@pass_context
def cancel(ctx: Context, job_id: str) -> None:
    """Cancel job ID (pending or running: its worker is told, and stops its command)."""
    with ctx.store() as store, _errors():
        _print_job(store.cancel(job_id))


@cli.command()
@click.argument("job_id", metavar="ID")
@store_options
@pass_context
def retry(ctx: Context, job_id: str) -> None:
    """Return failed or cancelled job ID to pending."""
    # Closing the store, even on failure, removes its holder record (retry takes a lease).
    with ctx.store() as store, _errors():
        _print_job(store.retry(job_id))


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("target")
@store_options
@pass_context
def queue(ctx: Context, job_id: str, target: str) -> None:
    """Add the JSON value TARGET to the targets waiting for job ID's result."""
    value = _json_arg(target, "TARGET")
    with ctx.store() as store, _errors():
        store.queue(job_id, value)
        _print_job(store.get(job_id))


def _stop_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--kill-grace", type=DURATION, default=10.0, show_default=True,
        help="A command being stopped gets SIGTERM, and SIGKILL this long later (its whole process group).",
    )(command)
    return click.option(
        "--drain-timeout", type=DURATION, default=30.0, show_default=True,
        help="On SIGTERM or Ctrl-C, how long running commands may finish before they are stopped "
             "(a second signal stops them at once).",
    )(command)


def _run_loop(loop: Loop, command: Command) -> None:
    # A command asked to stop (drain timeout, second signal) is waited for, so
    # that its lease is released only once none of its processes runs.
    loop.abort_grace = command.longest_stop
    with _errors():
        loop.run()


@cli.command(context_settings={"ignore_unknown_options": True})
@store_options
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True)
@click.option("--max-attempts", type=click.IntRange(1), default=3, show_default=True)
@click.option("--backoff", type=DURATION, default=1.0, show_default=True, help="First retry delay.")
@click.option("--timeout", type=DURATION, help="Stop COMMAND after this long (a failed attempt).")
@click.option("--task", "tasks", multiple=True, help="Only jobs of this task (repeatable).")
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True)
@_stop_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def work(ctx: Context, concurrency: int, max_attempts: int, backoff: float, timeout: float | None,
         tasks: tuple[str, ...], poll_interval: float, drain_timeout: float, kill_grace: float,
         command: tuple[str, ...]) -> None:
    """Do jobs with COMMAND, in any language: `fsjobstore work -- ./handler.sh`.

    COMMAND runs once per job with the request JSON on stdin and FSJOBSTORE_JOB_ID,
    FSJOBSTORE_ATTEMPT and FSJOBSTORE_TASK in its environment. Exit status 0:
    its stdout fulfils the job. Non-zero: the attempt failed, stderr is the error.
    A job cancelled while its COMMAND runs stops it. SIGTERM or Ctrl-C: stop
    taking jobs, let running commands finish (see --drain-timeout); a second
    one stops them at once. A stopped command's job goes back to pending.
    """
    with _errors():
        runner = Command(command, timeout=timeout, grace=kill_grace)
    with ctx.store(poll_interval=poll_interval) as store:
        def handler(job: Job) -> bytes:
            env = {"FSJOBSTORE_JOB_ID": job.id, "FSJOBSTORE_ATTEMPT": str(job.attempts + 1),
                   "FSJOBSTORE_TASK": job.task or "", "FSJOBSTORE_DIR": store.path}
            return runner.run(json.dumps(job.request).encode(), env, worker.stop_requested)

        handlers: Any = {task: handler for task in tasks} if tasks else handler
        with _errors():
            worker = Worker(store, handlers, concurrency=concurrency, max_attempts=max_attempts,
                            backoff=Backoff(base=backoff), drain_timeout=drain_timeout)
        _run_loop(worker, runner)


@cli.command(context_settings={"ignore_unknown_options": True})
@store_options
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True)
@click.option("--timeout", type=DURATION, help="Stop COMMAND after this long (a failed delivery).")
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True)
@_stop_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def notify(ctx: Context, concurrency: int, timeout: float | None, poll_interval: float, drain_timeout: float,
           kill_grace: float, command: tuple[str, ...]) -> None:
    """Deliver results with COMMAND: `fsjobstore notify -- ./deliver.py`.

    COMMAND runs once per waiting target with {"target": ..., "job": {...}} on
    stdin. Exit status 0: delivered. Non-zero: retried later with backoff.
    Stops as `work` does.
    """
    with _errors():
        runner = Command(command, timeout=timeout, grace=kill_grace)
    with ctx.store(poll_interval=poll_interval) as store:
        def deliver(target: Any, job: Job) -> None:
            payload = json.dumps({"target": target, "job": _job_dict(job)}, ensure_ascii=False).encode()
            env = {"FSJOBSTORE_JOB_ID": job.id, "FSJOBSTORE_DIR": store.path}
            runner.run(payload, env, notifier.stop_requested)

        with _errors():
            notifier = Notifier(store, deliver, concurrency=concurrency, drain_timeout=drain_timeout)
        _run_loop(notifier, runner)


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
@store_options
@click.option("--older-than", type=DURATION,
              help="Remove jobs resolved longer ago than this (default: each job's expiry).")
@pass_context
def purge(ctx: Context, older_than: float | None) -> None:
    """Remove expired resolved jobs and leftovers of crashed writers."""
    with ctx.store() as store, _errors(), _progress("purging") as progress:
        removed = store.purge(older_than, progress=progress)
    click.echo(f"removed {removed} jobs")


@cli.command(name="check")
@store_options
@click.option("--repair", is_flag=True, help="Fix what is safe to fix (never deletes a job).")
@pass_context
def check_store(ctx: Context, repair: bool) -> None:
    """Verify every invariant of the store; exit 0 only when it is clean."""
    from .check import check

    with ctx.store() as store, _errors(), _progress("checking") as progress:
        report = check(store, repair=repair, progress=progress)
    click.echo("jobs: " + ("  ".join(f"{state}: {n}" for state, n in sorted(report.counts.items())) or "none"))
    click.echo(f"temp files: {report.temp_files}  lease files: {report.leases}")
    for problem in report.problems:
        status = " (repaired)" if problem.repaired else ""
        click.echo(f"{problem.kind}: {problem.path}: {problem.detail}{status}")
    click.echo("clean" if report.clean else f"{sum(not p.repaired for p in report.problems)} problem(s)")
    sys.exit(0 if report.clean else 1)


@cli.command()
@click.argument("folder", metavar="[DIR]", default="demo-store")
@click.option("--jobs", "count", type=click.IntRange(1, 1000), default=6, show_default=True)
@pass_context
def demo(ctx: Context, folder: str, count: int) -> None:
    """Run a short end-to-end demonstration in a store of its own, DIR (default ./demo-store).

    The demo never touches a store it did not make: DIR must be new, empty, or
    a store an earlier demo made (it leaves a mark there). $FSJOBSTORE_DIR is
    not used.
    """
    from .demo import claim_folder, run_demo

    if ctx.given:
        _fail("the demo makes its own store and never uses --store: give it a new folder, `fsjobstore demo DIR`")
    logging.getLogger("fsjobstore").setLevel(logging.ERROR)  # the demo tells its own story
    with _errors():
        claim_folder(folder)
        run_demo(folder, count, click.echo)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cli(prog_name="fsjobstore")
