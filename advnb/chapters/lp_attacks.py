"""Chapter lp_attacks: Theorem 2 set beside l2 and l-inf PGD (Sec. 3.2, Appendix D), and C3.

Under frozen gating (A2) and a constant H̄_z, the infinite-step A1 attack solves the
ODE d delta / d tau = g(delta) = g_x + H̄_x delta, and Theorem 2 gives its point at
"time" beta. The infinite-step l2 attack solves d delta / d s = g / ||g||: the same
vector field, normalised, so it traces *the same curve*, re-parametrised by arc length
s (d tau / d s = 1 / ||g|| > 0). Which point of the curve a finite l2 attack reached
is therefore a matter of *where along it*, not of direction. Along the curve
d||delta||^2 / d tau = 2 delta . g = 2 sum_i c_i e^{tau lambda_i} gamma_i^2 >= 0
(lambda_i >= 0, c_i > 0), so ||deltâ(beta)|| is increasing in beta and each point is
named by its distance from x. We compare an l2 attack delta with deltâ at the beta
whose ||deltâ(beta)|| equals ||delta|| (:func:`advnb.core.theory.match_beta`). For l-inf attacks
the same rule matches deltâ to the effective component.

:func:`matching_table` and :func:`eps_sweep` give the matching error per network, norm and
variant (:data:`advnb.chapters.common.VARIANTS`); :func:`gradient_jump` measures how far the
gradient of the real network jumps at a tiny step (max-pool ties); :func:`c3_curves` is
conclusion C3 at a fixed H̄_x. Shapes: B samples, C logits, n input dimensions.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.attacks import NORMS
from ..core.linearize import linearize
from ..core.metrics import abs_cos, cos, one_minus_abs_cos, one_minus_cos
from ..core.theory import Spectrum, delta_hat
from .common import VARIANTS, Match, Variant, one_thread, run_variant


def _row(match: Match) -> dict:
    return {"error_mean": match.error.mean().item(), "error_median": match.error.median().item(),
            "baseline_mean": match.baseline.mean().item(), "beta_median": match.beta.median().item(),
            "beta_min": match.beta.min().item(), "beta_max": match.beta.max().item(),
            "beta_q25": match.beta.quantile(0.25).item(), "beta_q75": match.beta.quantile(0.75).item(),
            "success_rate": match.success.double().mean().item(),
            "effective_share": match.effective_share.mean().item()}


def matching_table(nets: dict[str, nn.Module], batches: dict[str, tuple[torch.Tensor, torch.Tensor]],
                   eps: dict[str, float], m: int, step_ratio: float, labels: dict[str, str] | None = None,
                   variants: Sequence[Variant] = VARIANTS) -> pd.DataFrame:
    """Sec. 3.2 and Appendix D. Every network x norm x variant: Theorem 2 against PGD.

    nets: {arch: model (float64, eval)}; batches: {arch: (x (B, 1, 28, 28), y (B,))};
    eps: {"l2": .., "linf": ..}. One linearisation per network serves every attack. Runs in
    :func:`one_thread`.
    Returns one row per (network, norm, variant) with columns network, norm, variant,
    error_mean / error_median (1 - cos(deltâ, target)), baseline_mean (1 - cos(g_x, target)),
    beta_median / beta_min / beta_max / beta_q25 / beta_q75 (matched beta), success_rate, effective_share (||eff|| / ||delta||).
    Chapters: lp_attacks.
    """
    labels = labels or {}
    rows = []
    with one_thread():
        for arch, model in nets.items():
            x, y = batches[arch]
            lin = linearize(model, x)
            for norm in NORMS:
                for v in variants:
                    match = run_variant(model, x, y, norm, eps[norm], m, step_ratio, v, lin)
                    rows.append({"network": labels.get(arch, arch), "norm": norm, "variant": v.name, **_row(match)})
    return pd.DataFrame(rows)


def eps_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: dict[str, float], scales: Sequence[float],
              m: int, step_ratio: float, variants: Sequence[Variant] = VARIANTS) -> pd.DataFrame:
    """:func:`matching_table`'s rows for one network over budgets eps[norm] * s, s in ``scales``.

    Returns columns norm, scale, eps, variant and those of :func:`matching_table` (no network).
    """
    rows = []
    with one_thread():
        lin = linearize(model, x)
        for norm in NORMS:
            for s in scales:
                for v in variants:
                    match = run_variant(model, x, y, norm, eps[norm] * s, m, step_ratio, v, lin)
                    rows.append({"norm": norm, "scale": s, "eps": eps[norm] * s, "variant": v.name, **_row(match)})
    return pd.DataFrame(rows)


def gradient_jump(model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """1 - cos(g_x, g_{x + h u}), u = g_x / ||g_x||, on the real network: how far the gradient
    direction moves under a step of length h along itself. A smooth loss gives O(h); a jump that
    does not shrink with h means the gradient is discontinuous at x (a gate or a max-pool switch
    changes at once). x: (B, 1, 28, 28), y: (B,). Returns (B,).
    """
    from ..core.losses import loss

    if not h > 0:
        raise ValueError(f"h must be > 0 (got {h})")

    def grad(xa: torch.Tensor) -> torch.Tensor:
        xa = xa.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(model(xa), y).sum(), xa)
        return g.reshape(len(x), -1)

    g0 = grad(x)
    u = g0 / g0.norm(dim=1, keepdim=True)
    return one_minus_cos(g0, grad(x + h * u.reshape(x.shape)))


def c3_curves(spec: Spectrum, betas: Sequence[float]) -> pd.DataFrame:
    """Conclusion C3 (Sec. 3.1). Conclusion C3 at a fixed H̄_x: the direction of deltâ(beta) against g_x and v_1.

    Returns one row per beta with the means over samples of cos(deltâ, g_x), |cos(deltâ, v_1)|,
    their precise complements 1 - cos and 1 - |cos|, and the smallest values over samples
    (columns beta, cos_g, cos_v1, one_minus_cos_g, one_minus_cos_v1, cos_g_min, cos_v1_min).
    Chapters: lp_attacks.
    """
    v1 = spec.V[:, :, 0]
    if not bool(torch.all(spec.lam[:, 0] > 0)):
        raise ValueError("H̄_x is zero for some sample: v_1 is undefined")
    rows = []
    for beta in betas:
        unit = delta_hat(spec, float(beta)).unit
        cg, cv = cos(unit, spec.g_x), abs_cos(unit, v1)
        rows.append({"beta": float(beta), "cos_g": cg.mean().item(), "cos_v1": cv.mean().item(),
                     "one_minus_cos_g": one_minus_cos(unit, spec.g_x).mean().item(),
                     "one_minus_cos_v1": one_minus_abs_cos(unit, v1).mean().item(),
                     "cos_g_min": cg.min().item(), "cos_v1_min": cv.min().item()})
    return pd.DataFrame(rows)


_NORM_TEX = {"l2": r"$\ell_2$", "linf": r"$\ell_\infty$"}


_TARGET_TEX = {"l2": r"$1-\cos(\hat\delta, \delta^{(\ell_2)})$",
               "linf": r"$1-\cos(C\hat\delta/\|\hat\delta\|, \delta^{(\mathrm{effective},\ell_\infty)})$"}


def magnification(real: torch.Tensor, predicted: torch.Tensor) -> float:
    """The power of ten that makes (real - predicted) about as large as ``real`` on screen (>= 1).

    real, predicted: (k, ...) with the same shape. Returns a float 10^j, j >= 0.
    """
    vmax = float(real.abs().max())
    dmax = float((real - predicted).abs().max())
    return 10.0 ** max(0, math.floor(math.log10(vmax / dmax))) if dmax > 0 else 1.0


def plot_matching(df: pd.DataFrame, bands: dict[str, tuple[float, float]] | None = None,
                  title: str | None = None) -> plt.Figure:
    """Mean matching error per network, one panel per norm, one marker per variant (log scale).

    df: :func:`matching_table`'s output. ``bands``: {norm: (lo, hi)} the paper's reported range,
    drawn as a grey band. The grey crosses are the baseline 1 - cos(g_x, target) of the first variant.
    """
    variants = list(dict.fromkeys(df["variant"]))
    nets = list(dict.fromkeys(df["network"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.0), sharey=True)
    markers = "osD^vP"
    for ax, norm in zip(axes, NORMS):
        d = df[df["norm"] == norm]
        if bands and norm in bands:
            lo, hi = bands[norm]
            ax.axhspan(lo, hi, color="0.85", zorder=0, label="paper's reported range")
        for k, v in enumerate(variants):
            dv = d[d["variant"] == v].set_index("network").reindex(nets)
            ax.semilogy(np.arange(len(nets)) + (k - len(variants) / 2) * 0.07, dv["error_mean"], markers[k % 6],
                        label=v, alpha=0.9)
        base = d[d["variant"] == variants[0]].set_index("network").reindex(nets)
        ax.semilogy(np.arange(len(nets)), base["baseline_mean"], "x", color="0.4",
                    label=rf"baseline $g_x$ ({variants[0]})")
        ax.set_xticks(np.arange(len(nets)))
        ax.set_xticklabels(nets, rotation=45, ha="right")
        ax.set_xlabel("network")
        ax.set_title(f"{_NORM_TEX[norm]}-PGD", fontsize=10)
        ax.set_ylabel("mean " + _TARGET_TEX[norm] if norm == "l2" else "")
    axes[1].set_ylabel("mean " + _TARGET_TEX["linf"])
    axes[1].yaxis.set_tick_params(labelleft=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.3, top=0.88, wspace=0.22)
    return fig


def plot_eps_sweep(df: pd.DataFrame, network: str) -> plt.Figure:
    """Mean matching error against the budget eps, one panel per norm, one line per variant.

    df: :func:`eps_sweep`'s output. The dashed grey line is the baseline 1 - cos(g_x, target) of the
    first variant; the dotted black line (right axis) the success rate of the last variant.
    """
    variants = list(dict.fromkeys(df["variant"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, norm in zip(axes, NORMS):
        d = df[df["norm"] == norm]
        for v in variants:
            dv = d[d["variant"] == v]
            ax.loglog(dv["eps"], dv["error_mean"], "o-", label=v, ms=4)
        d0 = d[d["variant"] == variants[0]]
        ax.loglog(d0["eps"], d0["baseline_mean"], "--", color="0.4", label=rf"baseline $g_x$ ({variants[0]})")
        ax.set_xlabel(rf"{_NORM_TEX[norm]} budget $\epsilon$ (step $\alpha \propto \epsilon$)")
        ax.set_ylabel("mean " + _TARGET_TEX[norm])
        ax.set_title(f"{network}, {_NORM_TEX[norm]}-PGD", fontsize=10)
        ax2 = ax.twinx()
        dl = d[d["variant"] == variants[-1]]
        ax2.semilogx(dl["eps"], 100 * dl["success_rate"], "^:", color="black", label=f"success rate ({variants[-1]})")
        ax2.set_ylim(-5, 105)
        ax2.set_ylabel("attack success rate (%)")
        ax2.grid(False)
    h1, l1 = axes[0].get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.94, bottom=0.25, top=0.92, wspace=0.35)
    return fig


def plot_c3(df: pd.DataFrame, network: str, cos_g_v1: float | None = None,
            beta_range: tuple[float, float] | None = None) -> plt.Figure:
    """Conclusion C3: the direction of deltâ(beta) against g_x and v_1 over beta.

    df: :func:`c3_curves`'s output. Left: the mean cosines; right: their complements on a log scale.
    ``cos_g_v1``: mean |cos(g_x, v_1)|, drawn for reference. ``beta_range``: a range of the betas the
    attacks of the chapter were matched to (e.g. their quartiles), shaded.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    ax = axes[0]
    ax.semilogx(df["beta"], df["cos_g"], "o-", ms=3, label=r"mean $\cos(\hat\delta, g_x)$")
    ax.semilogx(df["beta"], df["cos_v1"], "s-", ms=3, label=r"mean $|\cos(\hat\delta, v_1)|$")
    if cos_g_v1 is not None:
        ax.axhline(cos_g_v1, color="0.5", ls=":", label=r"mean $|\cos(g_x, v_1)|$")
    ax.set_ylabel("cosine")
    ax = axes[1]
    ax.loglog(df["beta"], df["one_minus_cos_g"], "o-", ms=3, label=r"mean $1-\cos(\hat\delta, g_x)$")
    ax.loglog(df["beta"], df["one_minus_cos_v1"], "s-", ms=3, label=r"mean $1-|\cos(\hat\delta, v_1)|$")
    ax.set_ylabel("1 - cosine")
    for ax in axes:
        if beta_range is not None:
            ax.axvspan(*beta_range, color="tab:green", alpha=0.12, label=r"middle half of the $\beta^\star$ of this chapter's attacks")
        ax.set_xlabel(r"adversarial strength $\beta$")
        ax.legend(fontsize=8)
    fig.suptitle(rf"{network}: direction of $\hat\delta(\beta)$ at the Hessian of the clean input (C3)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    return fig
