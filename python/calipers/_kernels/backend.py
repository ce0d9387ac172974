"""Backend resolution: ``backend="auto"|"cpp"|"numba"|"numpy"``.

``auto`` (overridden by the ``CALIPERS_BACKEND`` environment variable) picks the C++
extension when it imports, else Numba when installed, else the numpy reference.
Every backend module exposes the same kernels: ``validate_binary``, ``validate_probs``,
``accumulate``, ``binned_stats_edges`` and ``top_label``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Literal

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


def show_config() -> str:
    """A human-readable report of which backends are live (and why one is missing)."""
    lines = [f"calipers backends (auto -> {name_of(resolve('auto'))}):"]
    for name, state in available().items():
        lines.append(f"  {name:6s} {state}")
    env = os.environ.get("CALIPERS_BACKEND")
    if env:
        lines.append(f"  CALIPERS_BACKEND={env}")
    text = "\n".join(lines)
    print(text)
    return text
