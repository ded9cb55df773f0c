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
