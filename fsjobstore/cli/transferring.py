"""`export` and `import`: jobs as JSON lines, to move them between stores or seed one."""

from __future__ import annotations

import sys

import click

from ..job import STATES
from .base import Context, cli, one_line_errors, pass_context, store_options
from .scheduling import local_store


@cli.command("export")
@store_options
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("--task", help="Only jobs of this task.")
@pass_context
def export(ctx: Context, state: str | None, task: str | None) -> None:
    """Write every job (or those matching) as one JSON line each: `fsjobstore export > jobs.jsonl`.

    A line is the job's record as its file holds it, with its waiting targets.
    """
    with local_store(ctx) as store, one_line_errors():
        for line in store.transfer.export(state, task):
            click.echo(line)


@cli.command("import")
@store_options
@click.argument("source", default="-")
@click.option("--on-conflict", type=click.Choice(["skip", "replace", "new-id"]), default="skip", show_default=True,
              help="A job whose id the store has: leave it, replace it (unless a worker holds it), "
                   "or import it under a new id.")
@pass_context
def import_(ctx: Context, source: str, on_conflict: str) -> None:
    """Import jobs exported by `export` (SOURCE, or stdin). Every line is checked first:
    a bad one (named by its number) means nothing is imported."""
    with local_store(ctx) as store, one_line_errors():
        with sys.stdin.buffer if source == "-" else open(source, "rb") as lines:
            report = store.transfer.import_lines(lines, on_conflict)
    click.echo(f"imported {len(report.imported)}, skipped {len(report.skipped)}, replaced {len(report.replaced)}, "
               f"new ids {len(report.renamed)}, busy {len(report.busy)}")
    for job_id in report.skipped:
        click.echo(f"skipped {job_id}: the store has a job of that id")
    for old, new in report.renamed.items():
        click.echo(f"new id {old} -> {new}")
    for job_id in report.busy:
        click.echo(f"busy {job_id}: a worker holds it, not replaced")
