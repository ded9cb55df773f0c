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
from .models import LABELS, RandomReLUCNN
from .profiles import Profile
from .train import correctly_classified, profile_config, train
from .gating import affine_logits, linearize
from .hessian import loss_derivatives
from .metrics import kappa, loglog_slope  # noqa: F401  (loglog_slope re-exported for the chapters)
from .theory import (delta_eigensum, finite_step_delta, gradient_flow, infinite_step_delta, top_eigenpairs,
                     top_energy_share)


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


def _rel(a: torch.Tensor, b: torch.Tensor, ref: torch.Tensor) -> float:
    """E||a - b|| / E||ref||: the kappa-style relative error. All (B, n)."""
    return ((a - b).norm(dim=1).mean() / ref.norm(dim=1).mean()).item()


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
        rows.append({"m": m, "rho": _rel(d, one, d), "euler": _rel(d, limit, d),
                     "thm1_vs_thm2": _rel(one, two, d), "kappa": _rel(d, two, d)})
    floor = _rel(limit, two, limit)
    return pd.DataFrame(rows), floor


PAPER_TABLE1 = {"mlp-3": 1.5e-5, "mlp-4": 3.5e-6, "mlp-5": 6.6e-7, "cnn-3": 3.4e-7, "cnn-4": 5.1e-8, "cnn-5": 4.7e-8,
                "rescnn-3": 1.3e-5, "rescnn-4": 1.5e-5, "rescnn-5": 3.7e-5, "rescnn-10": 1.7e-4}


def kappa_map(models: dict[str, nn.Module], data: Dataset, betas: list[float], m: int, n_eval: int,
              device: torch.device, progress: bool = True) -> pd.DataFrame:
    """kappa under frozen gating for every network and beta (Table 1 over a beta grid).

    Columns: arch, network, beta, kappa, paper_kappa (Table 1; NaN off the table), success_rate
    (the real network misclassifies x + delta*), lambda1 (mean top eigenvalue of H̄_x), n_eval.
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
