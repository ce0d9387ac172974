"""The protocol every calibrator shares: parameters (``get_params`` / ``set_params``),
the fitted-state guard, sample-weight checks, and serialization to JSON and bytes through
a registry of calibrator types (``Calibrator.from_json`` rebuilds any of them).

A fitted calibrator is immutable (``fit`` swaps in a new frozen state), so one instance
can serve many threads.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import numpy as np

from .._common import serde as _serde
from .._common.grid import KIND_BINARY, KIND_MARGINAL, KIND_TOP_LABEL
from .._common.validate import as_weights, check_weight_values

__all__ = ["Calibrator", "check_weights"]

_KIND_NAMES = {KIND_BINARY: "binary", KIND_TOP_LABEL: "top-label", KIND_MARGINAL: "marginal"}
_KIND_CODES = {v: k for k, v in _KIND_NAMES.items()}
_REGISTRY: dict[str, type[Calibrator]] = {}


def check_weights(sample_weight: Any, n: int) -> np.ndarray | None:
    """None, or the checked weights (float64 (n,), finite, >= 0, below 2^39, at least one
    positive): the package's one weight rule (:func:`calipers._common.validate.weight_error`).
    Calibrators drop zero-weight rows before fitting, so a zero weight is a dropped row."""
    w = as_weights(sample_weight, n)
    if w is None:
        return None
    check_weight_values(w)
    if not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive weight")
    return w


_F64 = np.dtype(np.float64)


def _check_one(v: float) -> float:
    if 0.0 <= v <= 1.0:
        return v
    if v != v:
        raise ValueError("scores must not contain NaN: 1 NaN value(s), first at index 0")
    if math.isinf(v):
        raise ValueError("scores must be finite: 1 infinite value(s), first at index 0")
    raise ValueError(f"scores must lie in [0, 1]: 1 value(s) outside, first at index 0 (value {v!r})")


class Calibrator:
    """Shared protocol: parameters, serialization and the fitted-state guard."""

    _param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    _fitted: Any = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> Calibrator:
        """Change constructor parameters (validated); a fitted state is discarded."""
        unknown = set(params) - set(self._param_names)
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no parameter(s) {sorted(unknown)}; valid: {list(self._param_names)}"
            )
        merged = {**self.get_params(), **params}
        type(self).__init__(self, **merged)  # re-runs the checks
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return self._fitted is not None

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> Calibrator:
        raise NotImplementedError

    def transform(self, scores: Any) -> Any:
        raise NotImplementedError

    def _state(self) -> Any:
        state = self._fitted
        if state is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit(scores, labels) first")
        return state

    # -- serialization -------------------------------------------------------------------

    def _fitted_to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fitted_from_dict(self, d: dict[str, Any]) -> Any:
        raise NotImplementedError

    def to_json(self) -> str:
        """Human-readable form with stable field names; floats round-trip exactly."""
        doc = {
            "format": "calipers.calibrator",
            "format_version": 1,
            "type": type(self).__name__,
            "params": self.get_params(),
            "fitted": None if self._fitted is None else self._fitted_to_dict(),
        }
        return json.dumps(doc, allow_nan=False, sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> Calibrator:
        """Rebuild any calibrator from :meth:`to_json` output; ValueError if malformed."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise ValueError(f"not calipers calibrator JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != "calipers.calibrator":
            raise ValueError("not calipers calibrator JSON: missing format 'calipers.calibrator'")
        if doc.get("format_version") != 1:
            raise ValueError(
                f"unsupported calibrator format version {doc.get('format_version')!r} (this build reads 1)"
            )
        name = doc.get("type")
        cls = _REGISTRY.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"unknown calibrator type {doc.get('type')!r}")
        params = doc.get("params")
        if not isinstance(params, dict) or set(params) != set(cls._param_names):
            raise ValueError(f"{cls.__name__} parameters must be exactly {list(cls._param_names)}")
        try:
            out = cls(**params)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"invalid {cls.__name__} parameters: {exc}") from None
        if doc.get("fitted") is not None:
            if not isinstance(doc["fitted"], dict):
                raise ValueError("calibrator 'fitted' must be an object or null")
            try:
                out._fitted = out._fitted_from_dict(doc["fitted"])
            except (TypeError, KeyError, AttributeError, OverflowError) as exc:
                raise ValueError(f"malformed fitted state of {cls.__name__}: {exc!r}") from None
        return out

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary envelope around the JSON form."""
        return _serde.pack_payload(_serde.TYPE_CALIBRATOR, self.to_json().encode("utf-8"))

    @staticmethod
    def from_bytes(data: bytes) -> Calibrator:
        return Calibrator.from_json(_serde.unpack_payload(data, _serde.TYPE_CALIBRATOR).decode("utf-8", "strict"))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Calibrator.from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calibrator):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]
