"""Chapter gating: how far the real attack strays from frozen gating (assumption A2, Appendix J).

:func:`gating_at_beta` measures, at one beta, the ReLU gates and max-pool switches the real A1 attack
flips, the change of the top eigenvalue of H̄_x = J^T H̄_z J along the attack
(:func:`top_eigenvalue_change`, the paper quotes 1e-4 ... 1e-2), and kappa with and without A2;
:func:`gating_map` does it for every network and beta; :func:`gating_map_figure` and
:func:`gating_kappa_figure` draw them. Shapes: B samples, C logits, n inputs.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.attacks import gradient_ascent
from ..core.linearize import linearize, maxpool_switches, maxpool_ties, relu_flips
from ..core.metrics import kappa
from ..core.theory import infinite_step_delta, top_eigenpairs
from .common import compare


def background_share(diff: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Share of ||diff||² on the blank pixels of x (x == 0). diff, x: (B, ...) with n entries. Returns (B,)."""
    d2 = diff.reshape(len(diff), -1).pow(2)
    blank = x.reshape(len(x), -1) == 0
    return (d2 * blank).sum(1) / d2.sum(1).clamp_min(1e-300)


def top_eigenvalue_change(model: nn.Module, x: torch.Tensor, kept: torch.Tensor, hz_bar: torch.Tensor,
                          J0: torch.Tensor | None = None) -> torch.Tensor:
    """|lambda_1(t) - lambda_1(0)| / lambda_1(0) at each kept step of an attack.

    lambda_1(t) is the top eigenvalue of J_t^T H̄_z J_t with J_t the real network's Jacobian
    at x + delta^(t) and H̄_z held fixed (the attack's), so that only the change of
    W~ = J^T caused by the gates enters. It comes from the C x C problem
    (:func:`advnb.core.theory.top_eigenpairs`); the n x n matrix is never formed.
    x: (B, ...), kept: (B, K, n), hz_bar: (B, C, C), J0: (B, C, n) the Jacobian at x if known.
    Returns (B, K).
    """
    flat = x.reshape(len(x), -1)
    if J0 is None:
        J0, _ = linearize(model, x)
    lam0 = top_eigenpairs(J0, hz_bar)[0][:, 0]
    out = []
    for k in range(kept.shape[1]):
        Jt, _ = linearize(model, (flat + kept[:, k]).reshape(x.shape))
        out.append((top_eigenpairs(Jt, hz_bar)[0][:, 0] - lam0).abs() / lam0)
    return torch.stack(out, 1)


def checkpoint_steps(m: int, k: int) -> tuple[int, ...]:
    """k evenly spaced steps in 1..m, ending at m (fewer if m < k)."""
    return tuple(sorted({max(1, round(m * (i + 1) / k)) for i in range(k)}))


def gating_at_beta(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int,
                   checkpoints: int = 4, linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Assumption A2, Appendix J. Appendix J at one beta: how far the real A1 attack strays from frozen gating.

    Runs the m-step A1 attack (alpha = beta/m) on the real network, and with frozen gating
    through :func:`advnb.chapters.common.compare`. Returns one row (means over the B samples):

    - ``flipped``: fraction of ReLU gates that differ between x and x + delta* (real attack);
      ``relu_ties``: fraction of ReLU gates whose input is exactly 0 at x; ``flipped_untied``:
      fraction of the other gates that flip (:func:`relu_flips`);
      ``switched``: the same as ``flipped`` for max-pool selections; ``ties``: fraction of
      max-pool windows tied at x (:func:`maxpool_ties`); NaN without max-pools;
    - ``eig_change``: each sample's largest |lambda_1(t) - lambda_1(0)| / lambda_1(0) over
      ``checkpoints`` steps of the real attack (H̄_z of the real attack), averaged; and its max;
    - ``kappa_frozen``: Theorem 2 against the frozen-gating attack (its own H̄_z);
      ``kappa_real``: Theorem 2 (J at x, the real attack's own H̄_z) against the real attack;
    - ``blank_share``: share of ||delta*_real - delta*_frozen||² on blank pixels (x = 0);
    - ``success_real`` / ``success_frozen``: the real network misclassifies x + delta*.
    Chapters: gating.
    """
    J, b = linearization if linearization is not None else linearize(model, x)
    real = gradient_ascent(model, x, y, beta, m, frozen_gating=False, keep=checkpoint_steps(m, checkpoints))
    hz_real, real_delta = real.hz_bar, real.delta.reshape(len(x), -1)
    frozen = compare(model, x, y, beta, m, linearization=(J, b))
    d_hat_real = infinite_step_delta(J, hz_real, frozen.g_z, beta).delta
    x_adv = x + real.delta
    flips = relu_flips(model, x, x_adv)
    change = top_eigenvalue_change(model, x, real.kept, hz_real, J0=J).max(dim=1).values
    return {"beta": beta, "flipped": flips["flipped"].mean().item(), "relu_ties": flips["ties"].mean().item(),
            "flipped_untied": flips["flipped_untied"].mean().item(),
            "switched": maxpool_switches(model, x, x_adv).mean().item(), "ties": maxpool_ties(model, x).mean().item(),
            "eig_change": change.mean().item(), "eig_change_max": change.max().item(),
            "kappa_frozen": frozen.kappa, "kappa_real": kappa(real_delta, d_hat_real),
            "blank_share": background_share(real_delta - frozen.delta_star, x).mean().item(),
            "success_real": real.success_rate, "success_frozen": frozen.success_rate}


def gating_map(networks: dict[str, nn.Module], attack_sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
               betas: list[float], m: int, checkpoints: int = 4, progress: bool = True) -> pd.DataFrame:
    """:func:`gating_at_beta` for every network and beta. Returns one row per (network, beta)."""
    from tqdm.auto import tqdm

    rows = []
    for name, model in tqdm(networks.items(), desc="networks", disable=not progress, leave=False):
        x, y = attack_sets[name]
        lin = linearize(model, x)
        for beta in betas:
            rows.append({"network": name, **gating_at_beta(model, x, y, beta, m, checkpoints, lin)})
    return pd.DataFrame(rows)


def gating_map_figure(df: pd.DataFrame, labels: dict[str, str], beta_marked: float | None = None) -> plt.Figure:
    """The beta map of Appendix J: networks (rows) by beta (columns), four panels.

    df: rows of :func:`gating_map`. Panels: ReLU gates flipped, max-pool selections changed,
    relative change of lambda_1, kappa without / with frozen gating, and the success rate
    of the real attack. Colours are logarithmic except for the success rate.
    """
    import seaborn as sns
    from matplotlib.colors import LogNorm

    d = df.assign(network=df["network"].map(lambda a: labels.get(a, a)),
                  ratio=df["kappa_real"] / df["kappa_frozen"])
    panels = [("flipped", "ReLU gates flipped (fraction)", True), ("switched", "max-pool selections changed (fraction)", True),
              ("eig_change", r"$|\lambda_1(t)-\lambda_1(0)|/\lambda_1(0)$", True),
              ("ratio", r"$\kappa$ real / $\kappa$ frozen gating", True), ("success_real", "attack success rate (real network)", False)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 0.42 * d["network"].nunique() + 1.8))
    order = list(dict.fromkeys(d["network"]))
    for ax, (col, title, log) in zip(axes, panels):
        table = d.pivot(index="network", columns="beta", values=col).reindex(order)
        vals = table.to_numpy(dtype=float)
        finite = vals[np.isfinite(vals) & (vals > 0)]
        annot = table.map(lambda v: "n/a" if not np.isfinite(v) else ("0" if v == 0 else f"{v:.0e}" if log else f"{v:.0%}"))
        if log and finite.size:  # zeros take the lowest colour; NaN (no max-pool) stays blank
            shown = table.where(~(table <= 0), finite.min())
            norm, lo, hi = LogNorm(vmin=finite.min(), vmax=max(finite.max(), finite.min() * 10)), None, None
        else:  # linear colours; a panel without a single positive value is drawn at the lowest colour
            shown, norm, lo, hi = (table if not log else table.where(table.isna(), 0.0)), None, 0, 1
        sns.heatmap(shown, ax=ax, norm=norm, cmap="viridis", cbar=False, annot=annot, fmt="",
                    annot_kws={"fontsize": 7}, vmin=lo, vmax=hi)
        for (i, j), v in np.ndenumerate(vals):  # seaborn does not annotate the blank cells
            if not np.isfinite(v):
                ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=7, color="0.4")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(r"overall strength $\beta = m\alpha$")
        ax.set_xticklabels([f"{b:g}" for b in table.columns], rotation=0, fontsize=8)
        ax.set_ylabel("" if ax is not axes[0] else "network")
        if beta_marked is not None and beta_marked in list(table.columns):
            k = list(table.columns).index(beta_marked)
            ax.add_patch(plt.Rectangle((k, 0), 1, len(order), fill=False, ec="red", lw=1.5))
    fig.tight_layout()
    return fig


def gating_kappa_figure(df: pd.DataFrame, labels: dict[str, str], beta: float) -> plt.Figure:
    """kappa with and without frozen gating at one beta, one row per network (log axis).

    df: the rows of :func:`gating_map` at that beta.
    """
    d = df.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.38 * len(d) + 2.0))
    yy = np.arange(len(d))[::-1]
    ax.semilogx(d["kappa_frozen"], yy, "o", label=r"$\kappa$, frozen gating (A2): $\delta^*$ and $\hat\delta$ both linearised")
    ax.semilogx(d["kappa_real"], yy, "s", mfc="none", ms=9, mew=1.5,
                label=r"$\kappa$, real network: real $\delta^*$ against $\hat\delta$")
    for k in range(len(d)):
        ax.plot([d["kappa_frozen"][k], d["kappa_real"][k]], [yy[k]] * 2, color="0.7", zorder=0)
    ax.set_yticks(yy)
    ax.set_yticklabels([labels.get(a, a) for a in d["network"]])
    ax.set_xlabel(r"$\kappa = E\|\delta^*-\hat\delta\| / E\|\delta^*\|$")
    ax.set_title(rf"Theorem 2 with and without frozen gating, $\beta$ = {beta:g}", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
    fig.tight_layout()
    return fig
