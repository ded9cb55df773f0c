"""The scoreboard's verdict rules, as pure functions of the measured numbers.

Each rule returns ``"yes"``, ``"partly"``, ``"no"`` or, for the exponential claims only,
``"not testable"``. They are written so that every one can fail: ``tests/test_rules.py`` builds
numbers for which each returns each of its answers. The operating points the rules read are fixed
by rules that look at no error (:func:`advnb.chapters.common.beta50`), before anything is judged.

- :func:`at_operating_point`: an error at beta_50 (half of the attacked digits fooled) against a
  threshold; "partly" when the match holds only for weaker attacks, as long as those still fool at
  least :data:`WEAK_SUCCESS` of the digits (an attack that fools nobody says nothing).
- :func:`over_networks`: one verdict from the verdicts of several networks.
- :func:`exponential`: an exponential against its linear rival (:func:`advnb.core.metrics.exp_vs_linear`),
  judged only where the two fitted models part by at least :data:`MIN_SEPARATION`.
- :func:`boost`: "adversarial training boosts X" against the same X under vanilla training.
"""

from __future__ import annotations

import math
from typing import Iterable

WEAK_SUCCESS = 0.1  # a weaker attack counts for "partly" only if it still fools at least 10% of the digits
MIN_SEPARATION = 2.0  # exponential and linear fits must part by 2x somewhere on the range to be told apart
ACCEL_BAND = (0.8, 1.25)  # acceleration (rate, upper half / lower half) of an exponential
VERDICTS = ("yes", "partly", "no", "not testable")


def at_operating_point(error: float, threshold: float, largest_success_holding: float) -> str:
    """``error`` measured at beta_50, and the largest success rate among the betas where error <= threshold.

    yes: error <= threshold at beta_50; partly: it is not, but the match holds at a weaker attack that
    still fools at least WEAK_SUCCESS of the digits; no otherwise (including beta_50 never reached and
    no attack of at least WEAK_SUCCESS matched).
    """
    if error is not None and not math.isnan(error) and error <= threshold:
        return "yes"
    return "partly" if largest_success_holding >= WEAK_SUCCESS else "no"


def over_networks(verdicts: Iterable[str]) -> str:
    """yes when every network's verdict is yes; partly when some are yes or partly; no when none is."""
    v = list(verdicts)
    if not v:
        return "no"
    if all(x == "yes" for x in v):
        return "yes"
    return "partly" if any(x in ("yes", "partly") for x in v) else "no"


def exponential(fit: dict) -> str:
    """An exponential claim, from :func:`advnb.core.metrics.exp_vs_linear`'s fit.

    not testable: the fitted exponential and line part by less than MIN_SEPARATION on the range;
    yes: the exponential has the lower residual sum of squares and an acceleration in ACCEL_BAND;
    partly: growth faster than exponential (acceleration above the band: "at least exponential");
    no: slower than exponential, or the line fits better.
    """
    if not fit.get("separation", 0) >= MIN_SEPARATION:
        return "not testable"
    accel = fit.get("accel", float("nan"))
    if not math.isnan(accel) and accel > ACCEL_BAND[1]:
        return "partly"
    if not math.isnan(accel) and ACCEL_BAND[0] <= accel <= ACCEL_BAND[1] and fit["rss_exp"] < fit["rss_lin"]:
        return "yes"
    return "no"


def boost(adversarial: float, vanilla: float, margin: float = 0.0) -> str:
    """A "boost" claim: a statistic under adversarial training against the same under vanilla training.

    yes when the adversarial value exceeds the vanilla one by more than ``margin``; no otherwise.
    """
    return "yes" if adversarial > vanilla + margin else "no"


def law_against_rival(fit: dict) -> str:
    """A claimed law against its rival (:func:`advnb.core.metrics.model_vs_rival`'s fit).

    not testable: the two fitted curves part by less than MIN_SEPARATION over the measured range;
    yes: the claimed law has the lower residual sum of squares; no: the rival fits better.
    """
    if not fit.get("separation", 0) >= MIN_SEPARATION:
        return "not testable"
    return "yes" if fit["rss_model"] < fit["rss_rival"] else "no"


def not_testable_unless(verdicts: Iterable[str]) -> str:
    """:func:`over_networks` over the networks where the claim could be tested; "not testable" if none."""
    tested = [v for v in verdicts if v != "not testable"]
    return over_networks(tested) if tested else "not testable"
