"""Chapter theorem3: Theorem 3 (Eq. (9)) and Table 2.

The measurement and the prediction are :func:`advnb.chapters.common.phi_table` and
:func:`advnb.chapters.common.table2` (theorem4 shares them); the closed form is
:func:`advnb.core.binary.eq9`. This module holds the chapter's figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def measured_vs_predicted_figure(df: pd.DataFrame, star: str, hat: str, quantity: str, title: str) -> plt.Figure:
    """Per-sample measured (``star``) against predicted (``hat``) values, one colour per ``network``.

    Left: |measured| against |predicted| on log axes with the line y = x (filled markers:
    negative values). Right: the relative error |measured - predicted| / |measured|.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, g in df.groupby("network", sort=False):
        neg = g[star] < 0
        line = ax.loglog(g.loc[neg, hat].abs(), g.loc[neg, star].abs(), "o", ms=4, label=name)[0]
        ax.loglog(g.loc[~neg, hat].abs(), g.loc[~neg, star].abs(), "o", ms=4, mfc="none", color=line.get_color())
        rel = (g[star] - g[hat]).abs() / g[star].abs()
        ax2.loglog(g[star].abs(), rel, "o", ms=3, color=line.get_color())
    lo = float(np.nanmin(df[[star, hat]].abs().replace(0, np.nan).to_numpy()))
    hi = float(np.nanmax(df[[star, hat]].abs().to_numpy()))
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set_xlabel(f"|{quantity}|, predicted")
    ax.set_ylabel(f"|{quantity}|, measured")
    ax.set_title(title + " (filled: negative)")
    ax.legend(fontsize=7, ncol=2)
    ax2.set_xlabel(f"|{quantity}|, measured")
    ax2.set_ylabel("relative error per sample")
    ax2.set_title("how far each sample is from the prediction")
    fig.tight_layout()
    return fig
