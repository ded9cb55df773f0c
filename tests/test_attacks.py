"""gradient_ascent against a hand-written, per-sample loop."""

import pytest
import torch

from advnb.attacks import gradient_ascent
from advnb.hessian import loss
from advnb.models import TwoLayerReLU


@pytest.fixture
def net_and_batch():
    torch.manual_seed(0)
    model = TwoLayerReLU(n_in=20, hidden=16, n_classes=4).double().eval()
    x = torch.randn(5, 20, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1])
    return model, x, y


def _hand_loop(logits_of, x, y, beta, m):
    """One sample at a time, with autograd for g and for H_z (torch.autograd.functional)."""
    alpha = beta / m
    deltas, hz_bars = [], []
    for xi, yi in zip(x, y):
        delta = torch.zeros_like(xi)
        num = torch.zeros(4, 4, dtype=xi.dtype)
        den = 0.0
        prev = None
        for t in range(m):
            xa = (xi + delta).clone().requires_grad_(True)
            z = logits_of(xa)
            (g,) = torch.autograd.grad(loss(z[None], yi[None])[0], xa)
            if t >= 1:
                h = torch.autograd.functional.hessian(lambda zz: loss(zz[None], yi[None])[0], z.detach())
                num += prev * h
                den += prev
            prev = alpha * g.norm().item()
            delta = delta + alpha * g
        deltas.append(delta)
        hz_bars.append(num / den)
    return torch.stack(deltas), torch.stack(hz_bars)


def test_frozen_gating_matches_hand_loop(net_and_batch):
    model, x, y = net_and_batch
    res = gradient_ascent(model, x, y, beta=2.0, m=12, frozen_gating=True)
    deltas, hz_bars = [], []
    for xi, yi in zip(x, y):
        # frozen gating by hand: the ReLU mask of the clean input, applied to every step
        mask = (model.fc1(xi) > 0).double()
        frozen = lambda xa: model.fc2(mask * model.fc1(xa))
        d, h = _hand_loop(frozen, xi[None], yi[None], 2.0, 12)
        deltas.append(d[0])
        hz_bars.append(h[0])
    assert torch.allclose(res.delta, torch.stack(deltas), rtol=1e-12, atol=1e-14)
    assert torch.allclose(res.hz_bar, torch.stack(hz_bars), rtol=1e-12, atol=1e-14)


def test_real_network_matches_hand_loop(net_and_batch):
    model, x, y = net_and_batch
    res = gradient_ascent(model, x, y, beta=2.0, m=12, frozen_gating=False)
    d, h = _hand_loop(lambda xa: model(xa[None])[0], x, y, 2.0, 12)
    assert torch.allclose(res.delta, d, rtol=1e-12, atol=1e-14)
    assert torch.allclose(res.hz_bar, h, rtol=1e-12, atol=1e-14)


def test_norms_and_shapes(net_and_batch):
    model, x, y = net_and_batch
    res = gradient_ascent(model, x, y, beta=0.5, m=6)
    assert res.delta.shape == x.shape and res.hz_bar.shape == (5, 4, 4)
    assert res.delta_norms.shape == (5, 7) and res.grad_norms.shape == (5, 7)
    assert torch.all(res.delta_norms[:, 0] == 0)
    assert torch.allclose(res.delta_norms[:, -1], res.delta.norm(dim=1))
    assert res.success.dtype == torch.bool


def test_one_step_is_a_gradient_step(net_and_batch):
    model, x, y = net_and_batch
    xa = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(model(xa), y).sum(), xa)
    res = gradient_ascent(model, x, y, beta=0.3, m=1)
    assert torch.allclose(res.delta, 0.3 * g, rtol=1e-13)


def test_small_beta_frozen_and_real_agree(net_and_batch):
    model, x, y = net_and_batch
    a = gradient_ascent(model, x, y, beta=1e-6, m=5, frozen_gating=True)
    b = gradient_ascent(model, x, y, beta=1e-6, m=5, frozen_gating=False)
    assert torch.allclose(a.delta, b.delta, rtol=1e-10)


@pytest.mark.parametrize("beta,m", [(0.0, 5), (-1.0, 5), (1.0, 0), (1.0, 1.5)])
def test_bad_input(net_and_batch, beta, m):
    model, x, y = net_and_batch
    with pytest.raises(ValueError):
        gradient_ascent(model, x, y, beta=beta, m=m)
