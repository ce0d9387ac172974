"""Locking two mergeable objects at once without deadlock: ``a.merge(b)`` on one thread and
``b.merge(a)`` on another take the two locks in the same (id) order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def both_locked(first: Any, second: Any) -> Iterator[None]:
    """Hold ``first._lock`` and ``second._lock`` (one lock when they are the same object),
    acquired in id order and released in reverse."""
    owners = [first] if first is second else sorted((first, second), key=id)
    locks: list[threading.Lock | threading.RLock] = [owner._lock for owner in owners]
    for lock in locks:
        lock.acquire()
    try:
        yield
    finally:
        for lock in reversed(locks):
            lock.release()
