"""Sec. 3.3 (advnb.core.binary) against brute force: dense weight matrices, autograd, the theory module."""

import pytest
import torch
from torch import nn

from advnb.chapters import common
from advnb.core import binary, metrics
from advnb.core.linearize import linearize
from advnb.core.losses import loss, loss_derivatives
from advnb.core.theory import infinite_step_delta
from advnb.nets.models import build_model


def _net(arch, seed=0, width=0.125):
    torch.manual_seed(seed)
    return build_model(arch, hidden=16, width=width, n_classes=1).double().eval()


def _batch(B=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(B, 1, 28, 28, generator=g, dtype=torch.float64)
    y = torch.where(torch.rand(B, generator=g) > 0.5, 1, -1)
    return x, y


def _dense_first_layer(model, x):
    """The first layer as a dense matrix W (n, D) and bias (D,), by its Jacobian."""
    layer = binary.first_layer(model)
    shape = x.shape[1:]
    if isinstance(layer, nn.Linear):
        return layer.weight.detach().T.clone(), layer.bias.detach().clone() if layer.bias is not None else None
    f = lambda v: layer(v.reshape(1, *shape)).reshape(-1)  # noqa: E731
    zero = torch.zeros(x[0].numel(), dtype=x.dtype)
    W = torch.autograd.functional.jacobian(f, zero).T  # (n, D)
    return W, f(zero).detach()


def _per_sample_dense_gradient(model, x, y):
    """dL/dW_dense for each sample, by autograd through a dense copy of the first layer. Returns (B, n, D)."""
    layer = binary.first_layer(model)
    W, b = _dense_first_layer(model, x[:1])
    out = []
    for i in range(len(x)):
        Wp = W.clone().requires_grad_(True)

        def dense(_m, inputs, output):
            h = inputs[0].reshape(1, -1) @ Wp
            return (h if b is None else h + b).reshape(output.shape)

        handle = layer.register_forward_hook(dense)
        try:
            z = model(x[i : i + 1])
        finally:
            handle.remove()
        (g,) = torch.autograd.grad(loss(z, y[i : i + 1]).sum(), Wp)
        out.append(g)
    return torch.stack(out)


@pytest.mark.parametrize("arch", ["mlp-3", "cnn-3"])
def test_layer_pass_matches_the_dense_first_layer_and_the_linearisation(arch):
    model = _net(arch)
    x, y = _batch()
    lp = binary.layer_pass(model, x, y)
    J, _ = linearize(model, x)
    assert torch.allclose(lp.gt_x, J[:, 0], atol=1e-12)
    W, _ = _dense_first_layer(model, x)
    assert torch.allclose(lp.gt_x, lp.gt_h @ W.T, atol=1e-12)  # g̃_x = W g̃_h
    g_z, h_z = loss_derivatives(lp.z[:, None], y)
    assert torch.allclose(lp.g_z, g_z[:, 0]) and torch.allclose(lp.hz, h_z[:, 0, 0])


@pytest.mark.parametrize("arch", ["mlp-3", "cnn-3"])
def test_effect_equals_the_dense_weight_gradients(arch):
    """phi, ||Δg_W|| and cos to the mean against explicit n x D per-sample gradients (real network)."""
    model = _net(arch, seed=1)
    x, y = _batch(B=4, seed=2)
    x_adv = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype))
    clean, adv = binary.layer_pass(model, x, y), binary.layer_pass(model, x_adv, y)
    flat, flat_adv = x.reshape(4, -1), x_adv.reshape(4, -1)
    eta = 0.01
    e = binary.effect(flat, flat_adv, clean.g_h, adv.g_h, clean, eta)
    gW, gW_adv = _per_sample_dense_gradient(model, x, y), _per_sample_dense_gradient(model, x_adv, y)
    dG = gW_adv - gW
    gx, gh = clean.gt_x, clean.gt_h
    phi = -eta * torch.einsum("bn,bnd,bd->b", gx, dG, gh)
    phi_ori = -eta * torch.einsum("bn,bnd,bd->b", gx, gW, gh)
    assert torch.allclose(e.phi, phi, rtol=1e-10, atol=1e-15)
    assert torch.allclose(e.phi_ori, phi_ori, rtol=1e-10, atol=1e-15)
    assert torch.allclose(e.dgw_norm, dG.flatten(1).norm(dim=1), rtol=1e-8)
    assert torch.allclose(e.gw_adv_norm, gW_adv.flatten(1).norm(dim=1), rtol=1e-10)
    mean = dG.mean(0).flatten()
    cos = dG.flatten(1) @ mean / (dG.flatten(1).norm(dim=1) * mean.norm())
    assert torch.allclose(binary.cos_to_mean(flat, flat_adv, clean.g_h, adv.g_h), cos, atol=1e-10)


def test_binary_delta_hat_is_theorem2_with_one_logit():
    model = _net("mlp-3", seed=4)
    x, y = _batch(seed=5)
    lp = binary.layer_pass(model, x, y)
    hz_bar = torch.tensor([0.2, 1e-9, 0.05, 0.25, 0.0], dtype=torch.float64)
    for beta in (1e-3, 0.5, 5.0):
        ours = binary.binary_delta_hat(beta, hz_bar, lp.g_z, lp.gt_x)
        ref = infinite_step_delta(lp.gt_x[:, None, :], hz_bar[:, None, None], lp.g_z[:, None], beta).delta
        assert torch.allclose(ours, ref, rtol=1e-9, atol=1e-300)


def _exact_inputs(model, x, y, beta, eta, hz_bar):
    lp = binary.layer_pass(model, x, y)
    flat = x.reshape(len(x), -1)
    p = binary.Inputs(binary.effect(flat, flat, lp.g_h, lp.g_h, lp, eta).phi_ori,
                       binary.strength(beta, hz_bar, lp.gt_x), lp.g_z, hz_bar,
                       lp.gt_x.pow(2).sum(1), lp.gt_h.pow(2).sum(1), beta, eta)
    return lp, flat, p


@pytest.mark.parametrize("beta", [1e-3, 0.3, 3.0])
def test_eq9_eq10_eq11_are_the_algebra_of_the_binary_delta_hat(beta):
    """With g_z affine in z at slope H̄_z (the theorems' premise), the measured effect of a step on
    x + s deltâ equals Eq. (11); s = 1 gives Eqs. (9) and (10)."""
    model = _net("cnn-3", seed=6)
    x, y = _batch(seed=7)
    eta = 0.05
    hz_bar = torch.tensor([0.2, 0.01, 0.05, 0.25, 0.1], dtype=torch.float64)
    lp, flat, p = _exact_inputs(model, x, y, beta, eta, hz_bar)
    d_hat = binary.binary_delta_hat(beta, hz_bar, lp.g_z, lp.gt_x)
    for s in (1.0, 0.3, 2.5):
        x_adv = flat + s * d_hat
        g_z_adv = lp.g_z + hz_bar * (lp.gt_x * (x_adv - flat)).sum(1)  # g_z affine in z, slope H̄_z
        if s == 1.0:
            assert torch.allclose(g_z_adv, torch.exp(p.A) * lp.g_z, rtol=1e-10)  # g_z(x + deltâ) = e^A g_z
        e = binary.effect(flat, x_adv, lp.g_h, g_z_adv[:, None] * lp.gt_h, lp, eta)
        assert torch.allclose(e.phi, binary.eq11(p, torch.full_like(p.A, s)), rtol=1e-9, atol=1e-18)
        if s == 1.0:
            assert torch.allclose(e.phi, binary.eq9(p), rtol=1e-9, atol=1e-18)
            assert torch.allclose(e.phi_adv, binary.eq10(p), rtol=1e-9, atol=1e-18)


def test_theorem3_is_accurate_for_weak_attacks_and_degrades_with_beta():
    model = _net("mlp-3", seed=8)
    x, y = _batch(B=8, seed=9)
    with torch.no_grad():
        y = torch.where(model(x)[:, 0] > 0, 1, -1)  # correctly classified by construction
    k = [metrics.kappa_prime(t.phi_star, t.phi_hat) for t in
         (common.phi_table(model, x, y, beta, 50, eta=1e-3) for beta in (1e-3, 1e-1, 3.0))]
    assert k[0] < 1e-4
    assert k[0] < k[1] < k[2]
    real = common.phi_table(model, x, y, 1e-3, 50, eta=1e-3, real=True)
    assert set(real.columns) >= {"phi_star", "phi_hat", "A", "hz_bar", "dgw_norm"}
    # Eq. (10) - Eq. (9) is phi_ori, in the measurement as in the prediction
    t = common.phi_table(model, x, y, 0.1, 50, eta=1e-3)
    assert (t.phi_adv_star - t.phi_star - t.phi_ori).abs().max() < 1e-15
    assert (t.phi_adv_hat - t.phi_hat - t.phi_ori).abs().max() < 1e-15


def test_bad_input_is_refused():
    x, y = _batch()
    with pytest.raises(ValueError, match="one logit"):
        binary.layer_pass(build_model("mlp-3", width=0.125).double().eval(), x, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="eval mode"):
        binary.layer_pass(build_model("mlp-3", width=0.125, n_classes=1).double(), x, y)
    lp = binary.layer_pass(_net("mlp-3"), x, y)
    flat = x.reshape(5, -1)
    with pytest.raises(ValueError, match="eta"):
        binary.effect(flat, flat, lp.g_h, lp.g_h, lp, eta=0.0)
    with pytest.raises(ValueError, match="beta"):
        binary.strength(-1.0, lp.hz, lp.gt_x)
    with pytest.raises(ValueError, match="first layer"):
        binary.first_layer(nn.Sequential(nn.ReLU()))


def test_spearman_matches_ranks():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert metrics.spearman([1, 2, 3], [1, 1, 2]) == pytest.approx(0.8660254, rel=1e-6)
