"""`schedule add/ls/rm/pause/resume` and `scheduler`: periodic jobs, made once per tick."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from ..store import JobStore
from .base import DURATION, Context, cli, fail_with, json_arg, one_line_errors, pass_context, store_options


def local_store(ctx: Context, **options: Any) -> JobStore:
    """The store's folder: what schedules, export and import work on (not --url)."""
    if ctx.url:
        fail_with(f"`{click.get_current_context().command_path}` works on the store's folder: "
                  "give --store DIR (or $FSJOBSTORE_DIR), not --url")
    store = ctx.store(**options)
    assert isinstance(store, JobStore)
    return store


@cli.group()
def schedule() -> None:
    """Periodic jobs: each tick of a schedule becomes one job, whichever schedulers run."""


@schedule.command("add")
@store_options
@click.argument("name")
@click.option("--cron", help="A cron expression (minute hour day month weekday) or a macro such as @daily.")
@click.option("--every", type=DURATION, help="A fixed interval (90s, 15m, 1h), aligned to the Unix epoch.")
@click.option("--tz", "timezone", default="UTC", show_default=True, help="The cron expression's time zone.")
@click.option("--task", help="The task of each tick's job.")
@click.option("--request", "request_text", default="null", show_default=True, help="Each job's request (JSON).")
@click.option("--resource", help="Each job's resource.")
@click.option("--missed", type=click.Choice(["skip", "once", "each"]), default="once", show_default=True,
              help="Ticks missed while no scheduler ran: none of them, the latest, or each (up to --catch-up).")
@click.option("--catch-up", type=click.IntRange(1), default=100, show_default=True,
              help="With --missed each: the most missed ticks made (the latest ones).")
@click.option("--grace", type=DURATION, default=60.0, show_default=True,
              help="A tick first seen later than this after its time counts as missed.")
@click.option("--replace", is_flag=True, help="Replace a schedule of that name (its ticks so far still count).")
@pass_context
def add(ctx: Context, name: str, cron: str | None, every: float | None, timezone: str, task: str | None,
        request_text: str, resource: str | None, missed: str, catch_up: int, grace: float, replace: bool) -> None:
    """Add the schedule NAME: `fsjobstore schedule add nightly --cron '0 3 * * *' --tz Europe/Paris`."""
    request = json_arg(request_text, "--request")
    with local_store(ctx) as store, one_line_errors():
        added = store.schedules.add(name, cron=cron, every=every, timezone=timezone, task=task, request=request,
                                    resource=resource, missed=missed, catch_up=catch_up, grace=grace,
                                    replace=replace)
    click.echo(f"added schedule {added.name}: {added.describe()}")


@schedule.command("ls")
@store_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def list_schedules(ctx: Context, as_json: bool) -> None:
    """List the schedules, with each one's latest tick and the next."""
    with local_store(ctx) as store, one_line_errors():
        rows = [(found, *store.schedules.ticks(found)) for found in store.schedules.all()]
    if as_json:
        for found, last_text, next_text in rows:
            click.echo(json.dumps({**dataclasses.asdict(found), "last_tick": last_text, "next_tick": next_text},
                                  ensure_ascii=False))
        return
    click.echo(f"{'NAME':20}  {'STATE':7}  {'MISSED':6}  {'LAST TICK (UTC)':19}  {'NEXT TICK (UTC)':19}  "
               "WHEN / TASK")
    for found, last_text, next_text in rows:
        click.echo(f"{found.name[:20]:20}  {'paused' if found.paused else 'active':7}  {found.missed:6}  "
                   f"{(last_text or '-')[:19].replace('T', ' '):19}  {next_text[:19].replace('T', ' '):19}  "
                   f"{found.describe()} / {found.task or '-'}")


@schedule.command("rm")
@store_options
@click.argument("name")
@pass_context
def remove(ctx: Context, name: str) -> None:
    """Remove the schedule NAME (jobs it made stay)."""
    with local_store(ctx) as store, one_line_errors():
        store.schedules.remove(name)
    click.echo(f"removed schedule {name}")


@schedule.command("pause")
@store_options
@click.argument("name")
@pass_context
def pause(ctx: Context, name: str) -> None:
    """Make no ticks of NAME until it is resumed."""
    with local_store(ctx) as store, one_line_errors():
        store.schedules.pause(name)
    click.echo(f"paused schedule {name}")


@schedule.command("resume")
@store_options
@click.argument("name")
@pass_context
def resume(ctx: Context, name: str) -> None:
    """Make ticks of NAME again, from now on (ticks of the pause are not made)."""
    with local_store(ctx) as store, one_line_errors():
        store.schedules.resume(name)
    click.echo(f"resumed schedule {name}")


@cli.command()
@store_options
@click.option("--poll-interval", type=DURATION, default=1.0, show_default=True,
              help="How often to look for schedules added or changed elsewhere.")
@click.option("--burst", is_flag=True, help="Make what is due now, then exit.")
@pass_context
def scheduler(ctx: Context, poll_interval: float, burst: bool) -> None:
    """Make the ticks of the store's schedules as jobs, until SIGTERM or Ctrl-C.

    Run one on as many hosts as you like: each tick is made once.
    """
    from ..loops import Scheduler  # (on use: see fsjobstore/__init__.py)

    with local_store(ctx, poll_interval=poll_interval) as store, one_line_errors():
        Scheduler(store).run(burst=burst)
