"""A user's command run per job (`fsjobstore work`) or per delivery (`notify`).

Each run is its own process group (its own session: a Ctrl-C at the terminal
reaches the worker, which decides, not the command). When a run must end
early (its timeout, the worker stopping, the job's lease lost) the whole group
gets SIGTERM, then SIGKILL after a grace period (at once, when the worker is
told to stop at once), and ``run`` returns only once no process of the group
runs: the caller's lease outlives the command. A worker that dies before it
could stop a command (SIGKILL, the OOM killer) leaves that to its reaper
process (``loops/reaper.py``), which stops every group still running.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

from ..errors import AttemptFailed
from ..loops.base import Stopped, StopRequest
from ..loops.groups import AFTER_KILL, group_alive, signal_group
from ..loops.reaper import Reaper

log = logging.getLogger("fsjobstore")
DISCARD_STATUS = 65  # a command's exit status that discards its job

StopCheck = Callable[[], StopRequest | None]

_SLICE = 0.05  # how often a running command's stop conditions are looked at


def check_command(program: str) -> None:
    """Refuse, with one clear line, a command that could not run for any job."""
    if shutil.which(program) is not None:
        return
    if os.sep in program and os.path.isdir(program):
        raise ValueError(f"command is a folder: {program}")
    if os.sep in program and os.path.exists(program):
        raise ValueError(f"command is not executable: {program} (chmod +x?)")
    where = "" if os.sep in program else " (searched $PATH)"
    raise ValueError(f"command not found: {program}{where}")


class Command:
    """*argv*, run with a request on stdin; its stdout is the result. Runs only
    inside ``with``, which keeps a reaper process for as long (see loops/reaper.py)."""

    def __init__(self, argv: Sequence[str], *, timeout: float | None, grace: float) -> None:
        check_command(argv[0])
        self.argv = list(argv)
        self.timeout = timeout
        self.grace = grace
        self.reaper = Reaper(grace)

    def __enter__(self) -> Command:
        self.reaper.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.reaper.close()

    @property
    def longest_stop(self) -> float:
        """The longest a run can take to return once asked to stop."""
        return self.grace + AFTER_KILL + 1.0  # (and a second for the slices it is looked at in)

    def run(self, stdin: bytes, env: Mapping[str, str], stop_requested: StopCheck) -> bytes:
        """Run the command to its end; its stdout, less one trailing newline. A
        failure raises AttemptFailed with the command's own words (its stderr); a
        run that had to stop early raises AttemptFailed (its timeout) or Stopped
        (asked by *stop_requested*)."""
        proc = self._start(env)
        try:
            self.reaper.watch(proc.pid)
            out, err = self._wait(proc, stdin, stop_requested)
        except (AttemptFailed, Stopped):
            raise  # (the command was ended before these)
        except BaseException:
            self._end(proc, lambda: StopRequest("an error in the worker", at_once=True))
            raise
        finally:
            self.reaper.forget(proc.pid)
        if proc.returncode != 0:
            # EX_DATAERR (sysexits.h): the input data was incorrect, so no retry can help
            raise AttemptFailed(err.decode("utf-8", "replace").strip() or _status(proc.returncode),
                                discard=proc.returncode == DISCARD_STATUS)
        # `echo 42` means "42". Only one newline goes (a shell's `$(...)` drops
        # them all), so that output ending in blank lines on purpose keeps them.
        return out[:-1] if out.endswith(b"\n") else out

    def _start(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        # (checked at start, but a command can disappear later: that fails one attempt)
        try:
            return subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env={**os.environ, **env}, start_new_session=True)
        except FileNotFoundError:
            raise AttemptFailed(f"command not found: {self.argv[0]}") from None
        except PermissionError:
            raise AttemptFailed(f"command is not executable: {self.argv[0]}") from None

    def _wait(self, proc: subprocess.Popen[bytes], stdin: bytes, stop_requested: StopCheck) -> tuple[bytes, bytes]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        unsent: bytes | None = stdin  # (communicate takes the input on its first call only)
        while True:
            try:
                return proc.communicate(unsent, timeout=_SLICE)
            except subprocess.TimeoutExpired:
                unsent = None
            if deadline is not None and time.monotonic() >= deadline:
                self._end(proc, stop_requested)
                raise AttemptFailed(f"command timed out after {self.timeout:g} s")
            request = stop_requested()
            if request is not None:
                self._end(proc, stop_requested)
                raise Stopped(f"command stopped: {request.reason}")

    def _end(self, proc: subprocess.Popen[bytes], stop_requested: StopCheck) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after the grace
        period (or at once if asked to); return once none of it runs."""
        def urgent() -> bool:
            request = stop_requested()
            return request is not None and request.at_once

        if not urgent():
            signal_group(proc.pid, signal.SIGTERM)
            if _gone_within(proc, self.grace, urgent):
                return
        signal_group(proc.pid, signal.SIGKILL)
        if not _gone_within(proc, AFTER_KILL, lambda: False):
            log.warning("command %s (process group %d) still runs %s s after SIGKILL", self.argv[0], proc.pid,
                        AFTER_KILL)


def _gone_within(proc: subprocess.Popen[bytes], seconds: float, urgent: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if proc.returncode is None:
            try:
                # Reading (and dropping) its output keeps it from blocking on a
                # full pipe while it winds up; this also reaps it.
                proc.communicate(timeout=_SLICE)
            except subprocess.TimeoutExpired:
                pass
        elif not group_alive(proc.pid):
            return True
        else:
            time.sleep(_SLICE)
        if time.monotonic() >= deadline or urgent():
            return False


def _status(returncode: int) -> str:
    if returncode >= 0:
        return f"command exited with status {returncode}"
    try:
        return f"command killed by {signal.Signals(-returncode).name}"
    except ValueError:  # (a real-time signal has no name)
        return f"command killed by signal {-returncode}"
