"""gradient_ascent against a hand-written, per-sample loop."""

import pytest
import torch

from advnb.core.attacks import gradient_ascent, pgd
from advnb.core.losses import loss
from advnb.nets.models import TwoLayerReLU


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


def _pgd_hand(logits_of, x, y, norm, eps, alpha, m, clip):
    """PGD one sample at a time, written out from Madry et al. (2018)."""
    out = []
    for xi, yi in zip(x, y):
        delta = torch.zeros_like(xi)
        for _ in range(m):
            xa = (xi + delta).clone().requires_grad_(True)
            (g,) = torch.autograd.grad(loss(logits_of(xa)[None], yi[None])[0], xa)
            delta = delta + alpha * (g.sign() if norm == "linf" else g / g.norm())
            if eps is not None:
                if norm == "linf":
                    delta = torch.clamp(delta, -eps, eps)
                elif delta.norm() > eps:
                    delta = delta * (eps / delta.norm())
            if clip:
                delta = torch.clamp(xi + delta, 0, 1) - xi
        out.append(delta)
    return torch.stack(out)


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("eps,clip", [(None, False), (0.05, False), (0.05, True), (None, True)])
def test_pgd_matches_hand_loop(net_and_batch, norm, eps, clip):
    model, x, y = net_and_batch
    x = torch.sigmoid(x)  # inside [0, 1] so that the clip is meaningful
    eps_n = None if eps is None else (eps if norm == "linf" else eps * 4)
    res = pgd(model, x, y, norm, eps_n, alpha=0.02, m=9, clip=clip)
    hand = _pgd_hand(lambda xa: model(xa[None])[0], x, y, norm, eps_n, 0.02, 9, clip)
    assert torch.allclose(res.delta, hand, rtol=1e-10, atol=1e-12)
    if eps_n is not None:
        size = res.delta.abs().amax(1) if norm == "linf" else res.delta.norm(dim=1)
        assert torch.all(size <= eps_n * (1 + 1e-12))
    if clip:
        assert torch.all((x + res.delta >= 0) & (x + res.delta <= 1))


def test_pgd_frozen_gating_matches_hand_loop_on_frozen_network(net_and_batch):
    model, x, y = net_and_batch
    res = pgd(model, x, y, "l2", None, alpha=0.5, m=7, clip=False, frozen_gating=True)
    hand = []
    for xi, yi in zip(x, y):
        mask = (model.fc1(xi) > 0).double()
        hand.append(_pgd_hand(lambda xa: model.fc2(mask * model.fc1(xa)), xi[None], yi[None], "l2", None, 0.5, 7, False)[0])
    assert torch.allclose(res.delta, torch.stack(hand), rtol=1e-10, atol=1e-12)
    # each l2 step has length alpha, so the step-weighted H̄_z is the plain mean of H_z^(1..m-1)
    assert torch.allclose(res.delta_norms[:, 1], torch.full((5,), 0.5, dtype=torch.float64))


def test_pgd_random_start_stays_in_the_ball(net_and_batch):
    model, x, y = net_and_batch
    x = torch.sigmoid(x)
    gen = torch.Generator().manual_seed(0)
    res = pgd(model, x, y, "linf", 0.1, alpha=0.01, m=1, clip=True, random_start=True, generator=gen)
    assert torch.all(res.delta.abs() <= 0.1 + 1e-12) and res.delta_norms[:, 0].min() > 0


@pytest.mark.parametrize("kwargs", [dict(norm="l1"), dict(eps=0.0), dict(alpha=-1.0), dict(m=0), dict(eps=None, random_start=True)])
def test_pgd_bad_input(net_and_batch, kwargs):
    model, x, y = net_and_batch
    args = dict(norm="l2", eps=1.0, alpha=0.1, m=3) | kwargs
    with pytest.raises(ValueError):
        pgd(model, x, y, **args)


def test_effective_component(net_and_batch):
    model, x, y = net_and_batch
    a1 = gradient_ascent(model, x, y, beta=0.5, m=6, frozen_gating=False)
    assert torch.allclose(a1.effective, a1.delta, rtol=1e-10, atol=1e-14)
    inf = pgd(model, x, y, "linf", None, alpha=0.01, m=1, clip=False)
    xa = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(model(xa), y).sum(), xa)
    u = g / g.norm(dim=1, keepdim=True)
    hand = 0.01 * (g.sign() * u).sum(1, keepdim=True) * u  # alpha (u . sign g) u
    assert torch.allclose(inf.effective, hand, rtol=1e-12)


def test_keep_returns_the_perturbation_at_the_asked_steps():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).double()
    x = torch.rand(5, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    beta, m = 0.5, 6
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=False, keep=(0, 3, 6))
    delta = torch.zeros_like(x)
    by_hand = {0: delta.clone()}
    for t in range(1, m + 1):
        xa = (x + delta).requires_grad_(True)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xa), y, reduction="sum"), xa)
        delta = delta + beta / m * g
        by_hand[t] = delta.clone()
    assert torch.allclose(res.kept, torch.stack([by_hand[0], by_hand[3], by_hand[6]], 1), atol=1e-14)
    assert gradient_ascent(model, x, y, beta, m).kept is None
    with pytest.raises(ValueError, match="keep"):
        gradient_ascent(model, x, y, beta, m, keep=(7,))
