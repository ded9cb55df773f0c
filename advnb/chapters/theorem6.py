"""Theorem 6 (Eq. 12), conclusion C8 (Fig. 5), and oscillation observed in training.

Three parts, one chapter (``theorem6``).

**Eq. (12).** On the two-layer network of Eq. (3), h = W^T x + b1 with W: (n, D) (``fc1.weight``
is W^T) and w_i = W[i] (D,), the weights leaving input pixel i. With Δh = W^T delta,

    Loss(h + Δh) as a function of w_i, h held fixed:   Hessian = delta_i^2 H_h(h + Δh)   (exact),
    L(f(x + delta)) as a function of w_i (h moves too): Hessian = (x_i + delta_i)^2 H_h(h(x + delta)),
    second-order Taylor model in Δh, Q(w_i):             Hessian = delta_i^2 H_h(h),
                                                          linear part delta_i (g_h + H_h Δh_{-i}),

where Δh_{-i} = sum_{j != i} delta_j w_j. Eq. (12) keeps delta_i g_h as the linear part: the cross
term delta_i H_h Δh_{-i} is missing. :func:`eq12_check` measures each of these with dense autograd
Hessians (``torch.func.hessian``); :func:`taylor_remainder` gives the remainder of a second-order
expansion along a direction, which must shrink like |t|^3.

**C8 / Fig. 5.** For each weight W_j (every ``nn.Linear`` / ``nn.Conv2d``) and each sample,
Delta W_j = -eta dL(x)/dW_j and

    Delta = || dL(x | W_j + Delta W_j)/dW_j - dL(x | W_j)/dW_j || / (D_j ||Delta W_j||),

with D_j the layer's width (``out_features``, or ``out_channels`` for a convolution); the same on
x + delta gives Delta^(adv). :func:`gradient_instability` computes it for a batch at once, with
per-sample gradients (``torch.func.vmap`` over ``grad``; a per-sample W_j + Delta W_j is a batched
weight). For a ReLU network with a sigmoid head the logit z is piecewise *linear* in any one W_j
(the others held), so the Hessian in W_j is H_z J_j J_j^T with J_j = dz/dW_j, and as eta -> 0
Delta -> H_z ||J_j||^2 / D_j = H_z ||g_j||^2 / (g_z^2 D_j): :func:`gauss_newton_instability`.

**Oscillation in training.** Full-batch gradient descent from one initialisation, vanilla or on
l-inf PGD examples, recording the cosine between consecutive updates and, every k steps, the top
eigenvalue of the loss Hessian w.r.t. all parameters by power iteration on Hessian-vector products
(forward-over-reverse, ``torch.func.jvp`` of ``torch.func.grad``): :func:`train_and_record`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, hessian, jvp, vmap
from tqdm.auto import tqdm

from ..core.attacks import pgd
from ..core.binary import first_layer
from ..core.losses import attack_succeeded, loss_derivatives
from ..core.losses import loss as batch_loss
from ..core.metrics import cos, rel_error
from .common import one_thread


def sample_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of one sample, safe under ``vmap`` (no data-dependent checks).

    z: (C,) logits, y: () label (+-1 for C = 1, a class index otherwise). Returns ().
    Labels are validated by the callers, outside the transforms.
    """
    if z.shape[0] == 1:
        return F.softplus(-y.to(z.dtype) * z[0])
    return F.cross_entropy(z[None], y.long()[None])


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0 (got {value})")


def two_layer_weights(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """W (n, D) and b1 (D,) of the two-layer network: its first layer (``fc1.weight`` is W^T)."""
    if not (hasattr(model, "fc1") and hasattr(model, "fc2")):
        raise ValueError("Eq. (12) needs the two-layer network of advnb.nets.models.TwoLayerReLU")
    layer = first_layer(model)
    return layer.weight.detach().T, layer.bias.detach()

def head_loss(model: nn.Module, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss(h) = L(W2^T ReLU(h) + b2, y) for one sample. h: (D,), y: (). Returns ()."""
    return sample_loss(model.fc2(torch.relu(h)), y)


def h_derivatives(model: nn.Module, h: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """g_h = dLoss/dh (D,) and H_h = d^2 Loss / dh dh^T (D, D) at h (D,)."""
    f = lambda hh: head_loss(model, hh, y)  # noqa: E731
    return grad(f)(h), hessian(f)(h)


def row_loss(model: nn.Module, x: torch.Tensor, delta: torch.Tensor, y: torch.Tensor, i: int, w: torch.Tensor,
             hold_h: bool) -> torch.Tensor:
    """The adversarial loss as a function of w (D,), put in place of row i of W.

    ``hold_h=True``: Loss(h + W_w^T delta) with h = W^T x + b1 at the original W (Theorem 6's view);
    ``hold_h=False``: L(f_w(x + delta), y), h moving with w too. x, delta: (n,), y: (). Returns ().
    """
    W, b1 = two_layer_weights(model)
    # W_w^T v = sum_j v_j (row j of W_w): the product split by rows, row i taken from w
    if hold_h:
        return head_loss(model, W.T @ x + b1 + (W.T @ delta - delta[i] * W[i]) + delta[i] * w, y)
    v = x + delta
    return head_loss(model, (W.T @ v - v[i] * W[i]) + v[i] * w + b1, y)


@dataclass
class Eq12Check:
    """Eq. (12) at one sample and one pixel i. Errors are relative (Frobenius / Euclidean norms)."""

    i: int
    x_i: float
    delta_i: float
    err_hold: float  # Hessian of Loss(h + W^T delta) in w_i  vs  delta_i^2 H_h(h + Δh)
    err_true: float  # Hessian of L(f(x + delta)) in w_i      vs  (x_i + delta_i)^2 H_h(h(x + delta))
    err_taylor: float  # Hessian of the Taylor model Q in w_i  vs  delta_i^2 H_h(h)
    err_linear: float  # gradient of Q at w_i = 0              vs  delta_i (g_h + H_h Δh_{-i})
    cross_share: float  # ||delta_i H_h Δh_{-i}|| / ||delta_i g_h||: the linear term Eq. (12) omits
    hessian_shift: float  # ||H_h(h + Δh) - H_h(h)|| / ||H_h(h)||: exact curvature vs the Taylor model's
    taylor_gap: float  # |Loss(h + Δh) - second-order Taylor value| / |Loss(h + Δh) - Loss(h)|


def eq12_check(model: nn.Module, x: torch.Tensor, delta: torch.Tensor, y: torch.Tensor, i: int) -> Eq12Check:
    """Theorem 6, Eq. (12). Check Eq. (12) with dense autograd Hessians. x, delta: (n,) or (1, 28, 28), y: (), i: a pixel.

    Use float64: the identities are exact, and the errors should sit at rounding level (~1e-15).
    Chapters: theorem6.
    """
    x, delta = x.reshape(-1), delta.reshape(-1)
    W, b1 = two_layer_weights(model)
    if not 0 <= i < W.shape[0]:
        raise ValueError(f"pixel i must be in 0..{W.shape[0] - 1} (got {i})")
    w_i = W[i].clone()
    h = W.T @ x + b1
    dh = W.T @ delta
    dh_rest = dh - delta[i] * w_i
    g_h, H_h = h_derivatives(model, h, y)
    _, H_h_adv = h_derivatives(model, h + dh, y)
    _, H_h_true = h_derivatives(model, W.T @ (x + delta) + b1, y)

    hess_hold = hessian(lambda w: row_loss(model, x, delta, y, i, w, True))(w_i)
    hess_true = hessian(lambda w: row_loss(model, x, delta, y, i, w, False))(w_i)

    loss_h = head_loss(model, h, y)

    def taylor(w: torch.Tensor) -> torch.Tensor:  # second-order model in Δh, as a function of row i
        d = dh_rest + delta[i] * w
        return loss_h + g_h @ d + 0.5 * d @ H_h @ d

    hess_q = hessian(taylor)(w_i)
    lin_q = grad(taylor)(torch.zeros_like(w_i))
    paper_lin = delta[i] * g_h
    cross = delta[i] * (H_h @ dh_rest)
    exact = head_loss(model, h + dh, y)
    return Eq12Check(
        i=i, x_i=x[i].item(), delta_i=delta[i].item(),
        err_hold=rel_error(hess_hold, delta[i] ** 2 * H_h_adv),
        err_true=rel_error(hess_true, (x[i] + delta[i]) ** 2 * H_h_true),
        err_taylor=rel_error(hess_q, delta[i] ** 2 * H_h),
        err_linear=rel_error(lin_q, paper_lin + cross),
        cross_share=cross.norm().item() / max(paper_lin.norm().item(), 1e-300),
        hessian_shift=rel_error(H_h_adv, H_h),
        taylor_gap=abs((exact - taylor(w_i)).item()) / max(abs((exact - loss_h).item()), 1e-300),
    )


def taylor_remainder(f, w: torch.Tensor, u: torch.Tensor, scales) -> torch.Tensor:
    """|R(t)| = |f(w + t u) - f(w) - t g^T u - t^2/2 u^T H u| for each t in ``scales``.

    f: (D,) -> () scalar function, w, u: (D,); g, H the gradient and Hessian of f at w
    (autograd). Returns (K,) for K scales. For a smooth f it falls like |t|^3.
    """
    g, H = grad(f)(w), hessian(f)(w)
    gu, uHu = g @ u, u @ H @ u
    f0 = f(w)
    out = [(f(w + t * u) - f0 - t * gu - 0.5 * t * t * uHu).abs() for t in scales]
    return torch.stack(out).detach()


def first_layer_curvature(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Top eigenvalue of the Hessian of L(f(x), y) w.r.t. the whole first-layer weight W (n x D).

    h = W^T x + b1 is linear in W, so that Hessian is the Kronecker product (x x^T) (x) H_h and its
    top eigenvalue is ||x||^2 lambda_1(H_h). x: (B, ...), y: (B,). Returns (B,).
    """
    W, b1 = two_layer_weights(model)
    flat = x.reshape(len(x), -1)
    H = vmap(lambda hh, yy: hessian(lambda u: head_loss(model, u, yy))(hh))(flat @ W + b1, y)
    return flat.pow(2).sum(1) * torch.linalg.eigvalsh(H)[:, -1]


def weight_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every ``nn.Linear`` / ``nn.Conv2d`` by the name of its weight parameter, in module order."""
    return {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


def layer_width(module: nn.Module) -> int:
    """D of a layer: ``out_features`` of a Linear, ``out_channels`` of a Conv2d."""
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Conv2d):
        return module.out_channels
    raise ValueError(f"no width for a {type(module).__name__}: only Linear and Conv2d layers")


def _check_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()):
        raise ValueError("per-sample gradients need BatchNorm in eval mode (call model.eval())")
    with torch.no_grad():
        batch_loss(model(x[:1]), y[:1])  # validates the labels against the head, outside vmap


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: list[str],
                     replaced: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """dL(x_b, y_b)/dW for each named parameter, per sample. x: (B, ...), y: (B,).

    ``replaced`` maps a parameter name to per-sample values (B, *shape): sample b is then
    evaluated with that parameter set to ``replaced[name][b]``. Returns {name: (B, *shape)}.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    replaced = replaced or {}
    for n in list(names) + list(replaced):
        if n not in params:
            raise ValueError(f"unknown layer {n!r}; choose among {', '.join(weight_layers(model))}")
    wrt = {n: replaced.get(n, params[n]) for n in names}
    per_only = {n: v for n, v in replaced.items() if n not in wrt}
    fixed = {k: v for k, v in params.items() if k not in wrt and k not in per_only}

    def one(wrt_vals: dict, per_vals: dict, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        z = functional_call(model, ({**fixed, **per_vals, **wrt_vals}, buffers), (xb[None],))[0]
        return sample_loss(z, yb)

    in_wrt = {n: (0 if n in replaced else None) for n in names}
    return vmap(grad(one), in_dims=(in_wrt, {n: 0 for n in per_only}, 0, 0))(wrt, per_only, x, y)


def _chosen_layers(model: nn.Module, layers: list[str] | None) -> tuple[dict, list[str]]:
    """All weight layers of ``model`` and the chosen names (None: all); ValueError on an unknown name."""
    all_layers = weight_layers(model)
    layers = list(all_layers) if layers is None else list(layers)
    for n in layers:
        if n not in all_layers:
            raise ValueError(f"unknown layer {n!r}; choose among {', '.join(all_layers)}")
    return all_layers, layers


def gradient_instability(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eta: float,
                         layers: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Conclusion C8, Fig. 5: Delta. The paper's Delta for each layer and sample (Fig. 5). x: (B, ...), y: (B,); eta > 0.

    For layer j and sample b: Delta W = -eta g_b with g_b = dL(x_b)/dW_j, g'_b the same gradient
    with W_j + Delta W (the other layers unchanged), Delta = ||g'_b - g_b|| / (D_j ||Delta W||).
    ``layers``: weight names of :func:`weight_layers` (None: all). Returns {layer: (B,)}
    (NaN where a gradient is exactly zero).
    Chapters: theorem6.
    """
    _check_positive("eta", eta)
    _check_batch(model, x, y)
    all_layers, layers = _chosen_layers(model, layers)
    g0 = per_sample_grads(model, x, y, layers)
    out = {}
    for n in layers:
        step = -eta * g0[n]
        g1 = per_sample_grads(model, x, y, [n], replaced={n: model.get_parameter(n).detach() + step})[n]
        num = (g1 - g0[n]).flatten(1).norm(dim=1)
        den = layer_width(all_layers[n]) * step.flatten(1).norm(dim=1)
        out[n] = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.full_like(num, float("nan")))
    return out


def gauss_newton_instability(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                             layers: list[str] | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Conclusion C8, Fig. 5: Delta as eta -> 0. The eta -> 0 limit of :func:`gradient_instability` for a sigmoid head: H_z ||J_j||^2 / D_j.

    Exact for ReLU / max-pool networks (z is piecewise linear in one W_j): the Hessian in W_j is
    H_z J_j J_j^T, J_j = dz/dW_j = g_j / g_z. x: (B, ...), y: (B,) in {-1, +1}.
    Returns ({layer: (B,)}, H_z (B,)); ||J_j||^2 per layer is ``value * D_j / H_z``.
    Chapters: theorem6.
    """
    _check_batch(model, x, y)
    all_layers, layers = _chosen_layers(model, layers)
    with torch.no_grad():
        z = model(x)
    if z.shape[1] != 1:
        raise ValueError("the Gauss-Newton form here is for a sigmoid head (C = 1)")
    g_z, h_z = loss_derivatives(z, y)
    g_z, h_z = g_z[:, 0], h_z[:, 0, 0]
    g0 = per_sample_grads(model, x, y, layers)
    out = {n: h_z * g0[n].flatten(1).pow(2).sum(1) / (g_z**2 * layer_width(all_layers[n])) for n in layers}
    return out, h_z


def instability_table(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, eta: float) -> pd.DataFrame:
    """Fig. 5 for one network: per layer, the sample means of Delta^(ori) (on x) and Delta^(adv) (on x_adv).

    x, x_adv: (B, ...), y: (B,) in {-1, +1}. Columns: index (1-based, forward order), layer, kind
    (conv / linear), D; ori, adv (means over samples at step size eta) and ratio = adv / ori;
    gn_ori, gn_adv (means of the eta -> 0 limit, :func:`gauss_newton_instability`) and gn_ratio;
    hz_ratio and jac_ratio, the geometric means over samples of H_z(x_adv) / H_z(x) and of
    ||J_j(x_adv)||^2 / ||J_j(x)||^2 (their product is the geometric mean of the per-sample
    eta -> 0 ratios); frac_adv_larger, the share of samples whose own Delta^(adv) > Delta^(ori).
    Runs with one intra-op thread (``advnb.chapters.common.one_thread``): the per-sample operations are small.
    """
    layers = weight_layers(model)
    with one_thread():
        ori = gradient_instability(model, x, y, eta)
        adv = gradient_instability(model, x_adv, y, eta)
        gn_ori, hz_ori = gauss_newton_instability(model, x, y)
        gn_adv, hz_adv = gauss_newton_instability(model, x_adv, y)
    log_hz = (hz_adv / hz_ori).log()
    rows = []
    for k, (n, mod) in enumerate(layers.items()):
        log_jac = (gn_adv[n] / gn_ori[n]).log() - log_hz
        rows.append({"index": k + 1, "layer": n.removesuffix(".weight"),
                     "kind": "conv" if isinstance(mod, nn.Conv2d) else "linear", "D": layer_width(mod),
                     "ori": ori[n].nanmean().item(), "adv": adv[n].nanmean().item(),
                     "gn_ori": gn_ori[n].mean().item(), "gn_adv": gn_adv[n].mean().item(),
                     "hz_ratio": log_hz.mean().exp().item(), "jac_ratio": log_jac.mean().exp().item(),
                     "frac_adv_larger": (adv[n] > ori[n]).double().mean().item()})
    df = pd.DataFrame(rows)
    df["ratio"] = df["adv"] / df["ori"]
    df["gn_ratio"] = df["gn_adv"] / df["gn_ori"]
    return df


def flat_params(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` as one vector (P,), detached."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def flat_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """f(theta) = mean loss of ``model`` with its parameters set to theta (P,), on x: (B, ...), y: (B,).

    Returns f, a function usable under ``torch.func`` transforms.
    """
    batch_loss(model(x[:1]).detach(), y[:1])  # validates the labels once, outside the transforms
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    buffers = dict(model.named_buffers())

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, sizes)
        params = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}
        z = functional_call(model, (params, buffers), (x,))
        return vmap(sample_loss)(z, y).mean()

    return f


def hvp(f, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The Hessian of f at theta times v (forward-over-reverse: jvp of grad). theta, v: (P,). Returns (P,)."""
    return jvp(grad(f), (theta,), (v,))[1]


@dataclass
class Eigen:
    value: float  # the largest (algebraic) eigenvalue
    vector: torch.Tensor  # (P,) unit eigenvector
    iterations: int  # matrix-vector products used
    converged: bool


def _power(matvec, v: torch.Tensor, iters: int, tol: float) -> tuple[float, torch.Tensor, int, bool]:
    """Power iteration from v; stops when ||A v - lambda v|| <= tol |lambda| (lambda = v^T A v, ||v|| = 1)."""
    v = v / v.norm()
    w = matvec(v)
    for k in range(1, iters + 1):
        lam = torch.dot(v, w).item()
        if (w - lam * v).norm().item() <= tol * abs(lam) or k == iters:
            return lam, v, k, (w - lam * v).norm().item() <= tol * abs(lam)
        norm = w.norm()
        if norm == 0:
            return 0.0, v, k, True
        v = w / norm
        w = matvec(v)
    raise AssertionError("unreachable")


def top_eigenvalue(matvec, dim_like: torch.Tensor, iters: int = 100, tol: float = 1e-3,
                   start: torch.Tensor | None = None, generator: torch.Generator | None = None) -> Eigen:
    """The largest eigenvalue of a symmetric operator by power iteration.

    matvec: (P,) -> (P,); ``dim_like`` (P,) gives size, dtype and device. The estimate is the
    Rayleigh quotient lambda = v^T A v of the unit iterate v; iteration stops when the residual
    ||A v - lambda v|| is at most ``tol`` |lambda| (then lambda is within about tol^2 |lambda| of an
    eigenvalue for a well-separated top) or after ``iters`` products (``converged`` False).
    Power iteration finds the eigenvalue of largest magnitude; if that one is negative, a second
    run on A + |lambda| I (positive semi-definite) finds the largest algebraic one. ``start`` warm-starts (e.g. the previous
    eigenvector). Returns :class:`Eigen`.
    """
    if int(iters) != iters or iters < 1:
        raise ValueError(f"iters must be an integer >= 1 (got {iters})")
    if not tol > 0:
        raise ValueError(f"tol must be > 0 (got {tol})")
    if start is None:
        start = torch.randn(dim_like.shape, generator=generator, dtype=dim_like.dtype).to(dim_like.device)
    lam, v, k, ok = _power(matvec, start, iters, tol)
    if lam < 0:
        shift = -lam
        mu, v, k2, ok = _power(lambda u: matvec(u) + shift * u, start, iters, tol)
        lam, k = mu - shift, k + k2
    return Eigen(lam, v, k, ok)


@dataclass
class AdversarialSetting:
    """The l-inf PGD of adversarial training (as in ``advnb.nets.train``): step 2.5 eps / steps, random start, clip."""

    eps: float
    steps: int

    def examples(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        res = pgd(model, x, y, "linf", self.eps, 2.5 * self.eps / self.steps, self.steps, clip=True,
                  random_start=True, generator=gen)
        return (x + res.delta).detach()


def train_and_record(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, record_every: int,
                     adversarial: AdversarialSetting | None = None, power_iters: int = 100, power_tol: float = 1e-3,
                     seed: int = 0, progress: bool = True, label: str = "") -> tuple[pd.DataFrame, nn.Module]:
    """Full-batch gradient descent theta <- theta - lr grad, recording the signs of oscillation.

    Trains ``model`` (changed in place; pass a copy) on the fixed set x: (N, ...), y: (N,) for
    ``steps`` steps, on the clean digits or, with ``adversarial``, on their PGD examples found
    afresh at every step. Every step: the training loss, the accuracy on the digits trained on,
    and the cosine between this update and the previous one. Every ``record_every`` steps (and at
    the first and last): lambda_max, the top eigenvalue of the Hessian of the training loss w.r.t.
    all parameters on the same inputs (adversarial: the examples of that step, held fixed), by
    power iteration on Hessian-vector products warm-started from the previous eigenvector, and
    |cos| between the update and that eigenvector. Returns (table, model); table columns: step,
    loss, acc, cos_prev, lambda_max (NaN off the record steps), power_iters, cos_top.
    The model stays in eval mode throughout (dropout off, BatchNorm on its running statistics), so
    that the loss is one fixed function of the parameters. Runs with one intra-op thread
    (``advnb.chapters.common.one_thread``): small operations, many steps.
    """
    _check_positive("lr", lr)
    if int(steps) != steps or steps < 1 or int(record_every) != record_every or record_every < 1:
        raise ValueError(f"steps and record_every must be integers >= 1 (got {steps}, {record_every})")
    with one_thread():
        return _train_and_record(model, x, y, lr, steps, record_every, adversarial, power_iters, power_tol, seed,
                                 progress, label)


def _train_and_record(model, x, y, lr, steps, record_every, adversarial, power_iters, power_tol, seed, progress, label):
    gen = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    prev_update, eig_vec, rows = None, None, []
    bar = tqdm(range(steps + 1), desc=f"gradient descent {label}".strip(), disable=not progress, leave=False)
    for t in bar:
        model.eval()
        xb = x if adversarial is None else adversarial.examples(model, x, y, gen)
        z = model(xb)
        loss = batch_loss(z, y).mean()
        grads = torch.autograd.grad(loss, params)
        update = -lr * torch.cat([g.reshape(-1) for g in grads])
        row = {"step": t, "loss": loss.item(), "acc": (~attack_succeeded(z.detach(), y)).double().mean().item(),
               "cos_prev": cos(update, prev_update) if prev_update is not None else float("nan"),
               "lambda_max": float("nan"), "power_iters": float("nan"), "cos_top": float("nan")}
        if t % record_every == 0 or t == steps:
            f = flat_loss(model, xb, y)
            theta = flat_params(model)
            eig = top_eigenvalue(lambda v: hvp(f, theta, v), theta, power_iters, power_tol, start=eig_vec, generator=gen)
            eig_vec = eig.vector
            row.update(lambda_max=eig.value, power_iters=eig.iterations, cos_top=abs(cos(update, eig.vector)))
        rows.append(row)
        if t == steps:
            break
        with torch.no_grad():
            offset = 0
            for p in params:
                k = p.numel()
                p.add_(update[offset : offset + k].reshape(p.shape))
                offset += k
        prev_update = update
    return pd.DataFrame(rows), model


def theorem2_perturbation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int,
                          linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Theorem 2's deltâ at strength beta, with H̄_z from the m-step A1 attack under frozen gating.

    x: (B, ...), y: (B,). Returns (B, n).
    """
    from ..core.attacks import gradient_ascent
    from ..core.linearize import affine_logits, linearize
    from ..core.theory import infinite_step_delta

    J, b = linearization if linearization is not None else linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=True, linearization=(J, b))
    return infinite_step_delta(J, res.hz_bar, g_z, beta).delta


def pixels_of_interest(x: torch.Tensor, delta: torch.Tensor) -> dict[str, int]:
    """The pixel with the largest |delta_i|, and the one with the largest |delta_i| where x_i > 0. x, delta: (n,)."""
    x, delta = x.reshape(-1), delta.reshape(-1)
    on_stroke = torch.where(x > 0, delta.abs(), torch.full_like(delta, -1.0))
    return {"largest |δ_i|": int(delta.abs().argmax()), "largest |δ_i| on the stroke": int(on_stroke.argmax())}


def eq12_table(model: nn.Module, x: torch.Tensor, y: torch.Tensor, betas: list[float], m: int,
               progress: bool = True) -> pd.DataFrame:
    """:func:`eq12_check` for every digit, beta and both :func:`pixels_of_interest`, deltâ from Theorem 2.

    x: (B, ...), y: (B,), float64 two-layer network. One row per (beta, digit, pixel) with the
    fields of :class:`Eq12Check`. Runs with one intra-op thread.
    """
    with one_thread():
        return _eq12_table(model, x, y, betas, m, progress)


def _eq12_table(model, x, y, betas, m, progress):
    from dataclasses import asdict

    from ..core.linearize import linearize

    lin = linearize(model, x)
    rows = []
    for beta in tqdm(betas, desc="Eq. (12) over beta", disable=not progress, leave=False):
        d = theorem2_perturbation(model, x, y, beta, m, lin)
        for k in range(len(y)):
            for which, i in pixels_of_interest(x[k], d[k]).items():
                c = eq12_check(model, x[k], d[k], y[k], i)
                rows.append({"beta": beta, "digit": k, "pixel": which, **asdict(c)})
    return pd.DataFrame(rows)


def eq12_remainders(model: nn.Module, x: torch.Tensor, delta: torch.Tensor, y: torch.Tensor, i: int, scales,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """Remainders of three second-order expansions at one digit, along one random unit direction u (D,).

    In w_i with h held fixed (Theorem 6's function), in w_i with h moving (the true adversarial loss),
    and in Δh itself (the paper's R_2). So that the three share an axis, a step s always moves the
    hidden pre-activation by s u: w_i moves by s u / delta_i, resp. s u / (x_i + delta_i).
    x, delta: (n,), y: (), scales: K steps s. Returns {label: (K,)}.
    """
    x, delta = x.reshape(-1), delta.reshape(-1)
    W, b1 = two_layer_weights(model)
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(W.shape[1], generator=g, dtype=W.dtype).to(W.device)
    u = u / u.norm()
    h = W.T @ x + b1 + W.T @ delta
    return {
        "Loss(h + Wᵀδ) in w_i, h held": taylor_remainder(lambda w: row_loss(model, x, delta, y, i, w, True), W[i].clone(),
                                                          u / delta[i], scales),
        "L(f(x + δ)) in w_i": taylor_remainder(lambda w: row_loss(model, x, delta, y, i, w, False), W[i].clone(),
                                               u / (x[i] + delta[i]), scales),
        "Loss(h + Δh) in Δh": taylor_remainder(lambda v: head_loss(model, h + v, y), torch.zeros_like(h), u, scales),
    }


def fig5_tables(archs: list[str], profile, seed: int, data, device: torch.device, eta: float, eps: float, n_eval: int,
                progress: bool = True) -> tuple[dict, pd.DataFrame]:
    """Fig. 5 for each network of ``archs``, trained vanilla and adversarially (``advnb.nets.train.binary_overrides``).

    For each network: its first ``n_eval`` correctly classified test digits, their l-inf PGD examples
    (radius eps, ``profile.adv_steps`` steps, the attack of the adversarial training, seeded), and
    :func:`instability_table` at step size eta, with the columns attack_success and n added.
    Returns ({(network label, "vanilla" | "adversarial"): table}, accuracy table with a training column).
    """
    from ..nets.models import LABELS
    from ..nets.train import binary_overrides
    from .common import attack_set, trained_networks

    _check_positive("eta", eta)
    tables, accs = {}, []
    with one_thread():
        for training in ("vanilla", "adversarial"):
            zoo, acc = trained_networks(archs, profile, seed, data, device, progress=progress,
                                        **binary_overrides(profile, adversarial=training == "adversarial"))
            acc.insert(1, "training", training)
            accs.append(acc)
            for a, model in zoo.items():
                x, y = attack_set(model, data, n_eval, device)
                x_adv = AdversarialSetting(eps, profile.adv_steps).examples(model, x, y, torch.Generator().manual_seed(seed))
                table = instability_table(model, x, x_adv, y, eta)
                with torch.no_grad():
                    table["attack_success"] = (y * model(x_adv)[:, 0] <= 0).double().mean().item()
                table["n"] = len(y)
                tables[(LABELS.get(a, a), training)] = table
    return tables, pd.concat(accs, ignore_index=True)


def taylor_remainder_figure(scales, remainders: dict, slopes: dict) -> plt.Figure:
    """|R(s)| of second-order expansions against the step s (log-log), with a slope-3 guide.

    scales: (K,) steps s; remainders: {label: (K,) array}; slopes: {label: fitted slope}.
    """
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    t = np.asarray(scales, dtype=float)
    for (label, r), fmt in zip(remainders.items(), ("o-", "s--", "^:")):
        ax.loglog(t, np.asarray(r, dtype=float), fmt, label=f"{label}, slope {slopes[label]:.2f}")
    r0 = np.asarray(next(iter(remainders.values())), dtype=float)
    ax.loglog(t, r0[-1] * (t / t[-1]) ** 3, color="gray", lw=1, ls="-.", label=r"$\propto s^3$")
    ax.set_xlabel("step s (the hidden pre-activation h moves by s u, |u| = 1)")
    ax.set_ylabel("|remainder of the second-order expansion|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def eq12_terms_vs_beta_figure(df: pd.DataFrame) -> plt.Figure:
    """How far Eq. (12)'s ingredients are from the exact loss, against beta (medians over digits).

    df columns: beta, cross_share, hessian_shift, taylor_gap (one row per digit and beta).
    """
    med = df.groupby("beta")[["cross_share", "hessian_shift", "taylor_gap"]].median().reset_index()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.loglog(med["beta"], med["cross_share"], "o-", label=r"omitted linear term $\|\delta_i H_h\Delta h_{-i}\| / \|\delta_i g_h\|$")
    ax.loglog(med["beta"], med["hessian_shift"], "s--", label=r"$\|H_h(h+\Delta h)-H_h(h)\| / \|H_h(h)\|$")
    ax.loglog(med["beta"], med["taylor_gap"], "^:", label="second-order Taylor error / exact loss change")
    ax.axhline(1, color="gray", lw=1)
    ax.set_xlabel(r"adversarial strength $\beta$ of Theorem 2's $\hat\delta$")
    ax.set_ylabel("relative size (median over digits)")
    ax.legend(fontsize=7.5)
    fig.tight_layout()
    return fig


def instability_layers_figure(tables: dict, eta: float) -> plt.Figure:
    """Fig. 5: Delta^(ori) and Delta^(adv) per layer, one panel per network, log scale.

    tables: {(network label, training): instability table} with training "vanilla" or
    "adversarial" (how the network was trained); each table has columns index, layer, kind, ori, adv.
    """
    nets = list(dict.fromkeys(k[0] for k in tables))
    fig, axes = plt.subplots(1, len(nets), figsize=(5.6 * len(nets), 4.2), squeeze=False)
    for ax, net in zip(axes[0], nets):
        for (name, training), df in tables.items():
            if name != net:
                continue
            c = _TRAINING_COLOURS.get(training, None)
            ax.semilogy(df["index"], df["ori"], "o-", color=c, label=rf"$\Delta^{{(ori)}}$, {_TRAINED.get(training, training)}")
            ax.semilogy(df["index"], df["adv"], "s--", color=c, mfc="none", label=rf"$\Delta^{{(adv)}}$, {_TRAINED.get(training, training)}")
            ticks = df
        ax.set_xticks(ticks["index"])
        ax.set_xticklabels([f"{i}\n{k}" for i, k in zip(ticks["index"], ticks["kind"])], fontsize=7)
        ax.set_xlabel("layer (forward order)")
        ax.set_ylabel(r"instability $\Delta$ (per unit step, per unit width)")
        ax.set_title(f"{net}, one SGD step, η = {eta:g}", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def instability_ratios_figure(tables: dict) -> plt.Figure:
    """Delta^(adv) / Delta^(ori) per layer: at the chapter's eta (markers) and as eta -> 0 (lines).

    tables as :func:`instability_layers_figure`, with columns ratio and gn_ratio.
    """
    nets = list(dict.fromkeys(k[0] for k in tables))
    fig, axes = plt.subplots(1, len(nets), figsize=(5.6 * len(nets), 3.8), squeeze=False)
    for ax, net in zip(axes[0], nets):
        for (name, training), df in tables.items():
            if name != net:
                continue
            c = _TRAINING_COLOURS.get(training, None)
            ax.semilogy(df["index"], df["ratio"], "o", color=c, label=f"{_TRAINED.get(training, training)}, at η")
            ax.semilogy(df["index"], df["gn_ratio"], "-", color=c, label=f"{_TRAINED.get(training, training)}, η → 0")
        ax.axhline(1, color="k", lw=1, ls=":")
        ax.set_xlabel("layer (forward order)")
        ax.set_ylabel(r"$\Delta^{(adv)} / \Delta^{(ori)}$")
        ax.set_title(net, fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def oscillation_training_figure(records: dict, lr: float) -> plt.Figure:
    """Loss, top Hessian eigenvalue (with 2/lr) and the cosine between consecutive updates, per step.

    records: {label: table of ``advnb.chapters.theorem6.train_and_record``}.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9))
    for (label, df), c in zip(records.items(), ("tab:blue", "tab:orange", "tab:green")):
        axes[0].plot(df["step"], df["loss"], color=c, label=label)
        rec = df[df["lambda_max"].notna()]
        axes[1].plot(rec["step"], rec["lambda_max"], "o-", ms=3, color=c, label=label)
        axes[2].plot(df["step"], df["cos_prev"], color=c, lw=0.8, label=f"{label}: cos(update, previous update)")
        axes[2].plot(rec["step"], rec["cos_top"], "x", color=c, ms=5, label=f"{label}: |cos(update, top eigenvector)|")
    axes[1].axhline(2 / lr, color="k", ls="--", lw=1, label=f"2/η = {2 / lr:g}")
    axes[2].axhline(0, color="k", lw=0.8)
    axes[0].set_ylabel("training loss (on the examples trained on)")
    axes[1].set_ylabel(r"$\lambda_{max}$ of the loss Hessian (all parameters)")
    axes[2].set_ylabel("cosine")
    axes[2].set_ylim(-1.05, 1.05)
    for ax in axes:
        ax.set_xlabel("gradient descent step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


_TRAINING_COLOURS = {"vanilla": "tab:blue", "adversarial": "tab:orange"}


_TRAINED = {"vanilla": "vanilla-trained", "adversarial": "adversarially trained"}
