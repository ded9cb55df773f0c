"""The chapters' measurement functions: Theorem 1's residual split, the attack's limit, slopes, scale."""

import numpy as np
import pytest
import torch

from advnb.chapters import theorem1, theorem2
from advnb.core.attacks import gradient_ascent
from advnb.core.linearize import affine_logits, linearize
from advnb.core.losses import loss_derivatives
from advnb.core.metrics import loglog_slope
from advnb.core.theory import gradient_flow
from advnb.nets.models import TwoLayerReLU


@pytest.fixture
def net_and_batch():
    torch.manual_seed(0)
    model = TwoLayerReLU(n_in=20, hidden=16, n_classes=4).double().eval()
    x = torch.randn(6, 20, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    return model, x, y


def test_gradient_flow_is_the_limit_of_the_attack(net_and_batch):
    """Euler's method is first order: the error halves with m, and Richardson extrapolation removes it."""
    model, x, y = net_and_batch
    J, b = linearize(model, x)
    beta = 3.0
    flow = gradient_flow(J, b, x, y, beta, steps=200)
    d1 = gradient_ascent(model, x, y, beta, 100, linearization=(J, b)).delta
    d2 = gradient_ascent(model, x, y, beta, 200, linearization=(J, b)).delta
    e1, e2 = (d1 - flow).norm(), (d2 - flow).norm()
    assert 1.8 < e1 / e2 < 2.2
    assert (2 * d2 - d1 - flow).norm() < 0.05 * e2


def test_gradient_flow_of_a_tiny_beta_is_one_gradient_step(net_and_batch):
    model, x, y = net_and_batch
    J, b = linearize(model, x)
    g_z, _ = loss_derivatives(affine_logits(J, b, x), y)
    g_x = torch.einsum("bcn,bc->bn", J, g_z)
    flow = gradient_flow(J, b, x, y, 1e-7, steps=4)
    assert torch.allclose(flow, 1e-7 * g_x, rtol=1e-5)


def test_residual_split(net_and_batch):
    model, x, y = net_and_batch
    table, floor = theorem1.residual_vs_m(model, x, y, 0.5, [1, 8, 16, 32, 64, 128], progress=False)
    assert table["rho"].iloc[0] < 1e-12  # one step is exact for any H̄_z
    fit = table[table["m"] >= 8]
    assert abs(loglog_slope(fit["m"], fit["euler"]) + 1) < 0.1
    assert abs(loglog_slope(fit["m"], fit["thm1_vs_thm2"]) + 1) < 0.1
    assert abs(table["rho"].iloc[-1] / floor - 1) < 0.1  # rho settles on the constant-Hessian floor
    # kappa = attack - Theorem 2 is the sum of the two parts, up to the triangle inequality
    assert np.all(table["kappa"] <= table["rho"] + table["thm1_vs_thm2"] + 1e-12)


def test_loglog_slope():
    m = np.array([1, 2, 4, 8.0])
    assert loglog_slope(m, 3 / m) == pytest.approx(-1)
    assert loglog_slope(m, 2 * m**0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        loglog_slope(m, np.zeros(4))


def test_theorem2_at_scale_small():
    r = theorem2.theorem2_at_scale((3, 16, 16), beta=0.01, m=20, batch=2)
    assert r["n"] == 768 and r["delta_hat"].shape == (2, 3, 16, 16)
    assert r["kappa"] < 1e-3 and r["dense_gib"] == pytest.approx(768**2 * 8 / 2**30)
