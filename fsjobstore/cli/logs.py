"""How the command line logs: human lines by default, JSON lines for log shippers;
``-v`` for debug detail, ``-q`` for warnings and errors only."""

from __future__ import annotations

import json
import logging
import sys
import traceback

LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC), level, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


JsonLines.converter = __import__("time").gmtime


def setup(verbosity: int, form: str) -> None:
    """Send fsjobstore's log to stderr at *verbosity* (-1 quiet, 0, 1 verbose) in *form*."""
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries (httpx logs each request) speak only of what goes wrong; ours as asked.
    root.setLevel(logging.WARNING)
    logging.getLogger("fsjobstore").setLevel(LEVELS[max(-1, min(1, verbosity))])
