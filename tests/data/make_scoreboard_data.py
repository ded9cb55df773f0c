"""Rebuild ``scoreboard_smoke_results.json`` from a directory of ``advnb run CHAPTER`` outputs.

    python tests/data/make_scoreboard_data.py RUN_DIR

Keeps, for each chapter, only the glued values the scoreboard's rules read (recorded by running
:func:`advnb.book.scoreboard.board` on the full results), so the test data stays small.
"""

import json
import sys
from pathlib import Path

from advnb.book import scoreboard


class Recorder(dict):
    """A dict that remembers which keys were read."""

    def __init__(self, data):
        super().__init__(data)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def main(run_dir: str) -> None:
    results = {c: json.loads((Path(run_dir) / f"{c}.json").read_text())["results"] for c in scoreboard.CHAPTERS
               if (Path(run_dir) / f"{c}.json").exists()}
    recorders = {c: Recorder(r) for c, r in results.items()}
    original = scoreboard._revive
    scoreboard._revive = lambda value: value  # keep the recorders themselves
    try:
        scoreboard.board({c: {"results": rec} for c, rec in recorders.items()})
    finally:
        scoreboard._revive = original
    kept = {c: {k: results[c][k] for k in sorted(rec.read)} for c, rec in recorders.items() if rec.read}
    out = Path(__file__).with_name("scoreboard_smoke_results.json")
    out.write_text(json.dumps(kept, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}: " + ", ".join(f"{c} {len(v)}" for c, v in kept.items()))


if __name__ == "__main__":
    main(sys.argv[1])
