"""The model zoo: shapes, widths, and frozen gating through the linearisation."""

import pytest
import torch
from torch import nn

from advnb.core.linearize import affine_logits, frozen_forward, linearize
from advnb.nets.models import MLP, ZOO, build_model


@pytest.mark.parametrize("arch", ZOO)
def test_every_network_builds_and_maps_digits_to_logits(arch):
    model = build_model(arch, width=0.125).eval()
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in model.modules())


@pytest.mark.parametrize("arch", ZOO)
def test_linearisation_is_frozen_gating(arch):
    """J x' + b equals a forward pass with the ReLU masks and max-pool switches of x frozen."""
    torch.manual_seed(0)
    model = build_model(arch, width=0.125).double().eval()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    J, b = linearize(model, x)
    assert J.shape == (3, 10, 784)
    assert torch.allclose(affine_logits(J, b, x), model(x), rtol=1e-9, atol=1e-9)
    for scale in (1e-3, 1.0):  # small moves keep most gates; large ones flip many, frozen or not
        x_new = x + scale * torch.randn_like(x)
        z_frozen = frozen_forward(model, x, x_new)
        assert torch.allclose(affine_logits(J, b, x_new), z_frozen, rtol=1e-8, atol=1e-8 * z_frozen.abs().max())


def test_frozen_forward_differs_from_the_real_network_once_gates_flip():
    torch.manual_seed(1)
    model = build_model("cnn-3", width=0.25).double().eval()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    x_new = x + torch.randn_like(x)
    assert not torch.allclose(frozen_forward(model, x, x_new), model(x_new))
    assert torch.allclose(frozen_forward(model, x, x), model(x))


def test_mlp_widths_follow_ren_et_al():
    widths = [m.out_features for m in MLP(5).modules() if isinstance(m, nn.Linear)]
    assert widths == [1024, 256, 128, 64, 10]
    assert all(m.bias is None for m in MLP(3).modules() if isinstance(m, nn.Linear))
    assert [m.out_features for m in MLP(3, width=0.125).modules() if isinstance(m, nn.Linear)] == [128, 32, 10]


def test_width_scales_torchvision_networks():
    full = build_model("vgg11", width=1.0)
    small = build_model("vgg11", width=0.25)
    conv = lambda m: [c.out_channels for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert conv(small) == [c // 4 for c in conv(full)]
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in full.parameters()) / 10


def test_linearize_refuses_batchnorm_in_train_mode():
    model = build_model("resnet18", width=0.125).train()
    with pytest.raises(ValueError, match="eval mode"):
        linearize(model, torch.rand(2, 1, 28, 28))


def test_bad_architecture_and_width():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("mlp-9")
    with pytest.raises(ValueError, match="width"):
        build_model("cnn-3", width=0)
