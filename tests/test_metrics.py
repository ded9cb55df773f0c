import math

import torch

from advnb.core.metrics import kappa, one_minus_cos


def test_kappa_by_hand():
    a = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[3.0, 3.0], [0.0, 1.0]], dtype=torch.float64)
    assert math.isclose(kappa(a, b), (1.0 + 0.0) / 2 / ((5.0 + 1.0) / 2))


def test_one_minus_cos_by_hand_and_precision():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(one_minus_cos(a, b), torch.tensor([1.0, 0.0], dtype=torch.float64), atol=1e-15)
    eps = 1e-6
    c = torch.tensor([[1.0, eps]], dtype=torch.float64)
    d = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    # 1 - cos(eps) ~ eps^2 / 2 = 5e-13, kept to ~1e-6 relative precision
    assert math.isclose(one_minus_cos(c, d).item(), eps**2 / 2, rel_tol=1e-6)
