"""h-calibration (Huang et al. 2025, "h-calibration: rethinking classifier recalibration with
a probabilistic error-bounded objective"; specs/debiased.md section 3): the objective
:func:`h_calibration_loss`, its analytic gradient (C++ ``hcalibration_loss_grad``, with
numba and numpy mirrors) and :class:`HCalibration`, the official ``linear`` family (a
mixture of temperature-scaled softmaxes) fitted by minimizing it.

The loss follows the official ``loss/hCalib.py`` (WenjianHuang93/h-Calibration) with these
stated choices:

- weighting: "unweighted" (the mean over events) and "ace" (the official "aceweighted":
  15 closed equal-width bins, each bin's mean error, averaged). The paper's experiments use
  "cluaceweighted", which clusters the probabilities with faiss k-means (random, unseeded
  initialization) on every call; it is left out, so the loss is deterministic.
- arithmetic in float64 (the official code convolves in float32); the ace bin edges are
  ``b * (1/15)`` in float64 (the official ones are float32 ``torch.linspace``).
- events are ordered by ``p + 1e-20`` with a stable sort, ties in row-major order (the
  official code sorts ``log(p + 1e-20)`` with an unstable sort; the order differs only
  among probabilities equal to float64 precision).
- ``window`` must be even (the official convolution is one event short for odd windows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.saved import saved_int, saved_numbers, saved_optional_number
from .._common.validate import as_labels, check, check_choice
from .._kernels import backend as _backend
from .base import Calibrator

__all__ = ["h_calibration_loss", "h_calibration_gradient", "official_debiased_ece", "HCalibration"]

WEIGHTINGS = {"unweighted": 0, "ace": 1}
SELECTIONS = ("debiased-ece", "last")


@dataclass(frozen=True)
class _LossArgs:
    window: int
    eps: float
    weighting: int
    leave_one_out: bool
    scale: float


def _loss_args(window: Any, eps: Any, weighting: Any, leave_one_class_out: Any, scale: Any) -> _LossArgs:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window must be an integer, got {type(window).__name__}")
    if window < 0 or window % 2:
        raise ValueError(f"window must be an even integer >= 0, got {window}")
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    check_choice("weighting", weighting, tuple(WEIGHTINGS))
    if not isinstance(leave_one_class_out, (bool, np.bool_)):
        raise TypeError(f"leave_one_class_out must be a bool, got {type(leave_one_class_out).__name__}")
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return _LossArgs(int(window), float(eps), WEIGHTINGS[weighting], bool(leave_one_class_out), float(scale))


def _probs_labels(probs: Any, labels: Any, kernels: Any) -> tuple[np.ndarray, np.ndarray]:
    c = check(probs, labels, kernels, mode="top-label")
    if c.scores.ndim != 2:
        raise ValueError(f"probs must be 2-D (n, K) class probabilities, got shape {c.scores.shape}")
    return np.ascontiguousarray(c.scores, dtype=np.float64), np.ascontiguousarray(c.labels, dtype=np.int64)


def _check_loo(y: np.ndarray, args: _LossArgs) -> None:
    if args.leave_one_out and np.all(y == y[0]):
        raise ValueError(
            "leave_one_class_out needs labels of at least 2 classes (the subset without the only class is empty)"
        )


def h_calibration_gradient(
    probs: Any,
    labels: Any,
    window: int = 200,
    eps: float = 1e-20,
    weighting: str = "unweighted",
    leave_one_class_out: bool = True,
    scale: float = 1e5,
    *,
    backend: str = "auto",
) -> tuple[float, np.ndarray]:
    """The h-calibration loss and its gradient with respect to ``probs`` (same shape).

    The event order and the bins are constants (the official code detaches them), so the
    gradient of each windowed mean error is ``sign(D_t) [|D_t| > eps] / (window + 1)`` per
    event in the window, weighted as the loss weights event t (see
    cpp/include/calipers/hcalibration.hpp)."""
    kernels = _backend.resolve(backend)
    args = _loss_args(window, eps, weighting, leave_one_class_out, scale)
    P, y = _probs_labels(probs, labels, kernels)
    _check_loo(y, args)
    loss, grad = kernels.hcalibration_loss_grad(
        P, y, args.window, args.eps, args.weighting, args.leave_one_out, args.scale, True
    )
    return float(loss), np.asarray(grad)


def h_calibration_loss(
    probs: Any,
    labels: Any,
    window: int = 200,
    eps: float = 1e-20,
    weighting: str = "unweighted",
    leave_one_class_out: bool = True,
    scale: float = 1e5,
    *,
    backend: str = "auto",
) -> float:
    """The h-calibration objective of (n, K) calibrated probabilities and integer labels.

    Every entry of ``probs`` is an event (outcome 1 for the true class). Per subset of rows
    (``leave_one_class_out``: for each class c, the rows whose label is not c; else all
    rows) the events are sorted by probability and ``D_t``, the mean of ``p - outcome`` over
    the ``window + 1`` events centered on t (zero-padded at the ends, always divided by
    ``window + 1``), gives the error ``max(|D_t| - eps, 0)``; the subset's loss is their
    mean (``weighting="unweighted"``) or the mean over 15 equal-width probability bins of
    each bin's mean error (``"ace"``). The result is ``scale`` times the mean over subsets.
    Equal, up to the choices in the module docstring, to the official ``hcalibration``
    with ``weightingtype`` "unweighted" / "aceweighted", ``IsIter`` = leave_one_class_out,
    ``veclen`` = window, ``epsilon`` = eps, ``lossweight`` = scale.
    """
    kernels = _backend.resolve(backend)
    args = _loss_args(window, eps, weighting, leave_one_class_out, scale)
    P, y = _probs_labels(probs, labels, kernels)
    _check_loo(y, args)
    loss, _ = kernels.hcalibration_loss_grad(
        P, y, args.window, args.eps, args.weighting, args.leave_one_out, args.scale, False
    )
    return float(loss)


def _folded_normal_mean(mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E|X| for X ~ Normal(mu, sd^2); |mu| where sd = 0 (the official closed form,
    ``sd sqrt(2/pi) 1F1(-1/2; 1/2; -mu^2 / (2 sd^2))``, written with erf)."""
    out = np.abs(mu).astype(np.float64)
    pos = sd > 0
    m, s = np.abs(mu[pos]), sd[pos]
    erf = np.vectorize(math.erf, otypes=[np.float64])
    out[pos] = s * math.sqrt(2.0 / math.pi) * np.exp(-(m * m) / (2.0 * s * s)) + m * erf(m / (s * math.sqrt(2.0)))
    return np.asarray(out, dtype=np.float64)


def official_debiased_ece(probs: Any, labels: Any, bins: int = 15) -> float:
    """The debiased top-label ECE the official h-calibration code selects checkpoints by
    (``_DebiasedECELoss(debiased=True, adaptive=True, power=1)``): sort the confidences
    (stable), cut at ``round(n / bins * i)`` (half to even), plugin ECE ``sum_j (n_j / n)
    |mean conf_j - acc_j|``, minus the mean over bins of the folded-normal mean
    ``E|Normal(acc_j - conf_j, acc_j (1 - acc_j) / n_j)|``, i.e. ``2 plugin - mean``. It is
    deterministic (the official code replaced the resampling by this closed form). Raises
    ValueError when a bin holds fewer than 2 samples, as the official code does."""
    P = np.asarray(probs, dtype=np.float64)
    y = as_labels(labels)
    if P.ndim != 2 or y.shape != (P.shape[0],):
        raise ValueError(f"probs must be (n, K) and labels (n,), got {P.shape} and {y.shape}")
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == y).astype(np.float64)
    n = conf.size
    order = np.argsort(conf, kind="stable")
    cuts = np.round(n / bins * np.arange(bins + 1)).astype(np.int64)
    sizes = np.diff(cuts)
    if sizes.min() <= 1:
        raise ValueError(f"every bin needs at least 2 samples for the debiased ECE ({n} samples in {bins} bins)")
    sc, sy = conf[order], correct[order]
    mean_conf = np.add.reduceat(sc, cuts[:-1]) / sizes
    acc = np.add.reduceat(sy, cuts[:-1]) / sizes
    plugin = float(np.dot(sizes / n, np.abs(mean_conf - acc)))
    resampled = _folded_normal_mean(acc - mean_conf, np.sqrt(acc * (1.0 - acc) / sizes))
    return 2.0 * plugin - float(np.mean(resampled))


def equal_width_ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """The official ``_ECELoss``: top-label, ``bins`` equal-width bins ``(lo, hi]``."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)  # (lo, hi]; conf = 0 -> bin 0
    keep = conf > 0.0
    np.bincount(idx[keep], minlength=bins)
    gap = np.bincount(idx[keep], conf[keep], minlength=bins) - np.bincount(idx[keep], correct[keep], minlength=bins)
    return float(np.sum(np.abs(gap)) / conf.size)


# ------------------------------------------------------------------ the linear family


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    out: np.ndarray = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return out


def mixture_probs(z: np.ndarray, inv_temps: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q = sum_m weights_m softmax(inv_temps_m z)`` of log-softmax logits z (n, K), and the
    components (n, K, M)."""
    # z - max(z) <= 0 and inv_temps >= 0: no overflow, and the largest entry is exp(0) = 1, so a
    # large inverse temperature never underflows a whole row to 0 / 0
    e = np.exp((z - z.max(axis=1, keepdims=True))[:, :, None] * inv_temps[None, None, :])
    A = e / e.sum(axis=1, keepdims=True)
    return A @ weights, A


@dataclass(frozen=True)
class _FittedHCal:
    inv_temperatures: np.ndarray
    weights: np.ndarray
    epochs: int
    selected_epoch: int
    selected_metric: float


class _Adam:
    """torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8, no weight decay)."""

    def __init__(self, size: int, lr: float) -> None:
        self.lr, self.t = lr, 0
        self.m, self.v = np.zeros(size), np.zeros(size)

    def step(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * g
        self.v = 0.999 * self.v + 0.001 * g * g
        mhat = self.m / (1.0 - 0.9**self.t)
        vhat = self.v / (1.0 - 0.999**self.t)
        return theta - self.lr * mhat / (np.sqrt(vhat) + 1e-8)


class HCalibration(Calibrator):
    """h-calibration with the official ``linear`` family: ``Q = sum_m w_m softmax(|t_m| z)``
    over ``temperatures`` components (z the log-softmax of the logits, ``w = |v| / sum |v|``),
    fitted by minimizing :func:`h_calibration_loss` the way the official ``calibrate.py``
    does: parameters initialized uniformly in ``[-1/sqrt(M), 1/sqrt(M)]`` (torch's
    Kaiming-uniform default, seeded by ``seed``), Adam with ``learning_rate`` on minibatches of
    ``batch_size`` rows (shuffled per epoch when there are several), the learning rate halved
    when the equal-width ECE has not improved for ``lr_patience`` epochs
    (ReduceLROnPlateau), early stopping after ``patience`` epochs without an ECE
    improvement, at most ``max_epochs`` epochs; the parameters kept are those of the epoch
    with the lowest :func:`official_debiased_ece` on the calibration set (ties: the later
    epoch), as the official code selects its "dECE" checkpoint (``selection="last"`` keeps
    the final epoch instead). The loss gradient is analytic (C++ kernel); the chain rule
    through the mixture runs in numpy.

    ``fit(logits, labels)`` takes (n, K) logits; ``transform(logits)`` returns (n, K)
    probabilities. Each component is order-preserving, so the mixture keeps each row's
    argmax unless two components disagree on near-ties. No ``sample_weight``: the
    objective has none.
    """

    _param_names = (
        "temperatures",
        "window",
        "eps",
        "weighting",
        "leave_one_class_out",
        "scale",
        "learning_rate",
        "max_epochs",
        "patience",
        "lr_patience",
        "batch_size",
        "selection",
        "seed",
        "backend",
    )

    def __init__(
        self,
        temperatures: int = 16,
        *,
        window: int = 200,
        eps: float = 1e-20,
        weighting: str = "unweighted",
        leave_one_class_out: bool = True,
        scale: float = 1e5,
        learning_rate: float = 5e-3,
        max_epochs: int = 2000,
        patience: int = 160,
        lr_patience: int = 20,
        batch_size: int = 5000,
        selection: str = "debiased-ece",
        seed: int = 1357,
        backend: str = "auto",
    ) -> None:
        _loss_args(window, eps, weighting, leave_one_class_out, scale)
        for name, value, low in (
            ("temperatures", temperatures, 1),
            ("max_epochs", max_epochs, 1),
            ("patience", patience, 1),
            ("lr_patience", lr_patience, 0),
            ("batch_size", batch_size, 1),
            ("seed", seed, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not (
            isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0
        ) or isinstance(learning_rate, bool):
            raise ValueError(f"learning_rate must be a positive finite number, got {learning_rate!r}")
        check_choice("selection", selection, SELECTIONS)
        check_choice("backend", backend, ("auto", *_backend.BACKENDS))
        self.temperatures = int(temperatures)
        self.window = int(window)
        self.eps = float(eps)
        self.weighting = weighting
        self.leave_one_class_out = bool(leave_one_class_out)
        self.scale = float(scale)
        self.learning_rate = float(learning_rate)
        self.max_epochs = int(max_epochs)
        self.patience = int(patience)
        self.lr_patience = int(lr_patience)
        self.batch_size = int(batch_size)
        self.selection = selection
        self.seed = int(seed)
        self.backend = backend
        self._fitted = None

    @property
    def inverse_temperatures_(self) -> np.ndarray:
        """The components' inverse temperatures ``|t_m|``."""
        return np.array(self._state().inv_temperatures, dtype=np.float64)

    @property
    def weights_(self) -> np.ndarray:
        """The components' mixture weights (summing to 1)."""
        return np.array(self._state().weights, dtype=np.float64)

    @property
    def selected_epoch_(self) -> int:
        """The epoch whose parameters were kept (1-based)."""
        return int(self._state().selected_epoch)

    @property
    def epochs_(self) -> int:
        """Epochs run before stopping."""
        return int(self._state().epochs)

    @staticmethod
    def _logits(logits: Any, name: str = "logits") -> np.ndarray:
        from .._common.validate import as_scores

        z = as_scores(logits, name).astype(np.float64, copy=False)
        if z.ndim != 2 or z.shape[1] < 2:
            raise ValueError(f"{name} must be 2-D (n, K >= 2) logits, got shape {z.shape}")
        if z.shape[0] == 0:
            raise ValueError(f"{name} is empty: at least one sample is needed")
        bad = ~np.isfinite(z)
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            raise ValueError(
                f"{name} must be finite: {int(bad.sum())} value(s) are not, "
                f"first at row {flat // z.shape[1]}, column {flat % z.shape[1]}"
            )
        return z

    def fit(self, scores: Any, labels: Any, sample_weight: Any = None) -> HCalibration:
        """Fit on (n, K) calibration logits and integer labels in [0, K)."""
        if sample_weight is not None:
            raise ValueError("HCalibration takes no sample_weight: the h-calibration objective is unweighted")
        kernels = _backend.resolve(self.backend)
        z = _log_softmax(self._logits(scores, "scores"))
        n, K = z.shape
        y = as_labels(labels)
        if y.shape != (n,):
            raise ValueError(f"scores and labels must have the same length, got {n} and {y.shape}")
        bad = (y < 0) | (y >= K)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"labels must be integers in [0, {K}): {int(bad.sum())} value(s) are not, first at index {i}"
            )
        y = np.ascontiguousarray(y, dtype=np.int64)
        args = _loss_args(self.window, self.eps, self.weighting, self.leave_one_class_out, self.scale)
        _check_loo(y, args)
        if self.selection == "debiased-ece" and n < 30:
            raise ValueError(f"selection='debiased-ece' needs at least 30 samples (2 per bin), got {n}")
        self._fitted = self._train(z, y, args, kernels)
        return self

    def _gradient(
        self, theta: np.ndarray, z: np.ndarray, y: np.ndarray, args: _LossArgs, kernels: Any
    ) -> tuple[float, np.ndarray]:
        M = self.temperatures
        t, v = theta[:M], theta[M:]
        beta, S = np.abs(t), np.sum(np.abs(v))
        wt = np.abs(v) / S
        Q, A = mixture_probs(z, beta, wt)
        loss, G = kernels.hcalibration_loss_grad(
            np.ascontiguousarray(np.clip(Q, 0.0, 1.0)),
            y,
            args.window,
            args.eps,
            args.weighting,
            args.leave_one_out,
            args.scale,
            True,
        )
        GA = np.einsum("ik,ikm->im", G, A)  # sum_k G A
        g_w = GA.sum(axis=0)
        AZ = np.einsum("ik,ikm->im", z, A)  # E_A[z]
        GAZ = np.einsum("ik,ik,ikm->im", G, z, A)
        g_beta = wt * np.sum(GAZ - GA * AZ, axis=0)
        g_t = np.sign(t) * g_beta
        g_v = np.sign(v) / S * (g_w - np.dot(wt, g_w))
        return float(loss), np.concatenate([g_t, g_v])

    def _train(self, z: np.ndarray, y: np.ndarray, args: _LossArgs, kernels: Any) -> _FittedHCal:
        M = self.temperatures
        rng = np.random.default_rng(self.seed)
        bound = 1.0 / math.sqrt(M)
        theta = rng.uniform(-bound, bound, 2 * M)
        n = z.shape[0]
        opt = _Adam(theta.size, self.learning_rate)
        best_plateau, bad_epochs = math.inf, 0
        best_stop, stale = math.inf, 0
        best_sel, kept, kept_epoch = math.inf, theta.copy(), 0
        epoch = 0
        for epoch in range(1, self.max_epochs + 1):
            order = rng.permutation(n) if n > self.batch_size else np.arange(n)
            for start in range(0, n, self.batch_size):
                rows = order[start : start + self.batch_size]
                if args.leave_one_out and np.all(y[rows] == y[rows[0]]):
                    continue  # a one-class minibatch has an empty subset: no step
                _, g = self._gradient(theta, z[rows], y[rows], args, kernels)
                theta = opt.step(theta, g)
            Q, _ = mixture_probs(z, np.abs(theta[:M]), np.abs(theta[M:]) / np.sum(np.abs(theta[M:])))
            ece = equal_width_ece(Q, y)
            if self.selection == "debiased-ece":
                dece = official_debiased_ece(Q, y)
                if dece <= best_sel:
                    best_sel, kept, kept_epoch = dece, theta.copy(), epoch
            # ReduceLROnPlateau(mode='min', factor=0.5, threshold=1e-4 relative)
            if ece < best_plateau * (1.0 - 1e-4):
                best_plateau, bad_epochs = ece, 0
            else:
                bad_epochs += 1
                if bad_epochs > self.lr_patience:
                    opt.lr *= 0.5
                    bad_epochs = 0
            # EarlyStopping(patience, delta=0): stop after `patience` epochs without improvement
            if ece <= best_stop:
                best_stop, stale = ece, 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if self.selection == "last":
            kept, kept_epoch, best_sel = theta.copy(), epoch, math.nan
        v = np.abs(kept[M:])
        if not np.sum(v) > 0:
            raise ValueError("HCalibration: every mixture weight reached 0; try another seed or learning rate")
        return _FittedHCal(np.abs(kept[:M]), v / np.sum(v), epoch, kept_epoch, best_sel)

    def transform(self, scores: Any) -> np.ndarray:
        """(n, K) calibrated probabilities of (n, K) logits."""
        st: _FittedHCal = self._state()
        z = _log_softmax(self._logits(scores))
        if z.shape[1] < 2:
            raise ValueError("logits need at least 2 classes")
        return mixture_probs(z, st.inv_temperatures, st.weights)[0]

    def _fitted_to_dict(self) -> dict[str, Any]:
        st: _FittedHCal = self._fitted
        return {
            "inverse_temperatures": st.inv_temperatures.tolist(),
            "weights": st.weights.tolist(),
            "epochs": st.epochs,
            "selected_epoch": st.selected_epoch,
            "selected_metric": None if math.isnan(st.selected_metric) else st.selected_metric,
        }

    def _fitted_from_dict(self, d: dict[str, Any]) -> _FittedHCal:
        try:
            owner = "HCalibration state"
            beta = saved_numbers(d, "inverse_temperatures", owner)
            w = saved_numbers(d, "weights", owner)
            metric = saved_optional_number(d, "selected_metric", owner)
            st = _FittedHCal(beta, w, saved_int(d, "epochs", owner), saved_int(d, "selected_epoch", owner), metric)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed HCalibration state: {exc!r}") from None
        if beta.shape != (self.temperatures,) or w.shape != (self.temperatures,):
            raise ValueError(f"HCalibration state must hold {self.temperatures} temperatures and weights")
        if not (np.all(np.isfinite(beta)) and np.all(beta >= 0) and np.all(np.isfinite(w)) and np.all(w >= 0)):
            raise ValueError("HCalibration state: inverse temperatures and weights must be finite and >= 0")
        if abs(float(np.sum(w)) - 1.0) > 1e-9:
            raise ValueError(f"HCalibration state: weights must sum to 1, got {float(np.sum(w))!r}")
        if not 1 <= st.selected_epoch <= st.epochs:
            raise ValueError("HCalibration state: selected_epoch must lie in [1, epochs]")
        return st
