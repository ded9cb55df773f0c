"""Chapter theorem5: Theorem 5 (Eq. (11)), the normalised perturbation, and C6-C7.

:func:`c67_samples` moves each sample by deltâ^(norm) (a common length c or a per-sample scale s),
under frozen gating, and sets the measured effect beside Eq. (11)
(:func:`advnb.core.binary.eq11`); :func:`kappa_prime_by_move` gives κ' per way of moving;
:func:`imbalance_shares` the top-10% shares of C7; three figures draw them.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import nn

from ..core.attacks import AttackResult, gradient_ascent
from ..core.binary import Inputs, LayerPass, binary_delta_hat, effect, eq11, frozen_layer_gradient, layer_pass, strength
from ..core.metrics import kappa_prime
from .imbalance import top_share


class _Line(nn.Module):
    """The frozen-gating network restricted to the line x + t g̃_x/||g̃_x||: z(t) = z(x) + ||g̃_x|| t. Input (B, 1)."""

    def __init__(self, z0: torch.Tensor, gx_norm: torch.Tensor):
        super().__init__()
        self.z0, self.gx_norm = z0, gx_norm

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return (self.z0 + self.gx_norm * t[:, 0])[:, None]


def frozen_binary_attack(clean: LayerPass, y: torch.Tensor, beta: float, m: int) -> AttackResult:
    """The m-step A1 attack under frozen gating (A2) for one logit, run on the line it never leaves.

    Under A2 the input gradient is g_z(z) g̃_x with g̃_x fixed, so every step is a multiple of g̃_x and
    delta^(t) = t_t g̃_x/||g̃_x||. :func:`advnb.core.attacks.gradient_ascent` run on that one coordinate t gives
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
    H̄_z (:func:`advnb.core.binary.binary_delta_hat`). Each sample is moved to x + deltâ^(norm),
    deltâ^(norm) = c deltâ/||deltâ|| = s deltâ, in two ways for every f of ``factors``:

    - mode "common c": one length for all samples, c = f * mean over the batch of ||deltâ||
      (f = 1: the same average budget as deltâ, spread evenly: the paper's deltâ^(norm));
    - mode "per-sample s": s = f, c = f ||deltâ|| (f = 1: deltâ itself, where Eq. (11) is Eq. (9)).

    One training step of learning rate eta is taken there with the exact sigmoid g_z under A2
    (:func:`advnb.core.binary.frozen_layer_gradient`) and the measured phi^(norm)* is set beside Eq. (11).

    Returns a long table, one row per sample, mode and factor: mode, f, c, s, phi_star, phi_hat,
    phi_adv_star (g̃_x^T Δg̃_x^(adv) at the moved point), gw_adv_norm (||g_W^(adv)|| there), dgw_norm
    (||Δg_W||), and the per-sample constants sample, gw_norm (vanilla ||g_W||), phi_ori, A, hz_bar, g_z,
    gx_norm, yz, delta_hat_norm, factor_c6 ((e^A - 1)/||deltâ||) and success (the A2 attack crossed the
    decision boundary: outside the premise of Lemma 1, yz > 0 along the attack).
    Chapters: theorem5.
    """
    if not factors or not all(math.isfinite(f) and f > 0 for f in factors):
        raise ValueError(f"factors must be finite numbers > 0 (got {list(factors)})")
    B = len(x)
    clean = layer_pass(model, x, y)
    flat = x.reshape(B, -1)
    attack = frozen_binary_attack(clean, y, beta, m)
    hz_bar = attack.hz_bar[:, 0, 0]
    gx2 = clean.gt_x.pow(2).sum(1)
    A = strength(beta, hz_bar, clean.gt_x)
    d_hat = binary_delta_hat(beta, hz_bar, clean.g_z, clean.gt_x)
    d_norm = d_hat.norm(dim=1)
    if not bool((d_norm > 0).all()):
        raise ValueError("deltâ vanishes for some sample (g_z = 0): its direction is undefined")
    vanilla = effect(flat, flat, clean.g_h, clean.g_h, clean, eta)
    p = Inputs(vanilla.phi_ori, A, clean.g_z, hz_bar, gx2, clean.gt_h.pow(2).sum(1), beta, eta)
    const = {"sample": torch.arange(B), "gw_norm": vanilla.gw_norm, "phi_ori": vanilla.phi_ori, "A": A,
             "hz_bar": hz_bar, "g_z": clean.g_z, "gx_norm": gx2.sqrt(), "yz": y.to(clean.z) * clean.z,
             "delta_hat_norm": d_norm, "factor_c6": torch.expm1(A) / d_norm, "success": attack.success}
    frames = []
    for mode in MODES:
        for f in factors:
            c = f * d_norm.mean().expand(B) if mode == "common c" else f * d_norm
            s = c / d_norm
            x_adv = flat + s[:, None] * d_hat
            g_h_adv = frozen_layer_gradient(clean, flat, x_adv, y)
            e = effect(flat, x_adv, clean.g_h, g_h_adv, clean, eta)
            cols = {**const, "c": c, "s": s, "phi_star": e.phi, "phi_hat": eq11(p, s),
                    "phi_adv_star": e.phi_adv, "gw_adv_norm": e.gw_adv_norm, "dgw_norm": e.dgw_norm}
            df = pd.DataFrame({k: v.detach().cpu().numpy() for k, v in cols.items()})
            df.insert(0, "f", float(f))
            df.insert(0, "mode", mode)
            frames.append(df)
    return pd.concat(frames, ignore_index=True)


def kappa_prime_by_move(df: pd.DataFrame) -> pd.DataFrame:
    """κ' = E|phi* - phî| / E|phi*| of Eq. (11) for every (mode, f) of a :func:`c67_samples` table."""
    rows = [{"mode": mode, "f": f, "kappa_prime": kappa_prime(g.phi_star, g.phi_hat)}
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


def eq11_kappa_figure(kp: pd.DataFrame) -> plt.Figure:
    """κ' of Eq. (11) against the length of the move, one line per network, one panel per way of moving.

    kp columns: network, mode ("common c" / "per-sample s"), f, kappa_prime.
    """
    modes = list(dict.fromkeys(kp["mode"]))
    fig, axes = plt.subplots(1, len(modes), figsize=(5.6 * len(modes), 4), sharey=True, squeeze=False)
    xlabel = {"common c": r"$c$ / mean $\|\hat\delta\|$  (one length $c$ for every sample)",
              "per-sample s": r"$s = c/\|\hat\delta\|$  (the same multiple of each sample's $\hat\delta$)"}
    for ax, mode in zip(axes[0], modes):
        for name, g in kp[kp["mode"] == mode].groupby("network", sort=False):
            ax.loglog(g["f"], g["kappa_prime"], "o-", ms=3, label=name)
        ax.axvline(1.0, color="gray", ls=":")
        ax.set_xlabel(xlabel.get(mode, mode))
        ax.set_title(mode, fontsize=10)
    axes[0, 0].set_ylabel(r"$\kappa' = E|\phi^*-\hat\phi|\,/\,E|\phi^*|$ of Eq. (11)")
    axes[0, -1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def c6_factor_figure(df: pd.DataFrame) -> plt.Figure:
    """C6: H̄_z - g_z^2 and the factor (e^A - 1)/||deltâ|| against the margin yz, all networks pooled.

    df columns: network, yz, hz_bar, g_z, gx_norm, factor_c6, paper_factor (the paper's approximation
    ||g_x|| exp(beta ||g̃_x||^2 (H̄_z - g_z^2))).
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    grid = np.linspace(0, max(float(df["yz"].max()), 1e-3) * 1.05, 200)
    sp, sn = 1 / (1 + np.exp(-grid)), 1 / (1 + np.exp(grid))
    for name, g in df.groupby("network", sort=False):
        axes[0].scatter(g["yz"], g["hz_bar"] - g["g_z"] ** 2, s=9, alpha=0.7, label=name)
        axes[1].scatter(g["yz"], g["factor_c6"] / g["gx_norm"], s=9, alpha=0.7)
        axes[2].scatter(g["yz"], g["paper_factor"] / g["factor_c6"], s=9, alpha=0.7)
    axes[0].plot(grid, sn * (sp - sn), "k--", lw=1, label=r"$H_z-g_z^2$ at $x$")
    axes[0].set_ylabel(r"$\bar H_z - g_z^2$")
    axes[1].plot(grid, sp, "k--", lw=1, label=r"$\sigma(yz)$")
    axes[1].set_ylabel(r"factor $(e^{\mathcal{A}}-1)/\|\hat\delta\|$ divided by $\|\tilde g_x\|$")
    axes[1].legend(fontsize=8)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("paper's approximation / exact factor")
    for ax in axes:
        ax.set_xlabel(r"margin $yz$ at the clean input")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def c7_shares_figure(shares: pd.DataFrame, measures: dict, rules: dict) -> plt.Figure:
    """C7: the top-10% share of a per-sample influence under each training rule, per network.

    shares: one row per network (column network) with a column per (measure, rule) key as
    ``f"{measure}_{rule}"``; measures: {measure: panel title}; rules: {rule: bar label}.
    """
    fig, axes = plt.subplots(1, len(measures), figsize=(5.2 * len(measures), 4.2), squeeze=False)
    x = np.arange(len(shares))
    colour = dict(zip(rules, sns.color_palette("deep", len(rules))))
    for ax, (measure, title) in zip(axes[0], measures.items()):
        present = [r for r in rules if f"{measure}_{r}" in shares]
        w = 0.8 / len(present)
        for k, rule in enumerate(present):
            ax.bar(x + (k - (len(present) - 1) / 2) * w, shares[f"{measure}_{rule}"], w, color=colour[rule])
        ax.set_xticks(x)
        ax.set_xticklabels(shares["network"], rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.axhline(0.1, color="gray", ls=":", lw=1)
    axes[0, 0].set_ylabel("share carried by the top 10% of samples")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[r]) for r in rules]
    fig.legend(handles, list(rules.values()), loc="upper center", ncol=len(rules), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig
