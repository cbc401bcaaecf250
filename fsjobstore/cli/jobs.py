"""Commands on jobs: init a store, create, list, show, count, and resolve or retry by hand."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import click

from .._arguments import parse_labels
from .._files.layout import STORE_MARKER
from ..errors import JobNotFound
from ..interface import Store
from ..job import FAILED, RETRIABLE_STATES, STATES, Job
from ..store import JobStore
from ..triage import JobFilter, retry_matching
from .base import (
    DURATION,
    Context,
    cli,
    cursor,
    fail_with,
    json_arg,
    one_line_errors,
    pass_context,
    progress_bar,
    refuse_others_files,
    store_options,
)
from .batches import Batch
from .counting import print_counts, print_task_counts


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False)
@store_options
@pass_context
def init(ctx: Context, folder: str | None) -> None:
    """Make a store in DIR (default: --store or $FSJOBSTORE_DIR); the only command that does.

    DIR must be new, empty or a store already: a folder holding other files is
    refused, so that a store's dozen folders never land among them (`init .` in
    a project, a mount point whose disk is not mounted but whose parent is).
    """
    path = folder or ctx.path
    if not path:
        fail_with("no folder given: fsjobstore init DIR")
    existed = os.path.lexists(os.path.join(path, STORE_MARKER))
    if not existed:
        refuse_others_files(path)
    with one_line_errors(), JobStore(path, create=True, group_shared=ctx.group_shared) as store:
        click.echo(f"{'store already at' if existed else 'made a store at'} {store.path}")


def _request_text(argument: str) -> tuple[str, str]:
    """REQUEST as given, from stdin (-) or from a file (@FILE); and what to call it."""
    if argument == "-":
        return sys.stdin.read(), "the request on stdin"
    if argument.startswith("@"):
        with one_line_errors(), open(argument[1:], encoding="utf-8") as f:
            return f.read(), f"the request in {argument[1:]}"
    return argument, "REQUEST"


@cli.command()
@click.argument("request", required=False)
@store_options
@click.option("--task", help="The kind of job (workers may take only some tasks).")
@click.option("--resource", help="Jobs with the same resource never run at the same time.")
@click.option("--delay", type=DURATION, help="Not to be worked on before this long from now.")
@click.option("--expires-in", type=DURATION, help="Keep this long after it is resolved (for purge).")
@click.option("--lease", "lease_seconds", type=DURATION, help="This job's lease length.")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE",
              help="A label (repeatable); `to=ADDRESS` addresses the job (`work --to ADDRESS`).")
@click.option("--priority", type=click.IntRange(-100, 100), default=0, show_default=True, help="Higher first.")
@click.option("--deadline", type=DURATION, help="Expire the job if it has not started this long from now.")
@click.option("--after", "after", multiple=True, metavar="ID",
              help="Wait for this job (repeatable): blocked until every one is fulfilled.")
@click.option("--on-parent-failure", type=click.Choice(["cancel", "run"]), default="cancel", show_default=True,
              help="When a job it waits for ends otherwise than fulfilled: cancel this one, or run it anyway once "
              "every one is resolved.")
@click.option("--key", help="At most one job has this key until it is purged.")
@click.option("--on-conflict", type=click.Choice(["return", "raise", "replace", "extend"]), default="return",
              show_default=True, help="When a job has the key: print its id, fail, replace its request, or "
              "extend its delay to --delay (the last two: only while it is pending).")
@click.option("--many", metavar="FILE", help="Create a job for each line of FILE (- for stdin): the JSON body "
              "POST /api/jobs takes, {\"request\": ..., \"key\": ..., \"priority\": ..., \"after\": [...]} "
              "(not \"id\": the store picks them); the options above (but --after) are the defaults. Every line "
              "is checked before any job is made; one id per line is printed.")
@pass_context
def create(ctx: Context, request: str | None, task: str | None, resource: str | None, delay: float | None,
           expires_in: float | None, lease_seconds: float | None, labels: tuple[str, ...], priority: int,
           deadline: float | None, after: tuple[str, ...], on_parent_failure: str, key: str | None,
           on_conflict: str, many: str | None) -> None:
    """Add a job whose request is the JSON value REQUEST; print its id.

    REQUEST `-` reads the JSON from stdin, `@FILE` from FILE. With --key, the id
    printed is that of the job that has the key, new or not. With --many FILE, a
    job for each line of FILE instead (a progress bar on stderr for big batches).
    """
    with one_line_errors():
        options: dict[str, Any] = {"task": task, "resource": resource, "not_before": delay, "expires_in": expires_in,
                                   "lease_seconds": lease_seconds, "on_conflict": on_conflict,
                                   "labels": parse_labels(labels), "priority": priority, "deadline": deadline}
    if many is not None:
        if after or on_parent_failure != "cancel":
            fail_with('--many FILE gives each job the jobs it waits for: "after" (and "on_parent_failure") on its '
                      'line, not --after')
        if request is not None or key is not None:
            fail_with("--many FILE gives every job: no REQUEST, and a key per line (not --key)")
        _create_many(ctx, many, options)
        return
    if request is None:
        fail_with("give the job's REQUEST (JSON), or --many FILE")
    value = json_arg(*_request_text(request))
    with ctx.store() as store, one_line_errors():
        job = store.create(value, key=key, after=list(after) if after else None, on_parent_failure=on_parent_failure,
                           **options)
    click.echo(job.id)


def _create_many(ctx: Context, source: str, options: dict[str, Any]) -> None:
    with one_line_errors(), (open(source, encoding="utf-8") if source != "-" else nullcontext(sys.stdin)) as file:
        batch = Batch(file, "stdin" if source == "-" else source)
    with ctx.store() as store, one_line_errors(), batch.naming_lines(), progress_bar("creating") as progress:
        jobs = store.create_many(batch.specs, progress=progress, **options)
    for job in jobs:
        click.echo(job.id)


def _jobs(store: Store, state: str | None, where: JobFilter, after: str | None, limit: int | None,
          newest_first: bool) -> Iterator[Job]:
    due = state == "due"  # (as stats counts it: resolved, with targets waiting for the result)
    jobs = store.jobs(None if due else state, task=where.task, labels=where.labels, after=after,
                      newest_first=newest_first)
    matching = (job for job in jobs if where.matches(job) and (not due or (job.resolved and job.waiting)))
    return itertools.islice(matching, limit)


@cli.command(name="ls")
@store_options
@click.option("--state", type=click.Choice([*STATES, "due"]),
              help="Only jobs in this state (due: resolved, with notifications to deliver).")
@click.option("--task", help="Only jobs of this task.")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE",
              help="Only jobs with this label (repeatable: all of them).")
@click.option("--error", help="Only jobs whose error holds this text (letter case ignored).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many jobs (a page).")
@click.option("--after", metavar="ID", callback=cursor,
              help="Only jobs after this one (the last id of the page before).")
@click.option("--newest-first", is_flag=True, help="Newest jobs first (default: oldest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def list_jobs(ctx: Context, state: str | None, task: str | None, labels: tuple[str, ...], error: str | None,
              limit: int | None, after: str | None, newest_first: bool, as_json: bool) -> None:
    """List jobs in creation order (a table; --json for one JSON object per line)."""
    with ctx.store() as store, one_line_errors():
        jobs = _jobs(store, state, JobFilter(task=task, error=error, labels=parse_labels(labels)), after, limit,
                     newest_first)
        if as_json:
            for job in jobs:
                click.echo(json.dumps(job.to_dict(), ensure_ascii=False))
            return
        # (read whole for the width of the ID column: a queue's ids are longer, up to 49)
        listed = list(jobs)
        width = max((len(job.id) for job in listed), default=26)
        # FAILURES: `attempts` counts failed attempts only (a job fulfilled at its first try has 0).
        click.echo(f"{'ID':{width}}  {'STATE':9}  {'TASK':12}  {'FAILURES':>8}  {'CREATED (UTC)':19}  REQUEST")
        for job in listed:
            request = json.dumps(job.request, ensure_ascii=False)
            request = request if len(request) <= 40 else request[:37] + "..."
            request += "".join(f"  {name}={value}" for name, value in job.labels.items())
            click.echo(f"{job.id:{width}}  {job.state:9}  {(job.task or '-')[:12]:12}  {job.attempts:>8}  "
                       f"{job.created_at:%Y-%m-%d %H:%M:%S}  {request}")


@cli.command()
@click.argument("job_id", metavar="ID")
@store_options
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@pass_context
def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """Show one job."""
    with ctx.store() as store, one_line_errors():
        job = store.get(job_id).to_dict()
        workspace = store.workspaces.get(job_id) if isinstance(store, JobStore) else None
        tree = {"parents": [_state_of(store, parent) for parent in job["after"]],
                "dependants": [_state_of(store, child) for child in store.dependants(job_id)]}
    if workspace is not None:
        job["workspace"] = {"path": workspace.path, "input": workspace.input, "result": workspace.result,
                            "files": workspace.files}
    if as_json:
        click.echo(json.dumps(job | tree, ensure_ascii=False, indent=2))
        return
    history, failed = job.pop("history"), job.pop("failed_deliveries")
    job.pop("workspace", None)
    job.pop("after")
    if not tree["parents"]:
        job.pop("on_parent_failure")
    for key, value in job.items():
        if value is None or value in ([], {}) or (key == "priority" and value == 0):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"{_SHOWN_AS.get(key, key) + ':':12} {text}")
    for name, related in tree.items():
        if related:
            click.echo(f"{name}:")
        for entry in related:
            click.echo(f"  {entry['id']}  {entry['state']}")
    if history:
        click.echo("history:")
    for entry in history:
        _echo_attempt(entry)
    if failed:
        click.echo("failed deliveries:")
    for entry in failed:
        status = "given up" if entry["given_up"] else "still waiting"
        click.echo(f"  {json.dumps(entry['target'], ensure_ascii=False)}: {entry['failures']} failures, "
                   f"{status}; last at {entry['last_failed_at']}: {entry['last_error']}")
    if workspace is not None:
        click.echo(f"workspace:   {workspace.path}")
        for name in workspace.files:
            mark = " (result)" if workspace.result and os.path.join(workspace.path, name).startswith(
                workspace.result + "/") else ""
            click.echo(f"  {name}{mark}")


# What `show` calls a field whose name would mislead: `attempts` counts failed ones.
_SHOWN_AS = {"attempts": "failures"}


def _state_of(store: Store, job_id: str) -> dict[str, str]:
    """A job of a dependency tree: its id and state ("purged" once gone)."""
    try:
        return {"id": job_id, "state": store.get(job_id).state}
    except JobNotFound:
        return {"id": job_id, "state": "purged"}


def _echo_attempt(entry: dict[str, Any]) -> None:
    """One attempt: who ran it, when, how it ended; its traceback indented below."""
    where = f"{entry.get('host') or '?'} pid {entry.get('pid') or '?'}"
    when = f"{entry.get('started_at') or '?'} .. {entry.get('ended_at') or '?'}"
    error = f": {entry['error']}" if entry.get("error") else ""
    click.echo(f"  #{entry.get('attempt', '?')} {entry.get('outcome', '?')} on {where}, {when}{error}")
    for line in (entry.get("traceback") or "").rstrip().splitlines():
        click.echo(f"      {line}")


@cli.command()
@store_options
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
@click.option("--watch", is_flag=True, help="Print again every --interval until interrupted.")
@click.option("--interval", type=DURATION, default=2.0, show_default=True)
@click.option("--by-task", is_flag=True, help="Count jobs per task and state instead: a line per task.")
@pass_context
def stats(ctx: Context, as_json: bool, watch: bool, interval: float, by_task: bool) -> None:
    """Count jobs per state (and notifications due), or per task and state."""
    with ctx.store() as store:
        _print_stats(store, as_json, watch, interval, by_task)


def _print_stats(store: Store, as_json: bool, watch: bool, interval: float, by_task: bool) -> None:
    if watch:  # Ctrl-C ends it, even started where SIGINT is ignored (a non-interactive shell's `&`)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            (print_task_counts if by_task else print_counts)(store, as_json)
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
@click.option("--json", "as_json", is_flag=True, help="VALUE is JSON, kept as a JSON value (not as text).")
@store_options
@pass_context
def fulfill(ctx: Context, job_id: str, value: str, as_json: bool) -> None:
    """Fulfil job ID with VALUE (text, or with --json a JSON value)."""
    result = json_arg(value, "VALUE") if as_json else value
    with ctx.store() as store, one_line_errors():
        _print_job(store.fulfill(job_id, result))


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("error")
@store_options
@pass_context
def fail(ctx: Context, job_id: str, error: str) -> None:
    """Resolve job ID as failed with the message ERROR."""
    with ctx.store() as store, one_line_errors():
        _print_job(store.fail(job_id, error))


@cli.command()
@click.argument("job_id", metavar="ID")
@store_options
@pass_context
def cancel(ctx: Context, job_id: str) -> None:
    """Cancel job ID (pending or running: its worker is told, and stops its command)."""
    with ctx.store() as store, one_line_errors():
        _print_job(store.cancel(job_id))


@cli.command()
@click.argument("job_id", metavar="[ID]", required=False)
@store_options
@click.option("--state", type=click.Choice(RETRIABLE_STATES), help="Retry every job in this state [default: failed].")
@click.option("--task", help="... of this task.")
@click.option("--error", help="... whose error holds this text (letter case ignored).")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE", help="... with this label (repeatable).")
@pass_context
def retry(ctx: Context, job_id: str | None, state: str | None, task: str | None, error: str | None,
          labels: tuple[str, ...]) -> None:
    """Return job ID (failed, cancelled, expired or discarded) to pending; or, without
    ID, every job matching the options, with a progress bar: `retry --error timeout`."""
    where = JobFilter(state or FAILED, task, error, parse_labels(labels))
    if job_id is not None and (state or task or error or labels):
        fail_with("give an ID or a filter (--state, --task, --error, --label), not both")
    if job_id is None and not (state or task or error or labels):
        fail_with("give an ID, or a filter (--state, --task, --error, --label) to retry every job matching it")
    # Closing the store, even on failure, removes its holder record (retry takes a lease).
    with ctx.store() as store, one_line_errors():
        if job_id is not None:
            _print_job(store.retry(job_id))
            return
        with click.progressbar(length=0, label="retrying", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            outcome = retry_matching(store, where, progress=progress)
    for skipped, why in outcome.skipped.items():
        click.echo(f"{skipped} not retried: {why}", err=True)
    click.echo(f"retried {len(outcome.retried)} jobs" + (f", {len(outcome.skipped)} not" if outcome.skipped else ""))


@cli.command()
@click.argument("job_id", metavar="ID")
@store_options
@pass_context
def delete(ctx: Context, job_id: str) -> None:
    """Remove resolved job ID now, with its waiting targets (never told, then).
    A pending or running job is refused: cancel it first."""
    with ctx.store() as store, one_line_errors():
        job = store.delete(job_id)
        click.echo(f"{job.id} deleted (was {job.state})")


@cli.command()
@click.argument("job_id", metavar="ID")
@click.argument("target")
@store_options
@pass_context
def queue(ctx: Context, job_id: str, target: str) -> None:
    """Add the JSON value TARGET to the targets waiting for job ID's result."""
    value = json_arg(target, "TARGET")
    with ctx.store() as store, one_line_errors():
        store.queue(job_id, value)
        _print_job(store.get(job_id))


