import torch
from torch import nn

from advnb.core.linearize import flipped_fraction, gating_states, linearize
from advnb.nets.models import TwoLayerReLU


def test_linearize_matches_autograd_jacobian_and_is_exact():
    torch.manual_seed(0)
    model = TwoLayerReLU(n_in=12, hidden=10, n_classes=3).double()
    x = torch.randn(4, 1, 3, 4, dtype=torch.float64)  # any input shape is flattened
    J, b = linearize(model, x)
    assert J.shape == (4, 3, 12) and b.shape == (4, 3)
    for i in range(4):
        Ji = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], x[i].reshape(-1))
        assert torch.allclose(J[i], Ji, atol=1e-14)
    # exact while no gate flips
    d = 1e-7 * torch.randn_like(x)
    assert flipped_fraction(model, x, x + d).max() == 0
    z_lin = torch.einsum("bcn,bn->bc", J, (x + d).reshape(4, -1)) + b
    assert torch.allclose(model(x + d), z_lin, atol=1e-13)


def test_gating_states_counts_every_relu():
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(6, 5)
    s = gating_states(model, x)
    assert s.shape == (6, 10) and s.dtype == torch.bool
    h = model[0](x)
    assert torch.equal(s[:, :7], h > 0)
    assert torch.all(flipped_fraction(model, x, x) == 0)
