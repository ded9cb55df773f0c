import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from advnb.chapters import gating, growth
from advnb.core import linearize as lin
from advnb.core import metrics
from advnb.core.attacks import gradient_ascent, pgd
from advnb.core.linearize import flipped_fraction, linearize
from advnb.nets.models import TwoLayerReLU


def _net(n_in=12, hidden=16, C=4, seed=0):
    torch.manual_seed(seed)
    return TwoLayerReLU(n_in=n_in, hidden=hidden, n_classes=C).double().eval()


def _batch(B=5, n_in=12, C=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 1, 3, n_in // 3, generator=g, dtype=torch.float64), torch.randint(0, C, (B,), generator=g)


# ---------------------------------------------------------------- fits


def test_loglinear_fit_is_exact_on_an_exponential_and_not_on_a_line():
    r = torch.linspace(0.25, 1, 31, dtype=torch.float64)
    fit = metrics.loglinear_fit(r, 0.3 * torch.exp(2.5 * r))
    assert abs(fit.rate.item() - 2.5) < 1e-12 and abs(fit.log_a.item() - math.log(0.3)) < 1e-12
    assert abs(fit.r2.item() - 1) < 1e-12
    line = metrics.loglinear_fit(r, r).r2.item()
    assert 0.9 < line < 0.99  # a line scores high but not 1 on this range: R² alone cannot tell them apart
    assert abs(metrics.linear_r2(r, 3 * r + 1).item() - 1) < 1e-12
    assert metrics.linear_r2(r, torch.exp(3 * r)).item() < 0.95


def test_loglinear_fit_batches_over_leading_axes():
    r = torch.linspace(0, 1, 11, dtype=torch.float64)
    rates = torch.tensor([0.5, 1.0, -2.0], dtype=torch.float64)
    v = torch.exp(rates[:, None] * r)
    fit = metrics.loglinear_fit(r, v)
    assert torch.allclose(fit.rate, rates, atol=1e-12) and torch.allclose(fit.r2, torch.ones(3, dtype=torch.float64))
    const = metrics.loglinear_fit(r, torch.full((11,), 2.0, dtype=torch.float64))
    assert const.r2.item() == 1 and abs(const.rate.item()) < 1e-15


# ---------------------------------------------------------------- m_success and relative progress


def test_m_success_matches_a_hand_loop():
    g = torch.Generator().manual_seed(0)
    wrong = torch.rand(40, 12, generator=g) < 0.15
    wrong[:, 0] = torch.rand(40, generator=g) < 0.5  # the clean column is ignored
    got = growth.m_success(wrong)
    for i in range(40):
        expected = -1
        for t in range(1, 12):
            if wrong[i, t]:
                expected = t
                break
        assert got[i].item() == expected


def test_progress_curves_interpolate_each_sample_at_its_own_steps():
    g = torch.Generator().manual_seed(0)
    norms = torch.rand(6, 21, generator=g, dtype=torch.float64).cumsum(1)
    ms = torch.tensor([3, 20, 7, 1, 12, 5])
    grid = torch.linspace(0, 1, 9, dtype=torch.float64)
    got = growth.progress_curves(norms, ms, grid)
    for i in range(6):
        ref = np.interp(grid.numpy() * ms[i].item(), np.arange(21), norms[i].numpy())
        assert np.allclose(got[i].numpy(), ref, atol=1e-14)


# ---------------------------------------------------------------- trajectories


@pytest.mark.parametrize("frozen", [False, True])
def test_a1_trajectory_is_the_library_attack(frozen):
    model = _net()
    x, y = _batch()
    beta, m = 2.0, 15
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=frozen, keep=(0, 7, 15))
    tr = growth.trajectory(model, x, y, "a1", beta / m, m, frozen_gating=frozen, keep=(0, 7, 15))
    assert torch.allclose(tr.delta, res.delta.reshape(len(x), -1), atol=1e-13)
    assert torch.allclose(tr.delta_norms, res.delta_norms, atol=1e-13)
    assert torch.allclose(tr.grad_norms, res.grad_norms, atol=1e-13)
    assert torch.allclose(tr.logits, res.logits, atol=1e-13)
    assert torch.allclose(tr.kept, res.kept, atol=1e-13)
    assert torch.equal(tr.wrong[:, -1], res.success)
    assert torch.equal(tr.kept[:, 0], torch.zeros_like(tr.kept[:, 0])) and torch.allclose(tr.kept[:, 2], tr.delta)
    # success is judged on the real network in both settings
    with torch.no_grad():
        z = model((x.reshape(len(x), -1) + tr.kept[:, 1]).reshape(x.shape))
    assert torch.equal(tr.wrong[:, 7], z.argmax(1) != y)


@pytest.mark.parametrize("rule", ["l2", "linf"])
def test_normalised_trajectories_are_unprojected_pgd(rule):
    model = _net()
    x, y = _batch()
    res = pgd(model, x, y, rule, None, 0.05, 10, clip=False)
    tr = growth.trajectory(model, x, y, rule, 0.05, 10)
    assert torch.allclose(tr.delta, res.delta.reshape(len(x), -1), atol=1e-13)
    assert torch.allclose(tr.delta_norms, res.delta_norms, atol=1e-13)
    if rule == "l2":
        assert torch.allclose(tr.step_norms, torch.full_like(tr.step_norms, 0.05))


def _correct(model, B=6):
    x, _ = _batch(B=B)
    with torch.no_grad():
        return x, model(x).argmax(1)  # labels the network gets right


def test_until_success_stops_once_every_sample_has_succeeded():
    model = _net()
    x, y = _correct(model, B=4)
    full = growth.trajectory(model, x, y, "l2", 0.1, 100)
    ms = growth.m_success(full.wrong)
    assert (ms > 0).all()
    short = growth.trajectory(model, x, y, "l2", 0.1, 100, until_success=True)
    assert short.steps == ms.max().item()
    assert torch.equal(growth.m_success(short.wrong), ms)
    with pytest.raises(ValueError):
        growth.trajectory(model, x, y, "sign", 0.5, 3)


def test_growth_curves_exclude_failures_and_fit_growth_reports_them():
    model = _net()
    x, y = _correct(model)
    tr = growth.trajectory(model, x, y, "a1", 0.12, 200)
    grid = torch.linspace(0, 1, 11, dtype=torch.float64)
    g = growth.growth_curves("net", tr, grid, min_steps=2)
    ms = growth.m_success(tr.wrong)
    assert g.n_attacked == 6 and g.n_success == int((ms > 0).sum()) and len(g.m_success) == int((ms >= 2).sum())
    assert torch.allclose(g.delta[:, -1], tr.delta_norms[ms >= 2].gather(1, ms[ms >= 2][:, None])[:, 0])
    assert 0 < len(g.m_success) < 6  # some succeed, some are excluded
    row = growth.fit_growth(g, 0.25)
    assert row["used"] == len(g.m_success) and 0 <= row["r2_delta"] <= 1


def test_linear_crossing_steps_match_an_explicit_attack_on_the_linearisation():
    model = _net()
    x, y = _correct(model)
    J, b = linearize(model, x)
    steps = growth.linear_crossing_steps(J, b, x, y, "a1", 0.5, 100)
    assert (steps > 1).all()
    tr = growth.trajectory(model, x, y, "a1", 0.5, 100, frozen_gating=True, linearization=(J, b))
    z_lin = tr.logits  # the logits the frozen attack sees
    wrong_lin = z_lin.argmax(2) != y[:, None]
    assert torch.equal(steps, growth.m_success(wrong_lin))
    alpha, table = growth.calibrate_alpha(J, b, x, y, "a1", 100, min_steps=3, grid=np.logspace(-2, 2, 9))
    assert alpha in table["alpha"].tolist() and table["kept"].max() == table.set_index("alpha").loc[alpha, "kept"]


# ---------------------------------------------------------------- gating


def test_top_eigenvalue_change_matches_a_dense_eigendecomposition():
    model = _net(n_in=12, hidden=20, C=4)
    x, y = _batch(B=3)
    g = torch.Generator().manual_seed(5)
    kept = 0.3 * torch.randn(3, 2, 12, generator=g, dtype=torch.float64)
    p = torch.softmax(torch.randn(3, 4, generator=g, dtype=torch.float64), 1)
    hz = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    got = gating.top_eigenvalue_change(model, x, kept, hz)
    flat = x.reshape(3, -1)

    def lam1(J):  # dense n x n reference
        return torch.linalg.eigvalsh(J.transpose(1, 2) @ hz @ J)[:, -1]

    J0 = linearize(model, x)[0]
    for k in range(2):
        Jt = linearize(model, (flat + kept[:, k]).reshape(x.shape))[0]
        ref = (lam1(Jt) - lam1(J0)).abs() / lam1(J0)
        assert torch.allclose(got[:, k], ref, rtol=1e-9, atol=1e-12)
    assert (got > 0).any()  # these perturbations flip gates


def test_tiny_beta_flips_nothing_and_kappa_is_unchanged():
    model = _net(n_in=12, hidden=20, C=4)
    x, y = _correct(model, B=5)
    row = gating.gating_at_beta(model, x, y, 1e-3, 8, checkpoints=2)
    assert row["flipped"] == 0 and row["flipped_untied"] == 0 and row["eig_change"] < 1e-12
    assert math.isnan(row["switched"]) and math.isnan(row["ties"])  # no max-pool in this network
    assert abs(row["kappa_real"] - row["kappa_frozen"]) <= 1e-6 * row["kappa_frozen"]


def test_checkpoint_steps():
    assert gating.checkpoint_steps(100, 4) == (25, 50, 75, 100)
    assert gating.checkpoint_steps(2, 4) == (1, 2)


class _PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * 16, 3)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def test_maxpool_ties_and_switches():
    torch.manual_seed(0)
    net = _PoolNet().double().eval()
    with torch.no_grad():
        net.conv.weight.zero_()
        net.conv.bias.copy_(torch.tensor([1.0, -1.0]))
    x = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    # a constant conv output: channel 0 tied at 1 everywhere, channel 1 tied at 0 (switched off: not counted)
    assert torch.allclose(lin.maxpool_ties(net, x), torch.full((2,), 0.5, dtype=torch.float64))
    assert (lin.maxpool_switches(net, x, x) == 0).all()
    with torch.no_grad():
        net.conv.weight.fill_(0.1)
    x_new = x.clone()
    x_new[:, 0, 2, 2] = 1e-6  # raises conv outputs (1..3, 1..3) only: breaks the tie of window (0, 0)
    assert (lin.maxpool_switches(net, x, x_new) > 0).all()
    assert (flipped_fraction(net, x, x_new) >= 0).all()
    assert math.isnan(lin.maxpool_ties(_net(), _batch()[0])[0].item())


def test_relu_flips_tell_tied_gates_apart():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net[1].bias.copy_(torch.tensor([0.0, -0.5, 0.0]))
    x = torch.tensor([[[0.0, 1.0]], [[0.0, 0.2]]], dtype=torch.float64)  # gate 0 tied at 0 on both
    x_new = x + torch.tensor([[[1e-3, 0.0]], [[1e-3, 0.4]]], dtype=torch.float64)
    got = lin.relu_flips(net, x, x_new)
    assert torch.allclose(got["ties"], torch.tensor([1 / 3, 1 / 3], dtype=torch.float64))
    assert torch.allclose(got["flipped"], torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
    assert torch.allclose(got["flipped_untied"], torch.tensor([0.0, 0.5], dtype=torch.float64))
    assert torch.equal(got["flipped"], flipped_fraction(net, x, x_new))


def test_background_share():
    x = torch.tensor([[0.0, 1.0, 0.0, 0.5]], dtype=torch.float64)
    d = torch.tensor([[3.0, 4.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(gating.background_share(d, x), torch.tensor([9 / 25], dtype=torch.float64))


# ---------------------------------------------------------------- figures


def test_figures_build():
    model = _net()
    x, y = _correct(model)
    grid = torch.linspace(0, 1, 11, dtype=torch.float64)
    curves, alphas = growth.growth_experiment("net", model, x, y, 60, grid, min_steps=2)
    assert len(curves) == 6 and set(alphas["attack"]) == set(growth.RULES)
    fig = growth.growth_figure(curves, {"net": "Net"}, 0.25)
    assert len(fig.axes) == 4
    df = gating.gating_map({"net": model}, {"net": (x, y)}, [1e-3, 1.0], 6, checkpoints=2, progress=False)
    assert list(df["beta"]) == [1e-3, 1.0]
    assert len(gating.gating_map_figure(df, {"net": "Net"}, 1e-3).axes) == 5
    assert len(gating.gating_kappa_figure(df[df["beta"] == 1e-3], {"net": "Net"}, 1e-3).axes) == 1
    matplotlib.pyplot.close("all")
    assert isinstance(alphas, pd.DataFrame)
