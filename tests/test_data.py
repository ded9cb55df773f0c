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
