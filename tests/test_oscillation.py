"""Theorem 6 (Eq. 12), the Fig. 5 instability measure, and the Hessian tools of the oscillation study."""

import copy

import pytest
import torch
from torch import nn
from torch.func import hessian

from advnb.chapters import theorem6 as osc
from advnb.core.losses import loss
from advnb.core.metrics import loglog_slope
from advnb.nets.models import TwoLayerReLU


def tiny_two_layer(n_in=7, hidden=5, seed=0):
    torch.manual_seed(seed)
    return TwoLayerReLU(n_in=n_in, hidden=hidden, n_classes=1).double().eval()


def tiny_batch(B=6, n_in=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, n_in, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(B, generator=g) > 0.5, 1, -1)
    return x, y


class TinyConv(nn.Module):
    """conv 3x3 (1 -> 3), ReLU, max-pool 2, linear (3*3*3 -> 4), ReLU, linear (4 -> 1). x: (B, 1, 8, 8)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(27, 4)
        self.fc2 = nn.Linear(4, 1)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv(x)))
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


def tiny_conv_batch(B=5, seed=1):
    torch.manual_seed(seed)
    model = TinyConv().double().eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(B, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(B, generator=g) > 0.5, 1, -1)
    return model, x, y


# ---------------------------------------------------------------- HVP and power iteration


def test_hvp_equals_dense_hessian_times_v():
    model = tiny_two_layer()
    x, y = tiny_batch()
    f = osc.flat_loss(model, x, y)
    theta = osc.flat_params(model)
    H = hessian(f)(theta)
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(osc.hvp(f, theta, v), H @ v, rtol=1e-10, atol=1e-13)


def test_power_iteration_finds_the_top_eigenvalue_of_the_dense_hessian():
    model = tiny_two_layer()
    x, y = tiny_batch()
    f = osc.flat_loss(model, x, y)
    theta = osc.flat_params(model)
    top = torch.linalg.eigvalsh(hessian(f)(theta))[-1].item()
    eig = osc.top_eigenvalue(lambda v: osc.hvp(f, theta, v), theta, iters=20000, tol=1e-9,
                             generator=torch.Generator().manual_seed(0))
    assert eig.converged
    assert abs(eig.value - top) <= 1e-6 * abs(top)
    assert torch.allclose(osc.hvp(f, theta, eig.vector), top * eig.vector, atol=1e-6 * abs(top))


def test_power_iteration_returns_the_largest_algebraic_eigenvalue():
    """A dominant negative eigenvalue is skipped: the top of diag(-5, 3, 1, 0.5), rotated, is 3."""
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    A = Q @ torch.diag(torch.tensor([-5.0, 3.0, 1.0, 0.5], dtype=torch.float64)) @ Q.T
    eig = osc.top_eigenvalue(lambda v: A @ v, torch.zeros(4, dtype=torch.float64), iters=5000, tol=1e-10,
                             generator=torch.Generator().manual_seed(1))
    assert abs(eig.value - 3.0) < 1e-8


def test_power_iteration_rejects_bad_settings():
    for kw in ({"iters": 0}, {"tol": 0.0}):
        with pytest.raises(ValueError):
            osc.top_eigenvalue(lambda v: v, torch.zeros(3), **kw)


# ---------------------------------------------------------------- Eq. (12)


@pytest.mark.parametrize("i", [0, 3, 6])
def test_eq12_hessian_identities_hold_exactly(i):
    model = tiny_two_layer()
    x, y = tiny_batch(B=1)
    delta = 0.3 * torch.randn(7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    c = osc.eq12_check(model, x[0], delta, y[0], i)
    for err in (c.err_hold, c.err_true, c.err_taylor, c.err_linear):
        assert err < 1e-10, c
    assert c.cross_share > 1e-3  # Eq. (12) leaves out a linear term that is not negligible
    assert c.hessian_shift > 0  # the Taylor model's curvature is H_h(h), not the exact H_h(h + Δh)


def test_eq12_rejects_a_bad_pixel_and_a_non_two_layer_model():
    model = tiny_two_layer()
    x, y = tiny_batch(B=1)
    with pytest.raises(ValueError):
        osc.eq12_check(model, x[0], x[0], y[0], 7)
    with pytest.raises(ValueError):
        osc.two_layer_weights(nn.Linear(3, 1))


def test_taylor_remainder_is_cubic_in_the_step():
    model = tiny_two_layer()
    x, y = tiny_batch(B=1)
    delta = 0.3 * torch.randn(7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    W, _ = osc.two_layer_weights(model)
    u = torch.randn(5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    u = u / u.norm()
    scales = [0.01 * 2**k for k in range(7)]
    r = osc.taylor_remainder(lambda w: osc.row_loss(model, x[0], delta, y[0], 2, w, True), W[2].clone(), u, scales)
    assert abs(loglog_slope(scales, r) - 3) < 0.1


def test_first_layer_curvature_is_the_top_eigenvalue_of_the_dense_hessian():
    model = tiny_two_layer()
    x, y = tiny_batch(B=3)
    got = osc.first_layer_curvature(model, x, y)
    W0 = model.fc1.weight.detach().clone()  # (D, n) = W^T
    for b in range(3):
        def f(Wt):
            z = torch.relu(x[b] @ Wt.T + model.fc1.bias) @ model.fc2.weight.T + model.fc2.bias
            return osc.sample_loss(z, y[b])

        H = hessian(f)(W0).reshape(W0.numel(), W0.numel())
        assert abs(got[b].item() - torch.linalg.eigvalsh(H)[-1].item()) < 1e-10 * max(1.0, got[b].item())


# ---------------------------------------------------------------- Fig. 5 instability


def loop_instability(model, x, y, eta):
    """Hand-written reference: one sample and one layer at a time, plain autograd, in-place update."""
    out = {}
    for name, mod in osc.weight_layers(model).items():
        D = mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels
        vals = []
        for b in range(len(y)):
            m = copy.deepcopy(model)
            W = m.get_parameter(name)
            (g0,) = torch.autograd.grad(loss(m(x[b : b + 1]), y[b : b + 1]).sum(), W)
            with torch.no_grad():
                W -= eta * g0
            (g1,) = torch.autograd.grad(loss(m(x[b : b + 1]), y[b : b + 1]).sum(), W)
            vals.append(((g1 - g0).norm() / (D * (eta * g0).norm())).item())
        out[name] = torch.tensor(vals, dtype=torch.float64)
    return out


@pytest.mark.parametrize("eta", [1e-3, 0.5])
def test_gradient_instability_equals_a_finite_difference_loop(eta):
    model, x, y = tiny_conv_batch()
    got = osc.gradient_instability(model, x, y, eta)
    ref = loop_instability(model, x, y, eta)
    assert list(got) == ["conv.weight", "fc1.weight", "fc2.weight"]
    for name in ref:
        assert torch.allclose(got[name], ref[name], rtol=1e-10, atol=0), name


def test_small_steps_approach_the_gauss_newton_limit():
    """z is piecewise linear in any one weight of a ReLU / max-pool net: the limit is H_z ||dz/dW||^2 / D."""
    model, x, y = tiny_conv_batch(B=8)
    fd = osc.gradient_instability(model, x, y, 1e-7)
    gn, h_z = osc.gauss_newton_instability(model, x, y)
    assert h_z.shape == (8,) and (h_z > 0).all()
    for name in fd:
        assert torch.allclose(fd[name], gn[name], rtol=1e-5), name


def test_instability_rejects_bad_input():
    model, x, y = tiny_conv_batch()
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="eta must be > 0") as e:
            osc.gradient_instability(model, x, y, bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown layer") as e:
        osc.gradient_instability(model, x, y, 0.1, layers=["conv.bias_typo"])
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError):
        osc.layer_width(nn.ReLU())


def test_layer_widths():
    model, _, _ = tiny_conv_batch()
    assert [osc.layer_width(m) for m in osc.weight_layers(model).values()] == [3, 4, 1]


def test_instability_table_columns_and_ratio():
    model, x, y = tiny_conv_batch(B=6)
    df = osc.instability_table(model, x, x + 0.1, y, 0.01)
    assert list(df["layer"]) == ["conv", "fc1", "fc2"]
    assert torch.allclose(torch.tensor(df["ratio"].values), torch.tensor((df["adv"] / df["ori"]).values))
    same = osc.instability_table(model, x, x, y, 0.01)
    assert (same["ratio"] - 1).abs().max() < 1e-12 and (same["hz_ratio"] - 1).abs().max() < 1e-12


# ---------------------------------------------------------------- training record


def test_train_and_record_small_steps_do_not_oscillate():
    """With a tiny learning rate gradient descent follows the gradient flow: consecutive updates are parallel."""
    model = tiny_two_layer(n_in=7, hidden=6).float()
    x, y = tiny_batch(B=20)
    df, _ = osc.train_and_record(model, x.float(), y, lr=1e-3, steps=12, record_every=5, power_iters=500,
                                 power_tol=1e-4, progress=False)
    assert len(df) == 13 and list(df["step"]) == list(range(13))
    assert df["lambda_max"].notna().sum() == 4  # steps 0, 5, 10 and the last
    assert (df["cos_prev"].iloc[1:] > 0.99).all()
    assert (df["lambda_max"].dropna() > 0).all()


def test_train_and_record_rejects_bad_input():
    model = tiny_two_layer()
    x, y = tiny_batch()
    with pytest.raises(ValueError, match="lr must be > 0"):
        osc.train_and_record(model, x, y, lr=0.0, steps=3, record_every=1, progress=False)
    with pytest.raises(ValueError):
        osc.train_and_record(model, x, y, lr=0.1, steps=0, record_every=1, progress=False)
