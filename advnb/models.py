"""Networks.

The paper's two-layer ReLU network, Eq. (3):

    h = W1^T x + b1,   z = W2^T ReLU(h) + b2 = W2^T Sigma h + b2,

with W1 in R^{n x D}, W2 in R^{D x C} and Sigma = diag(sigma_1..sigma_D) the
gating states (sigma_d = 1 where h_d > 0). ``nn.Linear`` stores the transposes:
``fc1.weight`` is W1^T (D x n) and ``fc2.weight`` is W2^T (C x D).
The network returns the logits z; the head (softmax for C >= 2, sigmoid for C = 1)
lives in the loss (see ``advnb.hessian``).
"""

from __future__ import annotations

import torch
from torch import nn


class TwoLayerReLU(nn.Module):
    """Eq. (3). Input x: (B, n) or (B, 1, 28, 28), flattened. Output z: (B, C)."""

    def __init__(self, n_in: int = 784, hidden: int = 256, n_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


ARCHITECTURES = {"two_layer": TwoLayerReLU}


def build_model(arch: str, **kwargs) -> nn.Module:
    """Construct the network named ``arch`` (one of ``ARCHITECTURES``)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**kwargs)
