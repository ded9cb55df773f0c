"""Theorems 1-2 in push-through form against the dense eigen-sum and the raw recursion."""

import pytest
import torch
from conftest import random_instance

from advnb.core.theory import delta_eigensum, finite_step_delta, infinite_step_delta, top_eigenpairs, top_energy_share


def rel(a, b):
    return ((a - b).norm(dim=1) / b.norm(dim=1)).max().item()


@pytest.mark.parametrize("softmax", [True, False])
@pytest.mark.parametrize("beta", [1e-3, 0.5, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_infinite_step_pushthrough_matches_eigensum(softmax, beta, seed):
    J, hz, g_z = random_instance(seed=seed, softmax=softmax)
    push = infinite_step_delta(J, hz, g_z, beta)
    dense = delta_eigensum(J, hz, g_z, beta)
    assert rel(push.delta, dense.delta) < 1e-12
    assert rel(push.grad, dense.grad) < 1e-12


@pytest.mark.parametrize("m", [1, 2, 7, 50])
def test_finite_step_pushthrough_matches_eigensum(m):
    J, hz, g_z = random_instance(seed=5)
    push = finite_step_delta(J, hz, g_z, 0.8, m)
    dense = delta_eigensum(J, hz, g_z, 0.8, m=m)
    assert rel(push.delta, dense.delta) < 1e-12
    assert rel(push.grad, dense.grad) < 1e-12


def test_zero_hessian_gives_plain_gradient_step():
    """With H̄_z = 0 (fully singular) every coefficient is its limit beta: deltâ = beta g_x."""
    J, _, g_z = random_instance(seed=3)
    hz = torch.zeros(J.shape[0], J.shape[1], J.shape[1], dtype=torch.float64)
    g_x = (J.transpose(1, 2) @ g_z[:, :, None])[..., 0]
    for f in (lambda: infinite_step_delta(J, hz, g_z, 0.7), lambda: delta_eigensum(J, hz, g_z, 0.7)):
        pred = f()
        assert torch.allclose(pred.delta, 0.7 * g_x, rtol=1e-13, atol=0)
        assert torch.allclose(pred.grad, g_x, rtol=1e-13, atol=0)


def test_finite_step_equals_the_linear_recursion():
    """Theorem 1 without rho is the exact solution of delta <- delta + alpha (g_x + H̄_x delta)."""
    J, hz, g_z = random_instance(seed=4)
    beta, m = 1.3, 25
    alpha = beta / m
    hx = J.transpose(1, 2) @ hz @ J
    g_x = (J.transpose(1, 2) @ g_z[:, :, None])[..., 0]
    delta = torch.zeros_like(g_x)
    for _ in range(m):
        delta = delta + alpha * (g_x + (hx @ delta[:, :, None])[..., 0])
    pred = finite_step_delta(J, hz, g_z, beta, m)
    assert rel(pred.delta, delta) < 1e-12
    assert rel(pred.grad, g_x + (hx @ delta[:, :, None])[..., 0]) < 1e-12


def test_finite_step_converges_to_infinite_step_as_one_over_m():
    J, hz, g_z = random_instance(seed=6)
    errs = [rel(finite_step_delta(J, hz, g_z, 2.0, m).delta, infinite_step_delta(J, hz, g_z, 2.0).delta) for m in (100, 1000)]
    assert 8 < errs[0] / errs[1] < 12  # O(1/m)


def test_top_eigenpairs_match_dense_eigh():
    J, hz, _ = random_instance(seed=7, softmax=False)
    lam, V = top_eigenpairs(J, hz)
    hx = J.transpose(1, 2) @ hz @ J
    lam_d, V_d = torch.linalg.eigh(hx)
    C = J.shape[1]
    assert torch.allclose(lam, lam_d.flip(-1)[:, :C], atol=1e-12)
    # same eigenvectors up to sign
    overlap = (V * V_d.flip(-1)[:, :, :C]).sum(dim=1).abs()
    assert torch.allclose(overlap, torch.ones_like(overlap), atol=1e-9)
    assert torch.allclose(V.transpose(1, 2) @ V, torch.eye(C, dtype=V.dtype).expand_as(V.transpose(1, 2) @ V), atol=1e-10)


def test_top_energy_share_is_one_in_the_span():
    J, hz, _ = random_instance(seed=8, softmax=False)
    lam, V = top_eigenpairs(J, hz)
    d = V[:, :, 0] * 2.0 + V[:, :, 1]
    assert torch.allclose(top_energy_share(d, V, 1), torch.full((J.shape[0],), 0.8, dtype=torch.float64))
    assert torch.allclose(top_energy_share(d, V, 2), torch.ones(J.shape[0], dtype=torch.float64))


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan")])
def test_bad_beta_is_rejected(beta):
    J, hz, g_z = random_instance()
    with pytest.raises(ValueError, match="beta"):
        infinite_step_delta(J, hz, g_z, beta)


@pytest.mark.parametrize("m", [0, -3, 2.5])
def test_bad_m_is_rejected(m):
    J, hz, g_z = random_instance()
    with pytest.raises(ValueError, match="m must"):
        finite_step_delta(J, hz, g_z, 1.0, m)


def test_shape_mismatch_is_rejected():
    J, hz, g_z = random_instance()
    with pytest.raises(ValueError, match="expected hz_bar"):
        infinite_step_delta(J, hz[:, :2, :2], g_z, 1.0)
