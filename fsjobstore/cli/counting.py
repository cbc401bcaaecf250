"""What ``fsjobstore stats`` prints: the counts per state (with the pauses and
limits in force), or per task and state."""

from __future__ import annotations

import dataclasses
import json

import click

from ..interface import Store
from ..job import STATES
from .base import one_line_errors
from .control import describe, describe_limit


def print_counts(store: Store, as_json: bool) -> None:
    with one_line_errors():
        counts = store.stats()
        pauses, limits = store.pauses(), store.limits()
    if as_json:
        extra = {"paused": [dataclasses.asdict(pause) for pause in pauses]} if pauses else {}
        if limits:
            extra["limits"] = [dataclasses.asdict(entry) for entry in limits]
        click.echo(json.dumps({**counts, **extra}))
    else:
        click.echo("  ".join(f"{state}: {count}" for state, count in counts.items()))
        for line in [*map(describe, pauses), *map(describe_limit, limits)]:
            click.echo(line)


def print_task_counts(store: Store, as_json: bool) -> None:
    with one_line_errors():
        counts = store.stats_by_task()
    if as_json:
        click.echo(json.dumps(counts, sort_keys=True))
        return
    width = max([len("(no task)"), *map(len, counts)])
    click.echo(f"{'task':{width}}  " + "  ".join(f"{state:>9}" for state in STATES))
    for task, states in sorted(counts.items()):
        click.echo(f"{task or '(no task)':{width}}  " + "  ".join(f"{states.get(state, 0):>9}" for state in STATES))
