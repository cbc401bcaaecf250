"""Job ids: generated sortable and unique, validated wherever one is given."""

from __future__ import annotations

import os
import re
import threading
import time

import pytest

from fsjobstore._files import ids
from fsjobstore._files.ids import (
    MAX_ID_LENGTH,
    NEW_ID_PATTERN,
    check_id,
    count_valid,
    id_at,
    new_id,
    new_ids,
    valid_stems,
)
from fsjobstore.errors import InvalidJobId, JobStoreError

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _decode_ms(job_id: str) -> int:
    number = 0
    for char in job_id[:10]:
        number = number * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    return number


def test_new_id_is_26_crockford_characters_and_passes_check() -> None:
    job_id = new_id()
    assert len(job_id) == 26
    assert set(job_id) <= CROCKFORD
    assert check_id(job_id) == job_id


def test_new_id_starts_with_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    job_id = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= _decode_ms(job_id) <= after


def test_new_ids_are_unique_and_increase_within_one_millisecond_burst() -> None:
    made = [new_id() for _ in range(5000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)


def test_new_ids_from_many_threads_are_unique_and_each_thread_sees_them_increase() -> None:
    results: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        for _ in range(1000):
            out.append(new_id())

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for out in results for job_id in out]
    assert len(set(every)) == 4000
    for out in results:
        assert out == sorted(out)


def test_new_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id()
    real = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: real - 3_600 * 10**9)  # an hour earlier
    later = [new_id() for _ in range(10)]
    assert [first, *later] == sorted([first, *later])
    assert len(set(later)) == 10


def test_new_ids_keep_increasing_when_the_random_part_overflows(monkeypatch: pytest.MonkeyPatch) -> None:
    # The documented promise: "later in sort order than any made before in this process".
    # A random part drawn at its maximum must not wrap to zero in the same millisecond.
    monkeypatch.setattr(ids, "_last_ms", -1)
    monkeypatch.setattr(ids, "_last_rand", 0)
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    monkeypatch.setattr(ids._random, "getrandbits", lambda bits: (1 << bits) - 1)
    first, second = new_id(), new_id()
    assert first < second, f"{second} sorts before {first}"


def test_a_batch_of_ids_sorts_in_its_order_between_the_ids_before_and_after() -> None:
    before = new_id()
    batch = new_ids(1000)
    after = new_id()
    assert [before, *batch, after] == sorted({before, *batch, after})


def test_a_batch_whose_random_part_would_overflow_starts_in_the_next_millisecond(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_last_ms", -1)
    monkeypatch.setattr(ids, "_last_rand", 0)
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    monkeypatch.setattr(ids._random, "getrandbits", lambda bits: (1 << bits) - 5)  # room for 4 more, not 10
    batch = new_ids(10)
    assert batch == sorted(set(batch)) and len(batch) == 10
    now = ids._encode(frozen // 1_000_000, 0)[:10]  # (the millisecond part of the frozen clock)
    assert batch[0][:10] > now, "the whole batch in the next millisecond, not wrapped"
    assert batch[-1] < new_id()


@pytest.mark.parametrize(
    "good",
    ["a", "A", "0", "job-1", "job_1", "_", "-", "x" * MAX_ID_LENGTH, "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B"],
)
def test_check_id_accepts_safe_names(good: str) -> None:
    assert check_id(good) == good


BAD_IDS = [
    "",
    "..",
    ".",
    "../x",
    "a/b",
    "/abs",
    "a\\b",
    "a\x00",
    "a\n",
    "a\r",
    "a b",
    "x.json",
    "x.broken-1",
    "\u0430",  # Cyrillic a, looks like ASCII a
    "\u0391BC",  # Greek capital alpha
    "a\u2215b",  # division slash
    "a\uff0fb",  # fullwidth solidus
    "\u2024\u2024",  # one dot leader twice, looks like ..
    "caf\u00e9",
    "x" * (MAX_ID_LENGTH + 1),
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_check_id_refuses_unsafe_names(bad: str) -> None:
    with pytest.raises(InvalidJobId) as caught:
        check_id(bad)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, JobStoreError)


@pytest.mark.parametrize("bad", [None, 1, b"abc", ["a"]], ids=repr)
def test_check_id_refuses_non_strings(bad: object) -> None:
    with pytest.raises(InvalidJobId, match="string"):
        check_id(bad)


def test_check_id_limit_is_128() -> None:
    assert MAX_ID_LENGTH == 128
    check_id("a" * 128)
    with pytest.raises(InvalidJobId, match="129"):
        check_id("a" * 129)


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    # Without reseeding after fork, parent and child would draw the same random
    # parts, and two jobs created in the same millisecond would share an id.
    new_id()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, new_id().encode())
        os._exit(0)
    os.close(write_end)
    mine = new_id()
    os.waitpid(pid, 0)
    theirs = os.read(read_end, 100).decode()
    os.close(read_end)
    assert len(theirs) == 26
    assert theirs[10:] != mine[10:]


@pytest.mark.parametrize(("names", "suffix", "stems"), [
    (["AB.json", "CD.json"], ".json", ["AB", "CD"]),
    (["AB.json", "x y.json", "CD.json", "EF.tmp", "AB.json.json", ".json"], ".json", ["AB", "CD"]),
    (["A.json\nB.json", "CD.json"], ".json", ["CD"]),  # a planted name holding a newline is no two ids
    (["a", "b c", "d"], "", ["a", "d"]),
    ([], ".json", []),
])
def test_valid_stems_of_a_listing(names: list[str], suffix: str, stems: list[str]) -> None:
    assert valid_stems(names, suffix) == stems
    assert count_valid(names, suffix) == len(stems)


def test_id_at_makes_an_id_of_that_millisecond() -> None:
    # The scale benchmark builds a week of history with it.
    ms = time.time_ns() // 1_000_000 - 7 * 86_400_000
    made = [id_at(ms - 1), id_at(ms), id_at(ms + 1)]
    assert all(re.fullmatch(NEW_ID_PATTERN, job_id) for job_id in made)
    assert made == sorted(made) and made[-1] < new_id()
    assert id_at(ms)[:10] == id_at(ms)[:10] != made[0][:10]
