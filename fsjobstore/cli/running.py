"""`work` and `notify`: loops that run a command of any language per job or per target."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..job import Job
from .base import DURATION, Context, cli, one_line_errors, pass_context, store_options

if TYPE_CHECKING:
    from ..loops.base import Loop
    from .commands import Command


def _stop_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--kill-grace", type=DURATION, default=10.0, show_default=True,
        help="A command being stopped gets SIGTERM, and SIGKILL this long later (its whole process group; "
             "also when the worker dies, by the worker's reaper process).",
    )(command)
    command = click.option(
        "--burst", is_flag=True, help="Exit once there is nothing left to do (a retry still to come counts).",
    )(command)
    return click.option(
        "--drain-timeout", type=DURATION, default=30.0, show_default=True,
        help="On SIGTERM or Ctrl-C, how long running commands may finish before they are stopped "
             "(a second signal stops them at once).",
    )(command)


# What a command is told of its store: a folder, or a URL (`fsjobstore --url`).
_STORE_VAR = {False: "FSJOBSTORE_DIR", True: "FSJOBSTORE_URL"}


def _run_loop(loop: Loop, command: Command, burst: bool) -> None:
    # A command asked to stop (drain timeout, second signal) is waited for, so
    # that its lease is released only once none of its processes runs.
    loop.abort_grace = command.longest_stop
    with one_line_errors(), command:
        loop.run(burst=burst)


@cli.command(context_settings={"ignore_unknown_options": True})
@store_options
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True)
@click.option("--max-attempts", type=click.IntRange(1), default=3, show_default=True)
@click.option("--backoff", type=DURATION, default=1.0, show_default=True, help="First retry delay.")
@click.option("--timeout", type=DURATION, help="Stop COMMAND after this long (a failed attempt).")
@click.option("--task", "tasks", multiple=True, help="Only jobs of this task (repeatable).")
@click.option("--to", help="Only jobs addressed to this (their label `to`); without it, only jobs addressed to "
              "nobody.")
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True)
@click.option("--schedules", is_flag=True, help="Also make the ticks of the store's schedules (as `scheduler`).")
@click.option("--purge-every", type=DURATION, default="1h", show_default=True,
              help="Purge the jobs past their retention this often (0: never).")
@click.option("--workspaces", is_flag=True,
              help="Give each run a folder in the store ($FSJOBSTORE_WORKSPACE), kept as the job's result.")
@_stop_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def work(ctx: Context, concurrency: int, max_attempts: int, backoff: float, timeout: float | None,
         tasks: tuple[str, ...], to: str | None, poll_interval: float, schedules: bool, purge_every: float,
         workspaces: bool, drain_timeout: float, kill_grace: float, burst: bool, command: tuple[str, ...]) -> None:
    """Do jobs with COMMAND, in any language: `fsjobstore work -- ./handler.sh`.

    COMMAND runs once per job with the request JSON on stdin and FSJOBSTORE_JOB_ID,
    FSJOBSTORE_ATTEMPT and FSJOBSTORE_TASK in its environment (with --workspaces,
    FSJOBSTORE_WORKSPACE: its folder; the job's input is in ../../input; and
    FSJOBSTORE_PROGRESS, the JSON its last attempt reported, if any). Exit status 0:
    its stdout, less one trailing newline (`echo 42`: "42"), fulfils the job.
    Non-zero: the attempt failed, stderr is the error.
    A job cancelled while its COMMAND runs stops it. SIGTERM or Ctrl-C: stop
    taking jobs, let running commands finish (see --drain-timeout); a second
    one stops them at once. A stopped command's job goes back to pending. A
    worker that dies (even by SIGKILL) leaves its reaper process to stop its
    running commands.
    """
    from ..loops import Backoff, Worker  # (on use: see fsjobstore/__init__.py)
    from .commands import Command

    with one_line_errors():
        runner = Command(command, timeout=timeout, grace=kill_grace)
    with ctx.store(poll_interval=poll_interval) as store:
        def handler(job: Job) -> bytes:
            env = {"FSJOBSTORE_JOB_ID": job.id, "FSJOBSTORE_ATTEMPT": str(job.attempts + 1),
                   "FSJOBSTORE_TASK": job.task or "", _STORE_VAR[bool(ctx.url)]: store.location}
            if (folder := worker.workspace()) is not None:
                env["FSJOBSTORE_WORKSPACE"] = folder
            if job.progress is not None:
                env["FSJOBSTORE_PROGRESS"] = json.dumps(job.progress)
            return runner.run(json.dumps(job.request).encode(), env, worker.stop_requested)

        handlers: Any = {task: handler for task in tasks} if tasks else handler
        with one_line_errors():
            worker = Worker(store, handlers, concurrency=concurrency, max_attempts=max_attempts,
                            backoff=Backoff(base=backoff), drain_timeout=drain_timeout, schedules=schedules,
                            workspaces=workspaces, to=to, purge_every=purge_every or None)
        _run_loop(worker, runner, burst)


@cli.command(context_settings={"ignore_unknown_options": True})
@store_options
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True)
@click.option("--max-attempts", type=click.IntRange(1), default=10, show_default=True,
              help="Give a target up after this many failed deliveries.")
@click.option("--backoff", type=DURATION, default=1.0, show_default=True, help="First retry delay.")
@click.option("--timeout", type=DURATION, help="Stop COMMAND after this long (a failed delivery).")
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True)
@_stop_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def notify(ctx: Context, concurrency: int, max_attempts: int, backoff: float, timeout: float | None,
           poll_interval: float, drain_timeout: float, kill_grace: float, burst: bool,
           command: tuple[str, ...]) -> None:
    """Deliver results with COMMAND: `fsjobstore notify -- ./deliver.py`.

    COMMAND runs once per waiting target with {"target": ..., "job": {...}} on
    stdin. Exit status 0: delivered. Non-zero: a failed delivery, retried later
    with backoff; after --max-attempts failures the target is given up (`show`
    lists it with its last error; `queue` it again to retry). Stops as `work` does.
    """
    from ..loops import Backoff, Notifier  # (on use: see fsjobstore/__init__.py)
    from .commands import Command

    with one_line_errors():
        runner = Command(command, timeout=timeout, grace=kill_grace)
    with ctx.store(poll_interval=poll_interval) as store:
        def deliver(target: Any, job: Job) -> None:
            payload = json.dumps({"target": target, "job": job.to_dict()}, ensure_ascii=False).encode()
            env = {"FSJOBSTORE_JOB_ID": job.id, _STORE_VAR[bool(ctx.url)]: store.location}
            runner.run(payload, env, notifier.stop_requested)

        with one_line_errors():
            notifier = Notifier(store, deliver, concurrency=concurrency, max_attempts=max_attempts,
                                backoff=Backoff(base=backoff), drain_timeout=drain_timeout)
        _run_loop(notifier, runner, burst)
