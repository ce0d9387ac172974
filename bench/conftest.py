import numpy as np
import pytest


@pytest.fixture(scope="session")
def binary_data():
    rng = np.random.default_rng(0)
    out = {}
    for n in (10**5, 10**6, 10**7):
        p = rng.random(n)
        out[n] = (p, (rng.random(n) < p).astype(np.int64))
    return out


@pytest.fixture(scope="session")
def topk_data():
    rng = np.random.default_rng(1)
    out = {}
    for n, k in ((10**6, 10), (10**5, 1000)):
        logits = rng.normal(size=(n, k)).astype(np.float64) * 2
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        out[(n, k)] = (P, rng.integers(0, k, n))
    return out
