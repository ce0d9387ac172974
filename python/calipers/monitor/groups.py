"""Group keys of a CalibrationMonitor and their slots (row numbers in every window's state).

Keys are strings or integers; the first ``max_groups`` distinct keys get a slot each, in
order of arrival, and later keys are pooled under :data:`OTHER` (the pooling is counted
once per key as the drop reason ``overflow``). ``None`` (no group) maps to slot -1.
``slots`` is read without a lock on the record path; it only ever grows.

Keys are told apart by type (1 and '1' are two keys), but snapshots, Prometheus and
OpenTelemetry show a key by its label ``str(key)``: a new key whose label is a known
different key's label is refused (:meth:`GroupTable.check_labels`), so no two groups
ever share a label.
"""

from __future__ import annotations

from collections.abc import Hashable

from .inputs import key_order

__all__ = ["GroupTable", "OTHER"]

OTHER = "__other__"  # groups beyond max_groups are pooled under this key


class GroupTable:
    """Key -> slot and slot -> key; created slots are never removed."""

    def __init__(self, max_groups: int) -> None:
        self.max_groups = max_groups
        self.slots: dict[Hashable, int] = {None: -1}
        self.keys: list[Hashable] = []
        self.other: int | None = None  # the slot of OTHER: never looked up by name on the record path
        self.labels: dict[str, Hashable] = {}  # str(key) -> key, every key placed or pooled

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: Hashable) -> int:
        """A new slot for ``key`` (the caller holds the state lock and knows it is new).
        :data:`OTHER` gets the pool's slot, which no recorded key reaches by its name."""
        slot = len(self.keys)
        self.keys.append(key)
        self.labels[str(key)] = key
        if key == OTHER:
            self.other = slot
        else:
            self.slots[key] = slot
        return slot

    def pool(self) -> tuple[int, bool]:
        """(the slot of :data:`OTHER`, whether it was created now), under the state lock."""
        if self.other is not None:
            return self.other, False
        return self.add(OTHER), True

    def place(self, key: Hashable) -> tuple[int, bool, bool]:
        """The slot of a key not seen before (under the state lock): (slot, created, pooled).
        Beyond ``max_groups`` the key shares the slot of :data:`OTHER` (created on first use)."""
        slot = self.slots.get(key)
        if slot is not None:
            return slot, False, False
        if len(self.keys) < self.max_groups:
            return self.add(key), True, False
        other, created = self.pool()
        self.slots[key] = other
        self.labels[str(key)] = key
        return other, created, True

    def check_labels(self, keys: list[Hashable], where: str = "group") -> None:
        """ValueError when one of ``keys`` not yet known would show as the same label as a
        known different key or another of ``keys`` (1 and '1' both show as "1"); changes
        nothing. ``where`` names the argument in the message."""
        seen: dict[str, Hashable] = {}
        for key in keys:
            if key is None or key in self.slots:
                continue
            label = str(key)
            other = self.labels.get(label, seen.get(label, key))
            if other != key or type(other) is not type(key):
                raise ValueError(
                    f"{where} {key!r} would show as {label!r}, as the group {other!r} does: "
                    "keys whose labels (str) are equal cannot both be groups"
                )
            seen[label] = key

    def plan(self, keys: list[Hashable]) -> tuple[list[int], list[Hashable], list[Hashable]]:
        """Where a merged monitor's keys would go, changing nothing (under the state lock):
        (each key's slot, the keys that would get a new slot in slot order, the keys that
        would be pooled under :data:`OTHER`). :data:`OTHER` itself goes to the pool's slot.
        :meth:`commit` makes it so. ValueError when a key's label collides
        (:meth:`check_labels`)."""
        self.check_labels([k for k in keys if k != OTHER], "the merged monitor's group")
        slots: list[int] = []
        new: list[Hashable] = []
        pooled: list[Hashable] = []
        planned: dict[Hashable, int] = {}
        size, other = len(self.keys), self.other

        def pool_slot() -> int:
            nonlocal size, other
            if other is None:
                other, size = size, size + 1
                new.append(OTHER)
            return other

        for key in keys:
            if key == OTHER:
                slots.append(pool_slot())
                continue
            slot = self.slots.get(key, planned.get(key))
            if slot is None:
                if size < self.max_groups:
                    slot, size = size, size + 1
                    new.append(key)
                else:
                    slot = pool_slot()
                    pooled.append(key)
                planned[key] = slot
            slots.append(slot)
        return slots, new, pooled

    def commit(self, new: list[Hashable], pooled: list[Hashable]) -> None:
        """Create the slots a :meth:`plan` (made under the same lock hold) said."""
        for key in new:
            self.add(key)
        if pooled:
            assert self.other is not None
            for key in pooled:
                self.slots[key] = self.other
                self.labels[str(key)] = key

    def sorted_slots(self) -> list[int]:
        """Slots in key order (integers, then strings)."""
        return sorted(range(len(self.keys)), key=lambda s: key_order(self.keys[s]))

    def sorted_keys(self) -> list[Hashable]:
        """Keys in key order (integers, then strings)."""
        return sorted(self.keys, key=key_order)
