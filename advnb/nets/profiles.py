"""Run sizes and the device.

One parameter, ``profile``, sizes every chapter:

- ``smoke``: CI size; each chapter seconds to about two minutes on 2 CPU cores (training included).
- ``quick``: a laptop CPU; meant to build the whole book within half an hour on 2 cores, from an
  empty model cache (README: where the time goes). Training is sized down: vanilla training sees the
  4,000 training digits for 2 epochs (126 Adam steps of 64 digits); adversarial training, the costly
  part, 2,000 digits for 3 epochs with 3 PGD steps; and the costly zoo network (``adv_large_archs``:
  ResNet-50, whose PGD training step costs about ten times AlexNet's or VGG-11's on a CPU) trains
  adversarially on ``adv_large_n_train`` = 1,000 of those digits. What a chapter measures (its
  quantities, its attacked digits, its rules) does not change; only the networks it measures are
  trained on less.
- ``paper``: the paper's sizes, meant for a GPU.
- ``auto``: ``paper`` when CUDA is available, ``quick`` otherwise.

The default comes from the environment variable ``ADVNB_PROFILE`` (unset: ``auto``),
so the book build, nbval and papermill all pick the size the same way.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch

from ..base import ParameterError

PROFILES = ("smoke", "quick", "paper", "auto")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Profile:
    name: str
    n_train: int  # training digits used (at most what the data source has)
    epochs: int  # vanilla training epochs
    hidden: int  # width D of the two-layer network
    n_eval: int  # correctly classified test digits attacked
    m: int  # attack steps
    n_betas: int  # points of the beta grid
    n_dense: int  # samples given the dense n x n eigendecomposition (costly)
    width: float  # width factor of the zoo networks (advnb.nets.models): 1 is the paper's size
    adv_steps: int = 7  # PGD steps per batch in adversarial training (Sec. 3.3 networks)
    adv_n_train: int = 60000  # training digits of adversarially trained networks
    bisect_tol: float = 1.05  # operating points (beta_50, implied beta) are located to hi / lo <= this
    adv_epochs: int | None = None  # epochs of adversarial training (None: ``epochs``)
    adv_large_archs: tuple[str, ...] = ("resnet50",)  # zoo networks whose adversarial training is costly
    adv_large_n_train: int | None = None  # at most this many digits for their adversarial training (None: adv_n_train)

    def adv_n_train_for(self, arch: str) -> int:
        """Training digits of ``arch``'s adversarial training: ``adv_large_n_train`` for the costly networks
        of ``adv_large_archs`` when the profile sets it, ``adv_n_train`` otherwise."""
        if self.adv_large_n_train is not None and arch in self.adv_large_archs:
            return min(self.adv_n_train, self.adv_large_n_train)
        return self.adv_n_train

    def as_dict(self) -> dict:
        return asdict(self)


_PROFILES = {
    "smoke": Profile("smoke", n_train=2000, epochs=5, hidden=128, n_eval=32, m=100, n_betas=5, n_dense=4, width=0.125,
                     adv_steps=3, adv_n_train=1000, bisect_tol=1.5),
    "quick": Profile("quick", n_train=4000, epochs=2, hidden=512, n_eval=200, m=200, n_betas=9, n_dense=16, width=0.25,
                     adv_steps=3, adv_n_train=2000, bisect_tol=1.1, adv_epochs=3, adv_large_n_train=1000),
    "paper": Profile("paper", n_train=60000, epochs=20, hidden=1024, n_eval=1000, m=1000, n_betas=13, n_dense=64, width=1.0,
                     adv_steps=7, adv_n_train=60000, bisect_tol=1.05),
}


def resolve_name(name: str | None = None) -> str:
    """The concrete profile name for ``name`` (None: ``$ADVNB_PROFILE``, else ``auto``)."""
    if name is None:
        name = os.environ.get("ADVNB_PROFILE", "auto")
    if name not in PROFILES:
        raise ParameterError(f"parameter profile: must be one of {', '.join(PROFILES)} (got {name!r})")
    if name == "auto":
        return "paper" if torch.cuda.is_available() else "quick"
    return name


def get_profile(name: str | None = None) -> Profile:
    """The :class:`Profile` for ``name`` (see :func:`resolve_name`)."""
    return _PROFILES[resolve_name(name)]


def resolve_device(name: str | None = None) -> torch.device:
    """``auto`` (default, or ``$ADVNB_DEVICE``): CUDA when available, else CPU."""
    if name is None:
        name = os.environ.get("ADVNB_DEVICE", "auto")
    if name not in DEVICES:
        raise ParameterError(f"parameter device: must be one of {', '.join(DEVICES)} (got {name!r})")
    if name == "cuda" and not torch.cuda.is_available():
        raise ParameterError("parameter device: cuda was asked for but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
