"""Measurements that several chapters share (the rest of each chapter lives in its own module).

Every function takes trained models in float64 (eval mode) and batches of correctly classified
digits x: (B, 1, 28, 28), y: (B,).

- :func:`trained_networks`, :func:`attack_set`: the zoo trained through the cache, and the digits
  each network is attacked on (every chapter with a trained network).
- :func:`compare`: the m-step A1 attack beside Theorems 1 and 2 at one beta (theorem2, gating).
- :class:`Variant`, :data:`VARIANTS`, :func:`run_variant`, :func:`lp_match`, :class:`Pair`: l2 / l-inf
  PGD set beside Theorem 2 at the norm-matched beta (lp_attacks; theorem2's Fig. 1).
- :func:`phi_table`, :func:`table2`: Theorems 3 and 4 measured and predicted (theorem3, theorem4).
- :func:`logit_gradient_norms`, :func:`a_hat`, :func:`beta_for_strength`: the paper's Â and the
  beta that fixes a clean-input strength (imbalance, theorem5).
- :func:`one_thread`: small tensors run faster on one intra-op thread (lp_attacks, theorem6).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.attacks import AttackResult, gradient_ascent, pgd
from ..core.binary import Inputs, attacked_step, eq9, eq10, layer_pass, strength
from ..core.linearize import affine_logits, linearize
from ..core.losses import loss_derivatives
from ..core.metrics import kappa, kappa_prime, one_minus_cos
from ..core.theory import delta_hat, finite_step_delta, infinite_step_delta, match_beta, spectrum
from ..nets.data import Dataset
from ..nets.models import LABELS
from ..nets.profiles import Profile
from ..nets.train import correctly_classified, profile_config, train


def trained_networks(archs: list[str], profile: Profile, seed: int, data: Dataset, device: torch.device,
                     progress: bool = True, **overrides) -> tuple[dict[str, nn.Module], pd.DataFrame]:
    """Each network of ``archs`` trained at ``profile`` (through the cache), in float64 and eval mode.

    ``overrides`` go to :class:`advnb.nets.train.TrainConfig` (e.g. ``adv="linf", eps=0.1``).
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
    grad_star: torch.Tensor  # (B, n) the gradient at x + delta* (frozen gating): J^T g_z(z(x) + J delta*)
    grad_hat: torch.Tensor  # (B, n) Theorem 2's gradient half: J^T e^{beta A} g_z
    kappa_grad: float  # E||g* - ĝ|| / E||g*||


def compare(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int,
            linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Comparison:
    """Theorems 1 and 2, Eqs. (5)-(6), against Eq. (4), at one beta.

    Attacks x with frozen gating (m steps, strength beta) and predicts the perturbation with
    Theorems 1 and 2 and the gradient at x + delta* with Theorem 2's second half. x: (B, ...),
    y: (B,); ``linearization``: (J, b) of :func:`advnb.core.linearize.linearize`, if already taken.
    Chapters: theorem2, gating.
    """
    J, b = linearization if linearization is not None else linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=True, linearization=(J, b))
    d_star = res.delta.reshape(len(x), -1)
    pred = infinite_step_delta(J, res.hz_bar, g_z, beta)
    d_hat = pred.delta
    d_one = finite_step_delta(J, res.hz_bar, g_z, beta, m).delta
    g_star = torch.einsum("bcn,bc->bn", J, loss_derivatives(res.z, y)[0])
    return Comparison(beta, d_star, d_hat, d_one, res.hz_bar, g_z, kappa(d_star, d_hat), kappa(d_star, d_one),
                      res.success_rate, g_star, pred.grad, kappa(g_star, pred.grad))


@contextmanager
def one_thread():
    """Run the block with one intra-op thread (restored afterwards).

    The attacks here are long chains of small tensor operations ((B, n) with n = 784 and B of a few
    dozen to a few hundred); handing each one to a second thread costs more than it saves, and on a
    CPU shared with other work it costs several times the computation itself.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@dataclass
class Match:
    """One PGD attack set beside Theorem 2 at the norm-matched beta. B samples, n inputs."""

    target: torch.Tensor  # (B, n) what is compared: delta (l2) or its effective component (l-inf)
    delta: torch.Tensor  # (B, n) the attack's perturbation
    delta_hat: torch.Tensor  # (B, n) Theorem 2 at beta, scaled to ||target|| (C = ||target||)
    beta: torch.Tensor  # (B,) the matched beta
    error: torch.Tensor  # (B,) 1 - cos(deltâ, target)
    baseline: torch.Tensor  # (B,) 1 - cos(g_x, target): the beta -> 0 limit of deltâ
    effective_share: torch.Tensor  # (B,) ||effective|| / ||delta||
    success: torch.Tensor  # (B,) bool: the real network misclassifies x + delta


def lp_match(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float | None, alpha: float, m: int,
             clip: bool, frozen_gating: bool, linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Match:
    """Sec. 3.2: l2 / l-inf PGD against Theorem 2, Eq. (6). Run m steps of ``norm``-PGD (step alpha, eps-ball projection unless eps is None, [0, 1] clip if ``clip``)
    and compare it with Theorem 2.

    The target is delta itself for l2 and the effective component sum_t (s_t . u_t) u_t for l-inf.
    deltâ uses J at x (the linearisation, A2), g_z at x, and the H̄_z accumulated along *this*
    attack (each H_z^(t) weighted by the length of the step that reached it, i.e. by arc length,
    as in Theorem 1); beta is chosen so that ||deltâ(beta)|| = ||target|| (:func:`match_beta`).
    x: (B, 1, 28, 28), y: (B,), float64. Returns :class:`Match`.
    Chapters: lp_attacks, theorem2.
    """
    J, b = linearization if linearization is not None else linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    res = pgd(model, x, y, norm, eps, alpha, m, clip=clip, frozen_gating=frozen_gating, linearization=(J, b))
    delta = res.delta.reshape(len(x), -1)
    target = delta if norm == "l2" else res.effective
    spec = spectrum(J, res.hz_bar, g_z)
    r = target.norm(dim=1)
    beta = match_beta(spec, r)
    unit = delta_hat(spec, beta).unit
    return Match(target, delta, unit * r[:, None], beta, one_minus_cos(unit, target), one_minus_cos(spec.g_x, target),
                 res.effective.norm(dim=1) / delta.norm(dim=1), res.success)


@dataclass(frozen=True)
class Variant:
    """One way of running PGD: on the frozen-gating linearisation (A2) or the real network,
    with or without the eps-ball projection and the [0, 1] clip."""

    name: str
    frozen_gating: bool
    project: bool
    clip: bool


VARIANTS = (
    Variant("A2, no projection, no clip", True, False, False),
    Variant("A2, projection", True, True, False),
    Variant("A2, projection + clip", True, True, True),
    Variant("real, no projection, no clip", False, False, False),
    Variant("real, projection + clip", False, True, True),
)


def run_variant(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, m: int,
                step_ratio: float, variant: Variant,
                linearization: tuple[torch.Tensor, torch.Tensor] | None = None) -> Match:
    """:func:`lp_match` for one :class:`Variant`, with step alpha = step_ratio * eps / m.

    Without projection the attack still takes steps of alpha (so it may travel step_ratio * eps).
    """
    if not (eps > 0 and step_ratio > 0 and int(m) == m and m >= 1):
        raise ValueError(f"need eps > 0, step_ratio > 0 and an integer m >= 1 (got {eps}, {step_ratio}, {m})")
    alpha = step_ratio * eps / m
    return lp_match(model, x, y, norm, eps if variant.project else None, alpha, int(m), variant.clip,
                    variant.frozen_gating, linearization)


class Pair(NamedTuple):
    """One real perturbation and its prediction, for :func:`figure1_panel`."""

    real_label: str  # TeX label of the real perturbation, e.g. r"$\\delta^{(\\ell_2)}$"
    real: torch.Tensor  # (k, 784) or (k, 1, 28, 28)
    predicted_label: str  # TeX label of the prediction, e.g. r"$\\hat\\delta$"
    predicted: torch.Tensor  # same shape as real


def phi_table(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float, m: int, eta: float,
             real: bool = False) -> pd.DataFrame:
    """Theorems 3 and 4 on one network: the m-step A1 attack of strength beta, measured and predicted.

    The measurement is :func:`attacked_step` (A2 unless ``real``); the prediction Eqs. (9) and (10)
    with the attack's H̄_z. x: (B, 1, 28, 28), y: (B,) in {-1, +1}, float64. One row per sample:
    phi_star, phi_hat (Eq. 9), phi_adv_star, phi_adv_hat (Eq. 10), phi_ori, A, hz_bar, g_z, yz (the
    margin), dgw_norm, success (the real network misclassifies x + delta*) and gh2 (||g̃_h||^2).
    Chapters: theorem3, theorem4.
    """
    step = attacked_step(model, x, y, beta, m, eta, real)
    clean, measured = step.clean, step.effect
    hz_bar = step.attack.hz_bar[:, 0, 0]
    p = Inputs(measured.phi_ori, strength(beta, hz_bar, clean.gt_x), clean.g_z, hz_bar,
               clean.gt_x.pow(2).sum(1), clean.gt_h.pow(2).sum(1), beta, eta)
    cols = {"phi_star": measured.phi, "phi_hat": eq9(p), "phi_adv_star": measured.phi_adv, "phi_adv_hat": eq10(p),
            "phi_ori": measured.phi_ori, "A": p.A, "hz_bar": hz_bar, "g_z": clean.g_z,
            "yz": y.to(clean.z) * clean.z, "dgw_norm": measured.dgw_norm, "success": step.attack.success,
            "gh2": p.gh2}
    return pd.DataFrame({k: v.detach().cpu().numpy() for k, v in cols.items()})


PAPER_TABLE2 = {"mlp-3": 3.9e-5, "mlp-4": 8.8e-6, "mlp-5": 1.5e-6, "cnn-3": 8.5e-7, "cnn-4": 1.3e-7, "cnn-5": 1.2e-7,
                "rescnn-3": 3.4e-5, "rescnn-4": 3.9e-5, "rescnn-5": 9.0e-5, "rescnn-10": 1.9e-4}


def table2(models: dict[str, nn.Module], data, betas: list[float], m: int, eta: float, n_eval: int, device,
           real_at: float | None = None, n_real: int = 8, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 and Eq. (10). Table 2 (κ' of Eq. 9) and its Eq. (10) twin for every network and every beta, under A2.

    ``models``: {arch: binary model in float64}; ``data``: the binary task. Each network is
    attacked on its first ``n_eval`` correctly classified test digits. At ``real_at`` (one of
    ``betas``) κ' is also measured without frozen gating on the first ``n_real`` of them
    (``kappa_prime_real``, beside ``kappa_prime_subset``, the A2 value on the same digits; NaN
    elsewhere): the real attack needs a backward pass through the network at every step.
    Returns the summary, one row per network and beta (arch, network, beta, n_eval, kappa_prime,
    kappa_prime_adv (Eq. 10), kappa_prime_real, paper_kappa_prime, A_median, frac_phi_negative,
    frac_phi_ori_negative, success_rate), and every sample's row of :func:`phi_table` (A2) with
    its arch and beta.
    Chapters: theorem3, theorem4.
    """
    from tqdm.auto import tqdm

    from ..nets.models import LABELS

    rows, samples = [], []
    bar = tqdm(total=len(models) * len(betas), desc="networks x betas", disable=not progress, leave=False)
    for arch, model in models.items():
        x, y = attack_set(model, data, n_eval, device)
        for beta in betas:
            t = phi_table(model, x, y, beta, m, eta)
            real = phi_table(model, x[:n_real], y[:n_real], beta, m, eta, real=True) if beta == real_at else None
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


def logit_gradient_norms(res: AttackResult, y: torch.Tensor) -> torch.Tensor:
    """||g̃_{x+delta^(t)}|| = ||dL/dx|| / |g_z| at every step t = 0..m of a one-logit attack. Returns (B, m+1)."""
    if res.logits.ndim != 3 or res.logits.shape[2] != 1:
        raise ValueError(f"Â needs an attack on a one-logit (sigmoid) head; the logits have shape {tuple(res.logits.shape)}")
    B, steps = res.grad_norms.shape
    z = res.logits[:, :, 0].reshape(-1, 1)
    g_z, _ = loss_derivatives(z, y.repeat_interleave(steps))
    g_z = g_z.reshape(B, steps).abs()
    if bool((g_z == 0).any()):
        raise ValueError("g_z underflowed to 0 at some step (|y z| > 700): ||g̃|| cannot be read off ||dL/dx||")
    return res.grad_norms / g_z


def a_hat(res: AttackResult, y: torch.Tensor, beta: float) -> torch.Tensor:
    """Sec. 3.3, verification 2 of Theorem 3: Â. The paper's Â = sum_{t=0}^{m-1} alpha H̄_z ||g̃_{x+delta^(t)}||^2, alpha = beta/m. Returns (B,).

    ``res`` is an m-step A1 attack of strength ``beta`` on a one-logit network (m is read from
    ``res.grad_norms``, which holds steps 0..m); y: (B,) in {-1, +1}.
    Chapters: imbalance, theorem5.
    """
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0 (got {beta})")
    norms = logit_gradient_norms(res, y)
    m = norms.shape[1] - 1
    if m < 1:
        raise ValueError("the attack record has no step (m = 0)")
    return (beta / m) * res.hz_bar[:, 0, 0] * norms[:, :m].pow(2).sum(dim=1)


def beta_for_strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor, a0: float, statistic: str = "max") -> float:
    """The beta at which the ``statistic`` ("max" or "median") over the batch of the clean-input strength
    beta H_z(x) ||g̃_x||^2 equals ``a0``.

    Sets one attack strength per network before any attack is run: the networks' logit gradients
    differ by orders of magnitude, so one beta would be negligible for one and overwhelming for another.
    With "max" no digit meets a clean-input strength above a0, so every digit stays in the weak-attack
    regime of Theorems 2 to 5; with "median" half the digits may meet far more when H_z(x) ||g̃_x||^2
    spreads over orders of magnitude (as it does for networks with wide margins).
    """
    if not (math.isfinite(a0) and a0 > 0):
        raise ValueError(f"a0 must be a finite number > 0 (got {a0})")
    if statistic not in ("max", "median"):
        raise ValueError(f"statistic must be max or median (got {statistic!r})")
    lp = layer_pass(model, x, y)
    strengths = lp.hz * lp.gt_x.pow(2).sum(1)
    s = (strengths.max() if statistic == "max" else strengths.median()).item()
    if not s > 0:
        raise ValueError(f"the {statistic} H_z ||g̃_x||^2 of the batch is 0: no beta gives that strength")
    return a0 / s


# ----------------------------------------------------------------------------- operating points

OPERATING_SUCCESS = 0.5  # beta_50: at least half of the attacked digits misclassified by the real network
BISECTION_TOL = 1.05  # bisection stops when hi / lo <= this (beta is located within 5%)


class Evaluations:
    """``evaluate(beta) -> {"success_rate": s, ...}``, memoised: every beta evaluated once, all kept.

    The operating-point searches below share it, so a beta of the grid is never attacked twice.
    """

    def __init__(self, evaluate):
        self._evaluate, self.rows = evaluate, {}

    def __call__(self, beta: float) -> dict:
        beta = float(beta)
        if beta not in self.rows:
            self.rows[beta] = {"beta": beta, **self._evaluate(beta)}
        return self.rows[beta]

    def seed(self, rows: list[dict]) -> Evaluations:
        """Take rows already measured (each with ``beta`` and the evaluator's keys) as evaluations."""
        for row in rows:
            self.rows.setdefault(float(row["beta"]), dict(row, beta=float(row["beta"])))
        return self

    def table(self) -> pd.DataFrame:
        """Every evaluation so far, by beta."""
        return pd.DataFrame(sorted(self.rows.values(), key=lambda r: r["beta"]))


def _bisect(ev: Evaluations, lo: float, hi: float, above, tol: float) -> tuple[float, float]:
    """Shrink [lo, hi] (above(lo) false, above(hi) true) in log beta until hi / lo <= tol."""
    while hi / lo > tol:
        mid = math.sqrt(lo * hi)
        if above(ev(mid)):
            hi = mid
        else:
            lo = mid
    return lo, hi


def _crossing(ev: Evaluations, betas: list[float], above, step, floor: float, tol: float) -> tuple[float, float] | None:
    """The bracket [lo, hi] (hi / lo <= tol) of the smallest beta at which ``above(ev(beta))`` turns true.

    Found on the grid ``betas`` (the first grid point above), then by bisection in log beta from the grid
    point below it. When the smallest grid point is already above, the search first steps down, beta *=
    ``step(beta)``, to ``floor``; if even that is above, the bracket is (lo, lo) at the floor. None when no
    grid point is above. Shared by :func:`beta50` and :func:`implied_beta`.
    """
    grid = sorted(float(b) for b in betas)
    first = next((b for b in grid if above(ev(b))), None)
    if first is None:
        return None
    below = [b for b in grid if b < first]
    hi, lo = first, below[-1] if below else first * step(first)
    while not below and lo > floor and above(ev(lo)):
        hi, lo = lo, lo * step(lo)
    if above(ev(lo)):
        return lo, lo
    return _bisect(ev, lo, hi, above, tol)


def beta50(ev: Evaluations, betas: list[float], tol: float = BISECTION_TOL, floor: float = 1e-8) -> dict:
    """The operating point beta_50: the smallest beta at which at least half of the attacked digits
    are misclassified by the real network (``success_rate >= 0.5``).

    A property of the attack, not of the theory: it looks at no error. Found on the grid ``betas``
    (the first grid point that reaches 50%), then refined by bisection in log beta between it and the
    grid point below, to ``hi / lo <= tol``; when the smallest grid point already reaches 50% the
    search first steps down by factors of 10 (to ``floor``, which is returned if it still reaches 50%).
    Returns beta50 (NaN when no beta of the grid reaches 50%: never invented), the bracket, the success
    rate there, and reached (bool).
    """
    bracket = _crossing(ev, betas, lambda r: r["success_rate"] >= OPERATING_SUCCESS, lambda b: 0.1, floor, tol)
    if bracket is None:
        return {"beta50": float("nan"), "beta50_lo": max(betas), "success_at_beta50": float("nan"), "reached": False}
    lo, hi = bracket
    return {"beta50": hi, "beta50_lo": lo, "success_at_beta50": ev(hi)["success_rate"], "reached": True}


def _step_down(error: float, target: float) -> float:
    """The factor to step beta down by when error(beta) > target: errors of weak attacks grow about in
    proportion to beta, so aim at half the target (at least 10x down, at most 1000x)."""
    return min(0.1, max(0.5 * target / error, 1e-3)) if error > 0 else 0.1


def implied_beta(ev: Evaluations, key: str, target: float, betas: list[float], tol: float = BISECTION_TOL,
                 floor: float = 1e-10) -> dict:
    """The beta at which the error ``key`` (rising with beta) equals ``target`` (a paper cell), by bisection.

    Starts from the grid ``betas``; when the error at the smallest grid point is already above the
    target, the grid is extended downwards (to ``floor``), by the factor that would bring an error growing
    in proportion to beta to half the target (10x to 1000x at a time). Returns beta_implied
    (NaN when the error never crosses the target in the searched range) and the success rate of the
    attack there.
    """
    bracket = _crossing(ev, betas, lambda r: r[key] >= target, lambda b: _step_down(ev(b)[key], target), floor, tol)
    if bracket is None or bracket[0] == bracket[1]:
        return {"beta_implied": float("nan"), "success_at_implied": float("nan")}
    return {"beta_implied": bracket[1], "success_at_implied": ev(bracket[1])["success_rate"]}


def largest_success_where(table: pd.DataFrame, key: str, threshold: float) -> float:
    """The largest attack success rate among the evaluated betas at which ``key <= threshold`` (0 if none):
    how strong an attack the theory still describes."""
    ok = table[table[key] <= threshold]
    return float(ok["success_rate"].max()) if len(ok) else 0.0


def operating_points(ev: Evaluations, betas: list[float], key: str, threshold: float,
                     target: float | None = None, tol: float = BISECTION_TOL) -> dict:
    """One network's verdict inputs for the error ``key``: its value at beta_50 (:func:`beta50`), the
    largest success rate at which it stays <= ``threshold`` (:func:`largest_success_where`, over every
    beta evaluated), and, given a paper cell ``target``, the implied beta (:func:`implied_beta`).

    ``ev``: the network's :class:`Evaluations` (its rows give ``key`` and ``success_rate``). Returns
    beta50, success_at_beta50, ``key``_at_beta50, largest_success_holding, beta_implied,
    success_at_implied. ``tol``: the bisections stop at hi / lo <= tol (the profile's ``bisect_tol``).
    Chapters: theorem2, theorem3, theorem4.
    """
    out = beta50(ev, betas, tol)
    out[f"{key}_at_beta50"] = ev(out["beta50"])[key] if out["reached"] else float("nan")
    if target is not None:
        out.update(implied_beta(ev, key, target, betas, tol))
    out["largest_success_holding"] = largest_success_where(ev.table(), key, threshold)
    return out


def phi_evaluator(model: nn.Module, x: torch.Tensor, y: torch.Tensor, m: int, eta: float) -> Evaluations:
    """Theorems 3 and 4 on one binary network at any beta (memoised): kappa_prime (Eq. (9)),
    kappa_prime_adv (Eq. (10)), success_rate and the median 𝒜, from :func:`phi_table` under A2.
    x: (B, 1, 28, 28), y: (B,) in {-1, +1}. Chapters: theorem3, theorem4."""
    def evaluate(beta: float) -> dict:
        t = phi_table(model, x, y, beta, m, eta)
        return {"kappa_prime": kappa_prime(t.phi_star, t.phi_hat), "kappa_prime_adv": kappa_prime(t.phi_adv_star, t.phi_adv_hat),
                "success_rate": float(t.success.mean()), "A_median": float(t.A.median())}
    return Evaluations(evaluate)
