import struct

import numpy as np
import pytest
import torch

from advnb.base import ParameterError
from advnb.nets.data import EMBEDDED, load_mnist, subset


def test_embedded_split_is_deterministic_and_stratified():
    a, b = load_mnist(), load_mnist()
    assert a.source == EMBEDDED
    assert a.x_train.shape == (4000, 1, 28, 28) and a.x_test.shape == (1000, 1, 28, 28)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1 and a.x_train.dtype == torch.float32
    assert torch.bincount(a.y_test).tolist() == [100] * 10


def _write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    code = 0x0800 + array.ndim
    with open(path, "wb") as f:
        f.write(struct.pack(">I", code))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.tobytes())


def test_torchvision_path_reads_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, size=(6, 28, 28))
    labels = np.array([0, 1, 2, 3, 4, 5])
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", imgs)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    d = load_mnist(str(tmp_path))
    assert d.x_train.shape == (6, 1, 28, 28) and d.y_test.tolist() == labels.tolist()
    assert torch.allclose(d.x_train[2, 0], torch.tensor(imgs[2] / 255.0, dtype=torch.float32))
    assert d.source.startswith("mnist:")


def test_missing_data_root_is_one_line_error(tmp_path):
    with pytest.raises(ParameterError, match="data_root") as e:
        load_mnist(str(tmp_path / "nowhere"))
    assert "\n" not in str(e.value)
    with pytest.raises(ParameterError, match="data_root") as e:
        load_mnist(str(tmp_path))  # exists, but holds no MNIST files
    assert "\n" not in str(e.value)


def test_subset_is_seeded():
    x, y = torch.arange(100.0)[:, None], torch.arange(100)
    a, b = subset(x, y, 10, seed=1), subset(x, y, 10, seed=1)
    assert torch.equal(a[1], b[1]) and len(a[1]) == 10
    assert not torch.equal(a[1], subset(x, y, 10, seed=2)[1])


def test_binary_task_is_odd_vs_even_and_keeps_images():
    from advnb.nets.data import BINARY_TASK, as_binary, binary_labels

    y = torch.arange(10)
    assert binary_labels(y).tolist() == [-1, 1, -1, 1, -1, 1, -1, 1, -1, 1]
    with pytest.raises(ValueError, match="0..9"):
        binary_labels(torch.tensor([1, -1]))
    d = load_mnist()
    b = as_binary(d)
    assert b.source.endswith(BINARY_TASK) and b.x_train is d.x_train
    assert set(b.y_train.unique().tolist()) == {-1, 1}
    assert abs(b.y_train.double().mean().item()) < 0.05  # balanced
    assert as_binary(b) is b


def test_accuracy_of_a_sigmoid_head_uses_the_sign():
    from advnb.nets.train import accuracy, correctly_classified

    class Sign(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            return self.scale * x.reshape(len(x), -1)[:, :1]

    x = torch.tensor([[1.0], [-2.0], [3.0], [-0.5]])
    y = torch.tensor([1, 1, -1, -1])
    assert accuracy(Sign(), x, y) == 0.5
    xs, ys = correctly_classified(Sign(), x, y, 5)
    assert ys.tolist() == [1, -1] and xs[:, 0].tolist() == [1.0, -0.5]


# ----------------------------------------------------------------------------- CIFAR-10 (Appendix K)

def _write_cifar(root, n_train=40, n_test=20, seed=0):
    """Tiny CIFAR-10 binary batches: class k has its red plane at brightness 25 k (learnable)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)

    def batch(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        pixels = rng.integers(0, 60, (n, 3, 32, 32)).astype(np.uint8)
        pixels[:, 0] = (25 * labels)[:, None, None]
        return np.concatenate([labels[:, None], pixels.reshape(n, -1)], axis=1)

    for i in range(1, 6):
        batch(n_train // 5).tofile(folder / f"data_batch_{i}.bin")
    batch(n_test).tofile(folder / "test_batch.bin")
    return folder


def test_load_cifar10_reads_the_binary_batches(tmp_path):
    import numpy as np

    from advnb.nets.data import CIFAR_SHAPE, input_shape, load_cifar10, load_data

    folder = _write_cifar(tmp_path)
    data = load_cifar10(str(tmp_path))
    assert data.x_train.shape == (40, *CIFAR_SHAPE) and data.x_test.shape == (20, *CIFAR_SHAPE)
    assert data.x_train.dtype == torch.float32 and 0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1
    raw = np.fromfile(folder / "test_batch.bin", dtype=np.uint8).reshape(20, -1)
    assert (data.y_test.numpy() == raw[:, 0]).all()
    assert torch.allclose(data.x_test[:, 0, 0, 0], torch.as_tensor(raw[:, 1] / 255.0, dtype=torch.float32))
    assert input_shape(data.source) == CIFAR_SHAPE and data.source.startswith("cifar10:")
    assert load_data("cifar10", str(tmp_path)).x_test.shape == data.x_test.shape


def test_load_cifar10_refuses_bad_input_and_downloads_only_on_request(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    from advnb.base import ParameterError
    from advnb.nets.data import load_cifar10, load_data

    def no_network(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", no_network)
    with pytest.raises(ParameterError, match="data_root"):
        load_cifar10(str(tmp_path))  # no files, no download
    with pytest.raises(ParameterError, match="data_root"):
        load_cifar10("")
    with pytest.raises(ParameterError, match="dataset"):
        load_data("svhn")
    folder = _write_cifar(tmp_path)
    (folder / "test_batch.bin").write_bytes(b"\x00" * 100)  # not a whole record
    with pytest.raises(ParameterError, match="not a CIFAR-10 binary batch"):
        load_cifar10(str(tmp_path))
    called = []
    monkeypatch.setattr(tv_utils, "download_and_extract_archive", lambda url, root: called.append((url, root)))
    (folder / "test_batch.bin").unlink()
    with pytest.raises(ParameterError):
        load_cifar10(str(tmp_path), download=True)  # the (mocked) download brought nothing
    assert called and called[0][0].endswith("cifar-10-binary.tar.gz")


def test_the_zoo_takes_cifar_images():
    from advnb.nets.models import ZOO, build_model

    x = torch.rand(2, 3, 32, 32)
    for arch in ZOO:
        model = build_model(arch, width=0.125, n_classes=1, in_shape=(3, 32, 32)).eval()
        assert model(x).shape == (2, 1), arch
    assert build_model("two_layer", hidden=8, in_shape=(3, 32, 32))(x).shape == (2, 10)


def test_fig4_pipeline_on_tiny_cifar(tmp_path, monkeypatch):
    """The imbalance chapter's Fig. 4 pipeline on CIFAR-format files: train, attack, group the cosines."""
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path / "cache"))
    from advnb.chapters import common, imbalance
    from advnb.nets.data import as_binary, load_cifar10
    from advnb.nets.profiles import get_profile
    from advnb.nets.train import binary_overrides

    _write_cifar(tmp_path / "data", n_train=200, n_test=60)
    data = as_binary(load_cifar10(str(tmp_path / "data")))
    prof = get_profile("smoke")
    models, _ = common.trained_networks(["cnn-3"], prof, 0, data, torch.device("cpu"), progress=False,
                                        **binary_overrides(prof, adversarial=True))
    x, y = common.attack_set(models["cnn-3"], data, 20, torch.device("cpu"))
    assert x.shape[1:] == (3, 32, 32) and len(y) >= 10
    beta = common.beta_for_strength(models["cnn-3"], x, y, 0.3)
    t = imbalance.c5_samples(models["cnn-3"], x, y, beta, 10, 1e-3)
    assert len(t) == len(y) and (t["cos_to_mean"].abs() <= 1 + 1e-9).all() and (t["gw_adv_norm"] > 0).all()
    groups = imbalance.group_means(t["a_hat"], t["cos_to_mean"], 5)
    assert len(groups) == 5
