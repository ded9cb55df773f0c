"""Chapter imbalance: adversarial training boosts a few samples (C5, Figs. 3 and 4).

:func:`c5_samples` measures, per sample and on the real network, the training effects |phi| and
||Δg_W|| beside H̄_z, H̄_z ||g̃_x||^2 and the paper's Â (:func:`advnb.chapters.common.a_hat`),
and each sample's cos(Δg_W|x, mean Δg_W) (Fig. 4); :func:`group_means`, :func:`rank_correlations`,
:func:`top_share` summarise them; :func:`c5_scatter_figure` (Fig. 3) and :func:`c5_groups_figure`
(Fig. 4) draw them.
"""

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
    """Conclusion C5, Figs. 3-4. Per-sample measurements of C5 on the real network (no frozen gating anywhere).

    The m-step A1 attack of strength beta runs on the real network; dL/dh at x + delta* comes from
    the real network there; g̃_x, g̃_h are those of the clean x (as in Theorem 3). One training step
    of learning rate eta on x and on x + delta* is compared through the dense first layer.

    x: (B, 1, 28, 28) float64, y: (B,) in {-1, +1}. Columns: hz_bar (H̄_z), hz_gx2 (H̄_z ||g̃_x||^2),
    A (beta H̄_z ||g̃_x||^2), a_hat (Â), phi_abs (|g̃_x^T Δg̃_x|), phi, dgw_norm (||Δg_W||),
    cos_to_mean (cos(Δg_W|x, mean Δg_W) over the batch), gx_norm (||g̃_x||), yz, success; and the vanilla
    control on the same digits: gw_norm (||g_W||), gw_adv_norm (||g_W^(adv)||), phi_ori_abs (|phi_ori|),
    cos_to_mean_vanilla (cos(g_W|x, mean g_W)).
    Chapters: imbalance.
    """
    step = attacked_step(model, x, y, beta, m, eta, real=True)
    clean, res, e = step.clean, step.attack, step.effect
    hz_bar = res.hz_bar[:, 0, 0]
    gx2 = clean.gt_x.pow(2).sum(1)
    cols = {"hz_bar": hz_bar, "hz_gx2": hz_bar * gx2, "A": strength(beta, hz_bar, clean.gt_x),
            "a_hat": a_hat(res, y, beta), "phi_abs": e.phi.abs(), "phi": e.phi, "dgw_norm": e.dgw_norm,
            "cos_to_mean": cos_to_mean(step.x, step.x_adv, clean.g_h, step.g_h_adv), "gx_norm": gx2.sqrt(),
            "yz": y.to(clean.z) * clean.z, "success": res.success,
            # the vanilla control: the same step on x alone
            "gw_norm": e.gw_norm, "gw_adv_norm": e.gw_adv_norm, "phi_ori_abs": e.phi_ori.abs(),
            "cos_to_mean_vanilla": cos_to_mean(step.x, step.x, torch.zeros_like(clean.g_h), clean.g_h)}
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
