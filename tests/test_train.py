import os
import warnings

import pytest
import torch

from advnb import base
from advnb.nets import train as T
from advnb.nets.data import load_mnist


@pytest.fixture(scope="module")
def data():
    return load_mnist()


CFG = T.TrainConfig(hidden=32, n_train=500, epochs=2, seed=0)


def test_training_learns_and_is_cached(data, monkeypatch):
    model, acc = T.train(CFG, data, progress=False)
    assert acc > 0.4  # far above chance (0.1) after two epochs on 500 digits
    files = list(base.cache_dir().glob("*.pt"))
    assert len(files) == 1 and not list(base.cache_dir().glob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("retrained although the cache holds the model")

    monkeypatch.setattr(T, "_fit", boom)
    again, acc2 = T.train(CFG, data, progress=False)
    assert acc2 == acc
    for p, q in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(p.cpu(), q.cpu())


def _same(a, b) -> bool:
    return all(torch.equal(p.cpu(), q.cpu()) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# every source of randomness in training: initialisation, data subset, batch order, and (for
# adversarial training) the PGD random start; and the sigmoid head of Sec. 3.3 on odd-vs-even digits
SMALL = dict(hidden=32, n_train=300, epochs=1)
DETERMINISM = {
    "vanilla": (CFG, False),
    "linf-pgd": (T.TrainConfig(**SMALL, adv="linf", eps=0.1, adv_steps=2), False),
    "l2-pgd-sigmoid": (T.TrainConfig(**SMALL, n_classes=1, adv="l2", eps=1.0, adv_steps=2), True),
}


@pytest.mark.parametrize("case", list(DETERMINISM))
def test_same_seed_same_weights(data, tmp_path, monkeypatch, case):
    """Training one TrainConfig twice, into two fresh caches, gives bitwise-identical weights
    (and another seed does not)."""
    from dataclasses import replace

    from advnb.nets.data import as_binary

    config, binary = DETERMINISM[case]
    d = as_binary(data) if binary else data
    config = replace(config, data=d.source)
    a, acc_a = T.train(config, d, progress=False)
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path / "other"))
    b, acc_b = T.train(config, d, progress=False)
    assert _same(a, b) and acc_a == acc_b
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path / "third"))
    c, _ = T.train(replace(config, seed=config.seed + 1), d, progress=False)
    assert not _same(a, c)


def test_different_config_different_key():
    assert CFG.key() != T.TrainConfig(hidden=32, n_train=500, epochs=2, seed=1).key()


@pytest.mark.parametrize("damage", ["truncate", "half", "empty", "garbage", "other_config", "wrong_shapes", "not_a_dict"])
def test_corrupt_entry_is_retrained_with_warning(data, damage):
    """A damaged entry is retrained with a warning and replaced by a good one (the same weights)."""
    first, _ = T.train(CFG, data, progress=False)
    (path,) = base.cache_dir().glob("*.pt")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "half":  # a write cut off half-way
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif damage == "other_config":
        payload = torch.load(path, weights_only=True)
        payload["config"] = "{}"
        torch.save(payload, path)
    elif damage == "wrong_shapes":  # the right configuration over weights of another network
        payload = torch.load(path, weights_only=True)
        payload["state_dict"] = {k: v[..., :1] for k, v in payload["state_dict"].items()}
        torch.save(payload, path)
    else:
        torch.save([1, 2, 3], path)
    with pytest.warns(UserWarning, match="unusable"):
        model, acc = T.train(CFG, data, progress=False)
    assert acc > 0.5 and _same(model, first)
    assert [p.name for p in base.cache_dir().iterdir()] == [path.name]  # replaced in place, no *.tmp left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, _ = T.train(CFG, data, progress=False)  # the rewritten entry is trusted again
    assert _same(again, first)


def test_checkpoint_is_not_unpickled_unsafely(data, tmp_path):
    """A checkpoint whose unpickling would run code (here: create a folder) is refused, and the
    code never runs; the entry is retrained. (Unpickled unsafely, the payload would still fail
    to load, so the warning alone proves nothing: the folder is the witness.)"""
    T.train(CFG, data, progress=False)
    (path,) = base.cache_dir().glob("*.pt")
    witness = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(witness),))

    payload = torch.load(path, weights_only=True)
    payload["test_acc"] = Evil()
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="unusable"):
        T.train(CFG, data, progress=False)
    assert not witness.exists(), "the checkpoint was unpickled with arbitrary code execution"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
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
    from advnb.core.attacks import pgd

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


def test_a_folder_in_place_of_an_entry_is_a_clear_error(data, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path))
    config = T.TrainConfig(hidden=8, n_train=64, epochs=1, data=data.source)
    (tmp_path / f"{config.arch}-{config.key()}.pt").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="is a folder"):
        T.train(config, data, progress=False)


def test_cache_entries_are_readable_by_others(data, tmp_path, monkeypatch):
    import os
    import stat

    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path))
    old = os.umask(0o022)
    try:
        config = T.TrainConfig(hidden=8, n_train=64, epochs=1, data=data.source)
        T.train(config, data, progress=False)
    finally:
        os.umask(old)
    entry = tmp_path / f"{config.arch}-{config.key()}.pt"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644
