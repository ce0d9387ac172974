"""The protocol of downstream corrections (LCC, Tweedie): parameters, the fitted-state
guard, the downstream helpers (``mean``, ``contrast``, ``ate``) and serialization.

A correction maps real-valued predictions to corrected ones; unlike a
:class:`calipers.Calibrator` it takes no labels and no [0, 1] scores, so it has its own
JSON envelope (``"format": "calipers.correction"``, a registry of correction types rebuilt
by :meth:`Correction.from_json`) and its own type id in the binary envelope of
:mod:`calipers._common.serde`. ``calipers apply`` loads either kind of file.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from .._common import serde as _serde
from .downstream import DownstreamEstimate, check_values
from .downstream import ate as _ate
from .downstream import contrast as _contrast
from .downstream import mean as _mean

__all__ = ["Correction", "DebiasingWarning", "TYPE_CORRECTION", "FORMAT"]

TYPE_CORRECTION = _serde.TYPE_CORRECTION
FORMAT = "calipers.correction"
_REGISTRY: dict[str, type[Correction]] = {}


class DebiasingWarning(UserWarning):
    """A correction was fitted or applied where its premises are weak (small calibration
    sample, weak slope, predictions outside the calibration range)."""


class Correction:
    """Shared protocol: ``fit(predictions, targets)``, ``transform(predictions)``, the
    downstream helpers on corrected predictions, and JSON / bytes serialization."""

    _param_names: ClassVar[tuple[str, ...]] = ()
    _fitted: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (sklearn style)."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> Correction:
        """Change constructor parameters (validated); a fitted state is discarded."""
        unknown = set(params) - set(self._param_names)
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no parameter(s) {sorted(unknown)}; valid: {list(self._param_names)}"
            )
        type(self).__init__(self, **{**self.get_params(), **params})
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or ``fit_sketch``) has run."""
        return self._fitted is not None

    def _state(self) -> Any:
        if self._fitted is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit(predictions, targets) first")
        return self._fitted

    def fit(self, predictions: Any, targets: Any) -> Correction:
        """Fit on a held-out calibration split of predictions and their true values."""
        raise NotImplementedError

    def transform(self, predictions: Any) -> np.ndarray:
        """Corrected predictions, one per input prediction."""
        raise NotImplementedError

    # -- downstream helpers ----------------------------------------------------------------

    def mean(
        self, predictions: Any, weights: Any = None, *, bootstrap: int = 0, confidence: float = 0.95, seed: Any = None
    ) -> DownstreamEstimate:
        """(Weighted) mean of the corrected predictions; ``naive`` is that of the raw ones."""
        x = check_values(predictions)
        naive = _mean(x, weights).estimate
        return _mean(self.transform(x), weights, bootstrap=bootstrap, confidence=confidence, seed=seed, naive=naive)

    def contrast(
        self,
        predictions: Any,
        groups: Any,
        *,
        levels: tuple[Any, Any] | None = None,
        bootstrap: int = 0,
        confidence: float = 0.95,
        seed: Any = None,
    ) -> DownstreamEstimate:
        """Difference of two group means of the corrected predictions (see
        :func:`calipers.debias.downstream.contrast`)."""
        x = check_values(predictions)
        naive = _contrast(x, groups, levels=levels).estimate
        return _contrast(
            self.transform(x), groups, levels=levels, bootstrap=bootstrap, confidence=confidence, seed=seed, naive=naive
        )

    def ate(
        self,
        predictions: Any,
        treatment: Any,
        propensity: Any = None,
        *,
        estimator: str = "hajek",
        bootstrap: int = 0,
        confidence: float = 0.95,
        seed: Any = None,
    ) -> DownstreamEstimate:
        """Average treatment effect on the corrected predictions, Hajek or Horvitz-Thompson
        (see :func:`calipers.debias.downstream.ate`)."""
        x = check_values(predictions)
        naive = _ate(x, treatment, propensity, estimator=estimator).estimate
        return _ate(
            self.transform(x),
            treatment,
            propensity,
            estimator=estimator,
            bootstrap=bootstrap,
            confidence=confidence,
            seed=seed,
            naive=naive,
        )

    # -- serialization ---------------------------------------------------------------------

    def _fitted_to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fitted_from_dict(self, d: dict[str, Any]) -> Any:
        raise NotImplementedError

    def to_json(self) -> str:
        """Human-readable form with stable field names; floats round-trip exactly."""
        doc = {
            "format": FORMAT,
            "format_version": 1,
            "type": type(self).__name__,
            "params": self.get_params(),
            "fitted": None if self._fitted is None else self._fitted_to_dict(),
        }
        return json.dumps(doc, allow_nan=False, sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> Correction:
        """Rebuild any correction from :meth:`to_json` output; ValueError if malformed."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise ValueError(f"not calipers correction JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not calipers correction JSON: missing format {FORMAT!r}")
        if doc.get("format_version") != 1:
            raise ValueError(
                f"unsupported correction format version {doc.get('format_version')!r} (this build reads 1)"
            )
        name = doc.get("type")
        cls = _REGISTRY.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"unknown correction type {name!r}")
        params = doc.get("params")
        if not isinstance(params, dict) or set(params) != set(cls._param_names):
            raise ValueError(f"{cls.__name__} parameters must be exactly {list(cls._param_names)}")
        try:
            out = cls(**params)
        except TypeError as exc:
            raise ValueError(f"invalid {cls.__name__} parameters: {exc}") from None
        fitted = doc.get("fitted")
        if fitted is not None:
            if not isinstance(fitted, dict):
                raise ValueError("correction 'fitted' must be an object or null")
            try:
                out._fitted = out._fitted_from_dict(fitted)
            except (TypeError, KeyError, AttributeError, OverflowError) as exc:
                raise ValueError(f"malformed fitted state of {cls.__name__}: {exc!r}") from None
        return out

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary envelope around the JSON form."""
        return _serde.pack_payload(TYPE_CORRECTION, self.to_json().encode("utf-8"))

    @staticmethod
    def from_bytes(data: bytes) -> Correction:
        """Rebuild any correction from :meth:`to_bytes` output; ValueError if corrupted."""
        payload = _serde.unpack_payload(data, TYPE_CORRECTION)
        try:
            text = payload.decode("utf-8", "strict")
        except UnicodeDecodeError as exc:
            raise ValueError(f"calipers correction blob is not UTF-8: {exc}") from None
        return Correction.from_json(text)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Correction.from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Correction):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]
