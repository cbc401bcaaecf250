"""Moving jobs between stores: export as JSON lines, import them checked whole first.

An exported line is a job's record exactly as its file holds it (every field, the
attempt history included) plus ``"waiting"``, its waiting targets: what is
needed to make the same job in another store. An import reads every line and
checks it before it writes anything, so a bad line (named by its number) leaves
the store untouched; then each job is published as ``create`` or a resolution
publishes it, with the conflict policy deciding what an id already taken means.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .._files import fsio
from .._files.ids import check_id, new_id
from .._files.layout import bucket_of
from .._files.records import Record
from .._files.values import decode_value, encode_json
from ..errors import CorruptJobFile, InvalidJobId, JobNotFound, JobStoreError
from ..job import PENDING, Job
from .adoption import publish_pending
from .context import StoreContext

CONFLICT_POLICIES = ("skip", "replace", "new-id")
# Bad lines named in the error, at most: enough to fix a file, not a flood.
_MAX_REPORTED = 20


class ImportRejected(JobStoreError, ValueError):
    """Lines that are not jobs: nothing was imported."""


@dataclass
class ImportReport:
    """What an import did, by id: made, left alone (the id was taken: ``skip``),
    replaced, made under a new id (``new-id``: old -> new), or left alone because a
    worker holds the job (``replace``)."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)


def export_line(record: Record, waiting: Iterable[Any]) -> str:
    return json.dumps({**record.fields, "waiting": list(waiting)}, ensure_ascii=False)


class Transfer:
    def __init__(self, ctx: StoreContext, jobs: Callable[[str | None], Iterator[Job]],
                 queue: Callable[[str, Any], None]) -> None:
        self._ctx = ctx
        self._jobs = jobs
        self._queue = queue

    def export(self, state: str | None, task: str | None) -> Iterator[str]:
        """One line per job (of *state* and *task*, if given), oldest first."""
        for job in self._jobs(state):
            if task is not None and job.task != task:
                continue
            try:
                record, _ = self._ctx.read(job.id)
            except JobNotFound:
                continue  # purged since it was listed
            yield export_line(record, job.waiting)

    def import_lines(self, lines: Iterable[str | bytes], on_conflict: str) -> ImportReport:
        if on_conflict not in CONFLICT_POLICIES:
            raise ValueError(f"on_conflict must be one of {', '.join(CONFLICT_POLICIES)}, not {on_conflict!r}")
        jobs = self._checked(lines)
        report = ImportReport()
        for record, waiting in jobs:
            self._import(record, waiting, on_conflict, report)
        return report

    def _checked(self, lines: Iterable[str | bytes]) -> list[tuple[Record, list[Any]]]:
        """Every line as (record, waiting targets), or ImportRejected naming each bad line."""
        jobs, problems = [], []
        first_line: dict[str, int] = {}
        limit = self._ctx.options.max_bytes
        for number, line in enumerate(lines, 1):
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            if not text.strip():
                continue
            try:
                record, waiting = _parse(text, limit)
            except (ValueError, TypeError, CorruptJobFile) as exc:
                problems.append(f"line {number}: {exc.reason if isinstance(exc, CorruptJobFile) else exc}")
                continue
            if record.id in first_line:
                problems.append(f"line {number}: job {record.id} is on line {first_line[record.id]} too")
                continue
            first_line[record.id] = number
            jobs.append((record, waiting))
        if problems:
            shown = problems[:_MAX_REPORTED] + ([f"... and {len(problems) - _MAX_REPORTED} more"]
                                                if len(problems) > _MAX_REPORTED else [])
            raise ImportRejected(f"nothing imported: {len(problems)} bad line(s): " + "; ".join(shown))
        return jobs

    def _import(self, record: Record, waiting: list[Any], on_conflict: str, report: ImportReport) -> None:
        job_id = record.id
        if self._placed(record):
            report.imported.append(job_id)
        elif on_conflict == "skip":
            report.skipped.append(job_id)
            return
        elif on_conflict == "new-id":
            record = Record({**record.fields, "id": new_id()})
            self._placed(record)
            report.renamed[job_id] = record.id
        elif self._replace(record):
            report.replaced.append(job_id)
        else:
            report.busy.append(job_id)
            return
        for target in waiting:
            self._queue(record.id, target)

    def _placed(self, record: Record) -> bool:
        """Publish *record* as a new job; False if its id is taken."""
        ctx, job_id = self._ctx, record.id
        if record.state == PENDING:
            return publish_pending(ctx, record)
        if fsio.exists(ctx.layout.pending_path(job_id)):
            return False
        try:
            ctx.publish_resolved(job_id, record.render())
        except FileExistsError:
            return False
        return True

    def _replace(self, record: Record) -> bool:
        """Put *record* in place of the job of its id, under its work lease (as
        ``retry`` does); False if a worker holds it. Its waiting targets stay."""
        ctx, job_id = self._ctx, record.id
        layout = ctx.layout
        lease = ctx.work_leases.acquire(job_id)
        if lease is None:
            return False
        try:
            if record.state == PENDING:
                ctx.write_pending(record)
                fsio.remove(layout.resolved_path(job_id))
                fsio.remove(layout.due.join(job_id))
                if ctx.durable:
                    layout.bucket(bucket_of(job_id)).sync()
            else:
                # The resolved record is the truth, so it goes first; then the
                # pending one, if any, is removed as a resolution does.
                ctx.publish_resolved(job_id, record.render(), replace=True)
                ctx.finish_resolution(job_id)
        finally:
            lease.release()
        return True


def _parse(text: str, limit: int) -> tuple[Record, list[Any]]:
    try:
        fields = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    waiting = fields.pop("waiting", [])
    if not isinstance(waiting, list):
        raise ValueError("waiting is not a list of targets")
    if "id" not in fields:
        raise ValueError("no id")
    try:
        job_id = check_id(fields["id"])
    except InvalidJobId as invalid:  # (not `exc`: mypyc types a name by its first handler)
        raise ValueError(str(invalid)) from None
    record = Record.parse(json.dumps(fields).encode(), "", job_id)
    encode_json(record.get("request"), "request", limit)
    value = decode_value(record.get("value"), record.get("value_encoding"))
    if value is not None and len(value) > limit:
        raise ValueError(f"value is {len(value)} bytes, the store's limit is {limit}")
    for target in waiting:
        encode_json(target, "a waiting target", limit)
    return record, waiting
