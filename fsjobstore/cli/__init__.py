"""The ``fsjobstore`` command line: create, inspect and operate on a store by hand.

One module per group of commands; ``base`` holds what they share. Errors are one
line on stderr and exit status 1 (2 for a misused command), never a traceback.
"""

from __future__ import annotations

import logging
import sys

from . import jobs, operators, running
from .base import cli, parse_duration

__all__ = ["cli", "main", "parse_duration"]
_COMMANDS = (jobs, operators, running)  # (imported for the commands they register on cli)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cli(prog_name="fsjobstore")

