"""One logit and a sigmoid (Sec. 3.3): Lemma 1 and the closed forms of Theorems 3-5 (Eqs. (9)-(11)).

**Lemma 1** (:func:`sigmoid_gap`, derived with sympy from the loss): for L = log(1 + exp(-y z)),
y in {-1, +1}, the gap H_z - g_z^2 as a function of the margin t = y z, with its factored forms,
sign, maximum and limits; :func:`binary_training_effects` re-derives Eqs. (9)-(11) symbolically.

**The training effects.** The paper's "first layer" is the network's first ``nn.Linear`` or
``nn.Conv2d`` (:func:`first_layer`), h = W^T x + b1. For a convolution, W is its *equivalent dense
matrix* (n x D, D = every output unit of the convolution, h flattened): each weight of the dense
matrix is treated as free, so its gradient is the one of an unshared layer. Under frozen gating
(A2) everything after h is affine, z = g̃_h^T h + c, with

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
Chapters: lemma1, theorem3, theorem4, imbalance, theorem5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
import torch
from torch import nn

from .attacks import AttackResult, gradient_ascent
from .losses import loss_derivatives


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
    """Sec. 3.3, Eqs. (7)-(8): phi = g̃_x^T Δg̃_x and ||Δg_W||. The training effects of Theorems 3-5 from the factors of the dense weight gradients.

    x, x_adv: (B, n) inputs (flattened); g_h, g_h_adv: (B, D) dL/dh at x and at x_adv;
    ``clean`` gives g̃_x and g̃_h at x; eta > 0 the learning rate.
    Chapters: theorem3, theorem4, imbalance, theorem5.
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
    """Fig. 4: cos(Δg_W|x, mean over the batch of Δg_W) for every sample, without forming n x D matrices.

    Δg_W|x = x_adv g_h_adv^T - x g_h^T. x, x_adv: (B, n); g_h, g_h_adv: (B, D). Returns (B,).
    Uses the B x B Gram matrix <Δg_k, Δg_l>_F = (a_k.a_l)(b_k.b_l) - (a_k.c_l)(b_k.d_l) - (c_k.a_l)(d_k.b_l) + (c_k.c_l)(d_k.d_l).
    Chapters: imbalance.
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


def strength(beta: float, hz_bar: torch.Tensor, gt_x: torch.Tensor) -> torch.Tensor:
    """Theorems 3-5: 𝒜 = beta H̄_z ||g̃_x||^2. hz_bar: (B,), gt_x: (B, n). Returns (B,). Chapters: theorem3, theorem4, imbalance, theorem5."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (got {beta})")
    return beta * hz_bar * gt_x.pow(2).sum(dim=1)


def _expm1_over_hz(A: torch.Tensor, beta: float, gx2: torch.Tensor) -> torch.Tensor:
    """(e^A - 1) / H̄_z = beta ||g̃_x||^2 (e^A - 1)/A, finite as H̄_z -> 0."""
    ratio = torch.where(A > 0, torch.expm1(A) / torch.where(A > 0, A, 1.0), torch.ones_like(A))
    return beta * gx2 * ratio


def binary_delta_hat(beta: float, hz_bar: torch.Tensor, g_z: torch.Tensor, gt_x: torch.Tensor) -> torch.Tensor:
    """Theorem 2 for one logit: deltâ = (e^A - 1) g_z g̃_x / (H̄_z ||g̃_x||^2). (B,), (B,), (B, n) -> (B, n). Chapters: theorem5."""
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
    """Theorem 3, Eq. (9): the predicted g̃_x^T Δg̃_x. Returns (B,). Chapters: theorem3, theorem4."""
    return torch.expm1(p.A) * p.phi_ori - p._second()


def eq10(p: Inputs) -> torch.Tensor:
    """Theorem 4, Eq. (10): the predicted g̃_x^T Δg̃_x^(adv) (= Eq. (9) + phi_ori). Returns (B,). Chapters: theorem4."""
    return torch.exp(p.A) * p.phi_ori - p._second()


def eq11(p: Inputs, s: torch.Tensor) -> torch.Tensor:
    """Theorem 5, Eq. (11) for deltâ^(norm) = s deltâ (s = c/||deltâ||, (B,)). Returns (B,).

    With s = 1 it is Eq. (9).
    Chapters: theorem5.
    """
    e = torch.expm1(p.A)
    first = s * e * p.phi_ori
    second = p.eta * p.g_z**2 * p.gh2 * _expm1_over_hz(p.A, p.beta, p.gx2) * (s + s**2 * e)
    return first - second


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
    """Theorems 3-4: the attack and one training step on each side. Attack x (m-step A1, strength beta) and measure one training step (rate eta) on x and on x + delta*.

    Under A2 (default) the attack runs with frozen gating and dL/dh at x + delta* is
    g_z(z') g̃_h; with ``real=True`` the attack and dL/dh at x + delta* come from the real
    network (no A2; g̃_x and g̃_h stay those of the clean x, as in the theorems).
    x: (B, *input_shape), y: (B,) in {-1, +1}.
    Chapters: theorem3, theorem4, imbalance.
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


def _sym_sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


def _is_zero(expr: sp.Expr) -> bool:
    """Whether a sympy expression simplifies to exactly 0."""
    return sp.simplify(expr) == 0


@dataclass(frozen=True)
class SigmoidGap:
    """Lemma 1 for the sigmoid head, in the margin t = y z.

    Attributes (all sympy objects):
      z, t, u: the logit, the margin t = y z and u = exp(t) > 0.
      g, h, gap: per label y in {-1, +1}, g_z, H_z and H_z - g_z^2 as sympy derived
        them from L = log(1 + exp(-y z)) (expressions in z).
      rational: the gap as a rational function of u, (u - 1) / (u + 1)^2.
      factored: the gap in t, sigma(-t) (sigma(t) - sigma(-t)).
      tanh_form: the gap in t, sigma(-t) tanh(t / 2).
      nonneg_set: the set of t where the gap is >= 0 (sympy's solution of the inequality).
      argmax, max: where the gap peaks (in t) and its value there.
      limits: the gap as t -> -oo, 0 and +oo.
      identities: name -> bool, every symbolic identity checked (all True if the algebra holds).
    """

    z: sp.Symbol
    t: sp.Symbol
    u: sp.Symbol
    g: dict
    h: dict
    gap: dict
    rational: sp.Expr
    factored: sp.Expr
    tanh_form: sp.Expr
    nonneg_set: sp.Set
    argmax: sp.Expr
    max: sp.Expr
    limits: dict
    identities: dict = field(default_factory=dict)


def sigmoid_gap() -> SigmoidGap:
    """Lemma 1. Derive H_z - g_z^2 for the sigmoid head and reduce it to closed forms.

    sympy differentiates L = log(1 + exp(-y z)) for y = -1 and y = +1 separately,
    substitutes t = y z and checks that both labels give the same function of t,
    equal to (e^t - 1) / (e^t + 1)^2 = sigma(-t) (sigma(t) - sigma(-t))
    = sigma(-t) tanh(t/2). The sign is then the sign of u - 1 = e^t - 1, i.e. of t.
    Chapters: lemma1, theorem5.
    """
    z = sp.Symbol("z", real=True)
    t = sp.Symbol("t", real=True)
    u = sp.Symbol("u", positive=True)
    rational = (u - 1) / (u + 1) ** 2
    factored = _sym_sigmoid(-t) * (_sym_sigmoid(t) - _sym_sigmoid(-t))
    tanh_form = _sym_sigmoid(-t) * sp.tanh(t / 2)
    g, h, gap, ids = {}, {}, {}, {}
    for y in (-1, 1):
        L = sp.log(1 + sp.exp(-y * z))
        g[y] = sp.diff(L, z)
        h[y] = sp.diff(L, z, 2)
        gap[y] = h[y] - g[y] ** 2
        in_t = gap[y].subs(z, y * t)  # z = y t since y^2 = 1
        ids[f"y={y:+d}: g_z = -y sigma(-y z)"] = _is_zero(g[y] + y * _sym_sigmoid(-y * z))
        ids[f"y={y:+d}: H_z = sigma(y z) sigma(-y z)"] = _is_zero(h[y] - _sym_sigmoid(y * z) * _sym_sigmoid(-y * z))
        ids[f"y={y:+d}: H_z - g_z^2 = (e^t - 1)/(e^t + 1)^2"] = _is_zero(in_t - rational.subs(u, sp.exp(t)))
        ids[f"y={y:+d}: H_z - g_z^2 = sigma(-t)(sigma(t) - sigma(-t))"] = _is_zero(in_t - factored)
        ids[f"y={y:+d}: H_z - g_z^2 = sigma(-t) tanh(t/2)"] = _is_zero((in_t - tanh_form).rewrite(sp.exp))
    # sign: u > 0 and (u + 1)^2 > 0, so the gap has the sign of u - 1; solve it anyway
    nonneg_u = sp.solve_univariate_inequality(rational >= 0, u, relational=False)
    nonneg_set = sp.imageset(sp.Lambda(u, sp.log(u)), nonneg_u)  # back to t = log u
    ids["gap >= 0 exactly for t >= 0"] = sp.simplify(nonneg_set) == sp.Interval(0, sp.oo)
    crit = sp.solve(sp.diff(rational, u), u)
    ids["one critical point"] = len(crit) == 1
    u_star = crit[0]
    second = sp.diff(rational, u, 2).subs(u, u_star)
    ids["the critical point is a maximum"] = bool(second < 0)
    limits = {
        "-oo": sp.limit(rational, u, 0, "+"),
        "0": rational.subs(u, 1),
        "+oo": sp.limit(rational, u, sp.oo),
    }
    return SigmoidGap(z, t, u, g, h, gap, rational, factored, tanh_form, nonneg_set,
                      sp.log(u_star), sp.nsimplify(rational.subs(u, u_star)), limits, ids)


def sigmoid_gap_closed_form(t: np.ndarray) -> np.ndarray:
    """sigma(-t) tanh(t/2) evaluated stably for any real t (array in, array out, float64)."""
    th = np.tanh(np.asarray(t, dtype=np.float64) / 2)
    return 0.5 * (1 - th) * th  # sigma(-t) = (1 - tanh(t/2)) / 2


def binary_training_effects() -> dict:
    """Theorems 3-5 re-derived with sympy, from the gradient flow to Eqs. (9)-(11).

    Scalars stand for the inner products the derivation needs: G = ||g̃_x||^2,
    a = g̃_x.x, K = ||g̃_h||^2, H = H̄_z > 0, g = g_z, beta, eta, c > 0. Along the attack
    (A1 with m -> infinity, A2, g_z affine in z with slope H) the logit moves by
    dz/dt = g̃_x.g_x = G g_z(t) and dg_z/dt = H dz/dt, so g_z(t) solves dg/dt = H G g.
    Returns a dict of sympy expressions, each of which must simplify to 0:

    - ``flow``: g_z(beta) - e^A g_z (A = beta H G), from ``dsolve``;
    - ``delta``: g̃_x.deltâ - (e^A - 1) g / H, with deltâ = int_0^beta g_z(t) g̃_x dt;
    - ``eq9``, ``eq10``: the step's effect -eta [g_z' (a + g̃_x.deltâ) - g a] K (and its adv part)
      minus the paper's Eqs. (9) and (10);
    - ``eq11``: the same for c deltâ/||deltâ|| = s deltâ, s = c/||deltâ||, minus Eq. (11).
    Chapters: theorem3, theorem4.
    """
    import sympy as sp

    t, beta, G, H, K, eta, s = sp.symbols("t beta G H K eta s", positive=True)
    a, g = sp.symbols("a g", real=True)
    A = beta * H * G
    f = sp.Function("g_z")
    sol = sp.dsolve(sp.Eq(f(t).diff(t), H * G * f(t)), f(t), ics={f(0): g}).rhs
    flow = sp.simplify(sol.subs(t, beta) - sp.exp(A) * g)
    proj = sp.integrate(G * sol, (t, 0, beta))  # g̃_x . deltâ
    delta = sp.simplify(proj - (sp.exp(A) - 1) * g / H)
    phi_ori = -eta * g * a * K

    def phi(scale):  # effect of one step on x + scale * deltâ; g_z there by the affine law
        g_adv = g + H * scale * proj
        return -eta * (g_adv * (a + scale * proj) - g * a) * K, -eta * g_adv * (a + scale * proj) * K

    second = eta * g**2 * K * (sp.exp(2 * A) - sp.exp(A)) / H
    eq9 = sp.simplify(phi(1)[0] - ((sp.exp(A) - 1) * phi_ori - second))
    eq10 = sp.simplify(phi(1)[1] - (sp.exp(A) * phi_ori - second))
    e = sp.exp(A) - 1  # s = c / ||deltâ||, so C (e^A - 1)/||deltâ|| = s (e^A - 1)
    eq11 = sp.simplify(phi(s)[0] - (s * e * phi_ori - eta * g**2 * K / H * (s * e + s**2 * e**2)))
    return {"flow": flow, "delta": delta, "eq9": eq9, "eq10": eq10, "eq11": eq11}
