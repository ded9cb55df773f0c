"""Chapter theorem4: Theorem 4 (Eq. (10)) over beta, and C4.

The measurement is :func:`advnb.chapters.common.table2` (shared with theorem3); the closed form is
:func:`advnb.core.binary.eq10`. This module holds the chapter's figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def adversarial_step_share_figure(by_beta: pd.DataFrame) -> plt.Figure:
    """How often a training step shrinks the input gradient, over beta (Theorem 4, C4).

    by_beta: columns beta, frac_adv_negative, frac_ori_negative, success_rate, A_median.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.0), sharex=True)
    ax.semilogx(by_beta["beta"], 100 * by_beta["frac_adv_negative"], "o-", label="adversarial step")
    ax.semilogx(by_beta["beta"], 100 * by_beta["frac_ori_negative"], "s--", label="vanilla step")
    ax.semilogx(by_beta["beta"], 100 * by_beta["success_rate"], ":", color="gray", label="attack success")
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel("digits (%)")
    ax.set_title(r"share of digits whose step shrinks $\tilde g_x$")
    ax.set_ylim(-5, 105)
    ax.legend(fontsize=8)
    ax2.loglog(by_beta["beta"], by_beta["A_median"], "o-")
    ax2.set_xlabel(r"overall adversarial strength $\beta$")
    ax2.set_ylabel(r"median $\mathcal{A} = \beta \bar H_z \|\tilde g_x\|^2$")
    ax2.set_title("the exponent of Theorems 3 and 4")
    fig.tight_layout()
    return fig
