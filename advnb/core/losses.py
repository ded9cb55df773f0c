"""Loss derivatives with respect to the logits z.

Notation (the paper's): g_z = dL/dz and H_z = d^2L/dz dz^T.

- Softmax cross-entropy, C >= 2 classes, labels y in {0..C-1}:
  L = -log softmax(z)_y,  g_z = p - e_y,  H_z = diag(p) - p p^T  (PSD, rank <= C-1).
- Sigmoid, C = 1, labels y in {-1, +1}:
  L = log(1 + exp(-y z)),  g_z = -y sigma(-y z),  H_z = sigma(y z) sigma(-y z).

The head is read off the logits' width: C = 1 means sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_labels(z: torch.Tensor, y: torch.Tensor) -> None:
    if z.ndim != 2 or y.shape != z.shape[:1]:
        raise ValueError(f"expected z of shape (B, C) and y of shape (B,), got {tuple(z.shape)} and {tuple(y.shape)}")
    if z.shape[1] == 1 and not torch.all((y == 1) | (y == -1)):
        raise ValueError("labels for a sigmoid head (C = 1) must be -1 or +1")


def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sec. 2, the loss L of Eq. (3)'s network. Per-sample loss. z: (B, C) logits, y: (B,) labels. Returns (B,). Chapters: every chapter."""
    _check_labels(z, y)
    if z.shape[1] == 1:
        return F.softplus(-y.to(z.dtype) * z[:, 0])
    return F.cross_entropy(z, y.long(), reduction="none")


def loss_derivatives(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sec. 2 and Lemma 1: g_z = dL/dz, H_z = d^2L/dz dz^T. z: (B, C) logits, y: (B,) labels. Returns g_z (B, C), H_z (B, C, C). Chapters: every chapter."""
    _check_labels(z, y)
    if z.shape[1] == 1:
        yz = y.to(z.dtype) * z[:, 0]
        s_neg, s_pos = torch.sigmoid(-yz), torch.sigmoid(yz)
        g = (-y.to(z.dtype) * s_neg)[:, None]
        h = (s_pos * s_neg)[:, None, None]
        return g, h
    p = torch.softmax(z, dim=1)
    g = p - F.one_hot(y.long(), z.shape[1]).to(z.dtype)
    h = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return g, h


def attack_succeeded(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether the prediction differs from the label. z: (B, C), y: (B,). Returns (B,) bool."""
    _check_labels(z, y)
    if z.shape[1] == 1:
        return y.to(z.dtype) * z[:, 0] <= 0
    return z.argmax(dim=1) != y
