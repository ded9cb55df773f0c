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
from .theory import top_eigenpairs


# ----------------------------------------------------------------------------- Theorem 2, any beta


class Spectrum(NamedTuple):
    """The non-trivial eigen-structure of H̄_x = J^T H̄_z J and the gradient at x."""

    lam: torch.Tensor  # (B, C) eigenvalues, descending, >= 0
    V: torch.Tensor  # (B, n, C) unit eigenvectors (zero columns where lambda = 0)
    g_x: torch.Tensor  # (B, n) input gradient at x, J^T g_z
    gamma: torch.Tensor  # (B, C) gamma_i = g_x . v_i


def spectrum(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor) -> Spectrum:
    """The :class:`Spectrum` for J: (B, C, n), hz_bar: (B, C, C) symmetric PSD, g_z: (B, C)."""
    if J.ndim != 3:
        raise ValueError(f"J must have shape (B, C, n), got {tuple(J.shape)}")
    B, C, _ = J.shape
    if hz_bar.shape != (B, C, C) or g_z.shape != (B, C):
        raise ValueError(f"expected hz_bar {(B, C, C)} and g_z {(B, C)}, got {tuple(hz_bar.shape)} and {tuple(g_z.shape)}")
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
    safe_lam = torch.where(pos, lam, torch.ones_like(lam))
    small = u <= 30.0
    # log(e^u - 1) = u + log(1 - e^{-u}); expm1 keeps small u exact
    log_em1 = torch.where(small, torch.log(torch.expm1(torch.where(small, u, torch.ones_like(u))).clamp_min(1e-320)),
                          u + torch.log(-torch.expm1(-u)))
    return torch.where(pos, log_em1 - torch.log(safe_lam), torch.log(b).expand_as(lam))


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
    beta = np.exp(log_beta)[:, None]
    u = beta * lam
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_em1 = np.where(u <= 30.0, np.log(np.expm1(np.minimum(u, 30.0))), u + np.log(-np.expm1(-u)))
        logc = np.where(lam > 0, log_em1 - np.log(np.where(lam > 0, lam, 1.0)), log_beta[:, None])
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
