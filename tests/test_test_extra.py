"""Every package of the ``test`` extra imports: a missing one fails here, loudly, instead of
quietly skipping the tests that compare calipers with it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# distribution name -> import name, where they differ
IMPORT_NAMES = {
    "uncertainty-calibration": "calibration",
    "scikit-learn": "sklearn",
    "faiss-cpu": "faiss",
    "pytest-benchmark": "pytest_benchmark",
    "prometheus-client": "prometheus_client",
    "opentelemetry-api": "opentelemetry.metrics",
    "opentelemetry-sdk": "opentelemetry.sdk",
    "dask": "distributed",  # dask[distributed,dataframe]: the extras are what the tests use
    "ppi-python": "ppi_py",
}


def _test_extra() -> list[str]:
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["test"]
    return [re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].strip() for req in extra]


@pytest.mark.parametrize("dist", _test_extra())
def test_package_of_the_test_extra_imports(dist: str) -> None:
    module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
    importlib.import_module(module)  # ImportError here means CI installed an incomplete environment


def test_dask_dataframe_imports() -> None:
    importlib.import_module("dask.dataframe")


@pytest.mark.parametrize("dist", _test_extra())
def test_ci_skip_allowlist_never_covers_a_package_of_the_test_extra(dist: str) -> None:
    """The CI skip allowlist (conftest.py) may name packages outside the extra (torch, netcal)
    only: a skipped comparison with a package CI installs must fail the run."""
    from conftest import CI_SKIP_ALLOWLIST

    module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
    for name in {module, module.split(".")[0], dist}:
        reason = f"could not import '{name}': No module named '{name}'"
        assert not any(p.search(reason) for p in CI_SKIP_ALLOWLIST), reason
