"""The book's figures. Each function returns a matplotlib Figure."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

sns.set_theme(style="whitegrid", context="notebook")


def _img(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().reshape(28, 28).numpy()


def perturbation_panel(x: torch.Tensor, delta_star: torch.Tensor, delta_hat: torch.Tensor) -> tuple[plt.Figure, float]:
    """Fig. 1-style panel: per row a digit x, delta*, deltâ and (delta* - deltâ) magnified.

    x, delta_star, delta_hat: (k, 784) or (k, 1, 28, 28). The perturbation columns
    share one symmetric colour scale; the difference is multiplied by a power of
    ten (returned) so that it is visible on that scale.
    """
    k = len(x)
    diff = delta_star - delta_hat
    vmax = float(delta_star.abs().max())
    dmax = float(diff.abs().max())
    mag = 10.0 ** max(0, math.floor(math.log10(vmax / dmax))) if dmax > 0 else 1.0
    fig, axes = plt.subplots(k, 4, figsize=(8, 2.1 * k), squeeze=False)
    cols = [
        ("digit $x$", x, "gray_r", (0, 1)),
        (r"$\delta^*$ (attack)", delta_star, "RdBu_r", (-vmax, vmax)),
        (r"$\hat\delta$ (Theorem 2)", delta_hat, "RdBu_r", (-vmax, vmax)),
        (rf"$(\delta^*-\hat\delta)\times 10^{{{int(round(math.log10(mag)))}}}$", diff * mag, "RdBu_r", (-vmax, vmax)),
    ]
    for i in range(k):
        for j, (title, t, cmap, (lo, hi)) in enumerate(cols):
            ax = axes[i, j]
            im = ax.imshow(_img(t[i]), cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[:, 1:].ravel().tolist(), shrink=0.8, label="perturbation (pixel intensity, [0, 1] scale)")
    return fig, mag


def _with_success_rate(ax: plt.Axes, df: pd.DataFrame, legend_loc: str) -> None:
    """Add the attack success rate (df columns beta, success_rate) on a right-hand axis, one legend."""
    ax2 = ax.twinx()
    ax2.plot(df["beta"], 100 * df["success_rate"], "^:", color="tab:red", label="attack success rate")
    ax2.set_ylabel("attack success rate (%)", color="tab:red")
    ax2.set_ylim(-5, 105)
    ax2.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc=legend_loc, fontsize=8)


def kappa_vs_beta(df: pd.DataFrame, beta_marked: float | None = None) -> plt.Figure:
    """kappa against beta (log-log) with the attack success rate on a second axis.

    df columns: beta, kappa, success_rate; optional kappa_real (attack without A2).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.loglog(df["beta"], df["kappa"], "o-", label=r"$\kappa$, frozen gating (A2)")
    if "kappa_real" in df:
        ax.loglog(df["beta"], df["kappa_real"], "s--", label=r"$\kappa$, real network (no A2)")
    if beta_marked is not None:
        ax.axvline(beta_marked, color="gray", ls=":", label=rf"chapter's $\beta$ = {beta_marked:g}")
    ax.set_xlabel(r"overall adversarial strength $\beta = m\alpha$")
    ax.set_ylabel(r"$\kappa = E\|\delta^*-\hat\delta\| \,/\, E\|\delta^*\|$")
    _with_success_rate(ax, df, legend_loc="upper left")
    fig.tight_layout()
    return fig


def energy_share(df: pd.DataFrame) -> plt.Figure:
    """Share of the perturbation's energy on v_1 against beta, with the success rate.

    df columns: beta, share_theory, share_attack, success_rate.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.semilogx(df["beta"], df["share_theory"], "o-", label=r"$\hat\delta$, Theorem 2 at the clean-input Hessian")
    ax.semilogx(df["beta"], df["share_attack"], "s--", label=r"$\delta^*$, the attack (frozen gating)")
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel(r"share of $\|\delta\|^2$ on $v_1$ of $H_x$ at $x$")
    _with_success_rate(ax, df, legend_loc="lower left")
    fig.tight_layout()
    return fig


def residual_vs_m(df: pd.DataFrame, floor: float, fit_from: int, slopes: dict[str, float]) -> plt.Figure:
    """Theorem 1's errors against the step count m (log-log), with fitted slopes.

    df columns: m, rho, euler, thm1_vs_thm2 (see ``experiments.residual_vs_m``); ``floor`` is
    drawn as a horizontal line; ``slopes`` maps a column to its fitted slope for the legend.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    style = {"euler": ("o-", r"$\delta^{(m)} - \delta^{(\infty)}$: the attack against its own limit"),
             "thm1_vs_thm2": ("s--", r"Theorem 1 $-$ Theorem 2 (same $\bar H_z$)"),
             "rho": ("^-", r"$\rho = \delta^{(m)} - $ Theorem 1 (the paper's residual)")}
    for col, (fmt, label) in style.items():
        extra = f", slope {slopes[col]:.2f}" if col in slopes else ""
        ax.loglog(df["m"], df[col], fmt, label=label + extra)
    ax.axhline(floor, color="gray", ls=":", label=r"floor $\|\delta^{(\infty)}-\hat\delta\|$ (constant $\bar H_z$)")
    ax.axvspan(df["m"].min() * 0.8, fit_from, color="0.92", zorder=0)
    ax.set_xlabel("attack steps m (β fixed, α = β/m)")
    ax.set_ylabel(r"error, $E\|\cdot\| \,/\, E\|\delta^{(m)}\|$")
    ax.legend(fontsize=7.5, loc="lower left")
    fig.tight_layout()
    return fig


def kappa_map(df: pd.DataFrame, threshold: float = 1e-3) -> plt.Figure:
    """kappa over beta for every network, and the attack success rate.

    df: ``experiments.kappa_map`` output. Points above ``threshold`` are where Theorem 2 stops
    describing the attack at the precision of the paper's Table 1.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for name, g in df.groupby("network", sort=False):
        ax.loglog(g["beta"], g["kappa"], "o-", ms=3, label=name)
        ax2.semilogx(g["beta"], 100 * g["success_rate"], "o-", ms=3, label=name)
    ax.axhline(threshold, color="k", ls=":", lw=1)
    ax.text(df["beta"].min(), threshold * 1.3, f"κ = {threshold:g}", fontsize=8)
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel(r"$\kappa$ (frozen gating)")
    ax.set_title("Theorem 2 against the attack")
    ax2.set_xlabel(r"overall adversarial strength $\beta$")
    ax2.set_ylabel("attack success rate (%)")
    ax2.set_title("how often the attack succeeds")
    ax2.set_ylim(-5, 105)
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
