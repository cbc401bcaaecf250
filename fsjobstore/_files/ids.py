"""Job ids: generated sortable by creation time, and validated wherever one is given.

A generated id is 26 characters of Crockford base32 (the ULID layout): 48 bits of
milliseconds since the epoch, then 80 random bits. Within one process, ids made in
the same millisecond increase the random part so that creation order is kept;
across hosts the random part makes collisions negligible (2**-80 per pair per ms).
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import re
import threading
import time

from ..errors import InvalidJobId

MAX_ID_LENGTH = 128
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Only these characters can appear in a file name we build from an id, so no id can
# hold a separator, a dot (no "..", no clash with our ".json"/".tmp" suffixes), a
# NUL, a newline or a unicode look-alike.
_VALID = re.compile(r"[A-Za-z0-9_-]+")
# What new_id() makes: the only ids a caller may create a job under, so that the
# order of ids stays the order of creation.
NEW_ID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"

_lock = threading.Lock()
_last_ms = -1
_last_rand = 0
# The random part comes from a generator of our own, seeded from the system's
# entropy: a system call per id would cost more than the rest of new_id, and the
# global generator may be seeded by the application (two processes seeded alike
# would then make the same ids).
_random = random.Random()


def _forget_in_child() -> None:
    # A forked child would otherwise repeat its parent's ids: the same draws, or
    # in the same millisecond the same increments of the parent's last id.
    global _last_ms, _last_rand
    _random.seed()
    _last_ms, _last_rand = -1, 0


os.register_at_fork(after_in_child=_forget_in_child)


# Two characters per lookup: an id is made on every create, and 13 lookups cost a
# fraction of 26 shifts and appends.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_40_BITS = (1 << 40) - 1


def _encode(ms: int, rand: int) -> str:
    """10 digits of *ms* (48 bits) and 16 of *rand* (80 bits), most significant first."""
    # Unrolled, on numbers of 40 bits at most: a loop over a 128-bit number costs
    # several times as much (a new big number per shift).
    p, hi, lo = _PAIRS, rand >> 40, rand & _40_BITS
    return "".join((
        p[ms >> 40], p[ms >> 30 & 1023], p[ms >> 20 & 1023], p[ms >> 10 & 1023], p[ms & 1023],
        p[hi >> 30], p[hi >> 20 & 1023], p[hi >> 10 & 1023], p[hi & 1023],
        p[lo >> 30], p[lo >> 20 & 1023], p[lo >> 10 & 1023], p[lo & 1023],
    ))


def new_id() -> str:
    """Return a new job id, later in sort order than any made before in this process."""
    ms, rand = _reserve(1)
    return _encode(ms, rand)


def new_ids(count: int) -> list[str]:
    """*count* new job ids in sort order, later than any made before (a batch's: one
    look at the clock and at most one random draw for them all)."""
    ms, rand = _reserve(count)
    return [_encode(ms, rand + n) for n in range(count)]


def _reserve(count: int) -> tuple[int, int]:
    """The millisecond and first random part of *count* ids in a row (the random part
    counting up), later than any made before in this process."""
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or an earlier, after a clock step) millisecond: keep the order.
            ms, rand = _last_ms, _last_rand + 1
        else:
            rand = _random.getrandbits(80)
        if (rand + count - 1) >> 80:  # the random part would overflow: borrow the next millisecond
            ms, rand = ms + 1, 0
        _last_ms, _last_rand = ms, rand + count - 1
    return ms, rand


def id_at(ms: int) -> str:
    """An id made at *ms* milliseconds since the epoch (a random part of its own):
    for tools that build a store's history, such as the scale benchmark."""
    return _encode(ms, _random.getrandbits(80))


@functools.cache
def _valid_lines(suffix: str) -> re.Pattern[str]:
    return re.compile(rf"(?:[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}{re.escape(suffix)}\n)*")


def valid_stems(names: list[str], suffix: str) -> list[str]:
    """The ids that the names in *names* ending with *suffix* are (a folder's
    listing): one regex run and one split over them all, in C, in the common case
    where every name is one, so a hundred thousand cost milliseconds."""
    text = _all_valid(names, suffix)
    if text is not None:
        return (text.replace(suffix + "\n", "\n") if suffix else text)[:-1].split("\n")
    cut = len(suffix)
    return [name[: len(name) - cut] for name in names if name.endswith(suffix) and is_valid_id(name[: len(name) - cut])]


def count_valid(names: list[str], suffix: str) -> int:
    """``len(valid_stems(names, suffix))``, without making the ids."""
    return len(names) if _all_valid(names, suffix) is not None else len(valid_stems(names, suffix))


def _all_valid(names: list[str], suffix: str) -> str | None:
    """The names joined, one per line, if every one is an id with *suffix*; else None."""
    text = "\n".join(names) + "\n"
    if text.count("\n") == len(names) and _valid_lines(suffix).fullmatch(text):  # (a name may hold a newline)
        return text
    return None


def derived_id(ms: int, key: str) -> str:
    """The id of a job that must be made at most once (a schedule's tick): *ms* in the
    time part, so it sorts as if made then, and 80 bits of the SHA-256 of *key* in the
    random part, so every process that derives it from the same two gets the same id."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:10], "big")
    return _encode(ms, digest)


def is_valid_id(name: str) -> bool:
    return 0 < len(name) <= MAX_ID_LENGTH and _VALID.fullmatch(name) is not None


def check_id(job_id: object) -> str:
    """Return *job_id* if it is safe to use as a file name, else raise InvalidJobId."""
    if not isinstance(job_id, str):
        raise InvalidJobId(f"job id must be a string, not {type(job_id).__name__}")
    if not job_id:
        raise InvalidJobId("job id is empty")
    if len(job_id) > MAX_ID_LENGTH:
        raise InvalidJobId(f"job id is {len(job_id)} characters long, the limit is {MAX_ID_LENGTH}")
    if not _VALID.fullmatch(job_id):
        raise InvalidJobId(
            f"job id {job_id!r} may only hold ASCII letters, digits, '-' and '_'"
        )
    return job_id


def check_new_id(job_id: object) -> str:
    """Return *job_id* if it is an id as new_id() makes them, else raise InvalidJobId."""
    if not isinstance(job_id, str) or not re.fullmatch(NEW_ID_PATTERN, job_id):
        raise InvalidJobId(f"a new job's id must be 26 characters of Crockford base32 as new_id() makes them, "
                           f"not {job_id!r}")
    return job_id
