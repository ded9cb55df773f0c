"""The book's figure style and the figures that several chapters share.

Importing this module sets the seaborn theme of every figure. :func:`kappa_map_figure` (an error
over beta for every network, with the attack success rate; theorem2, theorem3, theorem4) and
:func:`figure1_panel` (the paper's Fig. 1 layout; theorem2, lp_attacks). A chapter's own figures
live in its module. Every function returns a matplotlib Figure.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .common import Pair
from .lp_attacks import magnification

sns.set_theme(style="whitegrid", context="notebook")


def digit_image(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().reshape(28, 28).numpy()


def with_success_rate(ax: plt.Axes, df: pd.DataFrame, legend_loc: str) -> None:
    """Add the attack success rate (df columns beta, success_rate) on a right-hand axis, one legend."""
    ax2 = ax.twinx()
    ax2.plot(df["beta"], 100 * df["success_rate"], "^:", color="tab:red", label="attack success rate")
    ax2.set_ylabel("attack success rate (%)", color="tab:red")
    ax2.set_ylim(-5, 105)
    ax2.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc=legend_loc, fontsize=8)


def kappa_map_figure(df: pd.DataFrame, threshold: float = 1e-3, column: str = "kappa", symbol: str = r"\kappa",
              title: str = "Theorem 2 against the attack") -> plt.Figure:
    """An error (``column``, default kappa) over beta for every network, and the attack success rate.

    df: ``experiments.kappa_map`` output (or any frame with network, beta, ``column``, success_rate).
    Points above ``threshold`` are where the theorem stops describing the attack at the precision of
    the paper's tables.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for name, g in df.groupby("network", sort=False):
        ax.loglog(g["beta"], g[column], "o-", ms=3, label=name)
        ax2.semilogx(g["beta"], 100 * g["success_rate"], "o-", ms=3, label=name)
    ax.axhline(threshold, color="k", ls=":", lw=1)
    ax.text(df["beta"].min(), threshold * 1.3, f"${symbol}$ = {threshold:g}", fontsize=8)
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel(f"${symbol}$ (frozen gating)")
    ax.set_title(title)
    ax2.set_xlabel(r"overall adversarial strength $\beta$")
    ax2.set_ylabel("attack success rate (%)")
    ax2.set_title("how often the attack succeeds")
    ax2.set_ylim(-5, 105)
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


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
        ax.imshow(digit_image(x[i]), cmap="gray_r", vmin=0, vmax=1)
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
                im = ax.imshow(digit_image(t[i]), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
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
