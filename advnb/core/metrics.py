"""[from metrics]
Agreement between measured and predicted perturbations.

- kappa = E||delta* - deltâ|| / E||delta*||   (the paper's error, Table 1)
- 1 - cos(a, b), the matching error of Section 3.2, computed as ||â - b̂||^2 / 2
  so that it keeps its precision when the cosine is close to 1.


[from directions]
Section 3.2: Theorem 2 set beside l2 and l-inf PGD, and conclusion C3.

Under frozen gating (A2) and a constant H̄_z, the infinite-step A1 attack solves the
ODE d delta / d tau = g(delta) = g_x + H̄_x delta, and Theorem 2 gives its point at
"time" beta. The infinite-step l2 attack solves d delta / d s = g / ||g||: the same
vector field, normalised, so it traces *the same curve*, re-parametrised by arc length
s (d tau / d s = 1 / ||g|| > 0). Which point of the curve a finite l2 attack reached
is therefore a matter of *where along it*, not of direction. Along the curve
d||delta||^2 / d tau = 2 delta . g = 2 sum_i c_i e^{tau lambda_i} gamma_i^2 >= 0
(lambda_i >= 0, c_i > 0), so ||deltâ(beta)|| is increasing in beta and each point is
named by its distance from x. We compare an l2 attack delta with deltâ at the beta
whose ||deltâ(beta)|| equals ||delta|| (:func:`match_beta`, a vectorised bisection).
For l-inf attacks the same rule matches deltâ to the effective component.

Numerics. Everything runs on the (at most C) non-trivial eigenpairs of
H̄_x = J^T H̄_z J from the C x C problem (:func:`advnb.core.theory.top_eigenpairs`):

    deltâ(beta) = beta g_x + sum_i (c_i - beta) gamma_i v_i,   c_i = (e^{beta lambda_i} - 1) / lambda_i,

which is Theorem 2 written so that the directions with lambda_i ~ 0 (where the
eigenvectors of a rank-deficient H̄_x are ill-determined) carry c_i - beta ~ 0. The
coefficients are handled in logarithms, so that the *direction* and the log-norm stay
exact for any beta (beta lambda_1 = 1e5 overflows e^{beta lambda_1} but not this).
Shapes: B samples, C logits, n input dimensions.


[from oscillation]
Theorem 6 (Eq. 12), conclusion C8 (Fig. 5), and oscillation observed in training.

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


[from experiments]
The chapters' measurements, one function each, so that notebooks stay thin.

Every function takes a trained model in float64 and a batch of correctly
classified digits x: (B, 1, 28, 28), y: (B,).


[from effects]
How the perturbation changes training (Sec. 3.3: Theorems 3-5, conclusions C4-C7).

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


[from dynamics]
Attack dynamics: the growth of perturbations (C2, Fig. 2) and what gating does (Appendix J).

Two chapters read from here. ``growth`` follows ||delta^(t)|| and ||g_{x+delta^(t)}||
step by step at a fixed step size alpha and aligns samples by their relative progress
t / m_success; ``gating`` measures how much the real attack moves the network away from
its frozen-gating linearisation (flipped gates, the change of the top eigenvalue of
H̄_x = J^T H̄_z J, and kappa with and without A2).

Shapes: B samples, C logits, n = 784 input dimensions, T + 1 recorded steps t = 0..T,
G points of a relative-progress grid. Everything is batched over samples; Python loops
run over attack steps, step sizes or checkpoints only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


def kappa(delta_star: torch.Tensor, delta_hat: torch.Tensor, ref: torch.Tensor | None = None) -> float:
    """Sec. 3.1, Table 1: kappa = E||delta* - deltâ|| / E||delta*|| over a batch.

    delta_star, delta_hat: (B, ...) with the same shape; ``ref`` (same shape) replaces delta* in the
    denominator, for relative errors between two predictions (Theorem 1 against Theorem 2).
    Returns a float. Chapters: theorem1, theorem2, growth, gating.
    """
    if delta_star.shape != delta_hat.shape:
        raise ValueError(f"shapes differ: {tuple(delta_star.shape)} vs {tuple(delta_hat.shape)}")
    a, b = delta_star.reshape(len(delta_star), -1), delta_hat.reshape(len(delta_hat), -1)
    r = a if ref is None else ref.reshape(len(ref), -1)
    return ((a - b).norm(dim=1).mean() / r.norm(dim=1).mean()).item()


def one_minus_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample 1 - cos(a, b). a, b: (B, ...) with the same shape. Returns (B,)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a_hat = a / a.norm(dim=1, keepdim=True)
    b_hat = b / b.norm(dim=1, keepdim=True)
    return 0.5 * (a_hat - b_hat).pow(2).sum(dim=1)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the exponent p of y ~ x^p). x, y: positive sequences."""
    import numpy as np

    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if len(lx) < 2 or not (np.all(np.isfinite(lx)) and np.all(np.isfinite(ly))):
        raise ValueError("loglog_slope needs at least two positive, finite points")
    return float(np.polyfit(lx, ly, 1)[0])


def abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos(a, b)| per row. a, b: (B, n). Returns (B,)."""
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).abs()


def cos(a: torch.Tensor, b: torch.Tensor):
    """cos(a, b). Per row for a, b: (B, n), returning (B,); for two vectors (P,), a float (NaN if
    either is zero). Chapters: lp_attacks, theorem6."""
    if a.ndim == 1:
        na, nb = a.norm(), b.norm()
        return (torch.dot(a, b) / (na * nb)).item() if na > 0 and nb > 0 else float("nan")
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def one_minus_abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - |cos(a, b)| per row, kept precise near 0 (as :func:`advnb.core.metrics.one_minus_cos`). (B, n) -> (B,)."""
    return torch.minimum(one_minus_cos(a, b), one_minus_cos(a, -b))


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| over whole tensors of one shape (||a - b|| where b = 0). Chapter: theorem6 (Eq. 12)."""
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def kappa_prime(phi_star, phi_hat) -> float:
    """κ' = E|phi* - phî| / E|phi*| over a batch. Both (B,): tensors, arrays or pandas Series."""
    star, hat = torch.as_tensor(np.asarray(phi_star, dtype=float)), torch.as_tensor(np.asarray(phi_hat, dtype=float))
    return ((star - hat).abs().mean() / star.abs().mean()).item()


def spearman(a, b) -> float:
    """Spearman rank correlation of two 1-D sequences (ties get their mean rank)."""
    ra = pd.Series(np.asarray(a, dtype=float)).rank().to_numpy()
    rb = pd.Series(np.asarray(b, dtype=float)).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


@dataclass
class LogLinearFit:
    """Least-squares fit of log(values) = log_a + rate * r. Shapes (...,) as the leading dims of values."""

    rate: torch.Tensor  # e-folds per unit of r
    log_a: torch.Tensor
    r2: torch.Tensor  # coefficient of determination of the log-linear fit


def _line_fit(r: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares line v ~ a + slope r along the last axis. r: (G,), v: (..., G).

    Returns slope, intercept a and R² = 1 - SS_res / SS_tot (a constant series, SS_tot = 0,
    gets R² = 1 if the line fits it exactly, else 0)."""
    r = r.to(v)
    rc = r - r.mean()
    vc = v - v.mean(-1, keepdim=True)
    slope = (vc * rc).sum(-1) / rc.pow(2).sum()
    intercept = v.mean(-1) - slope * r.mean()
    res = vc - slope[..., None] * rc
    ss_res, ss_tot = res.pow(2).sum(-1), vc.pow(2).sum(-1)
    r2 = torch.where(ss_tot > 0, 1 - ss_res / torch.where(ss_tot > 0, ss_tot, 1.0), (ss_res <= 1e-30 * v.pow(2).sum(-1)).to(v))
    return slope, intercept, r2


def loglinear_fit(r: torch.Tensor, values: torch.Tensor) -> LogLinearFit:
    """Fit log(values) against r by least squares, independently along the last axis.

    r: (G,), values: (..., G) > 0. R² = 1 - SS_res / SS_tot of the fit in log space
    (1 for an exact exponential; a constant series gets R² = 1).
    """
    rate, log_a, r2 = _line_fit(r, values.log())
    return LogLinearFit(rate, log_a, r2)


def linear_r2(r: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """R² of a straight-line least-squares fit of values (not their log) against r.

    The rival of :func:`loglinear_fit`: linear growth. r: (G,), values: (..., G). Returns (...,).
    """
    return _line_fit(r, values)[2]


def mean_log(values: torch.Tensor) -> torch.Tensor:
    """Geometric mean over samples. values: (B, G) >= 0 (a zero gives 0). Returns (G,)."""
    return values.log().mean(0).exp()
