"""What every command shares: the group, its options, the store it opens, and one-line errors.

Errors are one line on stderr and exit status 1 (2 for a misused command),
never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import __version__
from .._files.layout import STORE_MARKER
from ..errors import JobStoreError
from ..interface import check_listing
from ..store import JobStore

if TYPE_CHECKING:
    from ..http.client import HttpStore
from . import logs

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer is a typing mistake, and would not fit the dates a job shows.
_MAX_DURATION = 100 * 365 * 86400


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '12h', '7d', '2w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 15m, 12h or 7d")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds > _MAX_DURATION:
        raise click.BadParameter(f"{text!r} is longer than the longest duration, 100 years")
    return seconds


def DURATION(value: str | float) -> float:  # noqa: N802 - used as a click type
    return value if isinstance(value, float) else parse_duration(str(value))


def fail_with(message: str) -> NoReturn:
    fail_with_all([message])


def fail_with_all(messages: list[str]) -> NoReturn:
    """Exit 1 with each of *messages* as an error line of its own."""
    for message in messages:
        click.echo(f"fsjobstore: error: {message}", err=True)
    sys.exit(1)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn the errors a user can cause into one clear line."""
    try:
        yield
    except (JobStoreError, ValueError, TypeError, TimeoutError) as exc:
        fail_with(str(exc))
    except BrokenPipeError:
        raise  # (a reader that stopped reading: see _Cli.invoke)
    except OSError as exc:
        fail_with(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def json_arg(text: str, what: str) -> Any:
    try:
        return parse_json(text, what)
    except ValueError as exc:
        fail_with(str(exc))


def parse_json(text: str, what: str) -> Any:
    """*text* as JSON; ValueError naming *what* if it is not."""
    try:
        return json.loads(text)
    except ValueError as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValueError(f"{what} is not valid JSON ({exc}): {shown!r}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to read") from None


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback that shows a bar on stderr once the work is large."""
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 1000:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


class Context:
    def __init__(self, path: str | None, group_shared: bool, *, given: bool, url: str | None = None,
                 token: str | None = None) -> None:
        self.path = path
        self.group_shared = group_shared
        self.given = given  # --store on the command line (not $FSJOBSTORE_DIR)
        self.url = url
        self.token = token

    def store(self, **options: Any) -> JobStore | HttpStore:
        """The store, which must exist: only `init` makes one (a typo'd path, or an
        NFS mount point while unmounted, must not become a new store). With --url,
        the store served there (every command but init and demo works over HTTP)."""
        if self.url:
            return self._remote(options.get("poll_interval", 1.0))
        if not self.path:
            fail_with("no store given: pass --store DIR or set FSJOBSTORE_DIR")
        return open_local(self.path, self.group_shared, **options)

    def _remote(self, poll_interval: float) -> HttpStore:
        try:
            from ..http.client import HttpStore
        except ImportError as exc:
            fail_with(f"--url needs the 'server' extra (pip install 'fsjobstore[server]'): {exc}")
        with one_line_errors():
            return HttpStore(self.url or "", self.token, poll_interval=poll_interval)


def open_local(path: str, group_shared: bool, **options: Any) -> JobStore:
    """The store at *path*, which must exist: only `init` makes one (a typo'd path, or
    an NFS mount point while unmounted, must not become a new store)."""
    where = os.path.abspath(path)
    if not os.path.lexists(where):
        fail_with(f"no store at {where}: no such folder (make a store with: fsjobstore init DIR)")
    # (a folder we may not search is left to the store to report: "not a store" would mislead)
    searchable = os.path.isdir(where) and os.access(where, os.X_OK)
    if searchable and not os.path.lexists(os.path.join(where, STORE_MARKER)):
        fail_with(f"{where} is not a store (make one with: fsjobstore init DIR)")
    with one_line_errors():
        return JobStore(path, create=False, group_shared=group_shared, **options)


def refuse_others_files(path: str) -> None:
    """Refuse, naming them, a folder holding files (a new store is made only in a
    new or empty folder). lost+found is what a new filesystem holds at its root,
    as an NFS export's may."""
    others = sorted(set(os.listdir(path)) - {"lost+found"}) if os.path.isdir(path) else []
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        fail_with(f"{os.path.abspath(path)} holds other files ({shown}) and is not a store: make the store in a "
                  "new or empty folder, e.g. a subfolder: fsjobstore init DIR/jobs")


def cursor(_ctx: click.Context, _param: click.Parameter, after: str | None) -> str | None:
    """A page's --after checked as it is read: one that is no job id is a usage
    error (exit 2), not an empty page."""
    if after is not None:
        try:
            check_listing(None, None, after, None)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return after


pass_context = click.make_pass_decorator(Context)


def _die_of_sigpipe() -> NoReturn:
    """A reader that stopped reading (`fsjobstore ls | head`) is no error: end as
    Unix tools do, killed by SIGPIPE, which shells do not report."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # (what is left in the buffer goes nowhere at exit)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    raise SystemExit(128 + signal.SIGPIPE)  # (should another thread take the signal first)


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Here, not in click's main(), which turns a closed pipe into "exit 1".
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            _die_of_sigpipe()


def _set_store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = ctx.find_object(Context)
        assert obj is not None
        obj.path, obj.given = value, True


def _set_group_shared(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    obj = ctx.find_object(Context)
    assert obj is not None
    obj.group_shared = obj.group_shared or value


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--store and --group-shared after the subcommand too (`fsjobstore ls --store DIR`)."""
    command = click.option("--group-shared", is_flag=True, expose_value=False, callback=_set_group_shared,
                           help="As before the subcommand.")(command)
    return click.option("--store", metavar="DIR", expose_value=False, callback=_set_store,
                        help="The store folder (as before the subcommand).")(command)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "path", envvar="FSJOBSTORE_DIR", metavar="DIR",
              help="The store folder (default: $FSJOBSTORE_DIR).")
@click.option("--group-shared", is_flag=True, envvar="FSJOBSTORE_GROUP_SHARED",
              help="Make files 0660 and folders 2770 whatever the umask, for a store shared by one group.")
@click.option("--url", envvar="FSJOBSTORE_URL", metavar="URL",
              help="A store served by `fsjobstore serve` at URL, instead of a folder ($FSJOBSTORE_URL).")
@click.option("--token", envvar="FSJOBSTORE_TOKEN", help="The bearer token for --url ($FSJOBSTORE_TOKEN).")
@click.option("-v", "--verbose", "verbose", count=True, help="More detail in the log (debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in the log.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="FSJOBSTORE_LOG_FORMAT", help="json: one JSON object per log line, for log shippers.")
@click.version_option(__version__, prog_name="fsjobstore")
@click.pass_context
def cli(ctx: click.Context, path: str | None, group_shared: bool, url: str | None, token: str | None,
        verbose: int, quiet: bool, log_format: str) -> None:
    """Operate on an fsjobstore job store: a folder of JSON job files (or one served over HTTP)."""
    logs.setup(-1 if quiet else verbose, log_format)
    given = ctx.get_parameter_source("path") == click.core.ParameterSource.COMMANDLINE
    ctx.obj = Context(path, group_shared, given=given, url=url, token=token)


