"""Agreement between measured and predicted quantities, and the fits the chapters judge with.

The only copies of these helpers in the package:

- :func:`kappa` (Table 1): E||delta* - deltâ|| / E||delta*||; :func:`kappa_prime` (Table 2):
  E|phi* - phî| / E|phi*|; :func:`rel_error`: ||a - b|| / ||b|| of whole tensors.
- :func:`cos`, :func:`abs_cos`, :func:`one_minus_cos` (Sec. 3.2's matching error, computed as
  ||â - b̂||^2 / 2 so that it keeps its precision when the cosine is close to 1) and
  :func:`one_minus_abs_cos`.
- Fits: :func:`loglog_slope` (power laws), :func:`loglinear_fit`, :func:`linear_r2`,
  :func:`mean_log` (exponential growth, C2 / Fig. 2), :func:`spearman` (rank correlation).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import pandas as pd
import torch


def kappa(delta_star: torch.Tensor, delta_hat: torch.Tensor, ref: torch.Tensor | None = None) -> float:
    """Sec. 3.1, Table 1: kappa = E||delta* - deltâ|| / E||delta*|| over a batch.

    delta_star, delta_hat: (B, ...) with the same shape; ``ref`` (same shape) replaces delta* in the
    denominator, for relative errors between two predictions (Theorem 1 against Theorem 2).
    Returns a float. Chapters: theorem1, theorem2, growth, gating.
    """
    if delta_star.shape != delta_hat.shape:
        raise ValueError(f"shapes differ: {tuple(delta_star.shape)} vs {tuple(delta_hat.shape)}")
    a, b = delta_star.reshape(len(delta_star), -1), delta_hat.reshape(len(delta_hat), -1)
    r = a if ref is None else ref.reshape(len(ref), -1)
    return ((a - b).norm(dim=1).mean() / r.norm(dim=1).mean()).item()


def one_minus_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sec. 3.2, the matching error: per-sample 1 - cos(a, b). a, b: (B, ...) with the same shape. Returns (B,). Chapters: lp_attacks, theorem2."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a_hat = a / a.norm(dim=1, keepdim=True)
    b_hat = b / b.norm(dim=1, keepdim=True)
    return 0.5 * (a_hat - b_hat).pow(2).sum(dim=1)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the exponent p of y ~ x^p). x, y: positive sequences."""
    import numpy as np

    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if len(lx) < 2 or not (np.all(np.isfinite(lx)) and np.all(np.isfinite(ly))):
        raise ValueError("loglog_slope needs at least two positive, finite points")
    return float(np.polyfit(lx, ly, 1)[0])


def abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos(a, b)| per row. a, b: (B, n). Returns (B,)."""
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).abs()


def cos(a: torch.Tensor, b: torch.Tensor):
    """cos(a, b). Per row for a, b: (B, n), returning (B,); for two vectors (P,), a float (NaN if
    either is zero). Chapters: lp_attacks, theorem6."""
    if a.ndim == 1:
        na, nb = a.norm(), b.norm()
        return (torch.dot(a, b) / (na * nb)).item() if na > 0 and nb > 0 else float("nan")
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def one_minus_abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - |cos(a, b)| per row, kept precise near 0 (as :func:`advnb.core.metrics.one_minus_cos`). (B, n) -> (B,)."""
    return torch.minimum(one_minus_cos(a, b), one_minus_cos(a, -b))


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| over whole tensors of one shape (||a - b|| where b = 0). Chapter: theorem6 (Eq. 12)."""
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def kappa_prime(phi_star, phi_hat) -> float:
    """Table 2: κ' = E|phi* - phî| / E|phi*| over a batch. Both (B,): tensors, arrays or pandas Series. Chapters: theorem3, theorem4, theorem5."""
    star, hat = torch.as_tensor(np.asarray(phi_star, dtype=float)), torch.as_tensor(np.asarray(phi_hat, dtype=float))
    return ((star - hat).abs().mean() / star.abs().mean()).item()


def spearman(a, b) -> float:
    """Spearman rank correlation of two 1-D sequences (ties get their mean rank)."""
    ra = pd.Series(np.asarray(a, dtype=float)).rank().to_numpy()
    rb = pd.Series(np.asarray(b, dtype=float)).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass
class LogLinearFit:
    """Least-squares fit of log(values) = log_a + rate * r. Shapes (...,) as the leading dims of values."""

    rate: torch.Tensor  # e-folds per unit of r
    log_a: torch.Tensor
    r2: torch.Tensor  # coefficient of determination of the log-linear fit


def _line_fit(r: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares line v ~ a + slope r along the last axis. r: (G,), v: (..., G).

    Returns slope, intercept a and R² = 1 - SS_res / SS_tot (a constant series, SS_tot = 0,
    gets R² = 1 if the line fits it exactly, else 0)."""
    r = r.to(v)
    rc = r - r.mean()
    vc = v - v.mean(-1, keepdim=True)
    slope = (vc * rc).sum(-1) / rc.pow(2).sum()
    intercept = v.mean(-1) - slope * r.mean()
    res = vc - slope[..., None] * rc
    ss_res, ss_tot = res.pow(2).sum(-1), vc.pow(2).sum(-1)
    r2 = torch.where(ss_tot > 0, 1 - ss_res / torch.where(ss_tot > 0, ss_tot, 1.0), (ss_res <= 1e-30 * v.pow(2).sum(-1)).to(v))
    return slope, intercept, r2


def loglinear_fit(r: torch.Tensor, values: torch.Tensor) -> LogLinearFit:
    """Fit log(values) against r by least squares, independently along the last axis.

    r: (G,), values: (..., G) > 0. R² = 1 - SS_res / SS_tot of the fit in log space
    (1 for an exact exponential; a constant series gets R² = 1).
    """
    rate, log_a, r2 = _line_fit(r, values.log())
    return LogLinearFit(rate, log_a, r2)


def linear_r2(r: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """R² of a straight-line least-squares fit of values (not their log) against r.

    The rival of :func:`loglinear_fit`: linear growth. r: (G,), values: (..., G). Returns (...,).
    """
    return _line_fit(r, values)[2]


def mean_log(values: torch.Tensor) -> torch.Tensor:
    """Geometric mean over samples. values: (B, G) >= 0 (a zero gives 0). Returns (G,)."""
    return values.log().mean(0).exp()


def exp_vs_linear(x, y) -> dict:
    """An exponential and its linear rival fitted to the same points, compared in the same scale.

    The claims "grows exponentially" (C1, C2, Fig. 2, C4, C5) are judged with it. x, y: 1-D, y > 0,
    at least 4 points. The exponential y = a e^{b x} is fitted by least squares in log y; the line
    y = c + d x by least squares in y. Both are scored by the sum of squared *relative* residuals
    ((fit - y) / y)^2, so neither model gets the scale it was fitted in. Returns

    - ``rss_exp``, ``rss_lin``: those sums; ``rate``: b;
    - ``accel``: the log-linear rate over the upper half of the x-range divided by that over the lower
      half (1 for an exponential, below 1 for slower growth, above 1 for faster; NaN when the lower
      half does not grow);
    - ``separation``: the largest ratio between the two fitted curves over the range (max of e/l and
      l/e; inf where the line reaches 0 or below). Below 2 the data cannot tell the models apart.
    """
    x = torch.as_tensor(np.asarray(x, dtype=float))
    y = torch.as_tensor(np.asarray(y, dtype=float))
    if x.ndim != 1 or x.shape != y.shape or len(x) < 4:
        raise ValueError(f"exp_vs_linear needs two 1-D sequences of one length >= 4 (got {tuple(x.shape)}, {tuple(y.shape)})")
    if not bool(((y > 0) & torch.isfinite(y) & torch.isfinite(x)).all()):
        raise ValueError("exp_vs_linear needs finite x and finite y > 0")
    rate, log_a, _ = _line_fit(x, y.log())
    slope, intercept, _ = _line_fit(x, y)
    exp_fit, lin_fit = (log_a + rate * x).exp(), intercept + slope * x
    mid = 0.5 * (x.min() + x.max())
    lo, hi = x <= mid, x >= mid
    rate_lo = _line_fit(x[lo], y[lo].log())[0] if int(lo.sum()) >= 2 else torch.tensor(float("nan"))
    rate_hi = _line_fit(x[hi], y[hi].log())[0] if int(hi.sum()) >= 2 else torch.tensor(float("nan"))
    accel = (rate_hi / rate_lo).item() if rate_lo > 0 else float("nan")
    dense = torch.linspace(float(x.min()), float(x.max()), 201, dtype=torch.float64)
    e, line = (log_a + rate * dense).exp(), intercept + slope * dense
    separation = float("inf") if bool((line <= 0).any()) else torch.maximum(e / line, line / e).max().item()
    return {"rss_exp": ((exp_fit - y) / y).pow(2).sum().item(), "rss_lin": ((lin_fit - y) / y).pow(2).sum().item(),
            "rate": rate.item(), "accel": accel, "separation": separation, "n": len(x)}


def model_vs_rival(x, y, model, rival, fit_scale: bool = True) -> dict:
    """A claimed law y = k f(x) against a rival y = k' r(x), on the same points, in the same scale.

    ``model`` and ``rival`` map an array of x to positive values (e.g. e^x against 1 + x). With
    ``fit_scale`` each gets its own scale k, fitted by least squares in log y (else k = 1: a law with
    no free parameter). Both are scored by the sum of squared log residuals. ``separation`` is the
    largest ratio between the two fitted curves over the range of x: below 2 the data cannot tell
    them apart. x, y: 1-D, y > 0, at least 4 points. Returns rss_model, rss_rival, k_model, k_rival,
    separation, n, x_max.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 4:
        raise ValueError(f"model_vs_rival needs two 1-D sequences of one length >= 4 (got {x.shape}, {y.shape})")
    if not (np.isfinite(x).all() and np.isfinite(y).all() and (y > 0).all()):
        raise ValueError("model_vs_rival needs finite x and finite y > 0")
    fm, fr = np.asarray(model(x), dtype=float), np.asarray(rival(x), dtype=float)
    if not ((fm > 0).all() and (fr > 0).all()):
        raise ValueError("model_vs_rival needs a model and a rival that are positive on every x")
    ly = np.log(y)
    log_km = float(np.mean(ly - np.log(fm))) if fit_scale else 0.0
    log_kr = float(np.mean(ly - np.log(fr))) if fit_scale else 0.0
    dense = np.linspace(x.min(), x.max(), 201)
    ratio = (np.exp(log_km) * np.asarray(model(dense), dtype=float)) / (np.exp(log_kr) * np.asarray(rival(dense), dtype=float))
    return {"rss_model": float(((ly - log_km - np.log(fm)) ** 2).sum()),
            "rss_rival": float(((ly - log_kr - np.log(fr)) ** 2).sum()),
            "k_model": math.exp(log_km), "k_rival": math.exp(log_kr),
            "separation": float(np.maximum(ratio, 1 / ratio).max()), "n": len(x), "x_max": float(x.max())}
