"""The imbalance of adversarial training over samples (Sec. 3.3: conclusions C5, C6 and C7).

Setting and notation are those of :mod:`advnb.effects`: a sigmoid head (one logit z), labels
y in {-1, +1}, the paper's W the first ``nn.Linear`` / ``nn.Conv2d`` taken as a dense matrix,
g̃_x = dz/dx, g̃_h = dz/dh, g_W = x g_h^T the per-sample gradient of the loss in W.

C5 (Theorem 3 on real networks, the paper's Figs. 3 and 4). Along an m-step A1 attack of
strength beta (alpha = beta/m) the logit gradient changes, so the paper measures the strength
of the attack that a sample actually met as

    Â = sum_t alpha H̄_z ||g̃_{x + delta^(t)}||^2 ,   t = 0 .. m-1,

the m logit gradients that drive the m steps (delta^(t+1) = delta^(t) + alpha g_z^(t) g̃^(t)).
With one logit g_{x+delta} = g_z g̃, so ||g̃^(t)|| = ||g^(t)|| / |g_z(z^(t))|: the attack's own
record (``AttackResult.grad_norms`` and ``.logits``) gives Â without another pass. With
g̃ constant along the path Â is Theorem 3's 𝒜 = beta H̄_z ||g̃_x||^2.

C6 and C7 (Theorem 5). In the binary case deltâ = (e^A - 1) g_z g̃_x / (H̄_z ||g̃_x||^2) is
parallel to g̃_x whatever beta, so deltâ^(norm) = c deltâ/||deltâ|| = c sign(g_z) g̃_x/||g̃_x||
is one normalised gradient step, and Eq. (11)'s factor is exactly

    (e^A - 1) / ||deltâ|| = H̄_z ||g̃_x|| / |g_z| .

The imbalance is measured as the share of a per-sample quantity carried by the top 10% of
samples (:func:`top_share`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import effects
from .attacks import AttackResult, gradient_ascent
from .hessian import loss_derivatives


# ----------------------------------------------------------------------------- C5: Â

def logit_gradient_norms(res: AttackResult, y: torch.Tensor) -> torch.Tensor:
    """||g̃_{x+delta^(t)}|| = ||dL/dx|| / |g_z| at every step t = 0..m of a one-logit attack. Returns (B, m+1)."""
    if res.logits.ndim != 3 or res.logits.shape[2] != 1:
        raise ValueError(f"Â needs an attack on a one-logit (sigmoid) head; the logits have shape {tuple(res.logits.shape)}")
    B, steps = res.grad_norms.shape
    z = res.logits[:, :, 0].reshape(-1, 1)
    g_z, _ = loss_derivatives(z, y.repeat_interleave(steps))
    g_z = g_z.reshape(B, steps).abs()
    if bool((g_z == 0).any()):
        raise ValueError("g_z underflowed to 0 at some step (|y z| > 700): ||g̃|| cannot be read off ||dL/dx||")
    return res.grad_norms / g_z


def a_hat(res: AttackResult, y: torch.Tensor, beta: float) -> torch.Tensor:
    """The paper's Â = sum_{t=0}^{m-1} alpha H̄_z ||g̃_{x+delta^(t)}||^2, alpha = beta/m. Returns (B,).

    ``res`` is an m-step A1 attack of strength ``beta`` on a one-logit network (m is read from
    ``res.grad_norms``, which holds steps 0..m); y: (B,) in {-1, +1}.
    """
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0 (got {beta})")
    norms = logit_gradient_norms(res, y)
    m = norms.shape[1] - 1
    if m < 1:
        raise ValueError("the attack record has no step (m = 0)")
    return (beta / m) * res.hz_bar[:, 0, 0] * norms[:, :m].pow(2).sum(dim=1)


# ----------------------------------------------------------------------------- summaries

def top_share(values, frac: float = 0.1) -> float:
    """The share of sum(values) carried by the largest ceil(frac * N) values (values >= 0)."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("top_share needs at least one value")
    if not (0 < frac <= 1):
        raise ValueError(f"frac must be in (0, 1] (got {frac})")
    if not np.isfinite(v).all() or (v < 0).any():
        raise ValueError("top_share needs finite values >= 0")
    total = v.sum()
    if total == 0:
        raise ValueError("top_share needs values that do not all vanish")
    k = max(1, math.ceil(frac * v.size - 1e-9))
    return float(np.sort(v)[::-1][:k].sum() / total)


def group_means(key, value, groups: int = 10) -> pd.DataFrame:
    """Split the samples into ``groups`` groups of (nearly) equal size by the rank of ``key``
    (lowest first) and average ``value`` within each group.

    Returns one row per group: group (1 = smallest keys), n, key_lo, key_hi, key_mean, mean.
    Ties in ``key`` are broken by order of appearance, so every group has N // groups or one more sample.
    """
    k = np.asarray(key, dtype=float).ravel()
    v = np.asarray(value, dtype=float).ravel()
    if k.shape != v.shape:
        raise ValueError(f"key and value must have the same length (got {k.size} and {v.size})")
    if int(groups) != groups or groups < 1:
        raise ValueError(f"groups must be an integer >= 1 (got {groups})")
    if k.size < groups:
        raise ValueError(f"{groups} groups need at least {groups} samples (got {k.size})")
    order = np.argsort(k, kind="stable")
    rows = []
    for g, idx in enumerate(np.array_split(order, groups), start=1):
        rows.append({"group": g, "n": idx.size, "key_lo": k[idx].min(), "key_hi": k[idx].max(),
                     "key_mean": k[idx].mean(), "mean": v[idx].mean()})
    return pd.DataFrame(rows)


def rank_correlations(df: pd.DataFrame, xs: list[str], ys: list[str]) -> pd.DataFrame:
    """Spearman rank correlation of every column of ``ys`` with every column of ``xs``: rows ys, columns xs."""
    return pd.DataFrame({x: [effects.spearman(df[x], df[y]) for y in ys] for x in xs}, index=ys)


# ----------------------------------------------------------------------------- C5: Figs. 3 and 4

def beta_for_strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor, a0: float, statistic: str = "max") -> float:
    """The beta at which the ``statistic`` ("max" or "median") over the batch of the clean-input strength
    beta H_z(x) ||g̃_x||^2 equals ``a0``.

    Sets one attack strength per network before any attack is run: the networks' logit gradients
    differ by orders of magnitude, so one beta would be negligible for one and overwhelming for another.
    With "max" no digit meets a clean-input strength above a0, so every digit stays in the weak-attack
    regime of Theorems 2 to 5; with "median" half the digits may meet far more when H_z(x) ||g̃_x||^2
    spreads over orders of magnitude (as it does for networks with wide margins).
    """
    if not (math.isfinite(a0) and a0 > 0):
        raise ValueError(f"a0 must be a finite number > 0 (got {a0})")
    if statistic not in ("max", "median"):
        raise ValueError(f"statistic must be max or median (got {statistic!r})")
    lp = effects.layer_pass(model, x, y)
    strengths = lp.hz * lp.gt_x.pow(2).sum(1)
    s = (strengths.max() if statistic == "max" else strengths.median()).item()
    if not s > 0:
        raise ValueError(f"the {statistic} H_z ||g̃_x||^2 of the batch is 0: no beta gives that strength")
    return a0 / s


def c5_samples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int, eta: float) -> pd.DataFrame:
    """Per-sample measurements of C5 on the real network (no frozen gating anywhere).

    The m-step A1 attack of strength beta runs on the real network; dL/dh at x + delta* comes from
    the real network there; g̃_x, g̃_h are those of the clean x (as in Theorem 3). One training step
    of learning rate eta on x and on x + delta* is compared through the dense first layer.

    x: (B, 1, 28, 28) float64, y: (B,) in {-1, +1}. Columns: hz_bar (H̄_z), hz_gx2 (H̄_z ||g̃_x||^2),
    A (beta H̄_z ||g̃_x||^2), a_hat (Â), phi_abs (|g̃_x^T Δg̃_x|), phi, dgw_norm (||Δg_W||),
    cos_to_mean (cos(Δg_W|x, mean Δg_W) over the batch), gx_norm (||g̃_x||), yz, success.
    """
    step = effects.attacked_step(model, x, y, beta, m, eta, real=True)
    clean, res, e = step.clean, step.attack, step.effect
    hz_bar = res.hz_bar[:, 0, 0]
    gx2 = clean.gt_x.pow(2).sum(1)
    cols = {"hz_bar": hz_bar, "hz_gx2": hz_bar * gx2, "A": effects.strength(beta, hz_bar, clean.gt_x),
            "a_hat": a_hat(res, y, beta), "phi_abs": e.phi.abs(), "phi": e.phi, "dgw_norm": e.dgw_norm,
            "cos_to_mean": effects.cos_to_mean(step.x, step.x_adv, clean.g_h, step.g_h_adv), "gx_norm": gx2.sqrt(),
            "yz": y.to(clean.z) * clean.z, "success": res.success}
    return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in cols.items()})


# ----------------------------------------------------------------------------- Theorem 5, C6, C7

class _Line(nn.Module):
    """The frozen-gating network restricted to the line x + t g̃_x/||g̃_x||: z(t) = z(x) + ||g̃_x|| t. Input (B, 1)."""

    def __init__(self, z0: torch.Tensor, gx_norm: torch.Tensor):
        super().__init__()
        self.z0, self.gx_norm = z0, gx_norm

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return (self.z0 + self.gx_norm * t[:, 0])[:, None]


def frozen_binary_attack(clean: effects.LayerPass, y: torch.Tensor, beta: float, m: int) -> AttackResult:
    """The m-step A1 attack under frozen gating (A2) for one logit, run on the line it never leaves.

    Under A2 the input gradient is g_z(z) g̃_x with g̃_x fixed, so every step is a multiple of g̃_x and
    delta^(t) = t_t g̃_x/||g̃_x||. :func:`advnb.attacks.gradient_ascent` run on that one coordinate t gives
    the same logits, step lengths and hence the same H̄_z as the attack in the n-dimensional input, at a
    fraction of the cost. The returned ``delta`` is the coordinate t: (B, 1); ``success`` is under A2.
    """
    gx_norm = clean.gt_x.norm(dim=1)
    line = _Line(clean.z, gx_norm)
    lin = (gx_norm[:, None, None], clean.z[:, None])
    return gradient_ascent(line, torch.zeros_like(clean.z)[:, None], y, beta, m, frozen_gating=True, linearization=lin)


MODES = ("common c", "per-sample s")


def c67_samples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int, eta: float,
                factors=(1.0,)) -> pd.DataFrame:
    """Theorem 5 measured and predicted, and the per-sample influences of C6/C7, under frozen gating (A2).

    The m-step A1 attack of strength beta under frozen gating (:func:`frozen_binary_attack`) gives H̄_z; deltâ is Theorem 2 with that
    H̄_z (:func:`advnb.effects.binary_delta_hat`). Each sample is moved to x + deltâ^(norm),
    deltâ^(norm) = c deltâ/||deltâ|| = s deltâ, in two ways for every f of ``factors``:

    - mode "common c": one length for all samples, c = f * mean over the batch of ||deltâ||
      (f = 1: the same average budget as deltâ, spread evenly: the paper's deltâ^(norm));
    - mode "per-sample s": s = f, c = f ||deltâ|| (f = 1: deltâ itself, where Eq. (11) is Eq. (9)).

    One training step of learning rate eta is taken there with the exact sigmoid g_z under A2
    (:func:`advnb.effects.frozen_layer_gradient`) and the measured phi^(norm)* is set beside Eq. (11).

    Returns a long table, one row per sample, mode and factor: mode, f, c, s, phi_star, phi_hat,
    phi_adv_star (g̃_x^T Δg̃_x^(adv) at the moved point), gw_adv_norm (||g_W^(adv)|| there), dgw_norm
    (||Δg_W||), and the per-sample constants sample, gw_norm (vanilla ||g_W||), phi_ori, A, hz_bar, g_z,
    gx_norm, yz, delta_hat_norm, factor_c6 ((e^A - 1)/||deltâ||) and success (the A2 attack crossed the
    decision boundary: outside the premise of Lemma 1, yz > 0 along the attack).
    """
    if not factors or not all(math.isfinite(f) and f > 0 for f in factors):
        raise ValueError(f"factors must be finite numbers > 0 (got {list(factors)})")
    B = len(x)
    clean = effects.layer_pass(model, x, y)
    flat = x.reshape(B, -1)
    attack = frozen_binary_attack(clean, y, beta, m)
    hz_bar = attack.hz_bar[:, 0, 0]
    gx2 = clean.gt_x.pow(2).sum(1)
    A = effects.strength(beta, hz_bar, clean.gt_x)
    d_hat = effects.binary_delta_hat(beta, hz_bar, clean.g_z, clean.gt_x)
    d_norm = d_hat.norm(dim=1)
    if not bool((d_norm > 0).all()):
        raise ValueError("deltâ vanishes for some sample (g_z = 0): its direction is undefined")
    vanilla = effects.effect(flat, flat, clean.g_h, clean.g_h, clean, eta)
    p = effects.Inputs(vanilla.phi_ori, A, clean.g_z, hz_bar, gx2, clean.gt_h.pow(2).sum(1), beta, eta)
    const = {"sample": torch.arange(B), "gw_norm": vanilla.gw_norm, "phi_ori": vanilla.phi_ori, "A": A,
             "hz_bar": hz_bar, "g_z": clean.g_z, "gx_norm": gx2.sqrt(), "yz": y.to(clean.z) * clean.z,
             "delta_hat_norm": d_norm, "factor_c6": torch.expm1(A) / d_norm, "success": attack.success}
    frames = []
    for mode in MODES:
        for f in factors:
            c = f * d_norm.mean().expand(B) if mode == "common c" else f * d_norm
            s = c / d_norm
            x_adv = flat + s[:, None] * d_hat
            g_h_adv = effects.frozen_layer_gradient(clean, flat, x_adv, y)
            e = effects.effect(flat, x_adv, clean.g_h, g_h_adv, clean, eta)
            cols = {**const, "c": c, "s": s, "phi_star": e.phi, "phi_hat": effects.eq11(p, s),
                    "phi_adv_star": e.phi_adv, "gw_adv_norm": e.gw_adv_norm, "dgw_norm": e.dgw_norm}
            df = pd.DataFrame({k: v.detach().cpu().numpy() for k, v in cols.items()})
            df.insert(0, "f", float(f))
            df.insert(0, "mode", mode)
            frames.append(df)
    return pd.concat(frames, ignore_index=True)


def kappa_prime_by_move(df: pd.DataFrame) -> pd.DataFrame:
    """κ' = E|phi* - phî| / E|phi*| of Eq. (11) for every (mode, f) of a :func:`c67_samples` table."""
    rows = [{"mode": mode, "f": f, "kappa_prime": effects.kappa_prime(g.phi_star, g.phi_hat)}
            for (mode, f), g in df.groupby(["mode", "f"], sort=False)]
    return pd.DataFrame(rows, columns=["mode", "f", "kappa_prime"])


def imbalance_shares(df: pd.DataFrame, frac: float = 0.1) -> dict[str, float]:
    """Top-``frac`` shares of the per-sample training influence under the three training rules, from a
    :func:`c67_samples` table (it must hold mode "per-sample s", f = 1 and mode "common c", f = 1).

    Keys: gw_vanilla, gw_hat, gw_norm (||g_W|| on x, x + deltâ, x + deltâ^(norm)); phi_vanilla, phi_hat,
    phi_norm (|g̃_x^T Δg̃_x^(ori)| and |g̃_x^T Δg̃_x^(adv)| at the two moved points); dgw_hat, dgw_norm
    (||Δg_W||, the additional effect, which vanilla training does not have).
    """
    hat = df[(df["mode"] == "per-sample s") & (df["f"] == 1.0)]
    norm = df[(df["mode"] == "common c") & (df["f"] == 1.0)]
    if hat.empty or norm.empty:
        raise ValueError("the table needs the moves deltâ (per-sample s, f = 1) and deltâ^(norm) (common c, f = 1)")
    return {"gw_vanilla": top_share(hat["gw_norm"], frac), "gw_hat": top_share(hat["gw_adv_norm"], frac),
            "gw_norm": top_share(norm["gw_adv_norm"], frac),
            "phi_vanilla": top_share(hat["phi_ori"].abs(), frac), "phi_hat": top_share(hat["phi_adv_star"].abs(), frac),
            "phi_norm": top_share(norm["phi_adv_star"].abs(), frac),
            "dgw_hat": top_share(hat["dgw_norm"], frac), "dgw_norm": top_share(norm["dgw_norm"], frac)}
