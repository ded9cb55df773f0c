import pytest
import torch
from torch.func import grad, hessian

from advnb.core.losses import attack_succeeded, loss, loss_derivatives


def _autograd(z, y):
    f = lambda zi, yi: loss(zi[None], yi[None])[0]
    return torch.stack([grad(f)(a, b) for a, b in zip(z, y)]), torch.stack([hessian(f)(a, b) for a, b in zip(z, y)])


def test_softmax_derivatives_match_autograd():
    g = torch.Generator().manual_seed(0)
    z = 4 * torch.randn(20, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (20,), generator=g)
    g_z, h_z = loss_derivatives(z, y)
    g_ad, h_ad = _autograd(z, y)
    assert torch.allclose(g_z, g_ad, atol=1e-14) and torch.allclose(h_z, h_ad, atol=1e-14)
    assert torch.linalg.eigvalsh(h_z).min() > -1e-14  # PSD (Lemma 1)
    assert torch.allclose(h_z.sum(dim=2), torch.zeros(20, 7, dtype=torch.float64), atol=1e-14)  # H_z 1 = 0


def test_sigmoid_derivatives_match_autograd():
    g = torch.Generator().manual_seed(1)
    z = 4 * torch.randn(20, 1, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (20,), generator=g) * 2 - 1
    g_z, h_z = loss_derivatives(z, y)
    g_ad, h_ad = _autograd(z, y)
    assert torch.allclose(g_z, g_ad, atol=1e-14) and torch.allclose(h_z, h_ad, atol=1e-14)
    assert h_z.shape == (20, 1, 1)


def test_sigmoid_rejects_zero_one_labels():
    with pytest.raises(ValueError, match="-1 or \\+1"):
        loss_derivatives(torch.zeros(2, 1), torch.tensor([0, 1]))


def test_attack_succeeded():
    z = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
    assert attack_succeeded(z, torch.tensor([0, 0])).tolist() == [False, True]
    assert attack_succeeded(torch.tensor([[1.0], [-1.0]]), torch.tensor([1, 1])).tolist() == [False, True]
