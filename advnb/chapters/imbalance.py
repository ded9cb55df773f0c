"""[from imbalance]
The imbalance of adversarial training over samples (Sec. 3.3: conclusions C5, C6 and C7).

Setting and notation are those of :mod:`advnb.core.binary`: a sigmoid head (one logit z), labels
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


[from plots]
The book's figures. Each function returns a matplotlib Figure."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import nn

from ..core.binary import attacked_step, cos_to_mean, strength
from ..core.metrics import spearman
from .common import a_hat


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
    return pd.DataFrame({x: [spearman(df[x], df[y]) for y in ys] for x in xs}, index=ys)


def c5_samples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int, eta: float) -> pd.DataFrame:
    """Per-sample measurements of C5 on the real network (no frozen gating anywhere).

    The m-step A1 attack of strength beta runs on the real network; dL/dh at x + delta* comes from
    the real network there; g̃_x, g̃_h are those of the clean x (as in Theorem 3). One training step
    of learning rate eta on x and on x + delta* is compared through the dense first layer.

    x: (B, 1, 28, 28) float64, y: (B,) in {-1, +1}. Columns: hz_bar (H̄_z), hz_gx2 (H̄_z ||g̃_x||^2),
    A (beta H̄_z ||g̃_x||^2), a_hat (Â), phi_abs (|g̃_x^T Δg̃_x|), phi, dgw_norm (||Δg_W||),
    cos_to_mean (cos(Δg_W|x, mean Δg_W) over the batch), gx_norm (||g̃_x||), yz, success.
    """
    step = attacked_step(model, x, y, beta, m, eta, real=True)
    clean, res, e = step.clean, step.attack, step.effect
    hz_bar = res.hz_bar[:, 0, 0]
    gx2 = clean.gt_x.pow(2).sum(1)
    cols = {"hz_bar": hz_bar, "hz_gx2": hz_bar * gx2, "A": strength(beta, hz_bar, clean.gt_x),
            "a_hat": a_hat(res, y, beta), "phi_abs": e.phi.abs(), "phi": e.phi, "dgw_norm": e.dgw_norm,
            "cos_to_mean": cos_to_mean(step.x, step.x_adv, clean.g_h, step.g_h_adv), "gx_norm": gx2.sqrt(),
            "yz": y.to(clean.z) * clean.z, "success": res.success}
    return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in cols.items()})


def c5_scatter_figure(tables: dict, xs: dict, ys: dict, rho: dict) -> plt.Figure:
    """Fig. 3: per-sample effects against the sample's strength, log-log, one colour per network.

    tables: {network: DataFrame}; xs / ys: {column: axis label} (columns and rows of the grid);
    rho: {network: DataFrame of Spearman correlations, rows ys, columns xs}, written in each panel.
    """
    fig, axes = plt.subplots(len(ys), len(xs), figsize=(3.5 * len(xs), 3.0 * len(ys)), squeeze=False)
    colours = sns.color_palette("deep", len(tables))
    for i, (ycol, ylab) in enumerate(ys.items()):
        for j, (xcol, xlab) in enumerate(xs.items()):
            ax = axes[i, j]
            text = []
            for k, (name, df) in enumerate(tables.items()):
                ok = (df[xcol] > 0) & (df[ycol] > 0)
                ax.scatter(df.loc[ok, xcol], df.loc[ok, ycol], s=10, alpha=0.7, color=colours[k],
                           label=name if (i, j) == (0, 0) else None)
                text.append(f"{name}: ρ = {rho[name].loc[ycol, xcol]:+.2f}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.text(0.02, 0.98, "\n".join(text), transform=ax.transAxes, va="top", fontsize=7,
                    bbox=dict(boxstyle="round", fc="white", alpha=0.8, lw=0))
            if i == len(ys) - 1:
                ax.set_xlabel(xlab)
            if j == 0:
                ax.set_ylabel(ylab)
    fig.legend(loc="upper center", ncol=len(tables), fontsize=8, bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def c5_groups_figure(groups: dict) -> plt.Figure:
    """Fig. 4: the mean cos(Δg_W|x, mean Δg_W) in each group of Â (groups by rank, 1 = smallest Â).

    groups: {network: DataFrame of :func:`advnb.chapters.imbalance.group_means`}.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, gm in groups.items():
        ax.plot(gm["group"], gm["mean"], "o-", label=name)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(range(1, int(max(gm["group"].max() for gm in groups.values())) + 1))
    ax.set_xlabel(r"group of samples by $\hat{\mathcal{A}}$ (1 = smallest tenth, 10 = largest)")
    ax.set_ylabel(r"mean $\cos(\Delta g_W|_x, \Delta\bar g_W)$ in the group")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
