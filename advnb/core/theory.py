"""Theorems 1 and 2 (Eqs. (5) and (6)): the perturbation of the multi-step and infinite-step attack.

Notation: J = dz/dx (B, C, n), the paper's W~^T; H̄_z (B, C, C) the step-weighted average of the
loss Hessian along the attack (Theorem 1); g_z (B, C) the logit gradient at x;
H̄_x = J^T H̄_z J (n x n, rank <= C); (lambda_i, v_i) its eigenpairs and gamma_i = g_x^T v_i.

    Theorem 2, Eq. (6):  deltâ = sum_i (e^{beta lambda_i} - 1) / lambda_i gamma_i v_i,
                         g_{x + deltâ} = sum_i e^{beta lambda_i} gamma_i v_i
    Theorem 1, Eq. (5):  delta^(m) = sum_i ((1 + alpha lambda_i)^m - 1) / lambda_i gamma_i v_i + rho

**Push-through.** H̄_x is never eigendecomposed in the library path. For analytic f,
f(J^T H J) J^T = J^T f(H J J^T), so with the C x C matrix A = H̄_z J J^T

    deltâ = J^T F g_z,   F = (e^{beta A} - I) A^{-1},   g_{x+deltâ} = J^T e^{beta A} g_z,

at O(nC^2 + C^3) per sample. F is the top-right block of expm([[beta A, beta I], [0, 0]]), exact
when A is singular (lambda -> 0 gives the limit beta). Theorem 1 replaces e^{beta A} by
(I + alpha A)^m. :func:`delta_eigensum` is the dense reference the tests compare against.

**The spectral form** (:func:`spectrum`, :func:`delta_hat`, :func:`match_beta`) keeps the (at most
C) non-trivial eigenpairs from the C x C problem and writes Theorem 2 as

    deltâ(beta) = beta g_x + sum_i (c_i - beta) gamma_i v_i,   c_i = (e^{beta lambda_i} - 1) / lambda_i,

so that the directions with lambda_i ~ 0 carry c_i - beta ~ 0; the coefficients are kept in
logarithms, so that the direction and the log-norm stay exact for any beta. The lp_attacks
chapter uses it to set Theorem 2 beside l2 and l-inf PGD at the norm-matched beta.
Chapters: theorem1, theorem2, lp_attacks, growth, gating, theorem6.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Prediction(NamedTuple):
    """A predicted perturbation and the gradient at the perturbed input."""

    delta: torch.Tensor  # (B, n)
    grad: torch.Tensor  # (B, n): g_{x + delta}


def check_shapes(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor) -> tuple[int, int, int]:
    """(B, C, n) of J: (B, C, n), hz_bar: (B, C, C), g_z: (B, C); ValueError on any mismatch."""
    if J.ndim != 3:
        raise ValueError(f"J must have shape (B, C, n), got {tuple(J.shape)}")
    B, C, n = J.shape
    if hz_bar.shape != (B, C, C) or g_z.shape != (B, C):
        raise ValueError(
            f"expected hz_bar (B, C, C) = {(B, C, C)} and g_z (B, C) = {(B, C)}, "
            f"got {tuple(hz_bar.shape)} and {tuple(g_z.shape)}"
        )
    return B, C, n


def _check_beta_m(beta: float, m: int | None) -> None:
    if not (beta > 0):
        raise ValueError(f"beta must be > 0 (got {beta})")
    if m is not None and (int(m) != m or m < 1):
        raise ValueError(f"m must be an integer >= 1 (got {m})")


def _gram_operator(J: torch.Tensor, hz_bar: torch.Tensor) -> torch.Tensor:
    """A = H̄_z J J^T. Returns (B, C, C)."""
    return hz_bar @ (J @ J.transpose(1, 2))


def _block(top_left: torch.Tensor, top_right_scale: float, bottom_right: float) -> torch.Tensor:
    """[[top_left, s I], [0, b I]] for a batch. top_left: (B, C, C). Returns (B, 2C, 2C)."""
    B, C, _ = top_left.shape
    eye = torch.eye(C, dtype=top_left.dtype, device=top_left.device).expand(B, C, C)
    top = torch.cat([top_left, top_right_scale * eye], dim=2)
    bottom = torch.cat([torch.zeros_like(top_left), bottom_right * eye], dim=2)
    return torch.cat([top, bottom], dim=1)


def infinite_step_delta(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor, beta: float) -> Prediction:
    """Theorem 2 through the C x C push-through form.

    J: (B, C, n) = dz/dx, hz_bar: (B, C, C), g_z: (B, C) at x; beta > 0.
    Returns Prediction(deltâ (B, n), g_{x+deltâ} (B, n)).
    Chapters: theorem2, gating, theorem6, growth.
    """
    _check_beta_m(beta, None)
    B, C, _ = check_shapes(J, hz_bar, g_z)
    A = _gram_operator(J, hz_bar)
    E = torch.linalg.matrix_exp(_block(beta * A, beta, 0.0))
    F, expA = E[:, :C, C:], E[:, :C, :C]
    Jt = J.transpose(1, 2)
    return Prediction((Jt @ (F @ g_z[:, :, None]))[..., 0], (Jt @ (expA @ g_z[:, :, None]))[..., 0])


def finite_step_delta(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor, beta: float, m: int) -> Prediction:
    """Theorem 1 without the residual rho, through the C x C push-through form.

    Shapes as :func:`infinite_step_delta`; m >= 1 steps of size alpha = beta/m.
    Chapters: theorem1, theorem2.
    """
    _check_beta_m(beta, m)
    B, C, _ = check_shapes(J, hz_bar, g_z)
    alpha = beta / m
    A = _gram_operator(J, hz_bar)
    eye = torch.eye(C, dtype=A.dtype, device=A.device)
    P = torch.linalg.matrix_power(_block(eye + alpha * A, alpha, 1.0), int(m))
    F, powA = P[:, :C, C:], P[:, :C, :C]
    Jt = J.transpose(1, 2)
    return Prediction((Jt @ (F @ g_z[:, :, None]))[..., 0], (Jt @ (powA @ g_z[:, :, None]))[..., 0])


def _coefficients(lam: torch.Tensor, beta: float, m: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-eigenvalue coefficients of delta and of the gradient (with lambda = 0 limits)."""
    if m is None:
        growth_log = beta * lam
    else:
        growth_log = m * torch.log1p(beta / m * lam)
    zero = lam == 0
    safe = torch.where(zero, torch.ones_like(lam), lam)
    coef = torch.where(zero, torch.full_like(lam, beta), torch.expm1(growth_log) / safe)
    return coef, torch.exp(growth_log)


def delta_eigensum(
    J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor, beta: float, m: int | None = None
) -> Prediction:
    """Theorem 2, Eq. (6) (m None) or Theorem 1, Eq. (5) (m steps), as the paper writes them. Dense reference: Theorem 2 (m None) or Theorem 1 (m steps) as an eigen-sum.

    Builds H̄_x = J^T H̄_z J (B, n, n) and decomposes it with ``eigh``; O(n^3) per
    sample, for tests and for the book's side-by-side, never for the library path.
    Chapters: theorem1, theorem2 (the dense reference).
    """
    _check_beta_m(beta, m)
    check_shapes(J, hz_bar, g_z)
    Jt = J.transpose(1, 2)
    hx = Jt @ hz_bar @ J
    hx = 0.5 * (hx + hx.transpose(1, 2))
    lam, V = torch.linalg.eigh(hx)
    gamma = (V.transpose(1, 2) @ (Jt @ g_z[:, :, None]))[..., 0]
    coef, growth = _coefficients(lam, beta, m)
    return Prediction((V @ (coef * gamma)[:, :, None])[..., 0], (V @ (growth * gamma)[:, :, None])[..., 0])


def top_eigenpairs(J: torch.Tensor, hz_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Theorems 1-2: the eigenpairs (lambda_i, v_i) of H̄_x. The (at most C) non-trivial eigenpairs of H̄_x = J^T H̄_z J, from a C x C problem.

    With H̄_z = L L^T (L = Q Lambda^{1/2}, H̄_z symmetric PSD), H̄_x = M^T M for
    M = L^T J, whose non-zero eigenpairs are those of M M^T (C x C): lambda_i and
    v_i = M^T u_i / sqrt(lambda_i). J: (B, C, n), hz_bar: (B, C, C).
    Returns lambda (B, C), descending, and V (B, n, C) with unit columns
    (columns for lambda_i = 0 are zero vectors).
    Chapters: theorem2, lp_attacks, gating.
    """
    hz = 0.5 * (hz_bar + hz_bar.transpose(1, 2))
    mu, Q = torch.linalg.eigh(hz)
    L = Q * mu.clamp_min(0).sqrt()[:, None, :]
    M = L.transpose(1, 2) @ J
    lam, U = torch.linalg.eigh(M @ M.transpose(1, 2))
    lam, U = lam.flip(-1).clamp_min(0), U.flip(-1)
    V = M.transpose(1, 2) @ U
    norms = V.norm(dim=1, keepdim=True)
    V = torch.where(norms > 0, V / torch.where(norms > 0, norms, 1.0), torch.zeros_like(V))
    return lam, V


def top_energy_share(delta: torch.Tensor, V: torch.Tensor, k: int) -> torch.Tensor:
    """Conclusion C1 (Sec. 3.1). Share of ||delta||^2 on the first k columns of V (orthonormal eigenvectors).

    delta: (B, n), V: (B, n, C). Returns (B,).
    Chapters: theorem2.
    """
    proj = (V[:, :, :k].transpose(1, 2) @ delta[:, :, None])[..., 0]
    return proj.pow(2).sum(dim=1) / delta.pow(2).sum(dim=1)


def gradient_flow(J: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, beta: float,
                  steps: int = 256) -> torch.Tensor:
    """Theorem 2's A3 limit (m -> infinity) without A2's constant H̄_z. The m -> infinity limit of the frozen-gating A1 attack, without Theorem 2's averaged Hessian.

    As alpha = beta/m -> 0 the attack becomes the gradient flow d delta/ds = J^T g_z(z(x) + J delta),
    s in [0, beta] (the nonlinear ODE whose linearisation Theorem 2 solves). delta stays in the
    row space of J, delta = J^T u, so the flow is solved in C dimensions,
    du/ds = g_z(z(x) + J J^T u), with classical Runge-Kutta (fourth order, ``steps`` steps).
    J: (B, C, n), b: (B, C), x: (B, ...), y: (B,). Returns delta (B, n).
    Chapters: theorem1.
    """
    from .losses import loss_derivatives

    _check_beta_m(beta, steps)
    z0 = torch.einsum("bcn,bn->bc", J, x.reshape(x.shape[0], -1)) + b
    K = J @ J.transpose(1, 2)

    def f(u: torch.Tensor) -> torch.Tensor:
        return loss_derivatives(z0 + (K @ u[:, :, None])[..., 0], y)[0]

    h = beta / steps
    u = torch.zeros_like(z0)
    for _ in range(int(steps)):
        k1 = f(u)
        k2 = f(u + 0.5 * h * k1)
        k3 = f(u + 0.5 * h * k2)
        k4 = f(u + h * k3)
        u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return (J.transpose(1, 2) @ u[:, :, None])[..., 0]


class Spectrum(NamedTuple):
    """The non-trivial eigen-structure of H̄_x = J^T H̄_z J and the gradient at x."""

    lam: torch.Tensor  # (B, C) eigenvalues, descending, >= 0
    V: torch.Tensor  # (B, n, C) unit eigenvectors (zero columns where lambda = 0)
    g_x: torch.Tensor  # (B, n) input gradient at x, J^T g_z
    gamma: torch.Tensor  # (B, C) gamma_i = g_x . v_i


def spectrum(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor) -> Spectrum:
    """Theorem 2, Eq. (6), in spectral form. The :class:`Spectrum` for J: (B, C, n), hz_bar: (B, C, C) symmetric PSD, g_z: (B, C). Chapters: lp_attacks."""
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
    """Theorem 2, Eq. (6): the coefficients of deltâ, log c_i, c_i = (e^{beta lambda_i} - 1) / lambda_i (= beta at lambda_i = 0), without overflow.

    lam: (B, C) >= 0; beta: a number or (B,). Returns (B, C).
    Chapters: lp_attacks.
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
    Chapters: lp_attacks.
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
    """Sec. 3.2 and Appendix D: deltâ at the l2 attack's length. The beta at which ||deltâ(beta)|| equals ``target_norm`` (B,), per sample, by bisection.

    ||deltâ(beta)|| is increasing in beta (module docstring) and bracketed:
    beta ||g_x|| <= ||deltâ(beta)|| <= beta e^{beta lambda_1} ||g_x|| (every c_i lies in
    [beta, beta e^{beta lambda_i}]). So beta_hi = r / ||g_x|| and
    beta_lo = beta_hi e^{-beta_hi lambda_1}, r the target, bracket the root (beta_lo is floored
    at beta_hi e^{-600}, which only matters if beta_hi lambda_1 > 600 e^600). The bisection halves
    the bracket of log beta, at most 600 wide, ``iters`` times for all samples at once: 64 halvings
    leave it below 1e-16. ||deltâ(beta)|| is evaluated from the C coefficients in closed form
    (scalar root finding, done in numpy: tiny arrays, no thread overhead). Returns beta (B,).
    Chapters: lp_attacks.
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
