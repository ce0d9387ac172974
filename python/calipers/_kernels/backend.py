"""Backend resolution: ``backend="auto"|"cpp"|"numba"|"numpy"``.

``auto`` (overridden by the ``CALIPERS_BACKEND`` environment variable) picks the C++
extension when it imports, else Numba when installed, else the numpy reference.
Every backend module implements the kernel contract (:mod:`calipers._kernels.contract`).
``set_num_threads`` bounds the C++ backend's one process-wide thread pool.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Literal

import numpy as np

Backend = Literal["auto", "cpp", "numba", "numpy"]
BACKENDS = ("cpp", "numba", "numpy")

_cache: dict[str, ModuleType] = {}
_errors: dict[str, str] = {}


def _load(name: str) -> ModuleType | None:
    if name in _cache:
        return _cache[name]
    if name in _errors:
        return None
    module_name = {
        "cpp": "calipers._core",
        "numba": "calipers._kernels.numba_backend",
        "numpy": "calipers._kernels.numpy_backend",
    }[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # a missing extension or a missing numba
        _errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    _cache[name] = module
    return module


_fallback_warned: list[bool] = []


def _warn_fallback(name: str) -> None:
    """Once per process: 'auto' runs without the C++ extension (a compiler-less install)."""
    if _fallback_warned:
        return
    _fallback_warned.append(True)
    warnings.warn(
        f"calipers: the C++ extension is not available ({_errors.get('cpp', 'not built')}); backend='auto' uses "
        f"the {name} backend, 10-50x slower. Reinstall with a C++17 compiler for the fast path, or set "
        f"CALIPERS_BACKEND={name} to choose it explicitly and silence this message.",
        RuntimeWarning,
        stacklevel=3,
    )


def _missing(name: str) -> ImportError:
    hint = {
        "cpp": "the C++ extension calipers._core is not built; reinstall with a C++17 compiler "
        "(pip install .), or use backend='numba'/'numpy'",
        "numba": "numba is not installed; pip install 'calipers[numba]'",
        "numpy": "the numpy reference failed to import",
    }[name]
    return ImportError(f"backend {name!r} is unavailable: {hint} ({_errors.get(name, '')})")


def resolve(backend: str = "auto") -> ModuleType:
    """Return the kernel module for ``backend``; raise ImportError if it is unavailable."""
    if backend == "auto":
        env = os.environ.get("CALIPERS_BACKEND", "").strip().lower()
        if env and env != "auto":
            return resolve(env)
        for name in BACKENDS:
            module = _load(name)
            if module is not None:
                if name != "cpp":
                    _warn_fallback(name)
                return module
        raise _missing("numpy")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of 'auto', 'cpp', 'numba', 'numpy', got {backend!r}")
    module = _load(backend)
    if module is None:
        raise _missing(backend)
    return module


def name_of(module: ModuleType) -> str:
    return {
        "calipers._core": "cpp",
        "calipers._kernels.numba_backend": "numba",
        "calipers._kernels.numpy_backend": "numpy",
    }[module.__name__]


def available() -> dict[str, str]:
    """Map each backend to 'ok' or the reason it cannot be used."""
    status = {}
    for name in BACKENDS:
        status[name] = "ok" if _load(name) is not None else _errors.get(name, "unavailable")
    return status


def set_num_threads(n: int) -> None:
    """Bound the one process-wide pool of C++ worker threads to ``n`` threads (the calling
    thread included; default min(cores, 8), or ``CALIPERS_NUM_THREADS`` when set before the
    first parallel call). However many Python threads call calipers at once, the process
    holds at most n - 1 pool workers; batches below 2^18 values run on the calling thread.
    Results never depend on n. The Numba and numpy backends run on the calling thread."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    if not 1 <= n <= 256:
        raise ValueError(f"n must lie in [1, 256], got {n}")
    core = _load("cpp")
    if core is not None:
        core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads a C++ parallel loop may use (1 when the extension is not built)."""
    core = _load("cpp")
    return int(core.get_num_threads()) if core is not None else 1


def show_config() -> str:
    """A human-readable report of which backends are live (and why one is missing)."""
    lines = [f"calipers backends (auto -> {name_of(resolve('auto'))}; C++ threads: {get_num_threads()}):"]
    for name, state in available().items():
        lines.append(f"  {name:6s} {state}")
    env = os.environ.get("CALIPERS_BACKEND")
    if env:
        lines.append(f"  CALIPERS_BACKEND={env}")
    text = "\n".join(lines)
    print(text)
    return text
