"""Sketches shared between threads (issue 11): a merge locks both sketches in a fixed order,
so concurrent updates, merges and serializations end in a state that some serial order of
the same calls gives; counts that would pass 2^63 - 1 raise instead of wrapping."""

from __future__ import annotations

import functools
import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import calipers
from calipers.streaming.sketch import MAX_COUNT


@contextmanager
def busy_switching() -> Iterator[None]:
    """Thread switches every microsecond, so unlocked read-modify-write races show up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in as many threads, released at once; their results (or exceptions)."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # handed back to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _sketch(n: int, seed: int = 0, bins: int = 15) -> calipers.ReliabilitySketch:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return calipers.ReliabilitySketch(bins).update(p, (rng.random(n) < p).astype(int))


def test_self_merges_from_four_threads_double_exactly() -> None:
    """Finding: four threads each running s.merge(s) three times ended anywhere from 5760 to
    40960 (10 x 2^12 = 40960 is the only serial answer)."""
    serial = _sketch(10)
    for _ in range(12):
        serial.merge(serial)
    with busy_switching():
        for _ in range(20):
            s = _sketch(10)

            def three(s: calipers.ReliabilitySketch = s) -> None:
                for _ in range(3):
                    s.merge(s)

            together([three] * 4)
            assert s.count == 40960
            assert s.to_bytes() == serial.to_bytes()


def test_crossed_merges_give_a_serial_answer() -> None:
    """Finding: a.merge(b) racing b.merge(a) gave (20, 20); a serial order gives (20, 30) or
    (30, 20). Locking both in a fixed order also means the crossed merges cannot deadlock."""
    seen = set()
    with busy_switching():
        for trial in range(200):
            a, b = _sketch(10, 1), _sketch(10, 2)
            together([functools.partial(a.merge, b), functools.partial(b.merge, a)])
            seen.add((a.count, b.count))
            assert (a.count, b.count) in {(20, 30), (30, 20)}, trial
    assert seen  # at least one order happened (usually both)


def test_counts_that_would_wrap_raise_and_change_nothing() -> None:
    """Finding: the count wrapped silently at 2^64 (63 self-merges: count 0, NaN metrics, ECE
    -1.6e-19)."""
    s = calipers.ReliabilitySketch().update([0.25, 0.75], [0, 1])
    for _ in range(61):
        s.merge(s)
    assert s.count == 2**62
    before = s.to_bytes()
    with pytest.raises(ValueError, match=r"merging 4611686018427387904 samples to a sketch of 4611686018427387904 "):
        s.merge(s)
    assert s.to_bytes() == before and s.count == 2**62
    assert 0 <= s.ece() <= 1 and s.brier() == pytest.approx(0.0625)
    # exactly 2^63 - 1 samples: the sum of sketches of 2^k samples, k = 0..62
    full = calipers.ReliabilitySketch()
    one = calipers.ReliabilitySketch().update([0.5], [1])
    for k in range(63):
        full.merge(one)
        if k < 62:
            one.merge(one)
    assert full.count == MAX_COUNT
    assert calipers.ReliabilitySketch.from_bytes(full.to_bytes()) == full  # still a valid state
    assert full.brier() == pytest.approx(0.25) and full.log_loss() == pytest.approx(np.log(2))
    before = full.to_bytes()
    with pytest.raises(ValueError, match="adding 1 samples to a sketch of 9223372036854775807"):
        full.update([0.5], [0])
    with pytest.raises(ValueError, match="merging 1 samples"):
        full.merge(calipers.ReliabilitySketch().update([0.5], [0]))
    assert full.to_bytes() == before


def test_grouped_and_quantile_sketches_merge_safely_across_threads() -> None:
    groups = calipers.GroupedSketch().update([0.2, 0.8, 0.5], [0, 1, 1], ["a", "b", "a"])
    serial = groups.copy()
    for _ in range(6):
        serial.merge(serial)
    q = calipers.QuantileSketch(k=64, seed=0).update(np.arange(50.0))
    with busy_switching():
        together([lambda: (groups.merge(groups), groups.merge(groups), groups.merge(groups))] * 2)
        together([lambda: q.merge(q)] * 4)
    assert groups == serial and (groups["a"].count, groups["b"].count) == (128, 64)
    assert q.count == 50 * 16
    a = calipers.GroupedSketch().update([0.1], [0], ["x"])
    b = calipers.GroupedSketch().update([0.9], [1], ["x"])
    with busy_switching():
        together([lambda: a.merge(b), lambda: b.merge(a)])
    assert sorted((a["x"].count, b["x"].count)) == [2, 3]


# -- the state machine ---------------------------------------------------------------------------------

SKETCHES = 3
BATCHES = [
    (np.random.default_rng(s).random(n), (np.random.default_rng(s + 100).random(n) < 0.5).astype(int))
    for s, n in enumerate([1, 7, 300, 4000])
]

operation = st.one_of(
    st.tuples(st.just("update"), st.integers(0, SKETCHES - 1), st.integers(0, len(BATCHES) - 1)),
    st.tuples(st.just("merge"), st.integers(0, SKETCHES - 1), st.integers(0, SKETCHES - 1)),
    st.tuples(st.just("serialize"), st.integers(0, SKETCHES - 1), st.just(0)),
)


def _apply(sketches: list[calipers.ReliabilitySketch], op: tuple[str, int, int]) -> bytes | None:
    kind, i, j = op
    if kind == "update":
        sketches[i].update(*BATCHES[j])
        return None
    if kind == "merge":
        sketches[i].merge(sketches[j])
        return None
    return sketches[i].to_bytes()


class SharedSketches(RuleBasedStateMachine):
    """A few sketches shared by threads. Each step runs 2-4 operations (update with a batch,
    merge of one into another or into itself, to_bytes) at once in threads; the sketches and
    every to_bytes result must then be those of some serial order of the same operations."""

    @initialize()
    def start(self) -> None:
        self.sketches = [calipers.ReliabilitySketch(bins=8) for _ in range(SKETCHES)]
        self.model = [s.to_bytes() for s in self.sketches]

    @rule(ops=st.lists(operation, min_size=2, max_size=4))
    def run_concurrently(self, ops: list[tuple[str, int, int]]) -> None:
        with busy_switching():
            results = together([lambda op=op: _apply(self.sketches, op) for op in ops])
        for r in results:
            if isinstance(r, Exception):
                raise r
        actual = [s.to_bytes() for s in self.sketches]
        for order in itertools.permutations(range(len(ops))):
            replay = [calipers.ReliabilitySketch.from_bytes(b) for b in self.model]
            outputs: list[bytes | None] = [None] * len(ops)
            for k in order:
                outputs[k] = _apply(replay, ops[k])
            if [s.to_bytes() for s in replay] == actual and outputs == results:
                break
        else:
            raise AssertionError(f"no serial order of {ops} gives the final states and serialized bytes")
        self.model = actual

    @invariant()
    def counts_add_up(self) -> None:
        for s in self.sketches:
            assert s.count == calipers.ReliabilitySketch.from_bytes(s.to_bytes()).count


SharedSketches.TestCase.settings = settings(max_examples=40, stateful_step_count=8, deadline=None)
test_shared_sketches = SharedSketches.TestCase
