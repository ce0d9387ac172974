"""Optional dependencies: one way to import them and one error when they are missing.

A missing optional dependency raises ``ImportError`` naming the calipers extra that
installs it (``pip install 'calipers[plot]'``) and what needed it, never a bare
``ModuleNotFoundError`` from deep inside a call or a ``ValueError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require", "EXTRAS"]

# top-level import name -> (calipers extra, what pip installs)
EXTRAS: dict[str, tuple[str, str]] = {
    "matplotlib": ("plot", "matplotlib"),
    "pandas": ("pandas", "pandas"),
    "pyarrow": ("parquet", "pyarrow"),
    "dask": ("dask", "dask[distributed]"),
    "distributed": ("dask", "dask[distributed]"),
    "sklearn": ("sklearn", "scikit-learn"),
    "faiss": ("faiss", "faiss-cpu"),
    "numba": ("numba", "numba"),
    "scipy": ("scipy", "scipy"),
    "prometheus_client": ("monitor", "prometheus-client"),
    "fastapi": ("monitor", "fastapi"),
    "uvicorn": ("monitor", "uvicorn"),
    "opentelemetry": ("otel", "opentelemetry-api"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib.pyplot"``) or raise ImportError naming the
    extra to install: ``"{purpose} needs matplotlib: pip install 'calipers[plot]'"``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".", 1)[0]
        extra, package = EXTRAS.get(top, (None, top))
        hint = f"pip install 'calipers[{extra}]' (or pip install {package})" if extra else f"pip install {package}"
        raise ImportError(f"{purpose} needs {package}: {hint}") from exc
