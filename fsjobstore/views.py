"""What a store tells of itself, as plain values: what ``check`` found, the pauses
and limits in force, the leases held, the loops running. Every kind of store
returns these, and the loops and the command line read them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

__all__ = ["Census", "Holding", "Limit", "Pause", "Problem", "Progress", "Report", "WorkerInfo", "describe_pauses",
           "stopping"]

# The history outcome a lease take-over writes (docs/format.md, "history").
EXPIRED_OUTCOME = "expired"


@dataclass(frozen=True)
class Problem:
    """One thing ``check`` found wrong: its kind, where, what, and whether it was repaired."""

    kind: str  # corrupt, symlink, stray, half-resolved, not-due, stale-due, orphan-waiting, orphan-lease, leftover,
    # unfinished-create
    path: str
    detail: str
    repaired: bool = False


@dataclass
class Report:
    """What ``check`` found: jobs per state, problems, temp and lease files."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    temp_files: int = 0
    leases: int = 0

    @property
    def clean(self) -> bool:
        return all(problem.repaired for problem in self.problems)


Progress = Callable[[int, int], None]


@dataclass
class Census:
    """What the jobs now in the store say, per task (``""`` stands for jobs without one)."""

    jobs: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> state -> jobs
    failed_attempts: Counter[str] = field(default_factory=Counter)  # task -> sum of jobs' attempts
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (task, outcome) -> history entries

    def takeovers(self) -> Counter[str]:
        return Counter({task: n for (task, outcome), n in self.outcomes.items() if outcome == EXPIRED_OUTCOME})


@dataclass(frozen=True)
class Pause:
    """A pause in force: of the whole store (``task`` None) or of one task's jobs.
    Who made it and when are the pauser's own (wall clock): informational."""

    task: str | None = None
    reason: str | None = None
    paused_at: str | None = None
    host: str | None = None
    pid: int | None = None


def stopping(pauses: Iterable[Pause], task: str | None) -> Pause | None:
    """The pause that keeps a job of *task* from being taken, if any (a whole-store
    pause first)."""
    found = None
    for pause in pauses:
        if pause.task is None:
            return pause
        if task is not None and pause.task == task:
            found = pause
    return found


def describe_pauses(pauses: Collection[Pause], tasks: Collection[str | None] | None) -> str | None:
    """What of a loop pulling *tasks* (None: every task) is paused, in words, or None.
    A notifier (``tasks`` empty) is stopped only by a whole-store pause."""
    whole = next((p for p in pauses if p.task is None), None)
    if whole is not None:
        return "the whole store" + (f" ({whole.reason})" if whole.reason else "")
    paused = sorted(p.task for p in pauses if p.task is not None and (tasks is None or p.task in tasks))
    if not paused:
        return None
    if tasks is not None and not set(tasks) - set(paused):
        return "every task it does: " + ", ".join(paused)
    return "task " + ", ".join(paused) if len(paused) == 1 else "tasks " + ", ".join(paused)


@dataclass(frozen=True)
class Limit:
    """How many jobs of a resource, or of a task, run at once across every host
    (a resource without one: 1; a task without one: no cap)."""

    kind: str  # "resource" or "task"
    name: str
    limit: int


@dataclass(frozen=True)
class Holding:
    """A lease held now (``Store.holdings``): on which job, of which kind, and who
    holds it as its holder record says (None where the record could not be read)."""

    kind: str  # "work" or "notify"
    job_id: str
    host: str | None
    pid: int | None


@dataclass(frozen=True)
class WorkerInfo:
    """A running loop as its heartbeat record shows it.

    ``alive`` is judged without comparing clocks across hosts: on the reader's own
    host by whether the process exists; elsewhere by whether the record changed
    within three beats of the reader's own clock (None: not watched long enough).
    """

    id: str
    kind: str  # "worker" or "notifier"
    host: str
    pid: int
    started_at: str  # the loop's own wall clock: informational
    tasks: list[str | None] | None  # None: every task
    concurrency: int
    current: list[str]  # ids of the jobs (or notifications) it holds now
    beats: int
    beat_seconds: float
    alive: bool | None
    paused: str | None = None  # what of its work is paused, in words (None: nothing)
