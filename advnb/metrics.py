"""Agreement between measured and predicted perturbations.

- kappa = E||delta* - deltâ|| / E||delta*||   (the paper's error, Table 1)
- 1 - cos(a, b), the matching error of Section 3.2, computed as ||â - b̂||^2 / 2
  so that it keeps its precision when the cosine is close to 1.
"""

from __future__ import annotations

import torch


def kappa(delta_star: torch.Tensor, delta_hat: torch.Tensor) -> float:
    """kappa over a batch. Both (B, ...) with the same shape. Returns a float."""
    if delta_star.shape != delta_hat.shape:
        raise ValueError(f"shapes differ: {tuple(delta_star.shape)} vs {tuple(delta_hat.shape)}")
    a, b = delta_star.reshape(len(delta_star), -1), delta_hat.reshape(len(delta_hat), -1)
    return ((a - b).norm(dim=1).mean() / a.norm(dim=1).mean()).item()


def one_minus_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample 1 - cos(a, b). a, b: (B, ...) with the same shape. Returns (B,)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    a_hat = a / a.norm(dim=1, keepdim=True)
    b_hat = b / b.norm(dim=1, keepdim=True)
    return 0.5 * (a_hat - b_hat).pow(2).sum(dim=1)
