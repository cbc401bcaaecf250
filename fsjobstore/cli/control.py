"""What operators set for every host at once: pauses of a task's work or the whole
store's (`pause`, `resume`), freezing the store (`freeze`, `thaw`), and concurrency
limits (`limit`)."""

from __future__ import annotations

import sys

import click

from ..interface import Holding, Limit, Pause
from .base import DURATION, Context, cli, one_line_errors, pass_context, store_options


def describe(pause: Pause) -> str:
    """One line for a pause: what, why, who."""
    what = "the whole store" if pause.task is None else f"task {pause.task}"
    why = f": {pause.reason}" if pause.reason else ""
    who = f" (by {pause.host or '?'} pid {pause.pid or '?'} at {pause.paused_at or '?'})"
    return f"paused: {what}{why}{who}"


@cli.command()
@click.argument("task", required=False)
@click.option("--reason", help="Why, shown by stats and in paused workers' logs.")
@store_options
@pass_context
def pause(ctx: Context, task: str | None, reason: str | None) -> None:
    """Stop workers on every host from taking jobs of TASK (without TASK: any job,
    and notifications) until `resume`. Running jobs go on."""
    with ctx.store() as store, one_line_errors():
        click.echo(describe(store.pause(task, reason=reason)))


@cli.command()
@click.argument("task", required=False)
@store_options
@pass_context
def resume(ctx: Context, task: str | None) -> None:
    """End the pause of TASK (without TASK: the whole store's; task pauses stay)."""
    what = "the whole store" if task is None else f"task {task}"
    with ctx.store() as store, one_line_errors():
        resumed = store.resume(task)
    click.echo(f"resumed: {what}" if resumed else f"{what} was not paused")


@cli.command(name="freeze")
@click.option("--timeout", type=DURATION, default=60.0, show_default=True,
              help="How long to wait for running jobs to give their leases back.")
@store_options
@pass_context
def freeze_store(ctx: Context, timeout: float) -> None:
    """Pause the whole store and wait until no lease is held, so that it can be
    edited by hand, copied or moved; exit 1, naming the holders, if some still
    hold one after --timeout (the store stays paused). `thaw` resumes."""
    from ..loops.freeze import freeze  # (on use: see fsjobstore/__init__.py)

    with ctx.store() as store, one_line_errors():
        held = freeze(store, timeout=timeout)
    if not held:
        click.echo("frozen: no worker takes work and no lease is held (`fsjobstore thaw` resumes)")
        return
    click.echo(f"paused, but {len(held)} lease(s) still held after {timeout:g} s:")
    for holding in held:
        click.echo("  " + _holder(holding))
    click.echo("a holder that died keeps its lease until the store is thawed and a worker takes the job over; "
               "run `fsjobstore freeze` again to wait more, `fsjobstore thaw` to resume")
    sys.exit(1)


@cli.command()
@store_options
@pass_context
def thaw(ctx: Context) -> None:
    """Resume a frozen (or paused) store: workers take work again."""
    with ctx.store() as store, one_line_errors():
        resumed = store.resume()
    click.echo("thawed: workers take work again" if resumed else "the store was not frozen or paused")


@cli.command()
@click.option("--resource", help="Limit the jobs of this resource.")
@click.option("--task", help="Limit the jobs of this task.")
@click.argument("limit", required=False)
@store_options
@pass_context
def limit(ctx: Context, resource: str | None, task: str | None, limit: str | None) -> None:
    """Let at most LIMIT jobs of --resource (or --task) run at once, on every host
    together (`none`: back to 1 per resource, no cap per task). Without
    arguments, list the limits set."""
    with ctx.store() as store, one_line_errors():
        if resource is None and task is None and limit is None:
            for entry in store.limits():
                click.echo(describe_limit(entry))
            return
        if limit is None:
            raise ValueError("give LIMIT: a number of jobs, or none")
        number = None if limit.lower() == "none" else _count(limit)
        store.set_limit(number, resource=resource, task=task)
        found = [entry for entry in store.limits() if entry.name == (resource or task)
                 and entry.kind == ("resource" if resource is not None else "task")]
    click.echo(describe_limit(found[0]) if found else f"no limit on {'resource' if resource else 'task'} "
               f"{resource or task}: {'1 job at a time' if resource else 'no cap'}")


def describe_limit(entry: Limit) -> str:
    return f"limit: {entry.kind} {entry.name}: {entry.limit} at a time"


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"LIMIT must be a number of jobs or none, not {text!r}") from None


def _holder(holding: Holding) -> str:
    kind = "work" if holding.kind == "work" else "notification"
    return f"{kind} lease on job {holding.job_id}, held by {holding.host or '?'} pid {holding.pid or '?'}"
