"""Benchmark: Theorem 2 by the C x C push-through form against the dense n x n eigen-sum.

A thin front end to ``advnb.book.bench`` (one implementation; ``advnb bench`` measures this
and more, and writes a JSON record). Prints, in one run on this machine:
  1. n = 784 (MNIST) and n = 3072 (CIFAR): push-through vs dense eigendecomposition, the
     speed-up ratio and the largest relative difference of deltâ;
  2. n = 3*224*224 (ImageNet size): the push-through time (the dense form would need the n x n
     matrix, about 169 GiB in float64, so it is not attempted).
Timings are the median of ``--repeat`` runs after one warm-up. Usage:

    python benchmarks/pushthrough.py [--batch 2] [--repeat 3] [--sizes 784,3072] [--device auto]
"""

from __future__ import annotations

import argparse

import torch

from advnb import bench
from advnb.nets.profiles import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default=",".join(map(str, bench.DEFAULT_SIZES)))
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args()
    dev = resolve_device(args.device)
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    for n in (int(t) for t in args.sizes.split(",")):
        r = bench.pushthrough_vs_dense(n, args.batch, args.repeat, dev)
        print(f"n = {n:6d}: dense {1e3 * r['dense_s']:10.2f} ms   push-through {1e3 * r['pushthrough_s']:8.3f} ms   "
              f"speed-up {r['speedup']:8.1f}x   max relative difference {r['max_rel_diff']:.1e}")
    r = bench.pushthrough_only(bench.IMAGENET_N, args.batch, args.repeat, dev)
    print(f"n = {r['n']}: push-through {1e3 * r['pushthrough_s']:.2f} ms for {args.batch} inputs "
          f"({r['ms_per_input']:.3f} ms each); dense H̄_x would need {r['dense_matrix_gib']:.0f} GiB per input")


if __name__ == "__main__":
    main()
