"""Chapter theorem2: Theorem 2 (Eq. (6)) against the real attack, Table 1, Fig. 1 and C1.

- :func:`kappa_vs_beta`: kappa(beta) under frozen gating, beside the attack on the real network;
  :func:`kappa_vs_beta_figure`, :func:`energy_share_figure` (C1: the energy on v_1).
- :func:`kappa_map`: Table 1 over a beta grid, for every network of the zoo (:data:`PAPER_TABLE1`
  holds the paper's cells).
- :func:`dense_vs_pushthrough`: the dense n x n eigen-sum against the C x C push-through form;
  :func:`theorem2_at_scale`: the push-through form at ImageNet-like input sizes.
- :func:`perturbation_panel`: delta*, deltâ and their difference as images (Fig. 1).
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.attacks import gradient_ascent
from ..core.linearize import affine_logits, linearize
from ..core.losses import loss_derivatives
from ..core.metrics import kappa
from ..core.theory import delta_eigensum, infinite_step_delta, top_eigenpairs, top_energy_share
from ..nets.data import Dataset
from ..nets.models import LABELS, RandomReLUCNN
from .common import Evaluations, attack_set, compare
from .figures import digit_image, with_success_rate


def kappa_vs_beta(model: nn.Module, x: torch.Tensor, y: torch.Tensor, betas: list[float], m: int,
                  progress: bool = True) -> pd.DataFrame:
    """Theorem 2, Eq. (6), and C1: kappa(beta) under frozen gating, beside the attack on the real network, and C1.

    Columns: beta; kappa (Theorem 2 vs the frozen-gating attack); kappa_theorem1
    (Theorem 1 vs the same attack); kappa_real (Theorem 2 vs the attack on the real
    network, no A2); success_rate (the real network misclassifies x + delta*);
    share_theory: mean share of ||deltâ||^2 on v_1, the top eigenvector of H_x at the
    clean input, with deltâ from Theorem 2 at that fixed Hessian; share_attack: the
    same share for the frozen-gating attack delta*; kappa_grad: Theorem 2's gradient half,
    J^T e^{beta A} g_z, against the gradient at x + delta*; kappa_clean_hessian: deltâ with H_z
    at the clean x (nothing taken from the attack it predicts) against delta*.
    Chapters: theorem2.
    """
    J, b = linearize(model, x)
    g_z0, h_z0 = loss_derivatives(affine_logits(J, b, x), y)
    _, V0 = top_eigenpairs(J, h_z0)
    rows = []
    for beta in tqdm(betas, desc="beta grid", disable=not progress, leave=False):
        c = compare(model, x, y, beta, m, linearization=(J, b))
        real = gradient_ascent(model, x, y, beta, m, frozen_gating=False)
        fixed = infinite_step_delta(J, h_z0, g_z0, beta).delta
        rows.append({"beta": beta, "kappa": c.kappa, "kappa_theorem1": c.kappa_theorem1,
                     "kappa_real": kappa(real.delta.reshape(len(x), -1), c.delta_hat), "success_rate": c.success_rate,
                     "kappa_grad": c.kappa_grad, "kappa_clean_hessian": kappa(c.delta_star, fixed),
                     "share_theory": top_energy_share(fixed, V0, 1).mean().item(),
                     "share_attack": top_energy_share(c.delta_star, V0, 1).mean().item()})
    return pd.DataFrame(rows)


def evaluator(model: nn.Module, x: torch.Tensor, y: torch.Tensor, m: int,
              linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Evaluations:
    """Theorem 2, Eq. (6), on one network at any beta, memoised (:class:`advnb.chapters.common.Evaluations`).

    Each beta gives kappa, kappa_grad, kappa_clean_hessian (as :func:`kappa_vs_beta`), success_rate
    and v1_component = E|v_1^T delta*|, v_1 the top eigenvector of H_x at the clean input (C1).
    x: (B, 1, 28, 28), y: (B,). Chapters: theorem2.
    """
    J, b = linearization if linearization is not None else linearize(model, x)
    g_z0, h_z0 = loss_derivatives(affine_logits(J, b, x), y)
    _, V0 = top_eigenpairs(J, h_z0)

    def evaluate(beta: float) -> dict:
        c = compare(model, x, y, beta, m, linearization=(J, b))
        fixed = infinite_step_delta(J, h_z0, g_z0, beta).delta
        return {"kappa": c.kappa, "kappa_grad": c.kappa_grad, "kappa_clean_hessian": kappa(c.delta_star, fixed),
                "success_rate": c.success_rate, "v1_component": (c.delta_star * V0[:, :, 0]).sum(1).abs().mean().item()}

    return Evaluations(evaluate)


def dense_vs_pushthrough(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor, beta: float) -> dict:
    """Theorem 2 by the dense n x n eigen-sum and by the C x C push-through form.

    Returns the largest per-sample relative difference of deltâ and the seconds each took.
    Chapters: theorem2.
    """
    t0 = time.perf_counter()
    dense = delta_eigensum(J, hz_bar, g_z, beta).delta
    t1 = time.perf_counter()
    push = infinite_step_delta(J, hz_bar, g_z, beta).delta
    t2 = time.perf_counter()
    rel = ((dense - push).norm(dim=1) / dense.norm(dim=1)).max().item()
    return {"rel_diff": rel, "dense_s": t1 - t0, "pushthrough_s": t2 - t1, "speedup": (t1 - t0) / max(t2 - t1, 1e-9)}


def kappa_map(models: dict[str, nn.Module], data: Dataset, betas: list[float], m: int, n_eval: int,
              device: torch.device, progress: bool = True) -> pd.DataFrame:
    """Table 1 over a beta grid: kappa under frozen gating for every network and beta.

    Columns: arch, network, beta, kappa, paper_kappa (Table 1; NaN off the table), success_rate
    (the real network misclassifies x + delta*), lambda1 (mean top eigenvalue of H̄_x), n_eval.
    Chapters: theorem2.
    """
    rows = []
    bar = tqdm(total=len(models) * len(betas), desc="networks x betas", disable=not progress, leave=False)
    for arch, model in models.items():
        x, y = attack_set(model, data, n_eval, device)
        lin = linearize(model, x)
        for beta in betas:
            c = compare(model, x, y, beta, m, linearization=lin)
            lam, _ = top_eigenpairs(lin[0], c.hz_bar)
            rows.append({"arch": arch, "network": LABELS.get(arch, arch), "beta": beta, "kappa": c.kappa,
                         "paper_kappa": PAPER_TABLE1.get(arch, float("nan")), "success_rate": c.success_rate,
                         "lambda1": lam[:, 0].mean().item(), "n_eval": len(y)})
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def theorem2_at_scale(shape: tuple[int, int, int], beta: float, m: int, batch: int = 2, seed: int = 0) -> dict:
    """Theorem 2 on a random-weight ReLU CNN at input size ``shape`` (C_in, H, W).

    Attacks ``batch`` random inputs (float64, frozen gating, m steps) and predicts them with the
    push-through form. Returns n, kappa, the seconds for J, for the attack and for deltâ, and the
    memory one dense n x n float64 H̄_x would need (GiB).
    """
    torch.manual_seed(seed)
    model = RandomReLUCNN(shape[0]).double().eval()
    x = torch.rand(batch, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    t0 = time.perf_counter()
    J, b = linearize(model, x)
    t1 = time.perf_counter()
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=True, linearization=(J, b))
    t2 = time.perf_counter()
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    d_hat = infinite_step_delta(J, res.hz_bar, g_z, beta).delta
    t3 = time.perf_counter()
    n = J.shape[2]
    return {"input": "x".join(map(str, shape)), "n": n, "kappa": kappa(res.delta.reshape(batch, -1), d_hat),
            "jacobian_s": t1 - t0, "attack_s": t2 - t1, "pushthrough_s": t3 - t2,
            "dense_gib": n * n * 8 / 2**30, "delta_hat": d_hat.reshape(batch, *shape), "x": x}


PAPER_TABLE1 = {"mlp-3": 1.5e-5, "mlp-4": 3.5e-6, "mlp-5": 6.6e-7, "cnn-3": 3.4e-7, "cnn-4": 5.1e-8, "cnn-5": 4.7e-8,
                "rescnn-3": 1.3e-5, "rescnn-4": 1.5e-5, "rescnn-5": 3.7e-5, "rescnn-10": 1.7e-4}


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
            im = ax.imshow(digit_image(t[i]), cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[:, 1:].ravel().tolist(), shrink=0.8, label="perturbation (pixel intensity, [0, 1] scale)")
    return fig, mag


def kappa_vs_beta_figure(df: pd.DataFrame, beta_marked: float | None = None) -> plt.Figure:
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
    with_success_rate(ax, df, legend_loc="upper left")
    fig.tight_layout()
    return fig


def energy_share_figure(df: pd.DataFrame) -> plt.Figure:
    """Share of the perturbation's energy on v_1 against beta, with the success rate.

    df columns: beta, share_theory, share_attack, success_rate.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.semilogx(df["beta"], df["share_theory"], "o-", label=r"$\hat\delta$, Theorem 2 at the clean-input Hessian")
    ax.semilogx(df["beta"], df["share_attack"], "s--", label=r"$\delta^*$, the attack (frozen gating)")
    ax.set_xlabel(r"overall adversarial strength $\beta$")
    ax.set_ylabel(r"share of $\|\delta\|^2$ on $v_1$ of $H_x$ at $x$")
    with_success_rate(ax, df, legend_loc="lower left")
    fig.tight_layout()
    return fig
