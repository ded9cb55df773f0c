"""Speed-up of a sweep on a local Dask cluster against one worker, measured in one run (printed, never asserted).

    .venv/bin/python benchmarks/dask_sweep.py [--chapter theorem1] [--runs 4] [--workers 2] [--profile smoke]

Runs the same sweep (``CHAPTER`` over ``--runs`` seeds) twice, each time into a fresh output folder and a
fresh model cache, so that both include the same training: first with ``--workers 1`` (in this process, torch
using every core), then on a LocalCluster of ``--workers`` workers (torch threads divided among them). Prints
both wall times, the speed-up (1-worker time / cluster time) and the efficiency (speed-up / workers), and the
load average before and after: on a machine shared with other work the ratio moves with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def timed_sweep(chapter: str, seeds: str, profile: str, workers: int) -> tuple[float, Path]:
    from advnb.book.sweep import sweep

    out = Path(tempfile.mkdtemp(prefix=f"dask-bench-{workers}w-"))
    os.environ["ADVNB_CACHE"] = str(out / "cache")  # nothing trained is shared between the two sweeps
    start = time.perf_counter()
    res = sweep(chapter, [["seed", seeds]], profile, str(out / "sweep"), workers=workers)
    if res["failed"]:
        sys.exit(f"benchmark: runs failed: {res['failed']}")
    return time.perf_counter() - start, Path(res["csv"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapter", default="theorem1")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    seeds = ",".join(str(s) for s in range(args.runs))
    load0 = os.getloadavg()
    t1, csv1 = timed_sweep(args.chapter, seeds, args.profile, 1)
    tn, csvn = timed_sweep(args.chapter, seeds, args.profile, args.workers)
    load1 = os.getloadavg()
    speedup = t1 / tn
    rec = {"chapter": args.chapter, "runs": args.runs, "profile": args.profile, "workers": args.workers,
           "cores": os.cpu_count(), "seconds_1_worker": round(t1, 1), f"seconds_{args.workers}_workers": round(tn, 1),
           "speedup": round(speedup, 2), "efficiency": round(speedup / args.workers, 2),
           "load_average_before": [round(v, 2) for v in load0], "load_average_after": [round(v, 2) for v in load1],
           "same_csv_columns": csv1.read_text().splitlines()[0] == csvn.read_text().splitlines()[0]}
    print(f"sweep of {args.runs} runs of {args.chapter} at {args.profile}: 1 worker {t1:.1f} s, "
          f"{args.workers} workers {tn:.1f} s")
    print(f"speed-up {speedup:.2f}x, efficiency {speedup / args.workers:.2f} (speed-up / workers); "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after")
    if args.json:
        Path(args.json).write_text(json.dumps(rec, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
