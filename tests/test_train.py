import warnings

import pytest
import torch

from advnb import train as T
from advnb.data import load_mnist


@pytest.fixture(scope="module")
def data():
    return load_mnist()


CFG = T.TrainConfig(hidden=32, n_train=500, epochs=2, seed=0)


def test_training_learns_and_is_cached(data, monkeypatch):
    model, acc = T.train(CFG, data, progress=False)
    assert acc > 0.4  # far above chance (0.1) after two epochs on 500 digits
    files = list(T.cache_dir().glob("*.pt"))
    assert len(files) == 1 and not list(T.cache_dir().glob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("retrained although the cache holds the model")

    monkeypatch.setattr(T, "_fit", boom)
    again, acc2 = T.train(CFG, data, progress=False)
    assert acc2 == acc
    for p, q in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(p.cpu(), q.cpu())


def test_same_seed_same_weights(data, tmp_path, monkeypatch):
    a, _ = T.train(CFG, data, progress=False)
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path / "other"))
    b, _ = T.train(CFG, data, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_different_config_different_key():
    assert CFG.key() != T.TrainConfig(hidden=32, n_train=500, epochs=2, seed=1).key()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_config"])
def test_corrupt_entry_is_retrained_with_warning(data, damage):
    T.train(CFG, data, progress=False)
    (path,) = T.cache_dir().glob("*.pt")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    else:
        payload = torch.load(path, weights_only=True)
        payload["config"] = "{}"
        torch.save(payload, path)
    with pytest.warns(UserWarning, match="unusable"):
        model, acc = T.train(CFG, data, progress=False)
    assert acc > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.train(CFG, data, progress=False)  # the rewritten entry is trusted again


def test_checkpoint_is_not_unpickled_unsafely(data):
    T.train(CFG, data, progress=False)
    (path,) = T.cache_dir().glob("*.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"config": "x", "state_dict": {}, "test_acc": Evil()}, path)
    with pytest.warns(UserWarning, match="unusable"):
        T.train(CFG, data, progress=False)


def test_mismatched_data_source_is_rejected(data):
    with pytest.raises(ValueError, match="config.data"):
        T.train(T.TrainConfig(data="mnist:/elsewhere"), data, progress=False)


def test_adversarial_config_is_checked():
    with pytest.raises(ValueError, match="adv must be one of"):
        T.TrainConfig(adv="l1")
    with pytest.raises(ValueError, match="eps > 0"):
        T.TrainConfig(adv="linf", eps=0.0)
    assert T.TrainConfig(adv="linf", eps=0.1).key() != T.TrainConfig(adv="l2", eps=0.1).key()


def test_adversarial_training_uses_pgd_and_is_more_robust(data, monkeypatch):
    from advnb.attacks import pgd

    calls = []

    def spy(model, x, y, norm, eps, alpha, m, **kw):
        calls.append((norm, eps, alpha, m, kw["random_start"], kw["clip"], model.training))
        return pgd(model, x, y, norm, eps, alpha, m, **kw)

    monkeypatch.setattr(T, "pgd", spy)
    base = dict(arch="mlp-3", width=0.25, n_train=2000, epochs=3, seed=0)
    robust, acc_r = T.train(T.TrainConfig(**base, adv="linf", eps=0.1, adv_steps=5), data, progress=False)
    assert calls and all(c == ("linf", 0.1, 2.5 * 0.1 / 5, 5, True, True, False) for c in calls)
    vanilla, acc_v = T.train(T.TrainConfig(**base), data, progress=False)
    x, y = data.x_test[:300], data.y_test[:300]

    def robust_acc(model):
        res = pgd(model, x, y, "linf", 0.1, 0.02, 10, clip=True)
        return (model(x + res.delta).argmax(1) == y).double().mean().item()

    assert acc_r > 0.6 and acc_v > 0.8
    assert robust_acc(robust) > robust_acc(vanilla) + 0.2
