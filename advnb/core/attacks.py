"""Attacks: the paper's A1 gradient ascent, and l2 / l-inf PGD.

The A1 attack is plain gradient ascent on the loss:

    delta^(0) = 0,   delta^(t+1) = delta^(t) + alpha * g_{x + delta^(t)},   alpha = beta / m,

with g = dL/dx, no normalisation, no projection, no clip (assumption A1; the paper
ignores the clip following Wang et al. 2021). With ``frozen_gating=True`` (A2) the
attack runs on the network's exact linearisation at x, so g = J^T g_z(z(x) + J delta).

Along the way it accumulates the paper's weighted Hessian (Theorem 1)

    H̄_z = sum_{t=1}^{m-1} ||Δx^(t)|| H_z^(t) / sum_{t=1}^{m-1} ||Δx^(t)||,
    Δx^(t) = alpha * g_{x + delta^(t-1)},   H_z^(t) = H_z at x + delta^(t).

For m = 1 the sum is empty and H̄_z is taken as H_z at x (Theorem 1 with m = 1 is
exact for any H̄_z: delta^(1) = alpha g_x).

``pgd`` is the l2 / l-inf projected attack of Madry et al. (2018): steps along
g/||g|| or sign(g), optionally projected on the eps-ball and clipped to [0, 1].
It returns the same :class:`AttackResult` (its H̄_z weights each H_z^(t) by the
length of the step actually taken), so every attack can be set beside Theorem 2.

Every result also carries the paper's *effective component* (Sec. 3.2),
sum_t (s_t . u_t) u_t with s_t the step taken and u_t = g_t/||g_t|| the current
gradient direction: the part of the attack that pushes along the gradient. For A1
and unprojected l2 steps it is delta itself; for l-inf steps (s_t = alpha sign(g_t))
it is the paper's delta^(effective, l-inf).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .linearize import affine_logits, linearize
from .losses import attack_succeeded, loss, loss_derivatives


@dataclass
class AttackResult:
    """What an attack returns. B samples, C logits, n input dimensions, m steps."""

    delta: torch.Tensor  # (B, *input_shape): the perturbation delta^(m)
    hz_bar: torch.Tensor  # (B, C, C): the weighted H̄_z over t = 1..m-1
    delta_norms: torch.Tensor  # (B, m+1): ||delta^(t)||, t = 0..m
    grad_norms: torch.Tensor  # (B, m+1): ||g_{x+delta^(t)}||, t = 0..m
    effective: torch.Tensor  # (B, n): sum over steps of each step's component along the current gradient
    z: torch.Tensor  # (B, C): logits at x + delta^(m) of the network the attack ran on
    logits: torch.Tensor  # (B, m+1, C): logits at x + delta^(t), t = 0..m, of the network the attack ran on
    success: torch.Tensor  # (B,) bool: the *real* network misclassifies x + delta^(m)
    kept: torch.Tensor | None = None  # (B, K, n): delta^(t) at the K steps asked for with ``keep``

    @property
    def success_rate(self) -> float:
        return self.success.double().mean().item()


def _check(beta: float, m: int) -> None:
    if not (beta > 0):
        raise ValueError(f"beta must be > 0 (got {beta})")
    if int(m) != m or m < 1:
        raise ValueError(f"m must be an integer >= 1 (got {m})")


NORMS = ("l2", "linf")


def _gradient_oracle(model: nn.Module, x: torch.Tensor, y: torch.Tensor, frozen_gating: bool,
                     linearization: tuple[torch.Tensor, torch.Tensor] | None):
    """step(delta) -> (z, g): logits and input gradient at x + delta, delta: (B, n)."""
    shape = x.shape
    flat = x.reshape(shape[0], -1)
    if frozen_gating:
        J, b = linearization if linearization is not None else linearize(model, x)
        z0 = affine_logits(J, b, flat)

        def step(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = z0 + torch.einsum("bcn,bn->bc", J, delta)
            g_z, _ = loss_derivatives(z, y)
            return z, torch.einsum("bcn,bc->bn", J, g_z)

        return step

    def step(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa = (flat + delta).detach().requires_grad_(True)
        z = model(xa.reshape(shape))
        (g,) = torch.autograd.grad(loss(z, y).sum(), xa)
        return z.detach(), g

    return step


def _run(model, x, y, m, frozen_gating, linearization, move, start=None, keep: tuple[int, ...] = ()) -> AttackResult:
    """The shared attack loop. ``move(delta, g) -> delta'`` is one step of the attack.

    H̄_z weights each H_z^(t) by the length of the step that reached x + delta^(t),
    ||Δx^(t)|| = ||delta^(t) - delta^(t-1)|| (= alpha ||g|| for plain gradient ascent).
    ``keep`` lists steps t in 0..m whose delta^(t) the result carries in ``kept``.
    """
    if any(int(k) != k or not 0 <= k <= m for k in keep):
        raise ValueError(f"keep steps must be integers in 0..{m} (got {tuple(keep)})")
    shape = x.shape
    flat = x.reshape(shape[0], -1)
    step = _gradient_oracle(model, x, y, frozen_gating, linearization)
    delta = torch.zeros_like(flat) if start is None else start.reshape(flat.shape).to(flat)
    delta_norms, grad_norms, logits = [], [], []
    hz_sum = hz_first = None
    w_sum = torch.zeros(shape[0], dtype=flat.dtype, device=flat.device)
    prev_step_norm = None  # ||Δx^(t)||
    effective = torch.zeros_like(flat)
    kept = {}
    for t in range(m + 1):
        if t in keep:
            kept[t] = delta.clone()
        z, g = step(delta)
        delta_norms.append(delta.norm(dim=1))
        grad_norms.append(g.norm(dim=1))
        logits.append(z.detach())
        if t == m:
            break
        _, h_z = loss_derivatives(z, y)
        if t == 0:
            hz_first = h_z
            hz_sum = torch.zeros_like(h_z)
        else:
            hz_sum = hz_sum + prev_step_norm[:, None, None] * h_z
            w_sum = w_sum + prev_step_norm
        new = move(delta, g)
        step_taken = new - delta
        prev_step_norm = step_taken.norm(dim=1)
        unit = g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
        effective = effective + (step_taken * unit).sum(1, keepdim=True) * unit
        delta = new

    safe = w_sum > 0
    hz_bar = torch.where(safe[:, None, None], hz_sum / torch.where(safe, w_sum, 1.0)[:, None, None], hz_first)
    with torch.no_grad():
        z_real = z if not frozen_gating else model((flat + delta).reshape(shape))
    return AttackResult(
        delta=delta.reshape(shape),
        hz_bar=hz_bar,
        delta_norms=torch.stack(delta_norms, dim=1),
        grad_norms=torch.stack(grad_norms, dim=1),
        effective=effective,
        z=z,
        logits=torch.stack(logits, dim=1),
        success=attack_succeeded(z_real, y),
        kept=torch.stack([kept[k] for k in keep], 1) if keep else None,
    )


def gradient_ascent(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    m: int,
    frozen_gating: bool = True,
    linearization: tuple[torch.Tensor, torch.Tensor] | None = None,
    keep: tuple[int, ...] = (),
) -> AttackResult:
    """Eq. (4) under assumption A1, with Theorem 1's H̄_z. Run the m-step A1 attack of overall strength beta on a batch.

    x: (B, *input_shape), y: (B,). ``linearization``, the (J, b) of
    :func:`advnb.core.linearize.linearize` at x, may be passed to avoid recomputing it.
    ``keep``: steps whose delta^(t) the result carries in ``kept`` (B, len(keep), n).
    All B samples move together; the loop runs over steps only.
    Chapters: theorem1, theorem2, growth, gating, lemma1, theorem3-6, imbalance.
    """
    _check(beta, m)
    alpha = beta / m
    return _run(model, x, y, m, frozen_gating, linearization, lambda delta, g: delta + alpha * g, keep=keep)


def project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """Project each row of delta: (B, n) onto the ``norm``-ball of radius eps."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    scale = (eps / delta.norm(dim=1).clamp_min(1e-300)).clamp(max=1.0)
    return delta * scale[:, None]


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    norm: str,
    eps: float | None,
    alpha: float,
    m: int,
    clip: bool = True,
    frozen_gating: bool = False,
    linearization: tuple[torch.Tensor, torch.Tensor] | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """Sec. 3.2 and Eq. (4) with g^(l2) = g/||g||, g^(l-inf) = sign(g). Projected gradient descent on the loss (Madry et al. 2018), m steps of size alpha.

    ``norm="l2"`` steps along g/||g||, ``norm="linf"`` along sign(g). After each step the
    perturbation is projected onto the ``norm``-ball of radius ``eps`` (``eps=None``: no
    projection) and, if ``clip``, x + delta is clipped to [0, 1]. ``random_start`` draws
    delta^(0) uniformly from the ball's bounding box (l2: a random direction of radius up to
    eps). Returns the same :class:`AttackResult` as :func:`gradient_ascent`. x: (B, ...), y: (B,).
    Chapters: lp_attacks, theorem6; adversarial training (advnb.nets.train).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)} (got {norm!r})")
    if eps is not None and not eps > 0:
        raise ValueError(f"eps must be > 0 or None (got {eps})")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 (got {alpha})")
    _check(1.0, m)
    flat = x.reshape(x.shape[0], -1)

    def constrain(delta: torch.Tensor) -> torch.Tensor:
        if eps is not None:
            delta = project(delta, norm, eps)
        if clip:
            delta = (flat + delta).clamp(0.0, 1.0) - flat
        return delta

    def move(delta: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if norm == "linf":
            direction = g.sign()
        else:
            direction = g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
        return constrain(delta + alpha * direction)

    start = None
    if random_start:
        if eps is None:
            raise ValueError("random_start needs an eps")
        u = torch.rand(flat.shape, generator=generator, dtype=flat.dtype).to(flat.device) * 2 - 1
        if norm == "l2":
            u = u / u.norm(dim=1, keepdim=True) * torch.rand(len(flat), 1, generator=generator, dtype=flat.dtype).to(flat.device)
        start = constrain(eps * u)
    return _run(model, x, y, m, frozen_gating, linearization, move, start)
