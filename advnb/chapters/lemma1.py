"""Chapter lemma1: Lemma 1 (H_z and g_z^2) checked symbolically and numerically.

The sigmoid half of Lemma 1 is :func:`advnb.core.binary.sigmoid_gap` (it is used by Theorems 3-5
too). This module holds the chapter's other checks:

- :func:`softmax_quadratic_form`: for softmax cross-entropy with C classes, v^T H_z v written as
  the variance of v under p (non-negative), derived with sympy.
- :func:`lemma1_sweep`, :func:`softmax_eigen_sweep`, :func:`min_eigenvalue`, :func:`is_psd`: the
  same statements on a dense grid of margins and on random logit vectors, through
  :func:`advnb.core.losses.loss_derivatives`.
- :func:`sigmoid_path_gap`: the averaged Hessian H̄_z of an attack under frozen gating against
  g_z(x)^2 (the form in which the paper uses Lemma 1 for Theorem 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sympy as sp
import torch

from ..core.binary import sigmoid_gap_closed_form
from ..core.losses import loss_derivatives


@dataclass(frozen=True)
class SoftmaxForm:
    """Lemma 1 for softmax cross-entropy with C classes.

    Attributes:
      C: number of classes; z, v: the logits and a direction, tuples of C sympy symbols.
      hessian: H_z as sympy derived it from L = -z_y + log sum_j exp(z_j) (C x C Matrix, label y = 0).
      quadratic: v^T H_z v, with exp(z_j) replaced by positive symbols e_j (a rational function).
      variance: sum_i p_i v_i^2 - (sum_i p_i v_i)^2 with p_i = e_i / sum_j e_j.
      pairwise: (1/2) sum_{i,j} p_i p_j (v_i - v_j)^2 (every term >= 0).
      identities: name -> bool, every symbolic identity checked.
    """

    C: int
    z: tuple
    v: tuple
    hessian: sp.Matrix
    quadratic: sp.Expr
    variance: sp.Expr
    pairwise: sp.Expr
    identities: dict


def softmax_quadratic_form(C: int) -> SoftmaxForm:
    """Lemma 1, softmax. Derive v^T H_z v for softmax cross-entropy with ``C`` classes and identify it as a variance.

    sympy takes the Hessian of L = -z_y + log sum_j exp(z_j) for every label y
    (checking it does not depend on y), then the quadratic form with a symbolic
    direction v; after replacing exp(z_j) by positive symbols e_j the identities are
    polynomial and ``sympy.cancel`` decides them exactly. Cost grows quickly with C:
    C <= 6 is allowed.
    Chapters: lemma1.
    """
    if isinstance(C, bool) or not isinstance(C, (int, np.integer)) or not 2 <= C <= 6:
        raise ValueError(f"C must be an integer from 2 to 6 (got {C!r})")
    C = int(C)
    z = sp.symbols(f"z0:{C}", real=True)
    v = sp.symbols(f"v0:{C}", real=True)
    e = sp.symbols(f"e0:{C}", positive=True)
    to_e = {sp.exp(zi): ei for zi, ei in zip(z, e)}
    lse = sp.log(sum(sp.exp(zi) for zi in z))
    hessians = [sp.hessian(-z[y] + lse, z) for y in range(C)]
    H = hessians[0]
    vv = sp.Matrix(v)
    quadratic = sp.cancel((vv.T * H * vv)[0].subs(to_e))
    S = sum(e)
    p = [ei / S for ei in e]
    mean = sum(pi * vi for pi, vi in zip(p, v))
    variance = sum(pi * vi**2 for pi, vi in zip(p, v)) - mean**2
    pairwise = sp.Rational(1, 2) * sum(p[i] * p[j] * (v[i] - v[j]) ** 2 for i in range(C) for j in range(C))
    He = H.subs(to_e)
    ids = {
        "H_z does not depend on the label": all((Hy - H).is_zero_matrix for Hy in hessians[1:]),
        "H_z = diag(p) - p p^T": all(sp.cancel(He[i, j] - ((p[i] if i == j else 0) - p[i] * p[j])) == 0
                                      for i in range(C) for j in range(C)),
        "H_z 1 = 0": all(sp.cancel(sum(He[i, j] for j in range(C))) == 0 for i in range(C)),
        "v^T H_z v = variance of v under p": sp.cancel(quadratic - variance) == 0,
        "v^T H_z v = (1/2) sum p_i p_j (v_i - v_j)^2": sp.cancel(quadratic - pairwise) == 0,
        "H_z depends on z only through p": not (quadratic.free_symbols & set(z)),
    }
    return SoftmaxForm(C, z, v, H, quadratic, variance, pairwise, ids)


def lemma1_sweep(yz_max: float = 40.0, n: int = 4001) -> pd.DataFrame:
    """Sigmoid g_z, H_z and H_z - g_z^2 on a grid of margins, for both labels.

    The margins t = y z are ``n`` equally spaced points of [-yz_max, yz_max], symmetric
    about 0 to the bit (an odd ``n`` includes t = 0 exactly); for each label y in {-1, +1} the logit is z = y t and the
    derivatives come from :func:`advnb.core.losses.loss_derivatives` in float64.
    Returns a DataFrame of 2 n rows with columns
    y, z, yz, g_z, H_z, g_z2 (= g_z^2), gap (= H_z - g_z^2) and closed_form
    (:func:`sigmoid_gap_closed_form` of yz, computed without torch).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an integer >= 3 (got {n!r})")
    if not (isinstance(yz_max, (int, float)) and math.isfinite(yz_max) and yz_max > 0):
        raise ValueError(f"yz_max must be a finite number > 0 (got {yz_max!r})")
    t = torch.linspace(-float(yz_max), float(yz_max), int(n), dtype=torch.float64)
    t = (t - t.flip(0)) / 2  # exactly antisymmetric: an odd n has t = 0 exactly, not a rounding residue
    frames = []
    for label in (-1, 1):
        y = torch.full((len(t),), label, dtype=torch.int64)
        z = label * t
        g, h = loss_derivatives(z[:, None], y)
        g, h = g[:, 0], h[:, 0, 0]
        yz = (y.to(z.dtype) * z).numpy()
        frames.append(pd.DataFrame({
            "y": label, "z": z.numpy(), "yz": yz, "g_z": g.numpy(), "H_z": h.numpy(),
            "g_z2": (g * g).numpy(), "gap": (h - g * g).numpy(), "closed_form": sigmoid_gap_closed_form(yz),
        }))
    return pd.concat(frames, ignore_index=True)


def _check_square(h: torch.Tensor) -> None:
    if not isinstance(h, torch.Tensor) or h.ndim < 2 or h.shape[-1] != h.shape[-2] or h.shape[-1] == 0:
        raise ValueError(f"expected a tensor of square matrices (..., C, C), got {getattr(h, 'shape', type(h))}")
    if not torch.isfinite(h).all():
        raise ValueError("matrices must be finite")
    scale = float(h.abs().max()) if h.numel() else 0.0
    if float((h - h.transpose(-1, -2)).abs().max()) > 1e-12 * max(scale, 1.0):
        raise ValueError("matrices must be symmetric")


def min_eigenvalue(h: torch.Tensor) -> torch.Tensor:
    """Smallest eigenvalue of each symmetric matrix. h: (..., C, C). Returns (...)."""
    _check_square(h)
    return torch.linalg.eigvalsh(h)[..., 0]


def is_psd(h: torch.Tensor, tol: float = 1e-12) -> torch.Tensor:
    """Whether each symmetric matrix is PSD up to ``tol``. h: (..., C, C). Returns (...) bool."""
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0 (got {tol!r})")
    return min_eigenvalue(h) >= -tol


def softmax_eigen_sweep(classes, scales, n: int, seed: int = 0) -> pd.DataFrame:
    """Eigenvalues of the softmax H_z on random logit vectors.

    For every C in ``classes`` and s in ``scales``: ``n`` logit vectors z = s * N(0, I_C)
    and labels drawn uniformly (float64), H_z from :func:`advnb.core.losses.loss_derivatives`.
    Returns a DataFrame of len(classes) * len(scales) * n rows with columns
    C, scale, min_eig, max_eig, p_max (largest probability) and null_residual
    (max_i |(H_z 1)_i|, zero in exact arithmetic).
    """
    classes, scales = list(classes), list(scales)
    if not classes or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 2 for c in classes):
        raise ValueError(f"classes must be a non-empty list of integers >= 2 (got {classes!r})")
    if not scales or any(not (math.isfinite(s) and s > 0) for s in scales):
        raise ValueError(f"scales must be a non-empty list of finite numbers > 0 (got {scales!r})")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (got {n!r})")
    gen = torch.Generator().manual_seed(int(seed))
    frames = []
    for C in classes:
        for s in scales:
            z = float(s) * torch.randn(int(n), int(C), generator=gen, dtype=torch.float64)
            y = torch.randint(0, int(C), (int(n),), generator=gen)
            _, h = loss_derivatives(z, y)
            ev = torch.linalg.eigvalsh(h)
            frames.append(pd.DataFrame({
                "C": int(C), "scale": float(s), "min_eig": ev[:, 0].numpy(), "max_eig": ev[:, -1].numpy(),
                "p_max": torch.softmax(z, dim=1).max(dim=1).values.numpy(),
                "null_residual": h.sum(dim=2).abs().max(dim=1).values.numpy(),
            }))
    return pd.concat(frames, ignore_index=True)


def sigmoid_path_gap(yz0, step, m: int) -> pd.DataFrame:
    """H̄_z of an m-step A1 attack under frozen gating, against g_z(x)^2, for a sigmoid head.

    Under frozen gating the logit moves by J Δx, so one step of size α changes the
    margin by y J J^T α g_z = -a sigma(-t) with a = α ||J||^2 > 0 (the margin step).
    From t_0 = ``yz0`` the margins are t_{k+1} = t_k - a sigma(-t_k), and the paper's
    average is H̄_z = sum_{k=1}^{m-1} w_k H(t_k) / sum_k w_k with
    w_k = ||Δx^(k)|| ∝ sigma(-t_{k-1}) and H(t) = sigma(t) sigma(-t).

    yz0, step: (P,) arrays of start margins and margin steps a (> 0); m >= 2.
    Returns a DataFrame of P rows: yz0, step, yz_last (t_{m-1}), hbar, g0_sq
    (g_z(x)^2 = sigma(-t_0)^2), gap (hbar - g0_sq), inside (every t_1..t_{m-1}
    has |t_k| <= t_0: the case in which H̄_z >= H_z(x) >= g_z(x)^2 is proven) and
    succeeded (t_{m-1} <= 0: the attack has flipped the sign of the margin).
    """
    t0 = torch.as_tensor(np.asarray(yz0, dtype=np.float64))
    a = torch.as_tensor(np.asarray(step, dtype=np.float64))
    if t0.ndim != 1 or a.shape != t0.shape or len(t0) == 0:
        raise ValueError(f"yz0 and step must be 1-d arrays of one length (got {tuple(t0.shape)} and {tuple(a.shape)})")
    if not (torch.isfinite(t0).all() and torch.isfinite(a).all() and (a > 0).all()):
        raise ValueError("yz0 must be finite and step finite and > 0")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 2:
        raise ValueError(f"m must be an integer >= 2 (got {m!r})")
    t = t0.clone()
    num = torch.zeros_like(t)
    den = torch.zeros_like(t)
    inside = torch.ones_like(t, dtype=torch.bool)
    for _ in range(1, int(m)):
        w = torch.sigmoid(-t)  # ||Δx^(k)|| / (α ||J||), from the previous point
        t = t - a * w
        num += w * torch.sigmoid(t) * torch.sigmoid(-t)
        den += w
        inside &= t.abs() <= t0
    hbar = num / den
    g0_sq = torch.sigmoid(-t0) ** 2
    return pd.DataFrame({"yz0": t0.numpy(), "step": a.numpy(), "yz_last": t.numpy(), "hbar": hbar.numpy(),
                         "g0_sq": g0_sq.numpy(), "gap": (hbar - g0_sq).numpy(), "inside": inside.numpy(),
                         "succeeded": (t <= 0).numpy()})
