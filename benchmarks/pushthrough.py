"""Benchmark: Theorem 2 by the C x C push-through form against the dense n x n eigen-sum.

Prints, in one run on this machine:
  1. n = 784 (MNIST): push-through vs dense eigendecomposition, the speed-up ratio and the largest
     relative difference of deltâ (target: at least 50x faster, same result to 1e-12);
  2. n = 3*224*224 (ImageNet size): the push-through time (the dense form would need the n x n
     matrix, about 169 GiB in float64, so it is not attempted).
Timings are the median of ``--repeat`` runs after one warm-up. Usage:

    python benchmarks/pushthrough.py [--batch 16] [--repeat 5] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from advnb.profiles import resolve_device
from advnb.theory import delta_eigensum, infinite_step_delta


def _instance(B: int, C: int, n: int, device: torch.device, seed: int = 0):
    """Random J (B, C, n), a softmax-type H̄_z (B, C, C) and g_z (B, C), float64."""
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(B, C, n, generator=g, dtype=torch.float64) / n**0.5
    p = torch.softmax(3 * torch.randn(B, C, generator=g, dtype=torch.float64), dim=1)
    hz = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    g_z = p - torch.nn.functional.one_hot(torch.zeros(B, dtype=torch.long), C).double()
    return J.to(device), hz.to(device), g_z.to(device)


def _median_seconds(fn, repeat: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args()
    dev = resolve_device(args.device)
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, beta {args.beta}")

    J, hz, g_z = _instance(args.batch, 10, 784, dev)
    dense = delta_eigensum(J, hz, g_z, args.beta).delta
    push = infinite_step_delta(J, hz, g_z, args.beta).delta
    rel = ((dense - push).norm(dim=1) / dense.norm(dim=1)).max().item()
    t_dense = _median_seconds(lambda: delta_eigensum(J, hz, g_z, args.beta), args.repeat, dev)
    t_push = _median_seconds(lambda: infinite_step_delta(J, hz, g_z, args.beta), args.repeat, dev)
    ratio = t_dense / t_push
    print(f"n = 784:     dense {1e3 * t_dense:9.2f} ms   push-through {1e3 * t_push:7.3f} ms   "
          f"speed-up {ratio:7.1f}x   max relative difference {rel:.1e}")
    print(f"             target: speed-up >= 50x -> {'met' if ratio >= 50 else 'NOT met'}; "
          f"difference <= 1e-12 -> {'met' if rel <= 1e-12 else 'NOT met'}")

    n = 3 * 224 * 224
    J, hz, g_z = _instance(args.batch, 10, n, dev)
    t_big = _median_seconds(lambda: infinite_step_delta(J, hz, g_z, args.beta), args.repeat, dev)
    print(f"n = {n}: push-through {1e3 * t_big:.2f} ms for {args.batch} inputs "
          f"({1e3 * t_big / args.batch:.3f} ms each); dense H̄_x would need {n * n * 8 / 2**30:.0f} GiB per input")


if __name__ == "__main__":
    main()
