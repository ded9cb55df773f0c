"""Lemma 1: the sympy derivations against numbers, the numeric sweeps against autograd."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn
from torch.func import hessian

from advnb.chapters import lemma1
from advnb.core import binary
from advnb.core.attacks import gradient_ascent
from advnb.core.losses import loss, loss_derivatives


@pytest.fixture(scope="module")
def gap():
    return binary.sigmoid_gap()


def test_sigmoid_identities_hold(gap):
    assert gap.identities and all(gap.identities.values()), gap.identities


def test_sigmoid_forms_agree_at_random_points(gap):
    # independent of sympy's simplification: evaluate the derived expressions numerically
    rng = np.random.default_rng(0)
    zs = rng.uniform(-30, 30, 200)
    factored = sp.lambdify(gap.t, gap.factored, "numpy")
    tanh_form = sp.lambdify(gap.t, gap.tanh_form, "numpy")
    rational = sp.lambdify(gap.u, gap.rational, "numpy")
    for y in (-1, 1):
        direct = sp.lambdify(gap.z, gap.gap[y], "numpy")(zs)
        t = y * zs
        for other in (factored(t), tanh_form(t), rational(np.exp(t)), binary.sigmoid_gap_closed_form(t)):
            assert np.max(np.abs(direct - other)) < 1e-12


def test_sigmoid_sign_maximum_and_limits(gap):
    assert gap.nonneg_set == sp.Interval(0, sp.oo)
    assert gap.argmax == sp.log(3) and gap.max == sp.Rational(1, 8)
    assert gap.limits == {"-oo": -1, "0": 0, "+oo": 0}
    t = np.linspace(-5, 5, 100001)
    f = binary.sigmoid_gap_closed_form(t)
    assert abs(t[f.argmax()] - math.log(3)) < 1e-3 and abs(f.max() - 0.125) < 1e-9


@pytest.mark.parametrize("C", [2, 3])
def test_softmax_quadratic_form(C):
    form = lemma1.softmax_quadratic_form(C)
    assert all(form.identities.values()), form.identities
    # the symbolic quadratic form, evaluated, equals v^T H_z v with the library's H_z
    e = sp.symbols(f"e0:{C}", positive=True)
    q = sp.lambdify([e, form.v], form.quadratic, "numpy")
    g = torch.Generator().manual_seed(C)
    z = 3 * torch.randn(10, C, generator=g, dtype=torch.float64)
    v = torch.randn(10, C, generator=g, dtype=torch.float64)
    _, h = loss_derivatives(z, torch.zeros(10, dtype=torch.int64))
    ref = torch.einsum("bi,bij,bj->b", v, h, v)
    got = np.array([q(list(np.exp(zi.numpy())), list(vi.numpy())) for zi, vi in zip(z, v)])
    assert np.max(np.abs(got - ref.numpy())) < 1e-12
    assert (ref > -1e-12).all()


@pytest.mark.parametrize("C", [1, 7, 2.5, True, "3"])
def test_softmax_quadratic_form_rejects_bad_c(C):
    with pytest.raises(ValueError, match="C must be"):
        lemma1.softmax_quadratic_form(C)


def test_sweep_matches_autograd_second_derivative():
    df = lemma1.lemma1_sweep(yz_max=40.0, n=401)
    assert len(df) == 802 and set(df["y"]) == {-1, 1}
    sub = df.iloc[::7]
    z = torch.tensor(sub["z"].to_numpy())
    y = torch.tensor(sub["y"].to_numpy())
    # L = log(1 + exp(-y z)) written out: advnb.core.losses.loss uses F.softplus, which is linear
    # beyond |yz| = 20 (its autograd Hessian is exactly 0 there, off by up to 2e-9)
    f = lambda zi, yi: torch.log1p(torch.exp(-yi * zi))  # noqa: E731
    h_ad = torch.stack([hessian(f)(a, b) for a, b in zip(z, y)]).numpy()
    g_ad = torch.stack([torch.func.grad(f)(a, b) for a, b in zip(z, y)]).numpy()
    assert np.max(np.abs(h_ad - sub["H_z"].to_numpy())) < 1e-10
    assert np.max(np.abs(h_ad - g_ad**2 - sub["gap"].to_numpy())) < 1e-10
    # and the library loss agrees where softplus is not linearised
    lib = lambda zi, yi: loss(zi[None, None], yi[None])[0]  # noqa: E731
    small = (y * z).abs() < 20
    h_lib = torch.stack([hessian(lib)(a, b) for a, b in zip(z[small], y[small])]).numpy()
    assert np.max(np.abs(h_lib - sub["H_z"].to_numpy()[small.numpy()])) < 1e-10


def test_sweep_shows_the_lemma_and_its_converse():
    df = lemma1.lemma1_sweep(yz_max=40.0, n=2001)
    assert np.max(np.abs(df["gap"] - df["closed_form"])) < 1e-12
    assert (df.loc[df["yz"] > 0, "gap"] >= -1e-12).all()
    assert (df.loc[df["yz"] < 0, "gap"] < 0).all()  # the condition yz > 0 is necessary
    assert (df["H_z"] >= 0).all() and (df["g_z2"] >= 0).all()
    # the gap depends on the margin only: both labels give the same curve
    a = df[df["y"] == 1].sort_values("yz")["gap"].to_numpy()
    b = df[df["y"] == -1].sort_values("yz")["gap"].to_numpy()
    assert np.array_equal(a, b)
    t = np.sort(df.loc[df["y"] == 1, "yz"].to_numpy())
    assert t[1000] == 0.0 and np.array_equal(t, -t[::-1])  # symmetric grid, 0 included exactly


@pytest.mark.parametrize("kwargs", [dict(n=2), dict(n=10.0), dict(yz_max=0.0), dict(yz_max=float("nan")),
                                    dict(yz_max=float("inf")), dict(yz_max=-1.0)])
def test_sweep_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        lemma1.lemma1_sweep(**kwargs)


def test_psd_check_flags_a_negative_eigenvalue():
    p = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    softmax_h = torch.diag(p) - torch.outer(p, p)
    assert bool(lemma1.is_psd(softmax_h))
    bad = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)  # eigenvalues 3 and -1
    assert not bool(lemma1.is_psd(bad))
    assert float(lemma1.min_eigenvalue(bad)) == pytest.approx(-1.0, abs=1e-14)
    # a violation just beyond the tolerance is caught, rounding-size noise is not
    slightly = softmax_h - 1e-10 * torch.eye(3, dtype=torch.float64)
    assert not bool(lemma1.is_psd(slightly)) and bool(lemma1.is_psd(softmax_h - 1e-14 * torch.eye(3, dtype=torch.float64)))
    batch = torch.stack([softmax_h, slightly])
    assert lemma1.is_psd(batch).tolist() == [True, False]


@pytest.mark.parametrize("h", [torch.zeros(3), torch.zeros(2, 3), torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
                               torch.tensor([[float("nan"), 0.0], [0.0, 1.0]])])
def test_psd_check_rejects_bad_input(h):
    with pytest.raises(ValueError):
        lemma1.min_eigenvalue(h)


def test_softmax_eigen_sweep():
    df = lemma1.softmax_eigen_sweep([2, 10], [1e-3, 1.0, 1e3], n=50, seed=1)
    assert len(df) == 2 * 3 * 50
    assert (df["min_eig"] >= -1e-12).all() and (df["null_residual"] < 1e-12).all()
    assert (df["max_eig"] <= 0.5 + 1e-12).all()  # the largest eigenvalue of diag(p) - pp^T is at most 1/2
    assert df.loc[df["scale"] == 1e3, "p_max"].min() > 0.9  # extreme logits: nearly one-hot
    with pytest.raises(ValueError):
        lemma1.softmax_eigen_sweep([1], [1.0], 5)
    with pytest.raises(ValueError):
        lemma1.softmax_eigen_sweep([2], [0.0], 5)
    with pytest.raises(ValueError):
        lemma1.softmax_eigen_sweep([2], [1.0], 0)


def test_path_gap_matches_the_attack_on_a_linear_sigmoid_model():
    torch.manual_seed(0)
    n, B, beta, m = 20, 16, 3.0, 12
    model = nn.Linear(n, 1).double()
    x = torch.randn(B, n, dtype=torch.float64)
    with torch.no_grad():
        z0 = model(x)[:, 0]
    y = torch.where(z0 > 0, 1, -1)
    res = gradient_ascent(model, x, y, beta, m, frozen_gating=True)
    step = beta / m * float(model.weight.detach().norm() ** 2)
    df = lemma1.sigmoid_path_gap((y * z0).numpy(), np.full(B, step), m)
    assert np.max(np.abs(df["hbar"].to_numpy() - res.hz_bar[:, 0, 0].numpy())) < 1e-12
    yz_last = (y * res.logits[:, m - 1, 0]).numpy()
    assert np.max(np.abs(df["yz_last"].to_numpy() - yz_last)) < 1e-12


def test_path_gap_is_nonnegative_inside():
    rng = np.random.default_rng(0)
    yz0 = np.exp(rng.uniform(np.log(1e-2), np.log(20), 500))
    step = np.exp(rng.uniform(np.log(1e-4), 0, 500))
    df = lemma1.sigmoid_path_gap(yz0, step, 50)
    assert df["inside"].any() and (df.loc[df["inside"], "gap"] >= -1e-12).all()
    assert (df.loc[~df["succeeded"], "gap"] >= -1e-12).all()
    assert (df["gap"] < 0).any()  # overshooting paths can break it
    for bad in (dict(yz0=[1.0], step=[0.0], m=5), dict(yz0=[1.0], step=[1.0], m=1), dict(yz0=[1.0, 2.0], step=[1.0], m=5)):
        with pytest.raises(ValueError):
            lemma1.sigmoid_path_gap(**bad)
