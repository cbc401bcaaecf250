"""Queues: where a pending job's record lives, told by its id alone.

A job made with an address (the label ``to``) or a priority other than 0 gets an
id that names its queue: the 26 characters of a plain id, ``-``, then
``<to>_<priority>``, where ``<to>`` is ``any`` or ``t`` and 16 hex digits of the
SHA-256 of the address, and ``<priority>`` is ``p<N>`` (0 to 100) or ``n<N>`` (-1
to -100). Its pending record is ``queues/<to>/<priority>/<id>.json``. A job of the
default queue (no address, priority 0) keeps a plain id and ``pending/<id>.json``.
So a puller lists only its own queues' folders, highest priority first, and never
reads a record to learn where a job belongs.
"""

from __future__ import annotations

import hashlib
import re

ANYONE = "any"
MAX_PRIORITY = 100
_PLAIN_ID = 26  # the length of a generated id (see ids)
_PRIORITY = r"p(?:0|[1-9][0-9]{0,2})|n[1-9][0-9]{0,2}"
_QUEUE = re.compile(rf"({ANYONE}|t[0-9a-f]{{16}})_({_PRIORITY})")
_PRIORITY_NAME = re.compile(_PRIORITY)


def address_name(address: str | None) -> str:
    """The folder name of the queues of jobs addressed to *address* (None: to anyone)."""
    if address is None:
        return ANYONE
    return "t" + hashlib.sha256(address.encode("utf-8")).hexdigest()[:16]


def priority_name(priority: int) -> str:
    return f"p{priority}" if priority >= 0 else f"n{-priority}"


def priority_of(name: str) -> int | None:
    """The priority a folder *name* stands for; None if it names none."""
    if not _PRIORITY_NAME.fullmatch(name) or int(name[1:]) > MAX_PRIORITY:
        return None
    return int(name[1:]) * (1 if name[0] == "p" else -1)


def check_address(address: object) -> str:
    if not isinstance(address, str) or not address or len(address) > 1000:
        raise ValueError(f"an address must be a non-empty string of at most 1000 characters, not {address!r:.80}")
    return address


def check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
        raise ValueError(f"priority must be an integer from -{MAX_PRIORITY} to {MAX_PRIORITY}, not {priority!r}")
    return priority


def id_suffix(address: str | None, priority: int) -> str:
    """What follows a plain id in the id of a job of this queue ("" for the default one)."""
    if address is None and priority == 0:
        return ""
    return f"-{address_name(address)}_{priority_name(priority)}"


def queue_of(job_id: str) -> tuple[str, str] | None:
    """(address folder, priority folder) of a job's queue; None for the default queue
    (``pending/``), which is also where an id naming no valid queue is looked for."""
    if len(job_id) <= _PLAIN_ID or job_id[_PLAIN_ID] != "-":
        return None
    found = _QUEUE.fullmatch(job_id, _PLAIN_ID + 1)
    if found is None or priority_of(found[2]) is None:
        return None
    return found[1], found[2]


def priority_of_id(job_id: str) -> int:
    queue = queue_of(job_id)
    return 0 if queue is None else priority_of(queue[1]) or 0
