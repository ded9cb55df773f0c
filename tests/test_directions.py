"""advnb.chapters.lp_attacks: Theorem 2 at any beta, the norm-matched beta, C3, and the l2 / l-inf comparison."""

import math

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import random_instance  # noqa: E402

from advnb.base import ParameterError  # noqa: E402
from advnb.book.params import check
from advnb.chapters import (
    common,
    figures,  # noqa: E402
    lp_attacks,
)
from advnb.core import metrics, theory
from advnb.core.theory import delta_eigensum, infinite_step_delta  # noqa: E402
from advnb.nets.models import TwoLayerReLU  # noqa: E402


def rel(a, b):
    return ((a - b).norm(dim=1) / b.norm(dim=1)).max().item()


def dense_v1(J, hz):
    """Top eigenvector of the dense n x n H̄_x = J^T H̄_z J, and the two largest eigenvalues."""
    hx = J.transpose(1, 2) @ hz @ J
    lam, V = torch.linalg.eigh(0.5 * (hx + hx.transpose(1, 2)))
    return V[:, :, -1], lam[:, -1], lam[:, -2]


# ----------------------------------------------------------------------------- Theorem 2 at any beta


@pytest.mark.parametrize("softmax", [True, False])
@pytest.mark.parametrize("beta", [1e-6, 1e-2, 0.7, 5.0])
def test_delta_hat_matches_pushthrough_and_eigensum(softmax, beta):
    J, hz, g_z = random_instance(B=4, seed=2, softmax=softmax)
    d = theory.delta_hat(theory.spectrum(J, hz, g_z), beta)
    push = infinite_step_delta(J, hz, g_z, beta).delta
    dense = delta_eigensum(J, hz, g_z, beta).delta
    assert rel(d.delta, push) < 1e-12
    assert rel(d.delta, dense) < 1e-12
    assert torch.allclose(d.log_norm, dense.norm(dim=1).log(), rtol=0, atol=1e-12)
    assert torch.allclose(d.unit.norm(dim=1), torch.ones(4, dtype=torch.float64), atol=1e-14)


def test_per_sample_beta_equals_one_call_per_sample():
    J, hz, g_z = random_instance(B=3, seed=7)
    betas = torch.tensor([1e-3, 0.4, 3.0], dtype=torch.float64)
    d = theory.delta_hat(theory.spectrum(J, hz, g_z), betas).delta
    for i in range(3):
        ref = delta_eigensum(J[i:i + 1], hz[i:i + 1], g_z[i:i + 1], betas[i].item()).delta
        assert rel(d[i:i + 1], ref) < 1e-12


def test_direction_stays_finite_where_the_exponential_overflows():
    J, hz, g_z = random_instance(B=3, seed=1, softmax=False)
    spec = theory.spectrum(J, hz, g_z)
    beta = 2000.0 / spec.lam[:, 0].min().item()  # beta lambda_1 >= 2000: e^{2000} is inf in float64
    assert torch.isinf(infinite_step_delta(J, hz, g_z, beta).delta).any() or \
        torch.isnan(infinite_step_delta(J, hz, g_z, beta).delta).any()
    d = theory.delta_hat(spec, beta)
    assert torch.isfinite(d.unit).all() and torch.isfinite(d.log_norm).all()
    # the log-norm is beta lambda_1 + log(gamma_1 / lambda_1) up to e^{-beta (lambda_1 - lambda_2)}
    expect = beta * spec.lam[:, 0] + torch.log(spec.gamma[:, 0].abs() / spec.lam[:, 0])
    assert torch.allclose(d.log_norm, expect, rtol=1e-12)


def test_log_coefficients_limits():
    lam = torch.tensor([[0.0, 1e-300, 1e-8, 2.0, 1e4]], dtype=torch.float64)
    logc = theory.log_coefficients(lam, 0.5)
    # lambda = 0 and tiny lambda: c = beta; moderate: exact; huge: beta lambda - log lambda
    assert logc[0, 0].item() == pytest.approx(math.log(0.5), abs=1e-15)
    assert logc[0, 1].item() == pytest.approx(math.log(0.5), abs=1e-15)
    assert logc[0, 2].item() == pytest.approx(math.log(math.expm1(0.5e-8) / 1e-8), abs=1e-15)
    assert logc[0, 3].item() == pytest.approx(math.log(math.expm1(1.0) / 2.0), abs=1e-15)
    assert logc[0, 4].item() == pytest.approx(5000.0 - math.log(1e4), rel=1e-15)


# ----------------------------------------------------------------------------- the norm-matched beta


def _bisect_by_hand(J, hz, g_z, target, lo=1e-12, hi=1e3, iters=80):
    """One sample at a time, on the norm of the dense eigen-sum sum_i (e^{beta l_i} - 1) / l_i gamma_i v_i."""
    out = []
    for i in range(len(target)):
        hx = (J[i].T @ hz[i] @ J[i]).numpy()
        lam, V = np.linalg.eigh(0.5 * (hx + hx.T))
        gamma = V.T @ (J[i].T @ g_z[i]).numpy()

        def norm(beta):
            coef = np.where(np.abs(lam) > 0, np.expm1(beta * lam) / np.where(lam != 0, lam, 1.0), beta)
            return float(np.linalg.norm(coef * gamma))

        a, b = math.log(lo), math.log(hi)
        for _ in range(iters):
            mid = 0.5 * (a + b)
            a, b = (a, mid) if norm(math.exp(mid)) >= target[i].item() else (mid, b)
        out.append(math.exp(0.5 * (a + b)))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("softmax", [True, False])
def test_match_beta_against_bisection_by_hand(softmax):
    J, hz, g_z = random_instance(B=4, seed=3, softmax=softmax)
    spec = theory.spectrum(J, hz, g_z)
    target = torch.tensor([1e-4, 0.05, 1.0, 20.0], dtype=torch.float64)
    beta = theory.match_beta(spec, target)
    hand = _bisect_by_hand(J, hz, g_z, target)
    assert torch.allclose(beta, hand, rtol=1e-10)
    reached = torch.stack([delta_eigensum(J[i:i + 1], hz[i:i + 1], g_z[i:i + 1], beta[i].item()).delta[0]
                           for i in range(4)])
    assert torch.allclose(reached.norm(dim=1), target, rtol=1e-12)


def test_norm_grows_with_beta():
    J, hz, g_z = random_instance(B=3, seed=4)
    spec = theory.spectrum(J, hz, g_z)
    norms = torch.stack([theory.delta_hat(spec, b).log_norm for b in torch.logspace(-5, 3, 40).tolist()])
    assert (norms.diff(dim=0) > 0).all()


def test_l2_flow_is_the_a1_path_by_arc_length():
    """Normalised gradient steps on the quadratic model g = g_x + H̄_x delta (A2, constant H̄_z)
    approach deltâ at the norm-matched beta as the step shrinks (the module's construction)."""
    J, hz, g_z = random_instance(B=3, seed=5, softmax=False)
    hx = (J.transpose(1, 2) @ hz @ J).numpy()
    g_x = (J.transpose(1, 2) @ g_z[:, :, None])[..., 0].numpy()
    spec = theory.spectrum(J, hz, g_z)
    errors = []
    for m in (100, 1000, 10000):
        alpha = 3.0 / m
        delta = np.zeros_like(g_x)
        for _ in range(m):  # numpy: 10,000 tiny sequential steps
            g = g_x + np.einsum("bij,bj->bi", hx, delta)
            delta = delta + alpha * g / np.linalg.norm(g, axis=1, keepdims=True)
        delta = torch.from_numpy(delta)
        beta = theory.match_beta(spec, delta.norm(dim=1))
        errors.append(lp_attacks.one_minus_cos(theory.delta_hat(spec, beta).unit, delta).max().item())
    assert errors[2] < 1e-7
    assert errors[0] > errors[1] > errors[2]  # first-order convergence in the step length
    assert errors[1] / errors[2] > 50


# ----------------------------------------------------------------------------- C3


def test_c3_limits_on_a_random_instance():
    J, hz, g_z = random_instance(B=4, seed=6, softmax=False)
    v1, lam1, lam2 = dense_v1(J, hz)
    assert (lam1 > lam2 * 1.01).all()
    spec = theory.spectrum(J, hz, g_z)
    assert (metrics.abs_cos(spec.V[:, :, 0], v1) > 1 - 1e-12).all()
    small = theory.delta_hat(spec, 1e-7).unit
    assert (metrics.cos(small, spec.g_x) > 1 - 1e-10).all()
    big = theory.delta_hat(spec, 200.0 / (lam1 - lam2).min().item()).unit
    assert (metrics.abs_cos(big, v1) > 1 - 1e-12).all()
    df = lp_attacks.c3_curves(spec, [1e-7, 1e-2, 1.0, 1e2, 1e4])
    assert list(df.columns) == ["beta", "cos_g", "cos_v1", "one_minus_cos_g", "one_minus_cos_v1", "cos_g_min", "cos_v1_min"]
    assert (df["one_minus_cos_g"].diff().dropna() >= -1e-15).all()
    assert (df["one_minus_cos_v1"].diff().dropna() <= 1e-15).all()
    assert df["one_minus_cos_g"].iloc[-1] > 1e3 * df["one_minus_cos_g"].iloc[0]
    assert df["one_minus_cos_v1"].iloc[0] > 1e3 * df["one_minus_cos_v1"].iloc[-1]
    assert df["cos_g"].iloc[0] > 0.999999 and df["cos_v1"].iloc[-1] > 0.999999


def test_one_minus_abs_cos_is_precise():
    a = torch.tensor([[1.0, 1e-9, 0.0]], dtype=torch.float64)
    b = torch.tensor([[-1.0, 0.0, 0.0]], dtype=torch.float64)
    assert metrics.one_minus_abs_cos(a, b).item() == pytest.approx(0.5e-18, rel=1e-6)


# ----------------------------------------------------------------------------- attacks beside Theorem 2


@pytest.fixture
def net_and_batch():
    torch.manual_seed(0)
    model = TwoLayerReLU(n_in=20, hidden=16, n_classes=4).double().eval()
    x = torch.rand(6, 20, dtype=torch.float64)
    y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_lp_match_small_steps_frozen_gating(net_and_batch, norm):
    model, x, y = net_and_batch
    alpha = 1e-3 if norm == "l2" else 1e-4
    res = common.lp_match(model, x, y, norm, None, alpha, 200, clip=False, frozen_gating=True)
    assert torch.allclose(res.delta_hat.norm(dim=1), res.target.norm(dim=1), rtol=1e-10)
    if norm == "l2":
        assert (res.error < res.baseline).all()
        assert torch.equal(res.target, res.delta)
        assert res.error.max().item() < 1e-8
        assert torch.allclose(res.effective_share, torch.ones(6, dtype=torch.float64))
    else:  # the effective component is only roughly on the A1 path: small, not always below g_x
        assert res.error.max().item() < 1e-5 and res.error.mean() < res.baseline.mean()
        assert (res.effective_share < 1).all()


def test_run_variant_and_tables(net_and_batch):
    model, x, y = net_and_batch
    nets = {"tiny": model}
    df = lp_attacks.matching_table(nets, {"tiny": (x, y)}, {"l2": 0.05, "linf": 0.005}, 5, 2.5, labels={"tiny": "Tiny"})
    assert len(df) == 2 * len(common.VARIANTS) and set(df["network"]) == {"Tiny"}
    assert df[["error_mean", "baseline_mean", "beta_median"]].notna().all().all()
    sw = lp_attacks.eps_sweep(model, x, y, {"l2": 0.05, "linf": 0.005}, [1, 4], 5, 2.5)
    assert len(sw) == 2 * 2 * len(common.VARIANTS)
    a2 = sw[(sw["variant"] == common.VARIANTS[0].name) & (sw["norm"] == "l2")]
    assert a2["error_mean"].iloc[1] > a2["error_mean"].iloc[0]  # a larger budget matches worse
    clipped = df[(df["norm"] == "l2") & (df["variant"] == "A2, projection + clip")]
    assert clipped["error_mean"].iloc[0] >= 0


def test_gradient_jump_smooth_network(net_and_batch):
    model, x, y = net_and_batch
    assert lp_attacks.gradient_jump(model, x, y, h=1e-8).max().item() < 1e-12


# ----------------------------------------------------------------------------- figures


def test_figure1_panel_and_magnification():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 784, generator=g, dtype=torch.float64)
    real = torch.randn(2, 784, generator=g, dtype=torch.float64)
    pred = real + 1e-4 * torch.randn(2, 784, generator=g, dtype=torch.float64)
    assert lp_attacks.magnification(real, pred) in (1e3, 1e4)
    assert lp_attacks.magnification(real, real) == 1.0
    fig = figures.figure1_panel(x, [common.Pair("a", real, "b", pred), common.Pair("c", real, "d", pred)], title="T")
    assert len([ax for ax in fig.axes if ax.images]) == 2 * 7
    plt.close(fig)


def test_plots_return_figures(net_and_batch):
    model, x, y = net_and_batch
    df = lp_attacks.matching_table({"tiny": model}, {"tiny": (x, y)}, {"l2": 0.05, "linf": 0.005}, 3, 2.5)
    fig = lp_attacks.plot_matching(df, bands={"l2": (1e-6, 1e-4)}, title="t")
    assert fig.axes[0].get_ylabel() and fig.axes[0].get_xlabel()
    plt.close(fig)
    sw = lp_attacks.eps_sweep(model, x, y, {"l2": 0.05, "linf": 0.005}, [1, 2], 3, 2.5)
    plt.close(lp_attacks.plot_eps_sweep(sw, "Tiny"))
    J, hz, g_z = random_instance(seed=8, softmax=False)
    spec = theory.spectrum(J, hz, g_z)
    plt.close(lp_attacks.plot_c3(lp_attacks.c3_curves(spec, [1e-3, 1.0, 1e3]), "Tiny", 0.9, (0.1, 1.0)))


# ----------------------------------------------------------------------------- bad input


def test_bad_input(net_and_batch):
    J, hz, g_z = random_instance(B=3, seed=0)
    spec = theory.spectrum(J, hz, g_z)
    with pytest.raises(ValueError):
        theory.spectrum(J[0], hz, g_z)
    with pytest.raises(ValueError):
        theory.spectrum(J, hz[:2], g_z)
    for beta in (0.0, -1.0, float("nan"), float("inf"), torch.ones(2, dtype=torch.float64)):
        with pytest.raises(ValueError):
            theory.delta_hat(spec, beta)
    for target in (torch.zeros(3), -torch.ones(3), torch.ones(2), torch.tensor([1.0, float("nan"), 1.0])):
        with pytest.raises(ValueError):
            theory.match_beta(spec, target.double())
    zero = theory.spectrum(J, hz, torch.zeros_like(g_z))
    with pytest.raises(ValueError):
        theory.match_beta(zero, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError):
        theory.delta_hat(zero, 1.0)
    with pytest.raises(ValueError):
        lp_attacks.c3_curves(theory.spectrum(J, torch.zeros_like(hz), g_z), [1.0])
    model, x, y = net_and_batch
    with pytest.raises(ValueError):
        common.run_variant(model, x, y, "l2", 0.0, 5, 2.5, common.VARIANTS[0])
    with pytest.raises(ValueError):
        common.run_variant(model, x, y, "l2", 0.1, 0, 2.5, common.VARIANTS[0])
    with pytest.raises(ValueError):
        common.run_variant(model, x, y, "l1", 0.1, 5, 2.5, common.VARIANTS[0])
    with pytest.raises(ValueError):
        lp_attacks.gradient_jump(model, x, y, h=0.0)
    with pytest.raises(ValueError):
        figures.figure1_panel(x, [])
    with pytest.raises(ValueError):
        figures.figure1_panel(torch.rand(2, 784), [common.Pair("a", torch.zeros(2, 784), "b", torch.zeros(3, 784))])


def test_chapter_parameter_rules():
    check(dict(eps_l2=0.1, eps_linf=0.004, step_ratio=2.5, eps_scales=[1, 3, 10]))
    for bad in (dict(eps_l2=0.0), dict(eps_linf=-1.0), dict(step_ratio=float("nan")), dict(eps_scales=[]),
                dict(eps_scales=[1, -2])):
        with pytest.raises(ParameterError):
            check(bad)


def test_one_thread_restores_the_thread_count():
    n = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with common.one_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError
    assert torch.get_num_threads() == n
