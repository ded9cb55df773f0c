"""Chapter theorem1: Theorem 1 (Eq. (5)), the m-step perturbation and its residual rho.

:func:`residual_vs_m` attacks a trained network for each step count m at fixed beta and splits the
gap between the real attack and Theorem 2 into the finite-m residual rho = O(1/m) and the
constant-Hessian approximation; :func:`residual_vs_m_figure` draws it (log-log, with slopes).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.attacks import gradient_ascent
from ..core.linearize import affine_logits, linearize
from ..core.losses import loss_derivatives
from ..core.metrics import kappa
from ..core.theory import finite_step_delta, gradient_flow, infinite_step_delta


def residual_vs_m(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, ms: list[int],
                  linearization: tuple[torch.Tensor, torch.Tensor] | None = None,
                  progress: bool = True) -> tuple[pd.DataFrame, float]:
    """Theorem 1 at fixed beta for each step count m, with the residual split in two.

    For each m: the frozen-gating attack delta^(m) and its H̄_z; Theorem 1's closed form
    delta_1(m) and Theorem 2's deltâ with that H̄_z; the attack's own limit delta^(inf), the
    gradient flow (``theory.gradient_flow``). Columns (each E||.|| / E||delta^(m)||):
    m; rho = delta^(m) - delta_1(m) (the paper's residual); euler = delta^(m) - delta^(inf)
    (the finite-step part of the attack); thm1_vs_thm2 = delta_1(m) - deltâ; kappa =
    delta^(m) - deltâ (Table 1's error at this m). Also returns the floor
    E||delta^(inf) - deltâ_inf|| / E||delta^(inf)||, deltâ_inf with the H̄_z of the largest m.
    Chapters: theorem1.
    """
    J, b = linearization if linearization is not None else linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    limit = gradient_flow(J, b, x, y, beta)
    rows = []
    for m in tqdm(sorted(ms), desc="step counts", disable=not progress, leave=False):
        res = gradient_ascent(model, x, y, beta, m, frozen_gating=True, linearization=(J, b))
        d = res.delta.reshape(len(x), -1)
        one = finite_step_delta(J, res.hz_bar, g_z, beta, m).delta
        two = infinite_step_delta(J, res.hz_bar, g_z, beta).delta
        rows.append({"m": m, "rho": kappa(d, one), "euler": kappa(d, limit),
                     "thm1_vs_thm2": kappa(one, two, ref=d), "kappa": kappa(d, two)})
    floor = kappa(limit, two)
    return pd.DataFrame(rows), floor


def residual_vs_m_figure(df: pd.DataFrame, floor: float, fit_from: int, slopes: dict[str, float]) -> plt.Figure:
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
