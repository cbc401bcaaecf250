"""The ``fsjobstore`` command line: create, inspect and operate on a store by hand.

One module per group of commands; ``base`` holds what they share. Errors are one
line on stderr and exit status 1 (2 for a misused command), never a traceback.
"""

from __future__ import annotations

from . import control, jobs, operators, running, scheduling, serving, transferring
from .base import cli, parse_duration

__all__ = ["cli", "main", "parse_duration"]
# (imported for the commands they register on cli)
_COMMANDS = (control, jobs, operators, running, scheduling, serving, transferring)


def main() -> None:
    cli(prog_name="fsjobstore")

