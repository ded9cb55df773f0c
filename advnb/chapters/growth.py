"""Chapter growth: the exponential growth of ||delta|| and ||g|| with the step count (C2, Fig. 2).

:func:`trajectory` follows ||delta^(t)|| and ||g_{x+delta^(t)}|| step by step at a fixed step size
alpha (rule a1: alpha g, Theorem 2's attack; l2: alpha g/||g||; linf: alpha sign(g)), on the real
network or under frozen gating; :func:`growth_curves` aligns the samples by their relative progress
t / m_success; :func:`fit_growth` fits log-linear and linear models; :func:`growth_figure` is Fig. 2.

Shapes: B samples, C logits, n = 784 input dimensions, T + 1 recorded steps t = 0..T,
G points of a relative-progress grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.attacks import _gradient_oracle
from ..core.linearize import affine_logits, linearize
from ..core.losses import attack_succeeded, loss_derivatives
from ..core.metrics import exp_vs_linear, linear_r2, loglinear_fit, mean_log

RULES = ("a1", "l2", "linf")


RULE_LABELS = {"a1": r"A1 ($\alpha g$, Theorem 2)", "l2": r"$\ell_2$ ($\alpha g/\|g\|$)", "linf": r"$\ell_\infty$ ($\alpha\,\mathrm{sign}\,g$)"}


def _direction(rule: str, g: torch.Tensor) -> torch.Tensor:
    """The step direction of an attack rule. g: (B, n). Returns (B, n)."""
    if rule == "a1":
        return g
    if rule == "l2":
        return g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
    if rule == "linf":
        return g.sign()
    raise ValueError(f"rule must be one of {', '.join(RULES)} (got {rule!r})")


@dataclass
class Trajectory:
    """One attack, step by step. B samples, T + 1 recorded steps (T <= m), C logits, n inputs."""

    rule: str
    alpha: float
    frozen_gating: bool
    delta_norms: torch.Tensor  # (B, T+1): ||delta^(t)||
    grad_norms: torch.Tensor  # (B, T+1): ||g_{x+delta^(t)}|| (the gradient the attack sees)
    wrong: torch.Tensor  # (B, T+1) bool: the *real* network misclassifies x + delta^(t)
    logits: torch.Tensor  # (B, T+1, C): the logits the attack sees at x + delta^(t)
    step_norms: torch.Tensor  # (B, T): ||delta^(t+1) - delta^(t)||
    keep: tuple[int, ...]  # the steps whose perturbations were kept
    kept: torch.Tensor  # (B, len(keep), n): delta^(t) for t in keep
    delta: torch.Tensor  # (B, n): the last perturbation delta^(T)

    @property
    def steps(self) -> int:
        return self.delta_norms.shape[1] - 1


def trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rule: str, alpha: float, m: int,
               frozen_gating: bool = False, linearization: tuple[torch.Tensor, torch.Tensor] | None = None,
               keep: tuple[int, ...] = (), until_success: bool = False) -> Trajectory:
    """Run m steps delta^(t+1) = delta^(t) + alpha * d(g_{x+delta^(t)}), recording every step.

    ``rule`` picks d: ``"a1"`` g (the paper's A1 attack, Eq. 4), ``"l2"`` g/||g||, ``"linf"``
    sign(g); no projection and no clip (the paper's Eq. 4). With ``frozen_gating`` the
    gradient is that of the network's linearisation at x (A2); success is always judged on
    the real network. ``keep`` lists steps whose delta^(t) is returned; ``until_success``
    stops once every sample has been misclassified at some step (the recorded arrays are
    then shorter than m + 1). x: (B, *input_shape), y: (B,).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)} (got {rule!r})")
    if not alpha > 0 or int(m) != m or m < 1:
        raise ValueError(f"need alpha > 0 and an integer m >= 1 (got {alpha}, {m})")
    if any(k < 0 or k > m for k in keep):
        raise ValueError(f"keep steps must lie in 0..{m} (got {keep})")
    shape = x.shape
    flat = x.reshape(shape[0], -1)
    step = _gradient_oracle(model, x, y, frozen_gating, linearization)
    delta = torch.zeros_like(flat)
    d_norms, g_norms, wrong, logits, s_norms, kept = [], [], [], [], [], {}
    ever = torch.zeros(shape[0], dtype=torch.bool, device=flat.device)
    for t in range(m + 1):
        z, g = step(delta)
        if frozen_gating:
            with torch.no_grad():
                z_real = model((flat + delta).reshape(shape))
        else:
            z_real = z
        w = attack_succeeded(z_real, y)
        d_norms.append(delta.norm(dim=1))
        g_norms.append(g.norm(dim=1))
        wrong.append(w)
        logits.append(z)
        if t in keep:
            kept[t] = delta.clone()
        ever |= w
        if t == m or (until_success and bool(ever.all()) and all(k in kept for k in keep)):
            break
        new = delta + alpha * _direction(rule, g)
        s_norms.append((new - delta).norm(dim=1))
        delta = new
    T = len(d_norms) - 1
    missing = [k for k in keep if k not in kept]
    if missing:
        raise RuntimeError(f"steps {missing} were not reached")  # cannot happen: until_success waits for them
    return Trajectory(
        rule=rule, alpha=float(alpha), frozen_gating=frozen_gating,
        delta_norms=torch.stack(d_norms, 1), grad_norms=torch.stack(g_norms, 1),
        wrong=torch.stack(wrong, 1), logits=torch.stack(logits, 1),
        step_norms=torch.stack(s_norms, 1) if T > 0 else flat.new_zeros(shape[0], 0),
        keep=tuple(keep), kept=torch.stack([kept[k] for k in keep], 1) if keep else flat.new_zeros(shape[0], 0, flat.shape[1]),
        delta=delta,
    )


def m_success(wrong: torch.Tensor) -> torch.Tensor:
    """The first step t >= 1 at which the real network misclassifies x + delta^(t).

    wrong: (B, T+1) bool, column 0 the clean input. Returns (B,) int64, -1 where no step
    up to T succeeds. (Column 0 is ignored: attacked digits are correctly classified.)
    """
    w = wrong[:, 1:]
    steps = torch.arange(1, wrong.shape[1], device=wrong.device).expand_as(w)
    first = torch.where(w, steps, torch.full_like(steps, wrong.shape[1])).min(dim=1).values
    return torch.where(first < wrong.shape[1], first, torch.full_like(first, -1))


def linear_crossing_steps(J: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, rule: str,
                          alphas: torch.Tensor | float, m: int) -> torch.Tensor:
    """Steps an attack needs to cross the decision boundary of the linearisation z = J x + b.

    The attack runs entirely on the linearisation, in logit space (one C x n product per
    step), for every step size of ``alphas`` (A,) at once. J: (B, C, n), b: (B, C),
    x: (B, ...), y: (B,). Returns (A, B) int64 (or (B,) for a scalar alpha), -1 where the
    boundary is not crossed within m steps.
    """
    scalar = not torch.is_tensor(alphas) and np.ndim(alphas) == 0
    a = torch.as_tensor(np.atleast_1d(alphas), dtype=J.dtype, device=J.device)
    A, (B, C, _) = len(a), J.shape
    z0 = affine_logits(J, b, x)
    delta_z = torch.zeros(A, B, C, dtype=J.dtype, device=J.device)
    labels = y.repeat(A)
    first = torch.full((A, B), -1, dtype=torch.long, device=J.device)
    for t in range(1, m + 1):
        g_z, _ = loss_derivatives((z0 + delta_z).reshape(A * B, C), labels)
        g = torch.einsum("bcn,abc->abn", J, g_z.reshape(A, B, C))
        delta_z = delta_z + a[:, None, None] * torch.einsum("bcn,abn->abc", J, _direction(rule, g.reshape(A * B, -1)).reshape(A, B, -1))
        hit = attack_succeeded((z0 + delta_z).reshape(A * B, C), labels).reshape(A, B) & (first < 0)
        first = torch.where(hit, torch.full_like(first, t), first)
        if bool((first > 0).all()):
            break
    return first[0] if scalar else first


def calibrate_alpha(J: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor, rule: str, m: int,
                    min_steps: int = 10, grid: np.ndarray | None = None) -> tuple[float, pd.DataFrame]:
    """The step size that lets the most samples cross the boundary in min_steps..m steps.

    A log-spaced grid of alpha (default 1e-4 .. 1e4, four points per decade) is tried on the
    linearisation (:func:`linear_crossing_steps`, cheap). A sample that crosses in fewer than
    ``min_steps`` steps has too few points to show a growth curve; one that does not cross
    within m is lost. Returns the alpha that keeps the most samples in between (ties: the
    smallest such alpha), and the table alpha -> number of samples kept.
    """
    grid = np.logspace(-4, 4, 33) if grid is None else np.asarray(grid, dtype=float)
    steps = linear_crossing_steps(J, b, x, y, rule, torch.as_tensor(grid), m)
    kept = ((steps >= min_steps) & (steps <= m)).sum(1)
    table = pd.DataFrame({"alpha": grid, "kept": kept.cpu().numpy()})
    return float(table["alpha"].iloc[int(table["kept"].to_numpy().argmax())]), table


def progress_curves(norms: torch.Tensor, m_succ: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Each sample's norm at the relative progress t / m_success = r, for r in ``grid``.

    norms: (B, T+1) recorded at integer steps, m_succ: (B,) with 1 <= m_succ <= T,
    grid: (G,) in [0, r_max] with r_max * m_succ <= T. Linear interpolation between the
    two neighbouring steps. Returns (B, G).
    """
    s = grid[None, :].to(norms) * m_succ[:, None].to(norms)  # (B, G) fractional steps
    lo = s.floor().long().clamp(0, norms.shape[1] - 1)
    hi = (lo + 1).clamp(max=norms.shape[1] - 1)
    frac = s - lo.to(s)
    return (1 - frac) * norms.gather(1, lo) + frac * norms.gather(1, hi)


@dataclass
class Growth:
    """One attack on one network, aligned by relative progress. B' samples that succeeded, G grid points."""

    network: str
    rule: str
    frozen_gating: bool
    alpha: float
    n_attacked: int
    n_success: int  # samples that succeeded within the step budget (the others are excluded)
    m_success: torch.Tensor  # (B',) steps to success of the kept samples
    grid: torch.Tensor  # (G,) relative progress r = t / m_success
    delta: torch.Tensor  # (B', G) ||delta|| at r
    grad: torch.Tensor  # (B', G) ||g_{x+delta}|| at r


def growth_curves(network: str, traj: Trajectory, grid: torch.Tensor, min_steps: int = 1) -> Growth:
    """Align a trajectory's norms by relative progress; samples that never succeed, or
    succeed in fewer than ``min_steps`` steps, are excluded (and counted)."""
    ms = m_success(traj.wrong)
    ok = ms >= max(1, min_steps)
    ms_ok = ms[ok]
    return Growth(network, traj.rule, traj.frozen_gating, traj.alpha, len(ms), int((ms > 0).sum()), ms_ok, grid,
                  progress_curves(traj.delta_norms[ok], ms_ok, grid), progress_curves(traj.grad_norms[ok], ms_ok, grid))


def fit_growth(g: Growth, r_from: float) -> dict:
    """The fits of one :class:`Growth` over r in [r_from, 1].

    For ||delta|| and ||g||: the log-linear fit of the geometric-mean curve (what the
    figure shows): its rate (e-folds per m_success) and R²; the R² of a straight line
    through the same curve (linear growth, the rival model); ``accel``, the log-linear rate
    over the second half of the range divided by that over the first half (1 for an
    exponential, below 1 for slower growth, about 0.5 for a line through the origin on
    [0.25, 1], above 1 for growth faster than exponential); and the median R² of the
    log-linear fit of each sample's own curve; and the exponential against its linear rival on the
    same curve (:func:`advnb.core.metrics.exp_vs_linear`): ``sep`` (how far the two fitted models
    part), ``rssexp`` and ``rsslin`` (their relative residual sums of squares). Returns one table row.
    """
    sel = (g.grid >= r_from - 1e-12) & (g.grid <= 1 + 1e-12)
    r = g.grid[sel]
    row = {"network": g.network, "attack": g.rule, "frozen_gating": g.frozen_gating, "alpha": g.alpha,
           "attacked": g.n_attacked, "succeeded": g.n_success, "used": len(g.m_success),
           "median_m_success": float(g.m_success.double().median()) if len(g.m_success) else float("nan")}
    for name, v in (("delta", g.delta), ("grad", g.grad)):
        if len(v) == 0:
            row.update({f"rate_{name}": float("nan"), f"r2_{name}": float("nan"), f"r2lin_{name}": float("nan"),
                        f"accel_{name}": float("nan"), f"r2_{name}_per_sample": float("nan"), f"sep_{name}": 0.0,
                        f"rssexp_{name}": float("nan"), f"rsslin_{name}": float("nan")})
            continue
        curve = mean_log(v[:, sel])
        fit = loglinear_fit(r, curve)
        mid = 0.5 * (r_from + 1)
        early, late = r <= mid + 1e-12, r >= mid - 1e-12
        accel = loglinear_fit(r[late], curve[late]).rate / loglinear_fit(r[early], curve[early]).rate
        rival = exp_vs_linear(r, curve)
        row.update({f"rate_{name}": fit.rate.item(), f"r2_{name}": fit.r2.item(), f"r2lin_{name}": linear_r2(r, curve).item(),
                    f"accel_{name}": accel.item(), f"r2_{name}_per_sample": loglinear_fit(r, v[:, sel]).r2.median().item(),
                    f"sep_{name}": rival["separation"], f"rssexp_{name}": rival["rss_exp"],
                    f"rsslin_{name}": rival["rss_lin"]})
    return row


def growth_experiment(network: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, m: int, grid: torch.Tensor,
                      min_steps: int = 10, alpha_a1: float | None = None,
                      rules: tuple[str, ...] = RULES) -> tuple[list[Growth], pd.DataFrame]:
    """Fig. 2 and conclusion C2. Fig. 2 for one network: each attack rule, on the real network and with frozen gating.

    Each rule's step size is fixed by :func:`calibrate_alpha` on the linearisation at x (or,
    for A1, given as ``alpha_a1``) and shared by the two settings. Returns the aligned curves
    (rule by rule, real then frozen) and the step-size table (network, attack, alpha, samples
    the calibration expected to keep).
    Chapters: growth.
    """
    J, b = linearize(model, x)
    curves, rows = [], []
    for rule in rules:
        if rule == "a1" and alpha_a1 is not None:
            alpha, expected = float(alpha_a1), float("nan")
        else:
            alpha, table = calibrate_alpha(J, b, x, y, rule, m, min_steps)
            expected = int(table["kept"].max())
        rows.append({"network": network, "attack": rule, "alpha": alpha, "expected": expected})
        for frozen in (False, True):
            traj = trajectory(model, x, y, rule, alpha, m, frozen_gating=frozen, linearization=(J, b), until_success=True)
            curves.append(growth_curves(network, traj, grid, min_steps))
    return curves, pd.DataFrame(rows)


RULE_COLORS = {"a1": "tab:blue", "l2": "tab:orange", "linf": "tab:green"}


def growth_figure(curves: list[Growth], labels: dict[str, str], progress_from: float) -> plt.Figure:
    """Fig. 2: geometric-mean ||delta|| and ||g|| against m/m_success, one row per network.

    Columns: ||delta|| on the real network, ||delta|| with frozen gating, ||g|| on the real
    network, ||g|| with frozen gating; one line per attack rule, log y axis (an exponential
    is a straight line). The shaded band r < progress_from is left out of the fits; the thin
    black line is the log-linear fit of the A1 curve.
    """
    networks = list(dict.fromkeys(g.network for g in curves))
    fig, axes = plt.subplots(len(networks), 4, figsize=(15, 3.2 * len(networks)), squeeze=False)
    columns = [("delta", False), ("delta", True), ("grad", False), ("grad", True)]
    for i, net in enumerate(networks):
        for j, (quantity, frozen) in enumerate(columns):
            ax = axes[i, j]
            ax.axvspan(0, progress_from, color="0.93", zorder=0)
            for g in curves:
                if g.network != net or g.frozen_gating != frozen or len(g.m_success) == 0:
                    continue
                v = getattr(g, quantity)
                r, curve = g.grid, mean_log(v)
                keep = curve > 0
                ax.semilogy(r[keep].numpy(), curve[keep].numpy(), color=RULE_COLORS[g.rule],
                            label=f"{RULE_LABELS[g.rule]} ({len(g.m_success)} digits)")
                if g.rule == "a1":
                    sel = (r >= progress_from - 1e-12)
                    fit = loglinear_fit(r[sel], curve[sel])
                    ax.semilogy(r[sel].numpy(), (fit.log_a + fit.rate * r[sel]).exp().numpy(), "k:", lw=1.2,
                                label=f"A1 log-linear fit, R² = {fit.r2.item():.3f}")
            setting = "frozen gating (A2)" if frozen else "real network"
            name = r"$\|\delta^{(m)}\|$" if quantity == "delta" else r"$\|g_{x+\delta^{(m)}}\|$"
            ax.set_title(f"{labels.get(net, net)}: {name}, {setting}", fontsize=9)
            ax.set_xlabel(r"relative progress $m/m_{\mathrm{success}}$")
            ax.set_ylabel(r"$\|\delta\|_2$ (pixel units, $[0,1]$ scale)" if quantity == "delta"
                          else r"$\|\partial L/\partial x\|_2$ (loss per pixel unit)", fontsize=8)
            ax.legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    return fig
