"""The chapters' measurements, one function each, so that notebooks stay thin.

Every function takes a trained model in float64 and a batch of correctly
classified digits x: (B, 1, 28, 28), y: (B,).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .attacks import gradient_ascent
from .data import Dataset
from .models import LABELS
from .profiles import Profile
from .train import correctly_classified, profile_config, train
from .gating import affine_logits, linearize
from .hessian import loss_derivatives
from .metrics import kappa
from .theory import delta_eigensum, finite_step_delta, infinite_step_delta, top_eigenpairs, top_energy_share


def trained_networks(archs: list[str], profile: Profile, seed: int, data: Dataset, device: torch.device,
                     progress: bool = True, **overrides) -> tuple[dict[str, nn.Module], pd.DataFrame]:
    """Each network of ``archs`` trained at ``profile`` (through the cache), in float64 and eval mode.

    ``overrides`` go to :class:`advnb.train.TrainConfig` (e.g. ``adv="linf", eps=0.1``).
    Returns {arch: model} and a table with columns network, parameters, test_acc (%).
    """
    models, rows = {}, []
    for arch in tqdm(archs, desc="networks", disable=not progress, leave=False):
        model, acc = train(profile_config(arch, profile, seed, data, **overrides), data, device=device, progress=progress)
        models[arch] = model.double().eval()
        rows.append({"network": LABELS.get(arch, arch), "parameters": sum(p.numel() for p in model.parameters()),
                     "test_acc": 100 * acc})
    return models, pd.DataFrame(rows)


def attack_set(model: nn.Module, data: Dataset, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n test digits ``model`` classifies correctly, in float64: x (n', 1, 28, 28), y (n',)."""
    return correctly_classified(model, data.x_test.double().to(device), data.y_test.to(device), n)


@dataclass
class Comparison:
    """The real m-step attack beside Theorem 2 at one beta. B samples, n inputs, C logits."""

    beta: float
    delta_star: torch.Tensor  # (B, n) the m-step A1 attack under frozen gating
    delta_hat: torch.Tensor  # (B, n) Theorem 2
    delta_thm1: torch.Tensor  # (B, n) Theorem 1 (m steps, no residual)
    hz_bar: torch.Tensor  # (B, C, C)
    g_z: torch.Tensor  # (B, C) at the clean input
    kappa: float
    kappa_theorem1: float
    success_rate: float


def compare(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int,
            linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Comparison:
    """Attack x with frozen gating (m steps, strength beta) and predict it with Theorems 1 and 2."""
    J, b = linearization if linearization is not None else linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=True, linearization=(J, b))
    d_star = res.delta.reshape(len(x), -1)
    d_hat = infinite_step_delta(J, res.hz_bar, g_z, beta).delta
    d_one = finite_step_delta(J, res.hz_bar, g_z, beta, m).delta
    return Comparison(beta, d_star, d_hat, d_one, res.hz_bar, g_z, kappa(d_star, d_hat), kappa(d_star, d_one), res.success_rate)


def kappa_vs_beta(model: nn.Module, x: torch.Tensor, y: torch.Tensor, betas: list[float], m: int,
                  progress: bool = True) -> pd.DataFrame:
    """kappa(beta) under frozen gating, beside the attack on the real network, and C1.

    Columns: beta; kappa (Theorem 2 vs the frozen-gating attack); kappa_theorem1
    (Theorem 1 vs the same attack); kappa_real (Theorem 2 vs the attack on the real
    network, no A2); success_rate (the real network misclassifies x + delta*);
    share_theory: mean share of ||deltâ||^2 on v_1, the top eigenvector of H_x at the
    clean input, with deltâ from Theorem 2 at that fixed Hessian; share_attack: the
    same share for the frozen-gating attack delta*.
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
                     "share_theory": top_energy_share(fixed, V0, 1).mean().item(),
                     "share_attack": top_energy_share(c.delta_star, V0, 1).mean().item()})
    return pd.DataFrame(rows)


def dense_vs_pushthrough(J: torch.Tensor, hz_bar: torch.Tensor, g_z: torch.Tensor, beta: float) -> dict:
    """Theorem 2 by the dense n x n eigen-sum and by the C x C push-through form.

    Returns the largest per-sample relative difference of deltâ and the seconds each took.
    """
    t0 = time.perf_counter()
    dense = delta_eigensum(J, hz_bar, g_z, beta).delta
    t1 = time.perf_counter()
    push = infinite_step_delta(J, hz_bar, g_z, beta).delta
    t2 = time.perf_counter()
    rel = ((dense - push).norm(dim=1) / dense.norm(dim=1)).max().item()
    return {"rel_diff": rel, "dense_s": t1 - t0, "pushthrough_s": t2 - t1, "speedup": (t1 - t0) / max(t2 - t1, 1e-9)}
