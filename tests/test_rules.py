"""Every verdict rule returns each of its answers, on numbers built for it; the operating points and
the exponential-against-linear fits they read are checked against closed forms."""

import math

import numpy as np
import pytest

from advnb.book import rules
from advnb.chapters.common import Evaluations, beta50, implied_beta, largest_success_where, operating_points
from advnb.core.metrics import exp_vs_linear, model_vs_rival


# ----------------------------------------------------------------------------- the rules, both ways

@pytest.mark.parametrize("error,largest,verdict", [
    (5e-3, 0.5, "yes"),            # the match holds at beta_50
    (0.3, 0.2, "partly"),          # only at a weaker attack that still fools 20% of the digits
    (0.3, 0.05, "no"),             # the only attacks it describes fool (almost) nobody
    (float("nan"), 0.0, "no"),     # beta_50 never reached, nothing else qualifies
    (float("nan"), 0.3, "partly"),
])
def test_at_operating_point(error, largest, verdict):
    assert rules.at_operating_point(error, 1e-2, largest) == verdict


@pytest.mark.parametrize("verdicts,row", [
    (["yes"] * 10, "yes"), (["yes"] * 9 + ["no"], "partly"), (["partly", "no"], "partly"), (["no"] * 3, "no"), ([], "no"),
])
def test_over_networks(verdicts, row):
    assert rules.over_networks(verdicts) == row


def test_not_testable_unless():
    assert rules.not_testable_unless(["not testable"] * 3) == "not testable"
    assert rules.not_testable_unless(["not testable", "yes"]) == "yes"
    assert rules.not_testable_unless(["not testable", "no", "yes"]) == "partly"


def test_exponential_rule_on_real_curves():
    r = np.linspace(0.25, 1, 31)
    assert rules.exponential(exp_vs_linear(r, np.exp(4 * r))) == "yes"           # an exponential
    assert rules.exponential(exp_vs_linear(r, 1 / (1.05 - r))) == "partly"       # faster (a hyperbolic blow-up)
    assert rules.exponential(exp_vs_linear(r, 5 * r - 1.2)) == "no"               # a line that grows 76x on the range
    assert rules.exponential(exp_vs_linear(r, np.exp(0.2 * r))) == "not testable"  # barely grows: no model wins
    assert rules.exponential(exp_vs_linear(r, 1 + r)) == "not testable"


def test_exponential_rule_reads_the_fit_fields():
    base = {"separation": 5.0, "accel": 1.0, "rss_exp": 0.1, "rss_lin": 1.0}
    assert rules.exponential(base) == "yes"
    assert rules.exponential(base | {"rss_exp": 2.0}) == "no"       # the line fits better
    assert rules.exponential(base | {"accel": 0.5}) == "no"         # slower than exponential
    assert rules.exponential(base | {"accel": 2.0}) == "partly"     # at least exponential
    assert rules.exponential(base | {"separation": 1.5}) == "not testable"
    assert rules.exponential(base | {"accel": float("nan")}) == "no"


def test_law_against_rival():
    a = np.linspace(0, 3, 40)
    assert rules.law_against_rival(model_vs_rival(a, np.exp(a), np.exp, lambda t: 1 + t, fit_scale=False)) == "yes"
    assert rules.law_against_rival(model_vs_rival(a, 1 + a, np.exp, lambda t: 1 + t, fit_scale=False)) == "no"
    small = np.linspace(0, 0.3, 40)  # e^A - 1 ~ A: the two cannot be told apart
    assert rules.law_against_rival(model_vs_rival(small, np.exp(small), np.exp, lambda t: 1 + t, fit_scale=False)) == "not testable"


def test_boost():
    assert rules.boost(0.4, 0.1) == "yes"
    assert rules.boost(0.1, 0.4) == "no"
    assert rules.boost(0.2, 0.2) == "no"


# ----------------------------------------------------------------------------- the fits

def test_exp_vs_linear_against_closed_forms():
    x = np.linspace(0, 2, 21)
    fit = exp_vs_linear(x, 3 * np.exp(1.5 * x))
    assert fit["rate"] == pytest.approx(1.5) and fit["accel"] == pytest.approx(1.0) and fit["rss_exp"] < 1e-20
    # the separation of an exponential and its least-squares line, computed directly
    line = np.polyfit(x, 3 * np.exp(1.5 * x), 1)
    dense = np.linspace(0, 2, 201)
    e, l_ = 3 * np.exp(1.5 * dense), np.polyval(line, dense)
    expected = math.inf if (l_ <= 0).any() else np.maximum(e / l_, l_ / e).max()
    assert fit["separation"] == pytest.approx(expected)
    lin = exp_vs_linear(x + 1, 2 * x + 1)
    assert lin["rss_lin"] < 1e-20 and lin["accel"] < 1


def test_model_vs_rival_scores_in_log_scale():
    a = np.linspace(0.1, 2, 30)
    y = 2.0 * (np.exp(2 * a) - np.exp(a))
    fit = model_vs_rival(a, y, lambda t: np.exp(2 * t) - np.exp(t), lambda t: t)
    assert fit["k_model"] == pytest.approx(2.0) and fit["rss_model"] < 1e-20 and fit["rss_rival"] > 1


@pytest.mark.parametrize("args", [([1, 2, 3], [1, 2, 3]), ([1, 2, 3, 4], [1, -2, 3, 4]), ([[1, 2], [3, 4]], [[1, 2], [3, 4]])])
def test_fits_refuse_bad_input(args):
    with pytest.raises(ValueError):
        exp_vs_linear(*args)
    with pytest.raises(ValueError):
        model_vs_rival(*args, np.exp, lambda t: 1 + t)


# ----------------------------------------------------------------------------- operating points

def _logistic(beta_mid: float, kappa_at_1: float = 0.01):
    """A made-up attack: success rises through 50% at beta_mid; kappa = kappa_at_1 * beta^2."""
    calls = []

    def evaluate(beta):
        calls.append(beta)
        return {"success_rate": 1 / (1 + (beta_mid / beta) ** 4), "kappa": kappa_at_1 * beta ** 2}

    return Evaluations(evaluate), calls


def test_beta50_bisects_to_the_tolerance():
    ev, _ = _logistic(0.37)
    out = beta50(ev, [1e-3, 1e-2, 1e-1, 1, 10], tol=1.01)
    assert out["reached"] and out["beta50_lo"] < 0.37 <= out["beta50"] <= 0.37 * 1.01
    assert out["success_at_beta50"] >= 0.5


def test_beta50_is_never_invented():
    ev, _ = _logistic(100.0)
    out = beta50(ev, [1e-3, 1e-1, 10])
    assert not out["reached"] and math.isnan(out["beta50"])


def test_beta50_steps_below_the_grid():
    ev, _ = _logistic(1e-4)
    out = beta50(ev, [1e-2, 1e-1], tol=1.05)
    assert out["reached"] and out["beta50"] == pytest.approx(1e-4, rel=0.05)


def test_implied_beta_extends_the_grid_downwards():
    ev, _ = _logistic(0.5, kappa_at_1=1.0)  # kappa = beta^2: kappa = 1e-6 at beta = 1e-3
    out = implied_beta(ev, "kappa", 1e-6, [0.1, 1, 10], tol=1.01)
    assert out["beta_implied"] == pytest.approx(1e-3, rel=0.011)
    assert out["success_at_implied"] < 1e-10


def test_evaluations_are_memoised_and_seeded():
    ev, calls = _logistic(0.3)
    ev.seed([{"beta": 1.0, "success_rate": 0.9, "kappa": 0.5}])
    ev(1.0), ev(0.1), ev(0.1)
    assert calls == [0.1] and ev(1.0)["kappa"] == 0.5
    assert list(ev.table()["beta"]) == [0.1, 1.0]


def test_operating_points_and_the_largest_success_holding():
    ev, _ = _logistic(0.3, kappa_at_1=0.01)
    out = operating_points(ev, [1e-3, 1e-2, 1e-1, 1, 10], "kappa", threshold=1e-3, target=1e-4, tol=1.01)
    assert out["beta50"] == pytest.approx(0.3, rel=0.011)
    assert out["kappa_at_beta50"] == pytest.approx(0.01 * out["beta50"] ** 2)
    assert out["beta_implied"] == pytest.approx(0.1, rel=0.011)
    table = ev.table()
    ok = table[table["kappa"] <= 1e-3]
    assert out["largest_success_holding"] == pytest.approx(ok["success_rate"].max())
    assert largest_success_where(table, "kappa", -1) == 0.0
