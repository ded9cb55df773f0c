"""The reproduction scoreboard: one row per claim of the paper, filled from this build's records.

Every chapter, once its claims have held, writes a build record (:mod:`advnb.book.record`):
every value it glued, keyed by this code and its parameters. :func:`collect` gathers
the records of the default parameters at one profile, running through papermill any
chapter whose record is missing (with a progress bar). :func:`board` turns them into
the table of the ``summary`` chapter: for each claim (Theorems 1-6, Lemma 1,
conclusions C1-C8, Tables 1-2, Figs. 1-5), what the paper reports, what this build
measured, and whether the claim holds:

- ``yes``: it holds in this build as the paper states it;
- ``partly``: it holds only in a range or on a subset, which ``measured`` names;
- ``no``: it does not hold in this build.

What the paper reports is the paper's (typed from it, with its own numbers); everything
in ``measured`` and ``holds`` is computed from the records here, never typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

CHAPTERS = ("setup", "theorem1", "theorem2", "growth", "lp_attacks", "gating",
            "lemma1", "theorem3", "theorem4", "imbalance", "theorem5", "theorem6")


def collect(profile: str | None = None, chapters=CHAPTERS, run_missing: bool = True) -> dict[str, dict]:
    """The build record of each chapter (default parameters, this code, ``profile``).

    A missing record is made by running the chapter (papermill, into a temporary folder)
    when ``run_missing``; otherwise it raises ``LookupError`` naming the chapters.
    Returns {chapter: record}.
    """
    import tempfile

    from tqdm.auto import tqdm

    from .record import find_record
    from .runs import execute

    records = {c: find_record(c, profile) for c in chapters}
    missing = [c for c, r in records.items() if r is None]
    if missing and not run_missing:
        raise LookupError(f"no record of this build for: {', '.join(missing)} (run them, or set run_missing = True)")
    for chapter in tqdm(missing, desc="running chapters without a record", unit="chapter", disable=not missing):
        with tempfile.TemporaryDirectory() as tmp:
            execute(chapter, {} if profile is None else {"profile": profile}, tmp, progress=False)
        records[chapter] = find_record(chapter, profile)
        if records[chapter] is None:
            raise RuntimeError(f"chapter {chapter} ran but wrote no record")
    return records


@dataclass(frozen=True)
class Claim:
    """One row: the claim, what the paper reports, and how to read this build's measurement."""

    claim: str  # short name: "Theorem 2", "C1", "Table 1", "Fig. 3"
    statement: str  # the claim in one line
    paper: str  # what the paper reports
    chapter: str  # where the book measures it
    measure: Callable[[dict[str, dict]], tuple[str, str]]  # results by chapter -> (measured, holds)


def _fmt(x: float) -> str:
    return f"{x:.2g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.1e}"


def _verdict(ok: bool, partly: bool = False) -> str:
    return "yes" if ok else ("partly" if partly else "no")


def _range(lo: float, hi: float) -> str:
    return f"{_fmt(lo)} … {_fmt(hi)}"


def _lemma1(R):
    """yes when every symbolic identity holds, softmax H_z has no negative eigenvalue and the
    sigmoid gap H_z - g_z^2 is >= 0 at every sampled yz >= 0."""
    r = R["lemma1"]
    ok = r["all_identities_hold"] and r["softmax_min_eig"] >= -1e-12 and r["gap_min_pos"] >= -1e-12
    return (f"{r['n_identities']} sympy identities hold: {r['all_identities_hold']}; smallest softmax eigenvalue "
            f"{_fmt(r['softmax_min_eig'])}; sigmoid gap ≥ {_fmt(r['gap_min_pos'])} for yz ≥ 0, max 1/8 at yz = log 3; "
            f"negative for yz < 0 (largest {_fmt(r['gap_max_neg'])})", _verdict(ok))


def _theorem1(R):
    """yes when the residual rho falls like 1/m (log-log slope within 0.2 of -1); partly when only
    Theorem 1's convergence to Theorem 2 does (slope of their difference within 0.2 of -1)."""
    r = R["theorem1"]
    rho_ok = abs(r["slope_rho"] + 1) <= 0.2
    limit_ok = abs(r["slope_thm1_vs_thm2"] + 1) <= 0.2
    return (f"ρ levels off at {_fmt(r['floor'])} (log-log slope {r['slope_rho']:+.2f} for m ≥ {r['fit_from']}); "
            f"Theorem 1 → Theorem 2 with slope {r['slope_thm1_vs_thm2']:+.2f}", _verdict(rho_ok and limit_ok, limit_ok))


def _theorem2(R):
    """yes when kappa <= 1e-3 over the whole beta grid; partly when only at its small end."""
    r = R["theorem2"]
    small, large = r["kappa_min_beta"] <= 1e-3, r["kappa_max_beta"] <= 1e-3
    return (f"two-layer MLP: κ = {_fmt(r['kappa_min_beta'])} at β = {_fmt(r['beta_min'])}, {_fmt(r['kappa'])} at "
            f"β = {_fmt(r['beta'])}, {_fmt(r['kappa_max_beta'])} at β = {_fmt(r['beta_max'])} (κ > 1e-2 from "
            f"β = {_fmt(r['beta_breakdown'])})", _verdict(small and large, small))


def _table1(R):
    """yes when every network's kappa <= 1e-3 (the paper's largest is 1.7e-4)."""
    r = R["theorem2"]
    return (f"κ = {_range(r['table1_kappa_min'], r['table1_kappa_max'])} at β = {_fmt(r['table_beta'])} "
            f"(largest: {r['table1_worst']}); κ > 1e-3 from β = {_fmt(r['breakdown_beta_min'])} on some network",
            _verdict(r["table1_kappa_max"] <= 1e-3))


def _c1(R):
    """yes when the share of the perturbation on v1 rises with beta both in Theorem 2 and in the real
    attack; partly when the real attack's share falls again at large beta."""
    r = R["theorem2"]
    theory = r["share_theory_max"] > r["share_theory_min"]
    attack = r["share_attack_valid"] >= r["share_attack_min"]
    late = r["share_attack_max"] >= r["share_attack_valid"]
    return (f"share of δ̂ on v₁: {_fmt(r['share_theory_min'])} → {_fmt(r['share_theory_max'])} as β grows; real attack: "
            f"{_fmt(r['share_attack_min'])} → {_fmt(r['share_attack_valid'])} up to β = {_fmt(r['beta_valid_max'])}, "
            f"then {_fmt(r['share_attack_max'])} at β = {_fmt(r['beta_max'])}", _verdict(theory and attack and late, theory and attack))


def _c2(R):
    """yes when the log-linear fit of ||delta|| against m has R^2 >= 0.9 on every network, with and
    without frozen gating; partly when on some."""
    r = R["growth"]
    n = r["n_networks"]
    passed = r["n_frozen_pass"] + r["n_real_pass"]
    return (f"R² of log-linear fits of ‖δ‖: frozen gating {_range(r['r2_frozen_min'], r['r2_frozen_max'])} "
            f"({r['n_frozen_pass']}/{n} ≥ 0.9), real network {_range(r['r2_real_min'], r['r2_real_max'])} "
            f"({r['n_real_pass']}/{n} ≥ 0.9)", _verdict(passed == 2 * n, passed > 0))


def _fig2(R):
    """yes when ||g|| grows on every network (positive rate) and both norms accelerate (acceleration
    > 1, i.e. faster than linear) on every network; partly when only some do."""
    r = R["growth"]
    grows = r["rate_grad_a1_min"] > 0
    accel = r["accel_a1_min"] > 1 and r["accel_grad_a1_min"] > 1
    some = r["accel_a1_max"] > 1 or r["accel_grad_a1_max"] > 1
    return (f"AlexNet, VGG-11, ResNet-18: R² of ‖g‖ fits {_range(r['r2_grad_real_min'], r['r2_grad_real_max'])} (real), "
            f"{_range(r['r2_grad_frozen_min'], r['r2_grad_frozen_max'])} (frozen); acceleration of ‖δ‖ "
            f"{_range(r['accel_a1_min'], r['accel_a1_max'])} (1 = exponential, 0 = linear)", _verdict(grows and accel, grows and some))


def _fig1(R):
    """yes when, on the 3-layer MLP of the figure under A2, 1 - cos(delta_hat, PGD) <= 1e-3 for l2 and
    for the effective l-inf component, and kappa(delta_hat, delta*) <= 1e-3."""
    r = R["theorem2"]
    ok = max(r["fig1_l2_error"], r["fig1_linf_error"], r["fig1_kappa"]) <= 1e-3
    return (f"MLP-3, A2: 1 − cos to ℓ2-PGD {_fmt(r['fig1_l2_error'])}, to the effective ℓ∞ component "
            f"{_fmt(r['fig1_linf_error'])}; κ to δ* {_fmt(r['fig1_kappa'])}", _verdict(ok))


def _sec32(R):
    """yes when 1 - cos(delta_hat, PGD) <= 1e-3 on every network, for l2 (also with the [0, 1] clip) and
    for l-inf on average; partly when delta_hat at least predicts PGD better than the gradient does on
    every network."""
    r = R["lp_attacks"]
    n = r["n_nets"]
    close = r["l2_a2_max"] <= 1e-3 and r["li_a2_mean"] <= 1e-3 and r["l2_clip_max"] <= 1e-3
    better = r["l2_a2_beats"] == n and r["li_a2_beats"] == n
    return (f"ℓ2 (A2): {_range(r['l2_a2_min'], r['l2_a2_max'])}, in the paper's range on {r['l2_a2_within']}/{n} networks, "
            f"closer than the gradient on {r['l2_a2_beats']}/{n}; ℓ∞ mean {_fmt(r['li_a2_mean'])}; ℓ2 with the [0, 1] clip: "
            f"{_range(r['l2_clip_min'], r['l2_clip_max'])}", _verdict(close, better))


def _c3(R):
    """yes when cos(delta_hat, g_x) > 0.99 at the smallest beta and |cos(delta_hat, v1)| > 0.99 at the largest."""
    r = R["lp_attacks"]
    ok = r["c3_cos_g_first"] > 0.99 and r["c3_cos_v1_last"] > 0.99
    return (f"cos(δ̂, g_x) = {r['c3_cos_g_first']:.4f} at β = {_fmt(r['beta_first'])}; |cos(δ̂, v₁)| = "
            f"{r['c3_cos_v1_last']:.4f} at β = {_fmt(r['beta_last'])} (|cos(g_x, v₁)| = {r['cos_g_v1']:.3f})", _verdict(ok))


def _a2(R):
    """yes when frozen gating is harmless (kappa_real <= 2 kappa_frozen) on every network at the chapter's
    beta; partly when on the ReLU MLPs only (max-pool ties switch)."""
    r = R["gating"]
    mlp_ok = r["mlp_kappa_real_max"] <= 1e-3 and r["flipped_untied_max"] <= 0.01
    pool_ok = r["pool_kappa_real_max"] <= 2 * r["pool_kappa_frozen_max"]
    mlp_eig = "unchanged" if r["mlp_eig_max"] == 0 else f"moves ≤ {_fmt(r['mlp_eig_max'])}"
    return (f"untied ReLU gates flipped ≤ {_fmt(r['flipped_untied_max'])}; relative change of λ₁: {mlp_eig} (MLPs), "
            f"{_range(r['pool_eig_min'], r['pool_eig_max'])} (max-pool nets); κ without A2: MLPs ≤ "
            f"{_fmt(r['mlp_kappa_real_max'])}, max-pool nets {_range(r['pool_kappa_real_min'], r['pool_kappa_real_max'])}",
            _verdict(mlp_ok and pool_ok, mlp_ok))


def _theorem3(R):
    """yes when sympy re-derives Eq. (9) with zero residual and kappa' <= 1e-3 on every network."""
    r = R["theorem3"]
    residuals = dict(part.split(": ") for part in r["sympy_residuals"].split(", "))  # "flow: 0, delta: 0, ..."
    exact = all(v == "0" for v in residuals.values())
    return (f"sympy residuals of the flow, δ̂ and Eqs. (9)-(11): {'all 0' if exact else r['sympy_residuals']}; "
            f"κ′ = {_range(r['t2_min'], r['t2_max'])} (β = {_fmt(r['table_beta'])}, A2)",
            _verdict(exact and r["t2_max"] <= 1e-3))


def _table2(R):
    """yes when kappa' <= 1e-3 on every network under A2 (the paper's largest is 1.9e-4)."""
    r = R["theorem3"]
    return (f"κ′ = {_range(r['t2_min'], r['t2_max'])} at β = {_fmt(r['table_beta'])} (largest: {r['t2_worst']}); without "
            f"frozen gating: MLPs ≤ {_fmt(r['t2_real_mlp_max'])}, CNNs {_range(r['t2_real_conv_min'], r['t2_real_conv_max'])}",
            _verdict(r["t2_max"] <= 1e-3))


def _theorem4(R):
    """yes when sympy re-derives Eq. (10) with zero residual and its kappa' <= 1e-3 on every network."""
    r = R["theorem4"]
    return (f"sympy residual of Eq. (10): {r['sympy_eq10']}; κ′ = {_range(r['t4_min'], r['t4_max'])} "
            f"(β = {_fmt(r['table_beta'])}, A2)", _verdict(str(r["sympy_eq10"]) == "0" and r["t4_max"] <= 1e-3))


def _c4(R):
    """yes when the second terms of Eqs. (9)-(10) are <= 0 on every digit, every digit that vanilla
    training already alleviates is alleviated further, and the share of digits whose adversarial
    step shrinks g_x rises with beta."""
    r3, r4 = R["theorem3"], R["theorem4"]
    ok = (r3["frac_push_nonpositive"] == 1 and r4["push_nonpositive_all"]
          and (r3["n_alleviated"] == 0 or r3["frac_alleviated_further"] == 1)
          and r4["frac_adv_neg_hi"] > r4["frac_adv_neg_lo"])
    return (f"second term ≤ 0 on {r3['frac_push_nonpositive']:.0%} of digits; alleviated further on "
            f"{r3['frac_alleviated_further']:.0%} of the {r3['n_alleviated']} digits vanilla training alleviates; "
            f"adversarial step shrinks g_x on {r4['frac_adv_neg_lo']:.0%} → {r4['frac_adv_neg_hi']:.0%} of digits, "
            f"β {_fmt(r4['beta_lo'])} → {_fmt(r4['beta_hi'])}", _verdict(ok))


def _c5(R):
    """yes when the per-sample effects rise with A-hat and with H_z ||g_x||^2 (Spearman rho > 0) on every
    network."""
    r = R["imbalance"]
    ok = r["rho_ahat_min"] > 0 and r["rho_prod_min"] > 0
    return (f"Spearman ρ of the effects with Â: {_range(r['rho_ahat_min'], r['rho_ahat_max'])}; with H̄_z‖g̃_x‖²: ≥ "
            f"{_fmt(r['rho_prod_min'])}", _verdict(ok))


def _fig3(R):
    """yes when both effects rise with each of H_z, H_z ||g_x||^2 and A-hat on every network; partly
    when H_z alone does not rank them."""
    r = R["imbalance"]
    prod = r["rho_ahat_min"] > 0 and r["rho_prod_min"] > 0
    hz = r["rho_hz_min"] > 0
    return (f"ρ with H̄_z‖g̃_x‖² ≥ {_fmt(r['rho_prod_min'])}, with Â ≥ {_fmt(r['rho_ahat_min'])}; with H̄_z alone "
            f"{_range(r['rho_hz_min'], r['rho_hz_max'])}", _verdict(prod and hz, prod))


def _fig4(R):
    """yes when the mean cosine to the average effect rises from the lowest to the highest A-hat group
    on every network, with a positive rank correlation."""
    r = R["imbalance"]
    ok = r["cos_hi_min"] > r["cos_lo_max"] and r["rho_cos_min"] > 0
    return (f"mean cos, lowest Â group ≤ {_fmt(r['cos_lo_max'])}, highest ≥ {_fmt(r['cos_hi_min'])}; ρ(Â, cos) "
            f"{_range(r['rho_cos_min'], r['rho_cos_max'])}", _verdict(ok))


def _theorem5(R):
    """yes when Eq. (11) describes the measured effect to kappa' <= 0.1 at every length c; partly when
    only at c = ||delta_hat||."""
    r = R["theorem5"]
    return (f"κ′ of Eq. (11): {_range(r['k_hat_min'], r['k_hat_max'])} at c = ‖δ̂‖, {_range(r['k_norm_min'], r['k_norm_max'])} "
            f"at a common c (digits whose attack stays on its side)",
            _verdict(r["k_norm_max"] <= 0.1 and r["k_hat_max"] <= 0.1, r["k_hat_max"] <= 0.1))


def _c6(R):
    """yes when (1) the gain rises with ||g_x|| on every network and (2) it vanishes at large yz
    (falls with yz); partly when only (1) holds."""
    r = R["theorem5"]
    one = r["rho_gx_min"] > 0
    two = r["rho_yz_pooled"] < 0
    return (f"(1) ρ(gain, ‖g̃_x‖) ≥ {_fmt(r['rho_gx_min'])}; (2) ρ(gain/‖g̃_x‖, yz) = {r['rho_yz_pooled']:+.2f}: the gain "
            f"{'falls' if two else 'rises'} with the margin yz", _verdict(one and two, one))


def _c7(R):
    """yes when on every network the top-10% share of ||g_W|| orders delta_hat > delta_hat(norm) > vanilla;
    partly when only the first inequality holds everywhere."""
    r = R["theorem5"]
    n = r["n_networks"]
    first = r["n_hat_gt_norm"] == n
    second = r["n_norm_gt_vanilla"] == n
    return (f"top-10% share of ‖g_W‖: δ̂ > δ̂^(norm) on {r['n_hat_gt_norm']}/{n} networks, δ̂^(norm) > vanilla on "
            f"{r['n_norm_gt_vanilla']}/{n}", _verdict(first and second, first))


def _theorem6(R):
    """yes when Eq. (12) holds exactly for the second-order model (identities to 1e-10) and the term it
    omits is negligible (median below 1% of the kept linear term); partly when only the identities hold."""
    r = R["theorem6"]
    exact = max(r[f"{c}_max"] for c in ("err_hold", "err_true", "err_taylor", "err_linear")) < 1e-10
    small = r["cross_median"] < 0.01
    return (f"identities hold to {_fmt(max(r[f'{c}_max'] for c in ('err_hold', 'err_true', 'err_taylor', 'err_linear')))}; "
            f"the linear part omits a cross term, median {_fmt(r['cross_median'])} × the kept term at β = "
            f"{_fmt(r['beta'])}, {_fmt(r['cross_median_hi'])} × at β = {_fmt(r['beta_hi'])}", _verdict(exact and small, exact))


def _osc(R):
    rows = {row["run"]: row for row in R["theorem6"]["osc_summary"]}
    return rows["vanilla"], rows["adversarial"]


def _c8(R):
    """yes when, trained by plain gradient descent from the same start, the adversarial run reverses
    more of its updates (by at least 25 points) and has a larger top Hessian eigenvalue than the vanilla run."""
    v, a = _osc(R)
    rev = "share of reversing updates, second half"
    lam = "λ_max, second half (mean)"
    ok = a[rev] >= v[rev] + 0.25 and a[lam] > v[lam]
    return (f"second half of training: {a[rev]:.0%} of adversarial updates reverse the previous one vs {v[rev]:.0%} "
            f"of vanilla ones; λ_max {_fmt(a[lam])} vs {_fmt(v[lam])}", _verdict(ok))


def _fig5(R):
    """yes when Delta(adv) > Delta(ori) on most layers of every network, vanilla- and adversarially
    trained; partly when on the vanilla-trained networks only."""
    rows = R["theorem6"]["fig5_summary"]
    most = {(row["network"], row["trained"]): row["adv > ori at η"] > row["layers"] / 2 for row in rows}
    vanilla = all(ok for (_, t), ok in most.items() if t == "vanilla")
    every = all(most.values())
    text = "; ".join(f"{row['network']} ({row['trained']}) {row['adv > ori at η']}/{row['layers']} layers" for row in rows)
    return text, _verdict(every, vanilla)


CLAIMS: tuple[Claim, ...] = (
    Claim("Lemma 1", "The loss Hessian in the logits is PSD; for the sigmoid, H_z ≥ g_z² when the sample is classified right",
          "stated, proof in its Appendix F", "lemma1", _lemma1),
    Claim("Theorem 1", "m-step closed form of the perturbation; its residual ρ is O(1/m)",
          "ρ = O(1/m), so ρ → 0 as m → ∞", "theorem1", _theorem1),
    Claim("Theorem 2", "the infinite-step perturbation δ̂ = Σ (e^{βλᵢ}−1)/λᵢ γᵢvᵢ describes the real attack",
          "κ small on ten networks (Table 1)", "theorem2", _theorem2),
    Claim("Table 1", "κ of Theorem 2 on MLP-3/4/5, CNN-3/4/5, ResCNN-3/4/5/10 under A2",
          "κ = 4.7e-8 … 1.7e-4 (β not stated)", "theorem2", _table1),
    Claim("C1", "the attack strengthens a few top eigen-directions exponentially, more so as β grows",
          "derived from Theorems 1-2", "theorem2", _c1),
    Claim("C2", "‖δ‖ and ‖g‖ grow exponentially with β = αm", "Fig. 2, by eye", "growth", _c2),
    Claim("Fig. 1", "on a 3-layer MLP, δ̂ matches δ*, the ℓ2-PGD perturbation and the effective ℓ∞-PGD component",
          "a close match, shown as images (no numbers)", "theorem2", _fig1),
    Claim("Sec. 3.2", "δ̂^(norm) predicts the ℓ2-PGD perturbation and the effective component of ℓ∞-PGD",
          "1 − cos = 1e-6 … 1e-4 (ℓ2); 3.4e-5 on average (ℓ∞)", "lp_attacks", _sec32),
    Claim("Fig. 2", "‖δ‖ and ‖g‖ against m/m_success on VGG-11, AlexNet, ResNet-18, with and without frozen gating",
          "exponential curves (no numbers)", "growth", _fig2),
    Claim("C3", "weak β: ℓ2/ℓ∞ perturbations ∥ g_x; strong β: ∥ v₁", "derived from δ̂^(norm)", "lp_attacks", _c3),
    Claim("A2", "frozen gating: the attack changes gating states and λ₁ of H̄_x little",
          "λ₁ changes by 1e-4 … 1e-2 (its Appendix J)", "gating", _a2),
    Claim("Theorem 3", "Eq. (9): an adversarial training step's effect on g̃_x = vanilla term + an exp(𝒜) term",
          "derived; κ′ in Table 2", "theorem3", _theorem3),
    Claim("Table 2", "κ′ of Eq. (9) on the ten networks under A2", "κ′ = 1.2e-7 … 1.9e-4 (β not stated)",
          "theorem3", _table2),
    Claim("Theorem 4", "Eq. (10): the same for the adversarial step as a whole", "derived", "theorem4", _theorem4),
    Claim("C4", "adversarial training pushes g̃_xᵀΔg̃_x negative, and strengthens an alleviation vanilla training began",
          "argued from the sign of the second terms of Eqs. (9)-(10)", "theorem4", _c4),
    Claim("C5", "adversarial training boosts the influence of samples with large H̄_z‖g̃_x‖² (≈ exp(𝒜) times)",
          "Figs. 3-4", "imbalance", _c5),
    Claim("Fig. 3", "per-sample |g̃ᵀΔg̃| and ‖Δg_W‖ rise with H̄_z, H̄_z‖g̃_x‖² and Â (AlexNet, VGG-11, ResNet-50)",
          "scatter plots, no numbers", "imbalance", _fig3),
    Claim("Fig. 4", "mean cos(Δg_W, Δḡ_W) rises over ten groups of Â", "rising group means, no numbers",
          "imbalance", _fig4),
    Claim("Theorem 5", "Eq. (11): the effect of a normalised perturbation δ̂^(norm) = c δ̂/‖δ̂‖", "derived",
          "theorem5", _theorem5),
    Claim("C6", "δ̂^(norm) boosts samples with large ‖g̃_x‖ whose margin yz is neither → 0 nor → ∞",
          "argued from Lemma 1", "theorem5", _c6),
    Claim("C7", "δ̂^(norm) is less imbalanced than δ̂ but more than vanilla training", "argued", "theorem5", _c7),
    Claim("Theorem 6", "Eq. (12): the adversarial loss is a quadratic in a weight row with curvature ½δ̂ᵢ²H_h",
          "derived", "theorem6", _theorem6),
    Claim("C8", "adversarial training makes the parameters oscillate", "argued from Eq. (12) and Cohen et al. (2021)",
          "theorem6", _c8),
    Claim("Fig. 5", "instability Δ^(adv) > Δ^(ori) per layer of AlexNet and VGG-11", "yes, on every layer shown (figure)",
          "theorem6", _fig5),
)


def board(records: dict[str, dict]):
    """The scoreboard: a DataFrame with one row per claim of :data:`CLAIMS`.

    Columns: claim, statement, paper, measured, holds ("yes" | "partly" | "no"), chapter,
    rule (how ``holds`` is decided). ``records``: {chapter: build record}, as :func:`collect` returns.
    """
    import pandas as pd

    results = {c: r["results"] for c, r in records.items()}
    rows = []
    for c in CLAIMS:
        measured, holds = c.measure(results)
        rows.append({"claim": c.claim, "statement": c.statement, "paper": c.paper, "measured": measured,
                     "holds": holds, "chapter": c.chapter, "rule": " ".join(c.measure.__doc__.split())})
    return pd.DataFrame(rows)


_MARK = {"yes": "✅ yes", "partly": "🟡 partly", "no": "❌ no"}


def markdown_table(df) -> str:
    """The scoreboard as a MyST table, each claim linking to its chapter (``{doc}`` role)."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| claim | what the paper reports | what this build measured | holds | chapter |", "|---|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| **{cell(r['claim'])}**: {cell(r['statement'])} | {cell(r['paper'])} | {cell(r['measured'])} | "
                     f"{_MARK[r['holds']]} | {{doc}}`../chapters/{r['chapter']}` |")
    return "\n".join(lines)
