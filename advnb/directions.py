"""Section 3.2: Theorem 2 set beside l2 and l-inf PGD, and conclusion C3.

Under frozen gating (A2) and a constant H̄_z, the infinite-step A1 attack solves the
ODE d delta / d tau = g(delta) = g_x + H̄_x delta, and Theorem 2 gives its point at
"time" beta. The infinite-step l2 attack solves d delta / d s = g / ||g||: the same
vector field, normalised, so it traces *the same curve*, re-parametrised by arc length
s (d tau / d s = 1 / ||g|| > 0). Which point of the curve a finite l2 attack reached
is therefore a matter of *where along it*, not of direction. Along the curve
d||delta||^2 / d tau = 2 delta . g = 2 sum_i c_i e^{tau lambda_i} gamma_i^2 >= 0
(lambda_i >= 0, c_i > 0), so ||deltâ(beta)|| is increasing in beta and each point is
named by its distance from x. We compare an l2 attack delta with deltâ at the beta
whose ||deltâ(beta)|| equals ||delta|| (:func:`match_beta`, a vectorised bisection).
For l-inf attacks the same rule matches deltâ to the effective component.

Numerics. Everything runs on the (at most C) non-trivial eigenpairs of
H̄_x = J^T H̄_z J from the C x C problem (:func:`advnb.theory.top_eigenpairs`):

    deltâ(beta) = beta g_x + sum_i (c_i - beta) gamma_i v_i,   c_i = (e^{beta lambda_i} - 1) / lambda_i,

which is Theorem 2 written so that the directions with lambda_i ~ 0 (where the
eigenvectors of a rank-deficient H̄_x are ill-determined) carry c_i - beta ~ 0. The
coefficients are handled in logarithms, so that the *direction* and the log-norm stay
exact for any beta (beta lambda_1 = 1e5 overflows e^{beta lambda_1} but not this).
Shapes: B samples, C logits, n input dimensions.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks import pgd
from .gating import affine_logits, linearize
from .hessian import loss_derivatives
from .metrics import one_minus_cos
from .theory import check_shapes, top_eigenpairs


# ----------------------------------------------------------------------------- Theorem 2, any beta


class Spectrum(NamedTuple):
    """The non-trivial eigen-structure of H̄_x = J^T H̄_z J and the gradient at x."""

    lam: torch.Tensor  # (B, C) eigenvalues, descending, >= 0
    V: torch.Tensor  # (B, n, C) unit eigenvectors (zero columns where lambda = 0)
    g_x: torch.Tensor  # (B, n) input gradient at x, J^T g_z
    gamma: torch.Tensor  # (B, C) gamma_i = g_x . v_i


def spectrum(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor) -> Spectrum:
    """The :class:`Spectrum` for J: (B, C, n), hz_bar: (B, C, C) symmetric PSD, g_z: (B, C)."""
    check_shapes(J, hz_bar, g_z)
    lam, V = top_eigenpairs(J, hz_bar)
    g_x = (J.transpose(1, 2) @ g_z[:, :, None])[..., 0]
    gamma = (V.transpose(1, 2) @ g_x[:, :, None])[..., 0]
    return Spectrum(lam, V, g_x, gamma)


def _beta_tensor(beta, like: torch.Tensor) -> torch.Tensor:
    """beta as a (B,) tensor (a float is broadcast); every entry must be finite and > 0."""
    b = torch.as_tensor(beta, dtype=like.dtype, device=like.device)
    if b.ndim == 0:
        b = b.expand(like.shape[0])
    if b.shape != like.shape[:1]:
        raise ValueError(f"beta must be a number or have shape ({like.shape[0]},), got {tuple(b.shape)}")
    if not bool(torch.all(torch.isfinite(b) & (b > 0))):
        raise ValueError("beta must be finite and > 0")
    return b


def log_coefficients(lam: torch.Tensor, beta) -> torch.Tensor:
    """log c_i, c_i = (e^{beta lambda_i} - 1) / lambda_i (= beta at lambda_i = 0), without overflow.

    lam: (B, C) >= 0; beta: a number or (B,). Returns (B, C).
    """
    b = _beta_tensor(beta, lam)[:, None]
    u = b * lam
    pos = lam > 0
    small = u <= 30.0
    safe_u = torch.where(pos & small, u, torch.ones_like(u))
    # u <= 30: log c = log beta + log(expm1(u) / u), exact as u -> 0 (and = log beta at lambda = 0);
    # u > 30:  log c = u + log(1 - e^{-u}) - log lambda, free of overflow
    low = torch.log(b) + torch.where(pos & small, torch.log(torch.expm1(safe_u) / safe_u), torch.zeros_like(u))
    high = u + torch.log(-torch.expm1(-torch.where(small, torch.ones_like(u), u))) - torch.log(torch.where(pos, lam, torch.ones_like(lam)))
    return torch.where(small, low, high).expand_as(lam)


class Direction(NamedTuple):
    """deltâ(beta) as a unit vector and its log-norm (both exact for any beta)."""

    unit: torch.Tensor  # (B, n) deltâ / ||deltâ||
    log_norm: torch.Tensor  # (B,) log ||deltâ||

    @property
    def delta(self) -> torch.Tensor:
        """deltâ itself, (B, n) (overflows to inf where ||deltâ|| > ~1e308)."""
        return self.unit * self.log_norm.exp()[:, None]


def delta_hat(spec: Spectrum, beta) -> Direction:
    """Theorem 2 at a per-sample beta (a number or (B,)), through the spectrum.

    deltâ = beta g_x + sum_i (c_i - beta) gamma_i v_i, scaled by e^{-S}, S = max(log beta, max_i log c_i),
    before it is formed, so nothing overflows. Returns :class:`Direction`.
    """
    b = _beta_tensor(beta, spec.g_x)
    logc = log_coefficients(spec.lam, b)  # (B, C)
    logb = torch.log(b)
    S = torch.maximum(logb, logc.max(dim=1).values)
    coef = torch.exp(logc - S[:, None]) - torch.exp(logb - S)[:, None]  # (c_i - beta) e^{-S}
    scaled = torch.exp(logb - S)[:, None] * spec.g_x + (spec.V @ (coef * spec.gamma)[:, :, None])[..., 0]
    norm = scaled.norm(dim=1)
    if not bool(torch.all(norm > 0)):
        raise ValueError("deltâ is zero for some sample (g_x = 0): its direction is undefined")
    return Direction(scaled / norm[:, None], S + torch.log(norm))


def _log_norm_np(lam: np.ndarray, gamma2: np.ndarray, rest: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
    """log ||deltâ(beta)|| from the coefficients alone (numpy, O(C) per sample).

    With V orthonormal and gamma = V^T g_x, ||deltâ||^2 = beta^2 (||g_x||^2 - ||gamma||^2) + sum_i c_i^2 gamma_i^2.
    lam, gamma2: (B, C); rest = ||g_x||^2 - ||gamma||^2 >= 0: (B,); log_beta: (B,). Returns (B,).
    """
    u = np.exp(log_beta)[:, None] * lam
    pos, small = lam > 0, u <= 30.0
    safe_u = np.where(pos & small, u, 1.0)
    low = log_beta[:, None] + np.where(pos & small, np.log(np.expm1(safe_u) / safe_u), 0.0)
    high = u + np.log(-np.expm1(-np.where(small, 1.0, u))) - np.log(np.where(pos, lam, 1.0))
    logc = np.where(small, low, high)
    S = np.maximum(log_beta, logc.max(axis=1))
    sq = np.exp(2 * (log_beta - S)) * rest + (np.exp(2 * (logc - S[:, None])) * gamma2).sum(axis=1)
    return S + 0.5 * np.log(sq)


def match_beta(spec: Spectrum, target_norm: torch.Tensor, iters: int = 64) -> torch.Tensor:
    """The beta at which ||deltâ(beta)|| equals ``target_norm`` (B,), per sample, by bisection.

    ||deltâ(beta)|| is increasing in beta (module docstring) and bracketed:
    beta ||g_x|| <= ||deltâ(beta)|| <= beta e^{beta lambda_1} ||g_x|| (every c_i lies in
    [beta, beta e^{beta lambda_i}]). So beta_hi = r / ||g_x|| and
    beta_lo = beta_hi e^{-beta_hi lambda_1}, r the target, bracket the root (beta_lo is floored
    at beta_hi e^{-600}, which only matters if beta_hi lambda_1 > 600 e^600). The bisection halves
    the bracket of log beta, at most 600 wide, ``iters`` times for all samples at once: 64 halvings
    leave it below 1e-16. ||deltâ(beta)|| is evaluated from the C coefficients in closed form
    (scalar root finding, done in numpy: tiny arrays, no thread overhead). Returns beta (B,).
    """
    target = torch.as_tensor(target_norm, dtype=spec.g_x.dtype, device=spec.g_x.device)
    if target.shape != spec.g_x.shape[:1]:
        raise ValueError(f"target_norm must have shape ({spec.g_x.shape[0]},), got {tuple(target.shape)}")
    if not bool(torch.all(torch.isfinite(target) & (target > 0))):
        raise ValueError("target_norm must be finite and > 0")
    if not bool(torch.all(spec.g_x.norm(dim=1) > 0)):
        raise ValueError("g_x = 0 for some sample: no beta moves it")
    lam = spec.lam.detach().cpu().double().numpy()
    gamma2 = spec.gamma.detach().cpu().double().numpy() ** 2
    g2 = spec.g_x.detach().cpu().double().pow(2).sum(1).numpy()
    rest = np.maximum(g2 - gamma2.sum(axis=1), 0.0)
    log_t = np.log(target.detach().cpu().double().numpy())
    hi = log_t - 0.5 * np.log(g2)
    lo = np.maximum(hi - np.exp(hi) * lam[:, 0], hi - 600.0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        above = _log_norm_np(lam, gamma2, rest, mid) >= log_t
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return torch.as_tensor(np.exp(0.5 * (lo + hi)), dtype=spec.g_x.dtype, device=spec.g_x.device)


def abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos(a, b)| per row. a, b: (B, n). Returns (B,)."""
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).abs()


def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a, b) per row. a, b: (B, n). Returns (B,)."""
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


# ----------------------------------------------------------------------------- attacks beside Theorem 2


@dataclass
class Match:
    """One PGD attack set beside Theorem 2 at the norm-matched beta. B samples, n inputs."""

    target: torch.Tensor  # (B, n) what is compared: delta (l2) or its effective component (l-inf)
    delta: torch.Tensor  # (B, n) the attack's perturbation
    delta_hat: torch.Tensor  # (B, n) Theorem 2 at beta, scaled to ||target|| (C = ||target||)
    beta: torch.Tensor  # (B,) the matched beta
    error: torch.Tensor  # (B,) 1 - cos(deltâ, target)
    baseline: torch.Tensor  # (B,) 1 - cos(g_x, target): the beta -> 0 limit of deltâ
    effective_share: torch.Tensor  # (B,) ||effective|| / ||delta||
    success: torch.Tensor  # (B,) bool: the real network misclassifies x + delta


def lp_match(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float | None, alpha: float, m: int,
             clip: bool, frozen_gating: bool, linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Match:
    """Run m steps of ``norm``-PGD (step alpha, eps-ball projection unless eps is None, [0, 1] clip if ``clip``)
    and compare it with Theorem 2.

    The target is delta itself for l2 and the effective component sum_t (s_t . u_t) u_t for l-inf.
    deltâ uses J at x (the linearisation, A2), g_z at x, and the H̄_z accumulated along *this*
    attack (each H_z^(t) weighted by the length of the step that reached it, i.e. by arc length,
    as in Theorem 1); beta is chosen so that ||deltâ(beta)|| = ||target|| (:func:`match_beta`).
    x: (B, 1, 28, 28), y: (B,), float64. Returns :class:`Match`.
    """
    J, b = linearization if linearization is not None else linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    res = pgd(model, x, y, norm, eps, alpha, m, clip=clip, frozen_gating=frozen_gating, linearization=(J, b))
    delta = res.delta.reshape(len(x), -1)
    target = delta if norm == "l2" else res.effective
    spec = spectrum(J, res.hz_bar, g_z)
    r = target.norm(dim=1)
    beta = match_beta(spec, r)
    unit = delta_hat(spec, beta).unit
    return Match(target, delta, unit * r[:, None], beta, one_minus_cos(unit, target), one_minus_cos(spec.g_x, target),
                 res.effective.norm(dim=1) / delta.norm(dim=1), res.success)


@dataclass(frozen=True)
class Variant:
    """One way of running PGD: on the frozen-gating linearisation (A2) or the real network,
    with or without the eps-ball projection and the [0, 1] clip."""

    name: str
    frozen_gating: bool
    project: bool
    clip: bool


VARIANTS = (
    Variant("A2, no projection, no clip", True, False, False),
    Variant("A2, projection", True, True, False),
    Variant("A2, projection + clip", True, True, True),
    Variant("real, no projection, no clip", False, False, False),
    Variant("real, projection + clip", False, True, True),
)
NORMS = ("l2", "linf")


def run_variant(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, m: int,
                step_ratio: float, variant: Variant,
                linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Match:
    """:func:`lp_match` for one :class:`Variant`, with step alpha = step_ratio * eps / m.

    Without projection the attack still takes steps of alpha (so it may travel step_ratio * eps).
    """
    if not (eps > 0 and step_ratio > 0 and int(m) == m and m >= 1):
        raise ValueError(f"need eps > 0, step_ratio > 0 and an integer m >= 1 (got {eps}, {step_ratio}, {m})")
    alpha = step_ratio * eps / m
    return lp_match(model, x, y, norm, eps if variant.project else None, alpha, int(m), variant.clip,
                    variant.frozen_gating, linearization)


def _row(match: Match) -> dict:
    return {"error_mean": match.error.mean().item(), "error_median": match.error.median().item(),
            "baseline_mean": match.baseline.mean().item(), "beta_median": match.beta.median().item(),
            "beta_min": match.beta.min().item(), "beta_max": match.beta.max().item(),
            "beta_q25": match.beta.quantile(0.25).item(), "beta_q75": match.beta.quantile(0.75).item(),
            "success_rate": match.success.double().mean().item(),
            "effective_share": match.effective_share.mean().item()}


@contextmanager
def one_thread():
    """Run the block with one intra-op thread (restored afterwards).

    The attacks here are long chains of small tensor operations ((B, n) with n = 784 and B of a few
    dozen to a few hundred); handing each one to a second thread costs more than it saves, and on a
    CPU shared with other work it costs several times the computation itself.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def matching_table(nets: dict[str, nn.Module], batches: dict[str, tuple[torch.Tensor, torch.Tensor]],
                   eps: dict[str, float], m: int, step_ratio: float, labels: dict[str, str] | None = None,
                   variants: Sequence[Variant] = VARIANTS) -> pd.DataFrame:
    """Every network x norm x variant: Theorem 2 against PGD.

    nets: {arch: model (float64, eval)}; batches: {arch: (x (B, 1, 28, 28), y (B,))};
    eps: {"l2": .., "linf": ..}. One linearisation per network serves every attack. Runs in
    :func:`one_thread`.
    Returns one row per (network, norm, variant) with columns network, norm, variant,
    error_mean / error_median (1 - cos(deltâ, target)), baseline_mean (1 - cos(g_x, target)),
    beta_median / beta_min / beta_max / beta_q25 / beta_q75 (matched beta), success_rate, effective_share (||eff|| / ||delta||).
    """
    labels = labels or {}
    rows = []
    with one_thread():
        for arch, model in nets.items():
            x, y = batches[arch]
            lin = linearize(model, x)
            for norm in NORMS:
                for v in variants:
                    match = run_variant(model, x, y, norm, eps[norm], m, step_ratio, v, lin)
                    rows.append({"network": labels.get(arch, arch), "norm": norm, "variant": v.name, **_row(match)})
    return pd.DataFrame(rows)


def eps_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: dict[str, float], scales: Sequence[float],
              m: int, step_ratio: float, variants: Sequence[Variant] = VARIANTS) -> pd.DataFrame:
    """:func:`matching_table`'s rows for one network over budgets eps[norm] * s, s in ``scales``.

    Returns columns norm, scale, eps, variant and those of :func:`matching_table` (no network).
    """
    rows = []
    with one_thread():
        lin = linearize(model, x)
        for norm in NORMS:
            for s in scales:
                for v in variants:
                    match = run_variant(model, x, y, norm, eps[norm] * s, m, step_ratio, v, lin)
                    rows.append({"norm": norm, "scale": s, "eps": eps[norm] * s, "variant": v.name, **_row(match)})
    return pd.DataFrame(rows)


def gradient_jump(model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """1 - cos(g_x, g_{x + h u}), u = g_x / ||g_x||, on the real network: how far the gradient
    direction moves under a step of length h along itself. A smooth loss gives O(h); a jump that
    does not shrink with h means the gradient is discontinuous at x (a gate or a max-pool switch
    changes at once). x: (B, 1, 28, 28), y: (B,). Returns (B,).
    """
    from .hessian import loss

    if not h > 0:
        raise ValueError(f"h must be > 0 (got {h})")

    def grad(xa: torch.Tensor) -> torch.Tensor:
        xa = xa.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(model(xa), y).sum(), xa)
        return g.reshape(len(x), -1)

    g0 = grad(x)
    u = g0 / g0.norm(dim=1, keepdim=True)
    return one_minus_cos(g0, grad(x + h * u.reshape(x.shape)))


# ----------------------------------------------------------------------------- conclusion C3


def one_minus_abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - |cos(a, b)| per row, kept precise near 0 (as :func:`advnb.metrics.one_minus_cos`). (B, n) -> (B,)."""
    return torch.minimum(one_minus_cos(a, b), one_minus_cos(a, -b))


def c3_curves(spec: Spectrum, betas: Sequence[float]) -> pd.DataFrame:
    """Conclusion C3 at a fixed H̄_x: the direction of deltâ(beta) against g_x and v_1.

    Returns one row per beta with the means over samples of cos(deltâ, g_x), |cos(deltâ, v_1)|,
    their precise complements 1 - cos and 1 - |cos|, and the smallest values over samples
    (columns beta, cos_g, cos_v1, one_minus_cos_g, one_minus_cos_v1, cos_g_min, cos_v1_min).
    """
    v1 = spec.V[:, :, 0]
    if not bool(torch.all(spec.lam[:, 0] > 0)):
        raise ValueError("H̄_x is zero for some sample: v_1 is undefined")
    rows = []
    for beta in betas:
        unit = delta_hat(spec, float(beta)).unit
        cg, cv = cos(unit, spec.g_x), abs_cos(unit, v1)
        rows.append({"beta": float(beta), "cos_g": cg.mean().item(), "cos_v1": cv.mean().item(),
                     "one_minus_cos_g": one_minus_cos(unit, spec.g_x).mean().item(),
                     "one_minus_cos_v1": one_minus_abs_cos(unit, v1).mean().item(),
                     "cos_g_min": cg.min().item(), "cos_v1_min": cv.min().item()})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- figures

_NORM_TEX = {"l2": r"$\ell_2$", "linf": r"$\ell_\infty$"}
_TARGET_TEX = {"l2": r"$1-\cos(\hat\delta, \delta^{(\ell_2)})$",
               "linf": r"$1-\cos(C\hat\delta/\|\hat\delta\|, \delta^{(\mathrm{effective},\ell_\infty)})$"}


def _img(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().reshape(28, 28).numpy()


def magnification(real: torch.Tensor, predicted: torch.Tensor) -> float:
    """The power of ten that makes (real - predicted) about as large as ``real`` on screen (>= 1).

    real, predicted: (k, ...) with the same shape. Returns a float 10^j, j >= 0.
    """
    vmax = float(real.abs().max())
    dmax = float((real - predicted).abs().max())
    return 10.0 ** max(0, math.floor(math.log10(vmax / dmax))) if dmax > 0 else 1.0


class Pair(NamedTuple):
    """One real perturbation and its prediction, for :func:`figure1_panel`."""

    real_label: str  # TeX label of the real perturbation, e.g. r"$\\delta^{(\\ell_2)}$"
    real: torch.Tensor  # (k, 784) or (k, 1, 28, 28)
    predicted_label: str  # TeX label of the prediction, e.g. r"$\\hat\\delta$"
    predicted: torch.Tensor  # same shape as real


def figure1_panel(x: torch.Tensor, pairs: Sequence[Pair], title: str | None = None) -> plt.Figure:
    """The paper's Fig. 1 layout: per row a digit x, then for each pair the prediction, the real
    perturbation and their difference magnified by a power of ten (:func:`magnification`).

    x: (k, 784) or (k, 1, 28, 28) in [0, 1]. Each pair has its own symmetric colour scale, set by its
    real perturbation (pixel intensity on the [0, 1] scale); the difference is drawn on that scale after
    magnification, which the column title states. Returns the Figure.
    """
    if not pairs:
        raise ValueError("figure1_panel needs at least one pair")
    k = len(x)
    for p in pairs:
        if len(p.real) != k or p.real.shape != p.predicted.shape:
            raise ValueError(f"pair {p.real_label}: real and predicted must both have {k} rows of the same shape")
    ncol = 1 + 3 * len(pairs)
    fig, axes = plt.subplots(k, ncol, figsize=(1.6 * ncol + 1.2 * len(pairs), 1.6 * k + 0.7), squeeze=False,
                             layout="constrained")
    for i in range(k):
        ax = axes[i, 0]
        ax.imshow(_img(x[i]), cmap="gray_r", vmin=0, vmax=1)
        ax.set_ylabel(f"digit {i + 1}", fontsize=9)
    axes[0, 0].set_title("digit $x$", fontsize=9)
    for j, p in enumerate(pairs):
        vmax = float(p.real.abs().max())
        mag = magnification(p.real, p.predicted)
        cols = [(p.predicted_label, p.predicted), (p.real_label, p.real),
                (rf"({p.real_label} $-$ {p.predicted_label}) $\times 10^{{{int(round(math.log10(mag)))}}}$",
                 (p.real - p.predicted) * mag)]
        for c, (label, t) in enumerate(cols):
            for i in range(k):
                ax = axes[i, 1 + 3 * j + c]
                im = ax.imshow(_img(t[i]), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                if i == 0:
                    ax.set_title(label, fontsize=8)
        fig.colorbar(im, ax=axes[:, 1 + 3 * j: 4 + 3 * j].ravel().tolist(), shrink=0.8, aspect=25,
                     label="pixel scale")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_matching(df: pd.DataFrame, bands: dict[str, tuple[float, float]] | None = None,
                  title: str | None = None) -> plt.Figure:
    """Mean matching error per network, one panel per norm, one marker per variant (log scale).

    df: :func:`matching_table`'s output. ``bands``: {norm: (lo, hi)} the paper's reported range,
    drawn as a grey band. The grey crosses are the baseline 1 - cos(g_x, target) of the first variant.
    """
    variants = list(dict.fromkeys(df["variant"]))
    nets = list(dict.fromkeys(df["network"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.0), sharey=True)
    markers = "osD^vP"
    for ax, norm in zip(axes, NORMS):
        d = df[df["norm"] == norm]
        if bands and norm in bands:
            lo, hi = bands[norm]
            ax.axhspan(lo, hi, color="0.85", zorder=0, label="paper's reported range")
        for k, v in enumerate(variants):
            dv = d[d["variant"] == v].set_index("network").reindex(nets)
            ax.semilogy(np.arange(len(nets)) + (k - len(variants) / 2) * 0.07, dv["error_mean"], markers[k % 6],
                        label=v, alpha=0.9)
        base = d[d["variant"] == variants[0]].set_index("network").reindex(nets)
        ax.semilogy(np.arange(len(nets)), base["baseline_mean"], "x", color="0.4",
                    label=rf"baseline $g_x$ ({variants[0]})")
        ax.set_xticks(np.arange(len(nets)))
        ax.set_xticklabels(nets, rotation=45, ha="right")
        ax.set_xlabel("network")
        ax.set_title(f"{_NORM_TEX[norm]}-PGD", fontsize=10)
        ax.set_ylabel("mean " + _TARGET_TEX[norm] if norm == "l2" else "")
    axes[1].set_ylabel("mean " + _TARGET_TEX["linf"])
    axes[1].yaxis.set_tick_params(labelleft=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.3, top=0.88, wspace=0.22)
    return fig


def plot_eps_sweep(df: pd.DataFrame, network: str) -> plt.Figure:
    """Mean matching error against the budget eps, one panel per norm, one line per variant.

    df: :func:`eps_sweep`'s output. The dashed grey line is the baseline 1 - cos(g_x, target) of the
    first variant; the dotted black line (right axis) the success rate of the last variant.
    """
    variants = list(dict.fromkeys(df["variant"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, norm in zip(axes, NORMS):
        d = df[df["norm"] == norm]
        for v in variants:
            dv = d[d["variant"] == v]
            ax.loglog(dv["eps"], dv["error_mean"], "o-", label=v, ms=4)
        d0 = d[d["variant"] == variants[0]]
        ax.loglog(d0["eps"], d0["baseline_mean"], "--", color="0.4", label=rf"baseline $g_x$ ({variants[0]})")
        ax.set_xlabel(rf"{_NORM_TEX[norm]} budget $\epsilon$ (step $\alpha \propto \epsilon$)")
        ax.set_ylabel("mean " + _TARGET_TEX[norm])
        ax.set_title(f"{network}, {_NORM_TEX[norm]}-PGD", fontsize=10)
        ax2 = ax.twinx()
        dl = d[d["variant"] == variants[-1]]
        ax2.semilogx(dl["eps"], 100 * dl["success_rate"], "^:", color="black", label=f"success rate ({variants[-1]})")
        ax2.set_ylim(-5, 105)
        ax2.set_ylabel("attack success rate (%)")
        ax2.grid(False)
    h1, l1 = axes[0].get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.94, bottom=0.25, top=0.92, wspace=0.35)
    return fig


def plot_c3(df: pd.DataFrame, network: str, cos_g_v1: float | None = None,
            beta_range: tuple[float, float] | None = None) -> plt.Figure:
    """Conclusion C3: the direction of deltâ(beta) against g_x and v_1 over beta.

    df: :func:`c3_curves`'s output. Left: the mean cosines; right: their complements on a log scale.
    ``cos_g_v1``: mean |cos(g_x, v_1)|, drawn for reference. ``beta_range``: a range of the betas the
    attacks of the chapter were matched to (e.g. their quartiles), shaded.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    ax = axes[0]
    ax.semilogx(df["beta"], df["cos_g"], "o-", ms=3, label=r"mean $\cos(\hat\delta, g_x)$")
    ax.semilogx(df["beta"], df["cos_v1"], "s-", ms=3, label=r"mean $|\cos(\hat\delta, v_1)|$")
    if cos_g_v1 is not None:
        ax.axhline(cos_g_v1, color="0.5", ls=":", label=r"mean $|\cos(g_x, v_1)|$")
    ax.set_ylabel("cosine")
    ax = axes[1]
    ax.loglog(df["beta"], df["one_minus_cos_g"], "o-", ms=3, label=r"mean $1-\cos(\hat\delta, g_x)$")
    ax.loglog(df["beta"], df["one_minus_cos_v1"], "s-", ms=3, label=r"mean $1-|\cos(\hat\delta, v_1)|$")
    ax.set_ylabel("1 - cosine")
    for ax in axes:
        if beta_range is not None:
            ax.axvspan(*beta_range, color="tab:green", alpha=0.12, label=r"middle half of the $\beta^\star$ of this chapter's attacks")
        ax.set_xlabel(r"adversarial strength $\beta$")
        ax.legend(fontsize=8)
    fig.suptitle(rf"{network}: direction of $\hat\delta(\beta)$ at the Hessian of the clean input (C3)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    return fig
