"""How the perturbation changes training (Sec. 3.3: Theorems 3-5, conclusions C4-C7).

Setting: a sigmoid head (C = 1 logit z) with labels y in {-1, +1}. The paper's "first
layer" is the network's first ``nn.Linear`` or ``nn.Conv2d``, h = W^T x + b1. For a
convolution, W is its *equivalent dense matrix* (n x D, D = every output unit of the
convolution, h flattened): each weight of the dense matrix is treated as free, so its
gradient is the one of an unshared layer. Under frozen gating (A2) everything after h
is affine, z = g̃_h^T h + c, with

    g̃_h = dz/dh  (D,),     g̃_x = dz/dx = W g̃_h  (n,).

The per-sample gradient of the loss in a dense W is the outer product

    g_W = dL/dW = x g_h^T,   g_h = dL/dh  (= g_z g̃_h under A2),

so nothing n x D is ever formed: every quantity below is an inner product of the
factors x, g_h, g̃_x, g̃_h. With one training step of learning rate eta on x
(vanilla) or on x' = x + delta (adversarial):

    phi_ori = g̃_x^T Δg̃_x^(ori) = -eta g̃_x^T g_W g̃_h      = -eta (g̃_x.x)(g_h.g̃_h)
    phi_adv = g̃_x^T Δg̃_x^(adv) = -eta g̃_x^T g_W^(adv) g̃_h = -eta (g̃_x.x')(g_h'.g̃_h)
    phi     = g̃_x^T Δg̃_x       = phi_adv - phi_ori            (Delta g_W = g_W^(adv) - g_W)

The binary closed forms (from Theorem 2 with C = 1; ``A`` is the paper's 𝒜):

    A = beta H̄_z ||g̃_x||^2,   deltâ = (e^A - 1) g_z g̃_x / (H̄_z ||g̃_x||^2),   g_z(x + deltâ) = e^A g_z,
    Eq. (9):  phi     = (e^A - 1) phi_ori - eta g_z^2 ||g̃_h||^2 (e^{2A} - e^A) / H̄_z
    Eq. (10): phi_adv = e^A phi_ori       - eta g_z^2 ||g̃_h||^2 (e^{2A} - e^A) / H̄_z
    Eq. (11): with deltâ^(norm) = c deltâ / ||deltâ|| and s = c / ||deltâ||,
              phi^(norm) = s (e^A - 1) phi_ori - eta g_z^2 ||g̃_h||^2 / H̄_z [s (e^A - 1) + s^2 (e^A - 1)^2]

(Eq. (11) treats g_z as affine in z with slope H̄_z along the move, as Theorem 2 does.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks import AttackResult, gradient_ascent
from .hessian import loss_derivatives


# ----------------------------------------------------------------------------- the first layer

def first_layer(model: nn.Module) -> nn.Module:
    """The paper's W: the first ``nn.Linear`` or ``nn.Conv2d`` that runs (in ``model.modules()`` order)."""
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            return mod
    raise ValueError(f"{type(model).__name__} has no nn.Linear or nn.Conv2d layer to serve as the first layer W")


@dataclass
class LayerPass:
    """One forward-backward pass at x. B samples, n inputs, D first-layer units."""

    z: torch.Tensor  # (B,) the logit
    gt_x: torch.Tensor  # (B, n) g̃_x = dz/dx
    gt_h: torch.Tensor  # (B, D) g̃_h = dz/dh
    g_z: torch.Tensor  # (B,) dL/dz
    hz: torch.Tensor  # (B,) d2L/dz2

    @property
    def g_h(self) -> torch.Tensor:
        """dL/dh = g_z g̃_h: (B, D)."""
        return self.g_z[:, None] * self.gt_h


def layer_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> LayerPass:
    """z, dz/dx, dz/dh and the loss derivatives at x, by autograd on the real network.

    x: (B, *input_shape), y: (B,) in {-1, +1}. The model must be in eval mode (each
    sample's z then depends on that sample only, so one backward of sum(z) gives every
    per-sample gradient) and have one logit.
    """
    if model.training:
        raise ValueError("layer_pass needs the model in eval mode (per-sample gradients)")
    layer = first_layer(model)
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        xr = x.detach().requires_grad_(True)
        z = model(xr)
    finally:
        handle.remove()
    if z.ndim != 2 or z.shape[1] != 1:
        raise ValueError(f"Sec. 3.3 needs a sigmoid head with one logit; the model gives {tuple(z.shape[1:])}")
    gx, gh = torch.autograd.grad(z.sum(), (xr, seen[0]))
    g_z, h_z = loss_derivatives(z.detach(), y)
    B = len(x)
    return LayerPass(z.detach()[:, 0], gx.reshape(B, -1), gh.reshape(B, -1), g_z[:, 0], h_z[:, 0, 0])


# ----------------------------------------------------------------------------- one training step, measured

@dataclass
class Effect:
    """One training step on x against one on x' = x + delta, through the dense first layer. Each (B,)."""

    phi_ori: torch.Tensor  # g̃_x^T Δg̃_x^(ori)
    phi_adv: torch.Tensor  # g̃_x^T Δg̃_x^(adv)
    phi: torch.Tensor  # g̃_x^T Δg̃_x = phi_adv - phi_ori
    gw_norm: torch.Tensor  # ||g_W||_F
    gw_adv_norm: torch.Tensor  # ||g_W^(adv)||_F
    dgw_norm: torch.Tensor  # ||Δg_W||_F


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=1)


def effect(x: torch.Tensor, x_adv: torch.Tensor, g_h: torch.Tensor, g_h_adv: torch.Tensor,
           clean: LayerPass, eta: float) -> Effect:
    """The training effects of Theorems 3-5 from the factors of the dense weight gradients.

    x, x_adv: (B, n) inputs (flattened); g_h, g_h_adv: (B, D) dL/dh at x and at x_adv;
    ``clean`` gives g̃_x and g̃_h at x; eta > 0 the learning rate.
    """
    if not eta > 0:
        raise ValueError(f"eta must be > 0 (got {eta})")
    gx, gt = clean.gt_x, clean.gt_h
    phi_ori = -eta * _dot(gx, x) * _dot(g_h, gt)
    phi_adv = -eta * _dot(gx, x_adv) * _dot(g_h_adv, gt)
    nx, nxa, nh, nha = x.norm(dim=1), x_adv.norm(dim=1), g_h.norm(dim=1), g_h_adv.norm(dim=1)
    # ||a b^T - c d^T||^2 = |a|^2|b|^2 - 2 (a.c)(b.d) + |c|^2|d|^2
    d2 = (nxa * nha) ** 2 - 2 * _dot(x_adv, x) * _dot(g_h_adv, g_h) + (nx * nh) ** 2
    return Effect(phi_ori, phi_adv, phi_adv - phi_ori, nx * nh, nxa * nha, d2.clamp_min(0).sqrt())


def cos_to_mean(x: torch.Tensor, x_adv: torch.Tensor, g_h: torch.Tensor, g_h_adv: torch.Tensor) -> torch.Tensor:
    """cos(Δg_W|x, mean over the batch of Δg_W) for every sample (Fig. 4), without forming n x D matrices.

    Δg_W|x = x_adv g_h_adv^T - x g_h^T. x, x_adv: (B, n); g_h, g_h_adv: (B, D). Returns (B,).
    Uses the B x B Gram matrix <Δg_k, Δg_l>_F = (a_k.a_l)(b_k.b_l) - (a_k.c_l)(b_k.d_l) - (c_k.a_l)(d_k.b_l) + (c_k.c_l)(d_k.d_l).
    """
    a, b, c, d = x_adv, g_h_adv, x, g_h
    G = (a @ a.T) * (b @ b.T) - (a @ c.T) * (b @ d.T) - (c @ a.T) * (d @ b.T) + (c @ c.T) * (d @ d.T)
    inner = G.mean(dim=1)  # <Δg_k, mean Δg>
    return inner / (G.diagonal().clamp_min(0).sqrt() * G.mean().clamp_min(0).sqrt()).clamp_min(1e-300)


def frozen_layer_gradient(clean: LayerPass, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Under A2: dL/dh at x_adv, g_z(z') g̃_h with the logit z' = z + g̃_x.(x_adv - x) there.

    x, x_adv: (B, n). Returns (B, D)."""
    z_adv = clean.z + _dot(clean.gt_x, x_adv - x)
    g_z, _ = loss_derivatives(z_adv[:, None], y)
    return g_z[:, :1] * clean.gt_h


# ----------------------------------------------------------------------------- the closed forms

def strength(beta: float, hz_bar: torch.Tensor, gt_x: torch.Tensor) -> torch.Tensor:
    """𝒜 = beta H̄_z ||g̃_x||^2. hz_bar: (B,), gt_x: (B, n). Returns (B,)."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (got {beta})")
    return beta * hz_bar * gt_x.pow(2).sum(dim=1)


def _expm1_over_hz(A: torch.Tensor, beta: float, gx2: torch.Tensor) -> torch.Tensor:
    """(e^A - 1) / H̄_z = beta ||g̃_x||^2 (e^A - 1)/A, finite as H̄_z -> 0."""
    ratio = torch.where(A > 0, torch.expm1(A) / torch.where(A > 0, A, 1.0), torch.ones_like(A))
    return beta * gx2 * ratio


def binary_delta_hat(beta: float, hz_bar: torch.Tensor, g_z: torch.Tensor, gt_x: torch.Tensor) -> torch.Tensor:
    """Theorem 2 for one logit: deltâ = (e^A - 1) g_z g̃_x / (H̄_z ||g̃_x||^2). (B,), (B,), (B, n) -> (B, n)."""
    gx2 = gt_x.pow(2).sum(dim=1)
    A = strength(beta, hz_bar, gt_x)
    return (_expm1_over_hz(A, beta, gx2) * g_z / gx2)[:, None] * gt_x


@dataclass
class Inputs:
    """What the closed forms need, per sample (B,): phi_ori, 𝒜, g_z, H̄_z, ||g̃_x||^2, ||g̃_h||^2, and beta, eta."""

    phi_ori: torch.Tensor
    A: torch.Tensor
    g_z: torch.Tensor
    hz_bar: torch.Tensor
    gx2: torch.Tensor
    gh2: torch.Tensor
    beta: float
    eta: float

    def _second(self) -> torch.Tensor:
        """eta g_z^2 ||g̃_h||^2 (e^{2A} - e^A) / H̄_z = eta g_z^2 ||g̃_h||^2 e^A (e^A - 1)/H̄_z."""
        return self.eta * self.g_z**2 * self.gh2 * torch.exp(self.A) * _expm1_over_hz(self.A, self.beta, self.gx2)


def eq9(p: Inputs) -> torch.Tensor:
    """Theorem 3, Eq. (9): the predicted g̃_x^T Δg̃_x. Returns (B,)."""
    return torch.expm1(p.A) * p.phi_ori - p._second()


def eq10(p: Inputs) -> torch.Tensor:
    """Theorem 4, Eq. (10): the predicted g̃_x^T Δg̃_x^(adv) (= Eq. (9) + phi_ori). Returns (B,)."""
    return torch.exp(p.A) * p.phi_ori - p._second()


def eq11(p: Inputs, s: torch.Tensor) -> torch.Tensor:
    """Theorem 5, Eq. (11) for deltâ^(norm) = s deltâ (s = c/||deltâ||, (B,)). Returns (B,).

    With s = 1 it is Eq. (9)."""
    e = torch.expm1(p.A)
    first = s * e * p.phi_ori
    second = p.eta * p.g_z**2 * p.gh2 * _expm1_over_hz(p.A, p.beta, p.gx2) * (s + s**2 * e)
    return first - second


def kappa_prime(phi_star, phi_hat) -> float:
    """κ' = E|phi* - phî| / E|phi*| over a batch. Both (B,): tensors, arrays or pandas Series."""
    star, hat = torch.as_tensor(np.asarray(phi_star, dtype=float)), torch.as_tensor(np.asarray(phi_hat, dtype=float))
    return ((star - hat).abs().mean() / star.abs().mean()).item()


# ----------------------------------------------------------------------------- the chapters' measurements

@dataclass
class AttackedStep:
    """An m-step A1 attack on x and one training step on each side of it. B samples, n inputs, D units."""

    clean: LayerPass  # z, g̃_x, g̃_h, g_z, H_z at x
    attack: AttackResult  # the attack (its H̄_z, delta, logits, success)
    x: torch.Tensor  # (B, n) the clean inputs
    x_adv: torch.Tensor  # (B, n) x + delta*
    g_h_adv: torch.Tensor  # (B, D) dL/dh at x + delta*
    effect: Effect  # the step on x + delta* against the step on x, through the dense first layer


def attacked_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int, eta: float,
                  real: bool = False) -> AttackedStep:
    """Attack x (m-step A1, strength beta) and measure one training step (rate eta) on x and on x + delta*.

    Under A2 (default) the attack runs with frozen gating and dL/dh at x + delta* is
    g_z(z') g̃_h; with ``real=True`` the attack and dL/dh at x + delta* come from the real
    network (no A2; g̃_x and g̃_h stay those of the clean x, as in the theorems).
    x: (B, *input_shape), y: (B,) in {-1, +1}.
    """
    clean = layer_pass(model, x, y)
    B = len(x)
    flat = x.reshape(B, -1)
    lin = (clean.gt_x[:, None, :], (clean.z - _dot(clean.gt_x, flat))[:, None])
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=not real, linearization=None if real else lin)
    x_adv = flat + res.delta.reshape(B, -1)
    if real:
        g_h_adv = layer_pass(model, x_adv.reshape(x.shape), y).g_h
    else:
        g_h_adv = frozen_layer_gradient(clean, flat, x_adv, y)
    return AttackedStep(clean, res, flat, x_adv, g_h_adv, effect(flat, x_adv, clean.g_h, g_h_adv, clean, eta))


def theorem3(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int, eta: float,
             real: bool = False) -> pd.DataFrame:
    """Theorems 3 and 4 on one network: the m-step A1 attack of strength beta, measured and predicted.

    The measurement is :func:`attacked_step` (A2 unless ``real``); the prediction Eqs. (9) and (10)
    with the attack's H̄_z. x: (B, 1, 28, 28), y: (B,) in {-1, +1}, float64. One row per sample:
    phi_star, phi_hat (Eq. 9), phi_adv_star, phi_adv_hat (Eq. 10), phi_ori, A, hz_bar, g_z, yz (the
    margin), dgw_norm and success (the real network misclassifies x + delta*).
    """
    step = attacked_step(model, x, y, beta, m, eta, real)
    clean, measured = step.clean, step.effect
    hz_bar = step.attack.hz_bar[:, 0, 0]
    p = Inputs(measured.phi_ori, strength(beta, hz_bar, clean.gt_x), clean.g_z, hz_bar,
               clean.gt_x.pow(2).sum(1), clean.gt_h.pow(2).sum(1), beta, eta)
    cols = {"phi_star": measured.phi, "phi_hat": eq9(p), "phi_adv_star": measured.phi_adv, "phi_adv_hat": eq10(p),
            "phi_ori": measured.phi_ori, "A": p.A, "hz_bar": hz_bar, "g_z": clean.g_z,
            "yz": y.to(clean.z) * clean.z, "dgw_norm": measured.dgw_norm, "success": step.attack.success}
    return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in cols.items()})


def spearman(a, b) -> float:
    """Spearman rank correlation of two 1-D sequences (ties get their mean rank)."""
    ra = pd.Series(np.asarray(a, dtype=float)).rank().to_numpy()
    rb = pd.Series(np.asarray(b, dtype=float)).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


PAPER_TABLE2 = {"mlp-3": 3.9e-5, "mlp-4": 8.8e-6, "mlp-5": 1.5e-6, "cnn-3": 8.5e-7, "cnn-4": 1.3e-7, "cnn-5": 1.2e-7,
                "rescnn-3": 3.4e-5, "rescnn-4": 3.9e-5, "rescnn-5": 9.0e-5, "rescnn-10": 1.9e-4}


def table2(models: dict[str, nn.Module], data, betas: list[float], m: int, eta: float, n_eval: int, device,
           real_at: float | None = None, n_real: int = 8, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 (κ' of Eq. 9) and its Eq. (10) twin for every network and every beta, under A2.

    ``models``: {arch: binary model in float64}; ``data``: the binary task. Each network is
    attacked on its first ``n_eval`` correctly classified test digits. At ``real_at`` (one of
    ``betas``) κ' is also measured without frozen gating on the first ``n_real`` of them
    (``kappa_prime_real``, beside ``kappa_prime_subset``, the A2 value on the same digits; NaN
    elsewhere): the real attack needs a backward pass through the network at every step.
    Returns the summary, one row per network and beta (arch, network, beta, n_eval, kappa_prime,
    kappa_prime_adv (Eq. 10), kappa_prime_real, paper_kappa_prime, A_median, frac_phi_negative,
    frac_phi_ori_negative, success_rate), and every sample's row of :func:`theorem3` (A2) with
    its arch and beta.
    """
    from tqdm.auto import tqdm

    from .experiments import attack_set
    from .models import LABELS

    rows, samples = [], []
    bar = tqdm(total=len(models) * len(betas), desc="networks x betas", disable=not progress, leave=False)
    for arch, model in models.items():
        x, y = attack_set(model, data, n_eval, device)
        for beta in betas:
            t = theorem3(model, x, y, beta, m, eta)
            real = theorem3(model, x[:n_real], y[:n_real], beta, m, eta, real=True) if beta == real_at else None
            rows.append({"arch": arch, "network": LABELS.get(arch, arch), "beta": beta, "n_eval": len(t),
                         "kappa_prime": kappa_prime(t.phi_star, t.phi_hat), "kappa_prime_adv": kappa_prime(t.phi_adv_star, t.phi_adv_hat),
                         "kappa_prime_real": kappa_prime(real.phi_star, real.phi_hat) if real is not None else float("nan"),
                         "kappa_prime_subset": kappa_prime(t.phi_star[:n_real], t.phi_hat[:n_real]) if real is not None else float("nan"),
                         "paper_kappa_prime": PAPER_TABLE2.get(arch, float("nan")), "A_median": float(t.A.median()),
                         "frac_phi_negative": float((t.phi_star < 0).mean()),
                         "frac_phi_ori_negative": float((t.phi_ori < 0).mean()), "success_rate": float(t.success.mean())})
            samples.append(t.assign(arch=arch, beta=beta))
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows), pd.concat(samples, ignore_index=True)
