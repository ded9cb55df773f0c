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
- ``no``: it does not hold in this build;
- ``not testable``: (exponential claims only) no range exists here on which the theory still
  describes the attack and the exponential and its linear rival differ by 2x.

Each row has a ``kind``: ``identity`` (true by algebra, checked numerically: it fails only if the
code is wrong) or ``empirical`` (about trained networks and real attacks: it can fail). The two are
counted apart. Each row names its ``operating_point`` (the beta, or the setting, it is judged at,
fixed by a rule that does not look at the error judged) and its ``rule``; the rules are the pure
functions of :mod:`advnb.book.rules`.

What the paper reports is the paper's (typed from it, with its own numbers); everything
in ``measured`` and ``holds`` is computed from the records here, never typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .rules import at_operating_point, over_networks

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
    kind: str  # "identity" (true by algebra, checked numerically) or "empirical" (can fail)
    operating_point: str  # where the claim is judged
    measure: Callable[[dict[str, dict]], tuple[str, str]]  # results by chapter -> (measured, holds)


def _fmt(x: float) -> str:
    if isinstance(x, str) or x is None or x != x:
        return "—" if x is None or x != x else str(x)
    return f"{x:.2g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.1e}"


def _verdict(ok: bool, partly: bool = False) -> str:
    return "yes" if ok else ("partly" if partly else "no")


def _range(lo: float, hi: float) -> str:
    return f"{_fmt(lo)} … {_fmt(hi)}"


def _pct(x: float) -> str:
    return "—" if x is None or x != x else f"{100 * x:.0f}%"


# ----------------------------------------------------------------------------- identities

def _lemma1(R):
    """yes when every symbolic identity holds, softmax H_z has no negative eigenvalue and the
    sigmoid gap H_z - g_z^2 is >= 0 at every sampled yz >= 0."""
    r = R["lemma1"]
    ok = r["all_identities_hold"] and r["softmax_min_eig"] >= -1e-12 and r["gap_min_pos"] >= -1e-12
    return (f"{r['n_identities']} sympy identities hold: {r['all_identities_hold']}; smallest softmax eigenvalue "
            f"{_fmt(r['softmax_min_eig'])}; sigmoid gap ≥ {_fmt(r['gap_min_pos'])} for yz ≥ 0, max 1/8 at yz = log 3; "
            f"negative for yz < 0 (largest {_fmt(r['gap_max_neg'])})", _verdict(ok))


def _pushthrough(R):
    """yes when the C x C push-through form and the dense n x n eigen-sum of Theorem 2 agree to 1e-10."""
    r = R["theorem2"]
    return (f"largest relative difference {_fmt(r['dense_rel_diff'])} on {r['n_dense']} digits", _verdict(r["dense_rel_diff"] < 1e-10))


def _c1_formula(R):
    """yes when the share of deltâ on v1 at a fixed Hessian does not fall as beta grows (its end is above its start)."""
    r = R["theorem2"]
    return (f"share of δ̂ on v₁ at the clean-input Hessian: {_fmt(r['share_theory_min'])} → {_fmt(r['share_theory_max'])} "
            f"over the β grid", _verdict(r["share_theory_max"] >= r["share_theory_min"]))


def _c3(R):
    """yes when cos(delta_hat, g_x) > 0.99 at the smallest beta and |cos(delta_hat, v1)| > 0.99 at the largest."""
    r = R["lp_attacks"]
    ok = r["c3_cos_g_first"] > 0.99 and r["c3_cos_v1_last"] > 0.99
    return (f"cos(δ̂, g_x) = {r['c3_cos_g_first']:.4f} at β = {_fmt(r['beta_first'])}; |cos(δ̂, v₁)| = "
            f"{r['c3_cos_v1_last']:.4f} at β = {_fmt(r['beta_last'])} (|cos(g_x, v₁)| = {r['cos_g_v1']:.3f})", _verdict(ok))


def _derivation(R):
    """yes when sympy re-derives Eqs. (9), (10) and (11) from the gradient flow with zero residual."""
    r = R["theorem3"]
    residuals = dict(part.split(": ") for part in r["sympy_residuals"].split(", "))  # "flow: 0, delta: 0, ..."
    exact = all(v == "0" for v in residuals.values())
    return (f"sympy residuals of the flow, δ̂ and Eqs. (9)-(11): {'all 0' if exact else r['sympy_residuals']}", _verdict(exact))


def _c4_sign(R):
    """yes when the measured second term of Eq. (10) is <= 0 on every (digit, beta) pair. Predicted with one
    average H̄_z it is <= 0 by algebra (sign(g_z) = -y, deltâ along g̃_x; the chapter asserts that); measured on
    the real attack it also carries the error of that average, so it is judged here as an empirical claim."""
    r = R["theorem4"]
    return (f"second term ≤ 0 on {r['push_nonpositive_all']:.0%} of (digit, β) pairs", _verdict(r["push_nonpositive_all"] == 1))


def _theorem6_identities(R):
    """yes when the Eq. (12) identities (held-h Hessian, true Hessian, Taylor model, linear part) hold to 1e-10."""
    r = R["theorem6"]
    worst = max(r[f"{c}_max"] for c in ("err_hold", "err_true", "err_taylor", "err_linear"))
    return (f"the four identities hold to {_fmt(worst)}", _verdict(worst < 1e-10))


# ----------------------------------------------------------------------------- empirical: Sec. 3.1-3.2

def _theorem1(R):
    """yes when the residual rho falls like 1/m (log-log slope within 0.2 of -1); partly when only
    Theorem 1's convergence to Theorem 2 does (slope of their difference within 0.2 of -1)."""
    r = R["theorem1"]
    rho_ok = abs(r["slope_rho"] + 1) <= 0.2
    limit_ok = abs(r["slope_thm1_vs_thm2"] + 1) <= 0.2
    return (f"ρ levels off at {_fmt(r['floor'])} (log-log slope {r['slope_rho']:+.2f} for m ≥ {r['fit_from']}); "
            f"Theorem 1 → Theorem 2 with slope {r['slope_thm1_vs_thm2']:+.2f}", _verdict(rho_ok and limit_ok, limit_ok))


def _at50(r, error_key: str, threshold: float, largest_key: str = "largest_success_holding") -> str:
    return at_operating_point(r[error_key], threshold, r[largest_key] / 100)


def _theorem2(R):
    """At beta_50 (the smallest beta at which half of the attacked digits are misclassified by the real
    network): yes when kappa <= 1e-2; partly when kappa <= 1e-2 holds only at weaker attacks that still
    fool >= 10% of the digits (the largest such success rate is named); no otherwise."""
    r = R["theorem2"]
    reached = "" if r["beta50_reached"] else " (β₅₀ not reached on the grid)"
    return (f"two-layer MLP: κ = {_fmt(r['kappa_at_beta50'])} at β₅₀ = {_fmt(r['beta50'])}{reached}; κ ≤ 1e-2 holds up to "
            f"attacks fooling {r['largest_success_holding']:.0f}% of digits; at the weak β = {_fmt(r['beta'])}: "
            f"κ = {_fmt(r['kappa'])}", _at50(r, "kappa_at_beta50", 1e-2))


def _theorem2_gradient(R):
    """The gradient half of Theorem 2, g = J^T e^{beta A} g_z against the gradient at x + delta*, at beta_50:
    yes when kappa_g <= 1e-2; partly when that holds only at weaker attacks that fool >= 10% of the digits;
    no otherwise."""
    r = R["theorem2"]
    return (f"κ_g = {_fmt(r['kappa_grad_at_beta50'])} at β₅₀ = {_fmt(r['beta50'])}; κ_g ≤ 1e-2 up to attacks fooling "
            f"{r['largest_success_grad']:.0f}% of digits; {_fmt(r['kappa_grad'])} at the weak β = {_fmt(r['beta'])}",
            _at50(r, "kappa_grad_at_beta50", 1e-2, "largest_success_grad"))


def _theorem2_predictive(R):
    """Theorem 2 as a prediction that uses nothing from the attack (H_z at the clean x instead of H̄_z from
    the attack it predicts), at beta_50: yes when kappa_pred <= 1e-2; partly when that holds only at weaker
    attacks that fool >= 10% of the digits; no otherwise."""
    r = R["theorem2"]
    return (f"κ_pred = {_fmt(r['kappa_clean_hessian_at_beta50'])} at β₅₀; κ_pred ≤ 1e-2 up to attacks fooling "
            f"{r['largest_success_pred']:.0f}% of digits; {_fmt(r['kappa_clean_hessian'])} at the weak β = "
            f"{_fmt(r['beta'])} (κ with the attack's H̄_z: {_fmt(r['kappa'])})",
            _at50(r, "kappa_clean_hessian_at_beta50", 1e-2, "largest_success_pred"))


def _per_network(rows, key="verdict"):
    return over_networks(row[key] for row in rows)


def _table1(R):
    """Per network, at its beta_50: yes when kappa <= 10x its paper cell; partly when that holds only at
    weaker attacks that fool >= 10% of the digits; no otherwise. The row: yes when all ten are yes, partly
    when some are yes or partly, no otherwise."""
    r = R["theorem2"]
    rows = r["table1"]
    n_yes = sum(row["verdict"] == "yes" for row in rows)
    k50 = [row["kappa_at_beta50"] for row in rows if row["kappa_at_beta50"] == row["kappa_at_beta50"]]
    return (f"at β₅₀: κ = {_range(min(k50, default=float('nan')), max(k50, default=float('nan')))}, within 10× of the paper on {n_yes}/{len(rows)}; "
            f"implied β {_range(r['implied_beta_min'], r['implied_beta_max'])} (spread {_fmt(r['implied_beta_spread'])}×, "
            f"success there ≤ {r['implied_success_max']:.0f}%); at the weak β = {_fmt(r['table_beta'])}: κ ≤ "
            f"{_fmt(r['table1_kappa_max'])}", _per_network(rows))


def _c1_attack(R):
    """Exponential amplification of the top eigen-direction by the real attack, on the beta range where
    kappa <= 1e-2: exponential against a line (see advnb.book.rules.exponential); not testable when the two
    fitted models part by less than 2x on that range."""
    r = R["theorem2"]
    return (f"E|v₁ᵀδ*| over β ≤ {_fmt(r['c1_beta_valid'])}: the exponential and linear fits part by "
            f"{_fmt(r['c1_separation'])}× at most (acceleration {_fmt(r['c1_accel'])})", r["verdict_c1_attack"])


def _c2(R):
    """The A1 attack's ||delta|| and ||g|| against m/m_success under frozen gating: exponential against a line
    on each curve (advnb.book.rules.exponential); over the curves that can be tested."""
    r = R["growth"]
    return (f"{r['n_testable']}/{r['n_curves']} A1 curves testable (fits part by {_range(r['sep_min'], r['sep_max'])}×): "
            f"{r['n_exp_yes']} exponential, {r['n_exp_partly']} faster, {r['n_exp_no']} slower or linear "
            f"(all curves; C2 reads the frozen-gating ones)", r["verdict_c2"])


def _fig2(R):
    """Every A1 curve (VGG-11, AlexNet, ResNet-18; real network and frozen gating; ||delta|| and ||g||):
    exponential against a line (advnb.book.rules.exponential), over the curves that can be tested."""
    r = R["growth"]
    return (f"{r['n_exp_yes']} of {r['n_testable']} testable curves exponential, {r['n_exp_partly']} faster than "
            f"exponential; acceleration of ‖δ‖ {_range(r['accel_a1_min'], r['accel_a1_max'])} (1 = exponential)", r["verdict_fig2"])


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


# ----------------------------------------------------------------------------- empirical: Sec. 3.3

def _theorem3(R):
    """Per network, at its beta_50: yes when kappa' of Eq. (9) <= 1e-2; partly when that holds only at
    weaker attacks that fool >= 10% of the digits; no otherwise (beta_50 not reached counts as no unless a
    weaker attack qualifies). The row over the networks as for Table 1."""
    r = R["theorem3"]
    rows = r["table2"]
    return (f"κ′ at β₅₀ {_range(r['kp50_min'], r['kp50_max'])} (β₅₀ reached on {r['n_beta50_reached']}/{len(rows)} networks); "
            f"at the weak β = {_fmt(r['table_beta'])}: κ′ ≤ {_fmt(r['t2_max'])}", _per_network(rows, "verdict_theorem3"))


def _table2(R):
    """Per network, at its beta_50: yes when kappa' <= 10x its paper cell; partly when only at weaker attacks
    that fool >= 10% of the digits; no otherwise. The row as for Table 1."""
    r = R["theorem3"]
    rows = r["table2"]
    return (f"within 10× of the paper at β₅₀ on {r['table2_n_yes']}/{len(rows)}, at weaker attacks on "
            f"{r['table2_n_partly']}; implied β {_range(r['implied_beta_min'], r['implied_beta_max'])} (spread "
            f"{_fmt(r['implied_beta_spread'])}×, success there ≤ {r['implied_success_max']:.0f}%); at the weak β = "
            f"{_fmt(r['table_beta'])}: κ′ = {_range(r['t2_min'], r['t2_max'])}", _per_network(rows))


def _theorem4(R):
    """Per network, at its beta_50: yes when kappa' of Eq. (10) <= 1e-2; partly when only at weaker attacks
    that fool >= 10% of the digits; no otherwise. The row over the networks as for Table 1."""
    r = R["theorem4"]
    return (f"κ′ of Eq. (10) at β₅₀ {_range(r['t4_50_min'], r['t4_50_max'])} (β₅₀ reached on {r['n_beta50_reached']} "
            f"networks); at the weak β = {_fmt(r['table_beta'])}: ≤ {_fmt(r['t4_max'])}", r["verdict_theorem4"])


def _c4(R):
    """C4's exponential strengthening: the measured second term of Eq. (10), in units of its prefactor, against
    the law e^{2A} - e^A and the rival A (each with a fitted scale), per network over every digit and beta:
    not testable where the fitted curves part by less than 2x, else yes when the law fits better (over the
    networks that can be tested)."""
    r = R["theorem4"]
    return (f"law e^(2𝒜) − e^𝒜 beats the linear rival on {r['c4_n_exp']}/{r['c4_n_tested']} testable networks; the "
            f"adversarial step shrinks g_x on {r['frac_adv_neg_lo']:.0%} → {r['frac_adv_neg_hi']:.0%} of digits, β "
            f"{_fmt(r['beta_lo'])} → {_fmt(r['beta_hi'])}", r["verdict_c4_exp"])


def _c5(R):
    """'About exp(A) times': per network, the boost ||g_W^(adv)|| / ||g_W|| (adversarial against vanilla step,
    same digits) against e^Â and against 1 + Â (no free parameter), at the strongest a0 of the chapter: not
    testable below a 2x separation of the two, else yes when e^Â fits better; over the networks."""
    r = R["imbalance"]
    return (f"the boost ‖g_W^(adv)‖/‖g_W‖ against e^Â and 1 + Â: {r['c5_summary']}", r["verdict_c5_exp"])


def _fig3(R):
    """yes when the boost ||g_W^(adv)|| / ||g_W|| rises with Â (Spearman > 0) on every network, and the raw effects
    rise with H̄_z ||g̃_x||^2 and Â; partly when only the raw effects rise (they may rise under vanilla training
    too); no when they do not."""
    r = R["imbalance"]
    raw = r["rho_ahat_min"] > 0 and r["rho_prod_min"] > 0
    boost = r["rho_boost_min"] > 0
    return (f"raw effects: ρ with H̄_z‖g̃_x‖² ≥ {_fmt(r['rho_prod_min'])}, with Â ≥ {_fmt(r['rho_ahat_min'])}; the boost over "
            f"vanilla training: ρ(Â, boost) ≥ {_fmt(r['rho_boost_min'])} (vanilla ‖g_W‖ alone: ρ ≥ "
            f"{_fmt(r['rho_vanilla_gw_min'])})", _verdict(raw and boost, raw))


def _fig4(R):
    """yes when, on every network, the mean cos(Δg_W, Δḡ_W) rises more from the lowest to the highest Â group
    than the vanilla step's cos(g_W, ḡ_W) on the same groups; partly on some; no on none."""
    r = R["imbalance"]
    return (f"rise of the mean cosine from the lowest to the highest Â group, adversarial vs vanilla: {r['fig4_rises']}; "
            f"mean cos, lowest group ≤ {_fmt(r['cos_lo_max'])}, highest ≥ {_fmt(r['cos_hi_min'])}", r["verdict_fig4_control"])


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
    """yes when the term Eq. (12)'s linear part omits (delta_i H_h Δh_{-i}) is negligible, median below 1% of the
    kept linear term, at the chapter's beta and at the larger one; partly when only at the chapter's beta."""
    r = R["theorem6"]
    return (f"the omitted cross term is, in median, {_fmt(r['cross_median'])} × the kept term at β = {_fmt(r['beta'])}, "
            f"{_fmt(r['cross_median_hi'])} × at β = {_fmt(r['beta_hi'])}",
            _verdict(r["cross_median"] < 0.01 and r["cross_median_hi"] < 0.01, r["cross_median"] < 0.01))


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


B50 = "β₅₀ per network: the smallest β at which half of the attacked digits are misclassified (bisection)"
CLAIMS: tuple[Claim, ...] = (
    # identities: true by algebra, checked numerically
    Claim("Lemma 1", "The loss Hessian in the logits is PSD; for the sigmoid, H_z ≥ g_z² when the sample is classified right",
          "stated, proof in its Appendix F", "lemma1", "identity", "a grid of margins and random logits", _lemma1),
    Claim("Theorem 2 (push-through)", "the C×C push-through form equals the paper's n×n eigen-sum",
          "the eigen-sum (Eq. (6))", "theorem2", "identity", "the chapter's β", _pushthrough),
    Claim("C1 (formula)", "at a fixed Hessian, the share of δ̂ on the top eigenvector grows with β",
          "derived from Theorems 1-2", "theorem2", "identity", "the clean-input Hessian, the β grid", _c1_formula),
    Claim("C3", "weak β: δ̂ ∥ g_x; strong β: δ̂ ∥ v₁ (at a fixed H̄_x)", "derived from δ̂^(norm)", "lp_attacks",
          "identity", "a fixed H̄_x, the β grid", _c3),
    Claim("Eqs. (9)-(11)", "the closed forms of Theorems 3-5 follow from the gradient flow", "derived (Appendices G-I)",
          "theorem3", "identity", "symbolic", _derivation),
    Claim("Theorem 6 (identities)", "Eq. (12)'s Hessian in a weight row is ½δ̂ᵢ²H_h (second-order model)", "derived",
          "theorem6", "identity", "Theorem 2's δ̂ at the chapter's β", _theorem6_identities),
    # empirical: about trained networks and real attacks
    Claim("Theorem 1", "m-step closed form of the perturbation; its residual ρ is O(1/m)",
          "ρ = O(1/m), so ρ → 0 as m → ∞", "theorem1", "empirical", "the chapter's β, m on a grid", _theorem1),
    Claim("Theorem 2", "the infinite-step perturbation δ̂ = Σ (e^{βλᵢ}−1)/λᵢ γᵢvᵢ describes the real attack",
          "κ small on ten networks (Table 1)", "theorem2", "empirical", B50, _theorem2),
    Claim("Theorem 2 (gradient)", "the gradient at the perturbed input is Σ e^{βλᵢ} γᵢvᵢ", "stated, not measured",
          "theorem2", "empirical", B50, _theorem2_gradient),
    Claim("Theorem 2 (prediction)", "δ̂ from the clean-input Hessian, nothing taken from the attack, predicts it",
          "not tested (H̄_z is read off the attack)", "theorem2", "empirical", B50, _theorem2_predictive),
    Claim("Table 1", "κ of Theorem 2 on MLP-3/4/5, CNN-3/4/5, ResCNN-3/4/5/10 under A2",
          "κ = 4.7e-8 … 1.7e-4 (β not stated)", "theorem2", "empirical", B50, _table1),
    Claim("C1", "the real attack strengthens the top eigen-direction exponentially in β",
          "derived from Theorems 1-2", "theorem2", "empirical", "the β range where κ ≤ 1e-2", _c1_attack),
    Claim("C2", "‖δ‖ and ‖g‖ grow exponentially with β = αm", "Fig. 2, by eye", "growth", "empirical",
          "fixed α, m/m_success from the chapter's start to 1, frozen gating", _c2),
    Claim("Fig. 1", "on a 3-layer MLP, δ̂ matches δ*, the ℓ2-PGD perturbation and the effective ℓ∞-PGD component",
          "a close match, shown as images (no numbers)", "theorem2", "empirical", "the chapter's β; PGD budgets 28/255, 1/255", _fig1),
    Claim("Sec. 3.2", "δ̂^(norm) predicts the ℓ2-PGD perturbation and the effective component of ℓ∞-PGD",
          "1 − cos = 1e-6 … 1e-4 (ℓ2); 3.4e-5 on average (ℓ∞)", "lp_attacks", "empirical",
          "the norm-matched β of each PGD attack", _sec32),
    Claim("Fig. 2", "‖δ‖ and ‖g‖ against m/m_success on VGG-11, AlexNet, ResNet-18, with and without frozen gating",
          "exponential curves (no numbers)", "growth", "empirical", "fixed α, m/m_success from the chapter's start to 1", _fig2),
    Claim("A2", "frozen gating: the attack changes gating states and λ₁ of H̄_x little",
          "λ₁ changes by 1e-4 … 1e-2 (its Appendix J)", "gating", "empirical", "the chapter's β", _a2),
    Claim("Theorem 3", "Eq. (9): an adversarial training step's effect on g̃_x = vanilla term + an exp(𝒜) term",
          "derived; κ′ in Table 2", "theorem3", "empirical", B50, _theorem3),
    Claim("Table 2", "κ′ of Eq. (9) on the ten networks under A2", "κ′ = 1.2e-7 … 1.9e-4 (β not stated)",
          "theorem3", "empirical", B50, _table2),
    Claim("Theorem 4", "Eq. (10): the same for the adversarial step as a whole", "derived", "theorem4", "empirical", B50,
          _theorem4),
    Claim("C4 (sign)", "the second terms of Eqs. (9)-(10) are never positive", "argued from Lemma 1", "theorem4",
          "empirical", "every digit and β of the grid", _c4_sign),
    Claim("C4", "adversarial training pushes g̃_xᵀΔg̃_x negative, exponentially in 𝒜",
          "argued from the second terms of Eqs. (9)-(10)", "theorem4", "empirical", "every digit and β of the grid", _c4),
    Claim("C5", "adversarial training boosts the influence of samples with large H̄_z‖g̃_x‖² (≈ exp(𝒜) times)",
          "Figs. 3-4", "imbalance", "empirical", "the strongest a0 of the chapter (vanilla step as control)", _c5),
    Claim("Fig. 3", "per-sample |g̃ᵀΔg̃| and ‖Δg_W‖ rise with H̄_z, H̄_z‖g̃_x‖² and Â (AlexNet, VGG-11, ResNet-50)",
          "scatter plots, no numbers", "imbalance", "empirical", "β per network for the chapter's a0 (vanilla step as control)", _fig3),
    Claim("Fig. 4", "mean cos(Δg_W, Δḡ_W) rises over ten groups of Â", "rising group means, no numbers",
          "imbalance", "empirical", "β per network for the chapter's a0 (vanilla step as control)", _fig4),
    Claim("Theorem 5", "Eq. (11): the effect of a normalised perturbation δ̂^(norm) = c δ̂/‖δ̂‖", "derived",
          "theorem5", "empirical", "β per network for the chapter's a0", _theorem5),
    Claim("C6", "δ̂^(norm) boosts samples with large ‖g̃_x‖ whose margin yz is neither → 0 nor → ∞",
          "argued from Lemma 1", "theorem5", "empirical", "β per network for the chapter's a0", _c6),
    Claim("C7", "δ̂^(norm) is less imbalanced than δ̂ but more than vanilla training", "argued", "theorem5", "empirical",
          "β per network for the chapter's a0", _c7),
    Claim("Theorem 6", "Eq. (12)'s linear part: the cross term it leaves out is negligible", "derived", "theorem6",
          "empirical", "the chapter's β and a larger one", _theorem6),
    Claim("C8", "adversarial training makes the parameters oscillate", "argued from Eq. (12) and Cohen et al. (2021)",
          "theorem6", "empirical", "full-batch gradient descent, the chapter's lr", _c8),
    Claim("Fig. 5", "instability Δ^(adv) > Δ^(ori) per layer of AlexNet and VGG-11", "yes, on every layer shown (figure)",
          "theorem6", "empirical", "the chapter's η and PGD budget", _fig5),
)


def board(records: dict[str, dict]):
    """The scoreboard: a DataFrame with one row per claim of :data:`CLAIMS`.

    Columns: claim, kind ("identity" | "empirical"), statement, paper, measured, holds ("yes" | "partly" |
    "no" | "not testable"), operating_point, chapter, rule (how ``holds`` is decided). ``records``:
    {chapter: build record}, as :func:`collect` returns; a claim whose chapter has no record is left out.
    """
    import pandas as pd

    results = {c: _revive(r["results"]) for c, r in records.items()}
    rows = []
    for c in (c for c in CLAIMS if c.chapter in results):
        measured, holds = c.measure(results)
        rows.append({"claim": c.claim, "kind": c.kind, "statement": c.statement, "paper": c.paper, "measured": measured,
                     "holds": holds, "operating_point": c.operating_point, "chapter": c.chapter,
                     "rule": " ".join(c.measure.__doc__.split())})
    return pd.DataFrame(rows)


def _revive(value):
    """The records write non-finite numbers as strings ("nan", "inf"): read them back as floats."""
    if isinstance(value, dict):
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def counts(df) -> dict:
    """How many rows of each kind hold: {"identity": {"yes": k, ...}, "empirical": {...}}."""
    out = {}
    for kind in ("identity", "empirical"):
        sub = df[df["kind"] == kind]["holds"].value_counts()
        out[kind] = {v: int(sub.get(v, 0)) for v in ("yes", "partly", "no", "not testable")} | {"n": int(sub.sum())}
    return out


# A verdict is shown as a text badge coloured by book/_static/advnb.css (class advnb-badge--<verdict>):
# plain text renders on every machine, where emoji need a font that may be missing.
_MARK = {"yes": "yes", "partly": "partly", "no": "no", "not testable": "not testable"}


def badge(verdict: str) -> str:
    """The verdict as an inline HTML badge for the scoreboard's MyST table: ``<span class=...>yes</span>``."""
    if verdict not in _MARK:
        raise ValueError(f"verdict must be one of {', '.join(map(repr, _MARK))}, not {verdict!r}")
    return f'<span class="advnb-badge advnb-badge--{verdict.replace(" ", "-")}">{_MARK[verdict]}</span>'


def markdown_table(df) -> str:
    """The scoreboard as a MyST table, each claim linking to its chapter (``{doc}`` role).

    With the columns of :func:`advnb.book.replicate.with_seeds`, the *holds* cell also says on how many
    seeds the rule held, and a *reference* column gives the reference runs' verdicts.
    """
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    seeds, reference = "seeds" in df.columns, "reference" in df.columns and (df["reference"] != "—").any()
    lines = ["| claim | kind | what the paper reports | what this build measured (where) | holds"
             + (" | reference runs" if reference else "") + " | chapter |",
             "|---|---|---|---|---|" + ("---|" if reference else "") + "---|"]
    for _, r in df.iterrows():
        holds = badge(r["holds"]) + (f" {cell(r['seeds'])}" if seeds else "")
        lines.append(f"| **{cell(r['claim'])}**: {cell(r['statement'])} | {r['kind']} | {cell(r['paper'])} | "
                     f"{cell(r['measured'])} *(at: {cell(r['operating_point'])})* | {holds} | "
                     + (f"{cell(r['reference'])} | " if reference else "")
                     + f"{{doc}}`../chapters/{r['chapter']}` |")
    return "\n".join(lines)
