"""Compare the glued numbers of two sets of chapter runs (``advnb run ... --output-dir DIR``).

    python scripts/compare_results.py BEFORE_DIR AFTER_DIR [--ignore-timing]

Every ``CHAPTER.json`` in BEFORE_DIR is matched with the one in AFTER_DIR, and every value under
``results`` is compared, recursively (tables are lists of records): numbers must be equal, bit for
bit, strings identical. Values that are wall-clock times or speed ratios (names ending in ``_s`` or ``_ms``,
``seconds``, ``speedup``, or containing ``time``) differ from run to run and are skipped with
``--ignore-timing``. Prints one line per chapter and every difference; exits 1 if any.
Kept to check that a change that should move no number (the layout issue) moved none.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

TIMING = re.compile(r"(_s$|_ms$|_ms_|seconds|speedup|time|elapsed|per_second|_per_s$)")


def walk(a, b, path: str, out: list[str], ignore_timing: bool) -> int:
    """Compare a and b; append differences to out; return the number of leaf values compared."""
    if ignore_timing and TIMING.search(path.rsplit(".", 1)[-1].split("[")[0]):
        return 0
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            out.append(f"{path}: keys differ: only before {sorted(set(a) - set(b))}, only after {sorted(set(b) - set(a))}")
        return sum(walk(a[k], b[k], f"{path}.{k}", out, ignore_timing) for k in sorted(set(a) & set(b)))
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: lengths differ ({len(a)} vs {len(b)})")
        return sum(walk(x, y, f"{path}[{i}]", out, ignore_timing) for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
        if not same:
            rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
            out.append(f"{path}: {a!r} -> {b!r} (relative difference {rel:.1e})")
        return 1
    if a != b:
        out.append(f"{path}: {str(a)[:80]!r} -> {str(b)[:80]!r}")
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--ignore-timing", action="store_true")
    args = ap.parse_args(argv)
    total_diff = 0
    for path in sorted(Path(args.before).glob("*.json")):
        other = Path(args.after) / path.name
        if not other.exists():
            print(f"{path.stem}: missing in {args.after}")
            total_diff += 1
            continue
        out: list[str] = []
        n = walk(json.loads(path.read_text())["results"], json.loads(other.read_text())["results"], path.stem, out,
                 args.ignore_timing)
        print(f"{path.stem}: {n} values compared, {len(out)} differ")
        for line in out:
            print("   ", line)
        total_diff += len(out)
    return 1 if total_diff else 0


if __name__ == "__main__":
    sys.exit(main())
