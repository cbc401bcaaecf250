"""Job lists for the API: filter by task and text, sort, and page with a cursor.

A cursor is the sort key of the last job of a page, so a page is the same
whatever was created or removed since the one before it.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ...interface import Store
from ...job import Job
from ...triage import JobFilter

SORTS = ("created", "-created", "updated", "-updated")
EVERY_JOB = JobFilter()


def _key(job: Job, sort: str) -> tuple[str, str]:
    if sort.lstrip("-") == "updated":
        return job.updated_at.isoformat(), job.id
    return job.id, job.id  # ids sort in creation order


def encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        key: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise ValueError(f"cursor {cursor!r} is not one this server gave") from None
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(part, str) for part in key)):
        raise ValueError(f"cursor {cursor!r} is not one this server gave")
    return key[0], key[1]


def page(
    jobs: Iterable[Job], *, sort: str, limit: int, cursor: str | None = None, where: JobFilter = EVERY_JOB,
) -> tuple[list[Job], str | None]:
    """Up to *limit* matching jobs after *cursor* in *sort* order, and the next cursor."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    descending = sort.startswith("-")
    after = None if cursor is None else decode_cursor(cursor)
    keyed = (
        (_key(job, sort), job) for job in jobs
        if where.matches(job)
        and (after is None or (_key(job, sort) < after if descending else _key(job, sort) > after))
    )
    pick = heapq.nlargest if descending else heapq.nsmallest
    chosen = pick(limit + 1, keyed, key=lambda pair: pair[0])
    more = len(chosen) > limit
    chosen = chosen[:limit]
    next_cursor = encode_cursor(chosen[-1][0]) if more and chosen else None
    return [job for _, job in chosen], next_cursor


def page_of(
    store: Store, state: str | None, *, sort: str, limit: int, cursor: str | None = None, after: str | None = None,
    task: str | None = None, labels: Mapping[str, str] | None = None, text: str | None = None,
    priority: int | None = None,
) -> tuple[list[Job], str | None]:
    """A page of the store's jobs. In creation order the store reads on from the
    cursor (``Store.jobs`` with ``after``) only as far as the page needs: *limit*
    jobs, or with a text search or a priority as many as it takes to find *limit*
    that match (so a search costs what lies between its matches, not the whole
    store). Sorted by change, every job in *state* is read and sorted (``page``)."""
    if after is not None and cursor is not None:
        raise ValueError("give a cursor or after, not both")
    search = JobFilter(text=text or None, priority=priority)
    if sort.lstrip("-") != "created":
        if after is not None:
            raise ValueError("after (an id) pages in creation order only: use the cursor")
        return page(store.jobs(state, task=task, labels=labels), sort=sort, limit=limit, cursor=cursor, where=search)
    start = after if cursor is None else decode_cursor(cursor)[0]
    searching = search != EVERY_JOB
    listed = store.jobs(state, task=task, labels=labels, after=start, limit=None if searching else limit + 1,
                        newest_first=sort == "-created")
    jobs = list(itertools.islice((job for job in listed if search.matches(job)), limit + 1))
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return jobs, encode_cursor(_key(jobs[-1], sort)) if more and jobs else None
