"""advnb.chapters.imbalance: Â against a hand-written attack loop, the summaries on known inputs, Theorem 5's table."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from advnb.chapters import common, imbalance, theorem5
from advnb.core import binary, metrics
from advnb.core.attacks import gradient_ascent
from advnb.core.losses import loss, loss_derivatives
from advnb.nets.models import build_model


def _net(arch="mlp-3", seed=0):
    torch.manual_seed(seed)
    return build_model(arch, hidden=16, width=0.125, n_classes=1).double().eval()


def _batch(model, B=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, 1, 28, 28, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = torch.where(model(x)[:, 0] > 0, 1, -1)  # correctly classified by construction
    return x, y


@pytest.mark.parametrize("arch", ["mlp-3", "cnn-3"])
def test_a_hat_is_the_sum_over_the_attack_steps(arch):
    """Â = sum_{t<m} alpha H̄_z ||dz/dx at x + delta^(t)||^2, with dz/dx re-taken by autograd at every step."""
    model = _net(arch, seed=1)
    x, y = _batch(model, B=6, seed=2)
    beta, m = 0.5, 7
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=False)
    alpha = beta / m
    flat = x.reshape(len(x), -1)
    delta = torch.zeros_like(flat)
    total = torch.zeros(len(x), dtype=x.dtype)
    hz_num = torch.zeros(len(x), dtype=x.dtype)
    hz_den = torch.zeros(len(x), dtype=x.dtype)
    step = None
    for t in range(m):
        xa = (flat + delta).requires_grad_(True)
        z = model(xa.reshape(x.shape))
        (gt,) = torch.autograd.grad(z.sum(), xa)  # g̃ = dz/dx
        (g,) = torch.autograd.grad(loss(model(xa.reshape(x.shape)), y).sum(), xa)
        total = total + gt.pow(2).sum(1)
        if t > 0:  # Theorem 1's H̄_z: H_z at x + delta^(t) weighted by the step that reached it
            _, h = loss_derivatives(z.detach(), y)
            hz_num, hz_den = hz_num + step * h[:, 0, 0], hz_den + step
        step = (alpha * g).norm(dim=1)
        delta = delta + alpha * g
    hz_bar = hz_num / hz_den
    assert torch.allclose(res.hz_bar[:, 0, 0], hz_bar, rtol=1e-10)
    assert torch.allclose(res.delta.reshape(len(x), -1), delta, rtol=1e-10, atol=1e-14)
    expected = alpha * hz_bar * total
    assert torch.allclose(common.a_hat(res, y, beta), expected, rtol=1e-9)


def test_a_hat_is_theorem3_strength_when_the_logit_gradient_is_constant():
    """Under frozen gating g̃ does not change along the attack, so Â = beta H̄_z ||g̃_x||^2 = 𝒜."""
    model = _net("mlp-3", seed=3)
    x, y = _batch(model, seed=4)
    lp = binary.layer_pass(model, x, y)
    res = gradient_ascent(model, x, y, 0.3, 20, frozen_gating=True)
    A = binary.strength(0.3, res.hz_bar[:, 0, 0], lp.gt_x)
    assert torch.allclose(common.a_hat(res, y, 0.3), A, rtol=1e-9)


def test_top_share_on_known_inputs():
    assert imbalance.top_share(np.ones(20)) == pytest.approx(0.1)  # 2 of 20 equal values
    v = np.array([10.0] + [1.0] * 9)
    assert imbalance.top_share(v) == pytest.approx(10 / 19)  # top 10% of 10 samples: the one largest
    assert imbalance.top_share([3.0, 1.0, 0.0, 0.0], frac=0.5) == pytest.approx(1.0)
    assert imbalance.top_share(list(range(1, 12)), frac=0.1) == pytest.approx((11 + 10) / 66)  # ceil(1.1) = 2 values
    assert imbalance.top_share([5.0]) == 1.0


def test_group_means_on_constructed_data():
    rng = np.random.default_rng(0)
    key = rng.permutation(100).astype(float)
    value = 2 * key + 1  # group g holds keys 10(g-1) .. 10g-1: mean key 10g - 5.5
    gm = imbalance.group_means(key, value, 10)
    assert list(gm["group"]) == list(range(1, 11)) and (gm["n"] == 10).all()
    assert np.allclose(gm["key_mean"], 10 * np.arange(1, 11) - 5.5)
    assert np.allclose(gm["mean"], 2 * gm["key_mean"] + 1)
    assert (gm["key_lo"].to_numpy()[1:] > gm["key_hi"].to_numpy()[:-1]).all()
    uneven = imbalance.group_means(np.arange(23.0), np.arange(23.0), 10)
    assert uneven["n"].sum() == 23 and set(uneven["n"]) == {2, 3}


def test_rank_correlations_table():
    df = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 4, 6, 8], "c": [4, 3, 2, 1]})
    rc = imbalance.rank_correlations(df, ["a"], ["b", "c"])
    assert rc.loc["b", "a"] == pytest.approx(1.0) and rc.loc["c", "a"] == pytest.approx(-1.0)


def test_beta_for_strength_gives_the_largest_or_the_median_strength():
    model = _net("cnn-3", seed=5)
    x, y = _batch(model, B=9, seed=6)
    lp = binary.layer_pass(model, x, y)
    strengths = lp.hz * lp.gt_x.pow(2).sum(1)
    beta = common.beta_for_strength(model, x, y, 0.2)
    assert (beta * strengths).max().item() == pytest.approx(0.2, rel=1e-12)
    beta = common.beta_for_strength(model, x, y, 0.2, statistic="median")
    assert (beta * strengths).median().item() == pytest.approx(0.2, rel=1e-12)


def test_kappa_prime_by_move_of_an_empty_table_has_the_columns():
    kp = theorem5.kappa_prime_by_move(pd.DataFrame(columns=["mode", "f", "phi_star", "phi_hat"]))
    assert list(kp.columns) == ["mode", "f", "kappa_prime"] and kp.empty


def test_c5_samples_columns_and_consistency():
    model = _net("cnn-3", seed=7)
    x, y = _batch(model, B=10, seed=8)
    df = imbalance.c5_samples(model, x, y, beta=0.2, m=5, eta=1e-3)
    assert len(df) == 10
    assert set(df.columns) >= {"hz_bar", "hz_gx2", "A", "a_hat", "phi_abs", "dgw_norm", "cos_to_mean", "yz", "success"}
    assert np.allclose(df["A"], 0.2 * df["hz_gx2"])
    assert (df["cos_to_mean"].abs() <= 1 + 1e-12).all() and (df["phi_abs"] >= 0).all()
    # phi and ||Δg_W|| are linear in eta; Â and the cosines do not depend on it
    df2 = imbalance.c5_samples(model, x, y, beta=0.2, m=5, eta=2e-3)
    assert np.allclose(df2["phi_abs"], 2 * df["phi_abs"]) and np.allclose(df2["a_hat"], df["a_hat"])


def test_c67_samples_reduce_to_eq9_and_the_c6_factor_identity():
    model = _net("mlp-3", seed=9)
    x, y = _batch(model, B=8, seed=10)
    beta, m, eta = 0.05, 50, 1e-3
    df = theorem5.c67_samples(model, x, y, beta, m, eta, factors=[0.5, 1.0])
    assert set(df["mode"]) == set(theorem5.MODES) and len(df) == 8 * 2 * 2
    hat = df[(df["mode"] == "per-sample s") & (df["f"] == 1.0)].reset_index(drop=True)
    assert np.allclose(hat["s"], 1.0) and np.allclose(hat["c"], hat["delta_hat_norm"])
    t3 = common.phi_table(model, x, y, beta, m, eta)  # Eq. (9) with the same H̄_z
    assert np.allclose(hat["phi_hat"], t3["phi_hat"], rtol=1e-10, atol=1e-18)
    # a weak attack: the measured effect at x + deltâ is Eq. (9) to within 1e-3
    assert metrics.kappa_prime(torch.tensor(hat["phi_star"].values), torch.tensor(hat["phi_hat"].values)) < 1e-3
    # (e^A - 1)/||deltâ|| = H̄_z ||g̃_x|| / |g_z|
    assert np.allclose(hat["factor_c6"], hat["hz_bar"] * hat["gx_norm"] / hat["g_z"].abs(), rtol=1e-10)
    common_c = df[(df["mode"] == "common c") & (df["f"] == 1.0)]
    assert np.allclose(common_c["c"], hat["delta_hat_norm"].mean())
    kp = theorem5.kappa_prime_by_move(df)
    assert len(kp) == 4 and (kp["kappa_prime"] >= 0).all()
    shares = theorem5.imbalance_shares(df)
    assert all(0 < v <= 1 for v in shares.values())


def test_bad_input_is_refused_with_one_line():
    model = _net("mlp-3")
    x, y = _batch(model, B=4)
    res = gradient_ascent(model, x, y, 0.1, 3, frozen_gating=True)
    cases = [
        (lambda: common.a_hat(res, y, -1.0), "beta"),
        (lambda: common.a_hat(res, y, float("nan")), "beta"),
        (lambda: imbalance.top_share([]), "at least one"),
        (lambda: imbalance.top_share([1.0, -2.0]), ">= 0"),
        (lambda: imbalance.top_share([1.0, 2.0], frac=0.0), "frac"),
        (lambda: imbalance.group_means([1.0, 2.0], [1.0], 2), "same length"),
        (lambda: imbalance.group_means([1.0, 2.0], [1.0, 2.0], 3), "at least 3"),
        (lambda: common.beta_for_strength(model, x, y, 0.0), "a0"),
        (lambda: common.beta_for_strength(model, x, y, 0.1, statistic="mean"), "statistic"),
        (lambda: theorem5.c67_samples(model, x, y, 0.1, 3, 1e-3, factors=[-1.0]), "factors"),
        (lambda: theorem5.imbalance_shares(pd.DataFrame({"mode": [], "f": []})), "deltâ"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words) as info:
            call()
        assert "\n" not in str(info.value)
    ten = build_model("mlp-3", width=0.125).double().eval()
    res10 = gradient_ascent(ten, x, torch.zeros(4, dtype=torch.long), 0.1, 3, frozen_gating=True)
    with pytest.raises(ValueError, match="one-logit"):
        common.a_hat(res10, y, 0.1)
    assert math.isfinite(imbalance.top_share([0.0, 1.0]))


@pytest.mark.parametrize("arch", ["mlp-3", "cnn-3"])
def test_frozen_binary_attack_is_the_frozen_attack_on_its_line(arch):
    model = _net(arch, seed=11)
    x, y = _batch(model, B=7, seed=12)
    for beta in (0.05, 3.0):
        full = gradient_ascent(model, x, y, beta, 40, frozen_gating=True)
        lp = binary.layer_pass(model, x, y)
        line = theorem5.frozen_binary_attack(lp, y, beta, 40)
        assert torch.allclose(line.hz_bar, full.hz_bar, rtol=1e-11, atol=1e-300)
        assert torch.allclose(line.logits, full.logits, rtol=1e-11, atol=1e-12)
        unit = lp.gt_x / lp.gt_x.norm(dim=1, keepdim=True)
        assert torch.allclose(line.delta * unit, full.delta.reshape(7, -1), rtol=1e-10, atol=1e-13)
        assert torch.equal(line.success, full.success)
