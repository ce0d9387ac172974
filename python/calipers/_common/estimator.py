"""What calibrators and downstream corrections share: constructor parameters
(``get_params`` / ``set_params``, scikit-learn style), the fitted-state guard, and one JSON
document per object (``{"format", "format_version", "type", "params", "fitted"}``) wrapped
in the checked binary envelope of :mod:`calipers._common.serde`.

Each family (``Calibrator``, ``Correction``) subclasses :class:`Estimator` with
``family=True`` and its format name and blob type id; every public class below it
registers itself, so the family's ``from_json`` / ``from_bytes`` rebuild any member. A
loaded document is checked as a fit would make it: each parameter must pass the constructor
and come back unchanged, and the family's ``_fitted_from_dict`` checks the fitted state.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from . import jsontext
from . import serde as _serde

__all__ = ["Estimator"]

_E = TypeVar("_E", bound="Estimator")


class Estimator:
    """Parameters, the fitted-state guard and serialization (see the module docstring)."""

    _param_names: ClassVar[tuple[str, ...]] = ()
    _fitted: Any = None
    # set by each family root (``class Calibrator(Estimator, family=True)``)
    _root: ClassVar[type[Estimator]]
    _registry: ClassVar[dict[str, type[Estimator]]]
    _noun: ClassVar[str] = "estimator"
    _format: ClassVar[str] = ""
    _type_id: ClassVar[int] = 0
    _fit_call: ClassVar[str] = "fit(...)"

    def __init_subclass__(cls, family: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if family:
            cls._root, cls._registry = cls, {}
        elif not cls.__name__.startswith("_"):
            cls._registry[cls.__name__] = cls

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn protocol; ``deep`` is accepted and ignored)."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> Estimator:
        """Change constructor parameters (validated); a fitted state is discarded."""
        unknown = set(params) - set(self._param_names)
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no parameter(s) {sorted(unknown)}; valid: {list(self._param_names)}"
            )
        type(self).__init__(self, **{**self.get_params(), **params})  # re-runs the checks
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has run (or a fitted state was loaded)."""
        return self._fitted is not None

    def _state(self) -> Any:
        state = self._fitted
        if state is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call {self._fit_call} first")
        return state

    # -- serialization -------------------------------------------------------------------

    def _fitted_to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fitted_from_dict(self, d: dict[str, Any]) -> Any:
        raise NotImplementedError

    def to_json(self) -> str:
        """Human-readable form with stable field names; floats round-trip exactly."""
        doc = {
            "format": self._format,
            "format_version": 1,
            "type": type(self).__name__,
            "params": self.get_params(),
            "fitted": None if self._fitted is None else self._fitted_to_dict(),
        }
        return json.dumps(doc, allow_nan=False, sort_keys=True)

    @classmethod
    def _load_json(cls, text: str | bytes) -> Any:
        """Any member of ``cls``'s family from :meth:`to_json` output (ValueError otherwise)."""
        noun, fmt = cls._noun, cls._format
        if not isinstance(text, (str, bytes, bytearray)):
            raise TypeError(f"from_json expects JSON text (str or bytes), got {type(text).__name__}")
        try:
            doc = jsontext.loads(text, object_pairs_hook=jsontext.unique_keys)
        except (ValueError, TypeError) as exc:  # bad JSON, bad UTF-8, a key twice, not text
            raise ValueError(f"not calipers {noun} JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != fmt:
            raise ValueError(f"not calipers {noun} JSON: missing format {fmt!r}")
        if type(doc.get("format_version")) is not int or doc["format_version"] != 1:  # true == 1 in Python
            raise ValueError(f"unsupported {noun} format version {doc.get('format_version')!r} (this build reads 1)")
        name = doc.get("type")
        member = cls._registry.get(name) if isinstance(name, str) else None
        if member is None:
            raise ValueError(f"unknown {noun} type {name!r}")
        params = doc.get("params")
        if not isinstance(params, dict) or set(params) != set(member._param_names):
            raise ValueError(f"{member.__name__} parameters must be exactly {list(member._param_names)}")
        try:
            out = member(**params)
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"invalid {member.__name__} parameters: {exc}") from None
        for key, value in out.get_params().items():  # a constructor that coerced a value: not what was saved
            given = params[key]
            if type(value) is not type(given) or value != given:
                raise ValueError(f"invalid {member.__name__} parameter {key}={given!r}")
        fitted = doc.get("fitted")
        if fitted is not None:
            if not isinstance(fitted, dict):
                raise ValueError(f"{noun} 'fitted' must be an object or null")
            try:
                out._fitted = out._fitted_from_dict(fitted)
            except (TypeError, KeyError, AttributeError, OverflowError) as exc:
                raise ValueError(f"malformed fitted state of {member.__name__}: {exc!r}") from None
        return out

    @classmethod
    def from_json(cls: type[_E], text: str | bytes) -> _E:
        """Rebuild an object from :meth:`to_json` output. On a family (``Calibrator``,
        ``Correction``) it returns whichever member the JSON holds; on a member class the
        JSON must hold that class. Every parameter is checked as the constructor checks it
        (and must come back unchanged), and a fitted state must hold what a fit gives (see
        the family's notes). ValueError otherwise."""
        return cls._this_kind(cls._load_json(text))

    @classmethod
    def from_bytes(cls: type[_E], data: bytes) -> _E:
        """Rebuild an object from :meth:`to_bytes` output (checked as :meth:`from_json`)."""
        return cls._this_kind(cls._load_bytes(data))

    @classmethod
    def _this_kind(cls: type[_E], out: Any) -> _E:
        if not isinstance(out, cls):
            raise ValueError(f"the saved object is a {type(out).__name__}, not a {cls.__name__}")
        return out

    def to_bytes(self) -> bytes:
        """Versioned, checksummed binary envelope around the JSON form."""
        return _serde.pack_payload(self._type_id, self.to_json().encode("utf-8"))

    @classmethod
    def _load_bytes(cls, data: bytes) -> Any:
        """Any member of ``cls``'s family from :meth:`to_bytes` output (ValueError otherwise)."""
        payload = _serde.unpack_payload(data, cls._type_id)
        try:
            text = payload.decode("utf-8", "strict")
        except UnicodeDecodeError as exc:
            raise ValueError(f"calipers {cls._noun} blob is not UTF-8: {exc}") from None
        return cls._load_json(text)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (self._root._load_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Estimator) or other._root is not self._root:
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]
