"""Corrupted blobs of the JSON-headed formats (SDMEstimator, QuantileSketch, GroupedSketch)
raise ValueError, also when the CRC is recomputed so the corruption reaches the parser:
mutated header fields (wrong types, huge counts, shapes) and flipped body bytes."""

from __future__ import annotations

import json
import random
import struct
import zlib

import numpy as np
import pytest

from calipers import GroupedSketch, QuantileSketch, SDMEstimator

VALUES = [None, -1, 0, 10**9, "x", [], {}, 1.5, 3, [1, 2], True, [[1]], ["a", "<f8", [10**12]], 1e308]


def _objects():
    rng = np.random.default_rng(0)
    h, z, y = rng.normal(size=(60, 4)), rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    return [
        SDMEstimator().fit(h, z, y, h, z, y),
        QuantileSketch(k=8).update(rng.normal(size=500)),
        GroupedSketch().update(rng.random(100), (rng.random(100) < 0.5).astype(int), rng.integers(0, 3, 100)),
    ]


def _sealed(head: bytes, payload: bytes) -> bytes:
    body = head[:12] + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_mutated_headers_raise_value_error(index):
    obj = _objects()[index]
    blob = obj.to_bytes()
    head, payload = blob[:20], blob[20:-4]
    (hlen,) = struct.unpack_from("<I", payload)
    header = json.loads(payload[4 : 4 + hlen])
    rnd = random.Random(index)
    for _ in range(300):
        mutated = json.loads(json.dumps(header))
        key = rnd.choice(list(mutated))
        if isinstance(mutated[key], list) and mutated[key] and rnd.random() < 0.6:
            i = rnd.randrange(len(mutated[key]))
            if isinstance(mutated[key][i], list) and rnd.random() < 0.5:
                mutated[key][i][rnd.randrange(len(mutated[key][i]))] = rnd.choice(VALUES)
            else:
                mutated[key][i] = rnd.choice(VALUES)
        else:
            mutated[key] = rnd.choice(VALUES)
        text = json.dumps(mutated).encode()
        corrupted = _sealed(head, struct.pack("<I", len(text)) + text + payload[4 + hlen :])
        try:
            type(obj).from_bytes(corrupted)
        except ValueError:
            pass


@pytest.mark.parametrize("index", [0, 1, 2])
def test_flipped_body_bytes_raise_value_error_or_load_consistently(index):
    obj = _objects()[index]
    blob = obj.to_bytes()
    head, payload = blob[:20], bytearray(blob[20:-4])
    rnd = random.Random(10 + index)
    for _ in range(200):
        mutated = bytearray(payload)
        mutated[rnd.randrange(len(mutated))] ^= 1 << rnd.randrange(8)
        try:
            again = type(obj).from_bytes(_sealed(head, bytes(mutated)))
        except ValueError:
            continue
        again.to_bytes()  # whatever loads is a usable object
    with pytest.raises(ValueError):
        type(obj).from_bytes(blob[:-1])
