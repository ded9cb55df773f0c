"""``advnb replicate``: every chapter at several seeds, and every claim of the scoreboard judged on each.

    advnb replicate [--seeds 0,1,2,3,4] [--profile P] [--chapters all|a,b] [--output-dir DIR]
                    [--workers N | --scheduler ADDRESS]
    advnb replicate --merge A/replicate.json B/replicate.json ... [--output-dir DIR]

One seed is an anecdote. Each chapter runs once per seed (its ``seed`` parameter; every other parameter
at its default) through the same papermill execution as ``advnb run``, on Dask like ``advnb sweep``
(:mod:`advnb.book.cluster`), into ``DIR/runs/CHAPTER/seed=S/``. A killed replication resumes: a run whose
record is complete is skipped. Then each claim of :data:`advnb.book.scoreboard.CLAIMS` whose chapter ran
is judged by its own rule on every seed, and the verdicts are gathered:

- ``holds_by_seed``: the verdict on each seed; ``seeds_holding``: "k/N", k the seeds where it is yes;
- ``verdict``: ``yes`` when the rule says yes on every seed, ``partly`` when on some (or when some seed
  says partly), ``no`` when no seed says yes or partly, ``not testable`` when no seed could test it;
- ``numbers``: for each number in the row's *measured* text (the same template on every seed), its
  min / median / max over the seeds, and ``measured``: the text with each number that moves written
  ``median [min … max]``.

It writes ``DIR/replicate.json`` (with the commit, date, machine, seeds and wall time),
``DIR/replicate.csv`` (a row a claim) and ``DIR/replicate.png`` (each claim's numbers across the seeds),
and, for the summary page, one replication record per chapter in ``$ADVNB_CACHE/records``
(``replicate-CHAPTER-KEY.json``, KEY the chapter's build-record key at its default parameters: the same
code, profile and device), read back by :func:`find_replication`.

``--merge`` joins replications of the same code made apart (seeds split over machines that share no
file system, or a replication whose run folders are gone) into one, as if every seed had run in one call
(:func:`merge`).
"""

from __future__ import annotations

import datetime
import json
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from ..base import atomic_write
from .runs import UsageError

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
VERDICTS = ("yes", "partly", "no", "not testable")

# A number as the scoreboard writes it: 0.96, -1.6e-16, 1.0e-04, +0.01, 82 (of "82%"), 3 (of "3/10").
_NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


# ----------------------------------------------------------------------------- parsing the options

def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; one-line UsageError on an empty list, a repeat or a non-integer."""
    parts = [t.strip() for t in str(text).split(",") if t.strip()]
    if not parts:
        raise UsageError(f"argument --seeds: give at least one seed, e.g. 0,1,2 (got {text!r})")
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"argument --seeds: whole numbers >= 0 separated by commas (got {text!r})") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise UsageError(f"argument --seeds: whole numbers >= 0, each once (got {text!r})")
    return seeds


def parse_chapters(text: str) -> list[str]:
    """``"all"`` or ``"theorem1,theorem2"`` -> chapter names in the book's order; one-line UsageError."""
    from .scoreboard import CHAPTERS

    if str(text).strip() == "all":
        return list(CHAPTERS)
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if not names:
        raise UsageError("argument --chapters: give all, or chapter names separated by commas")
    unknown = [n for n in names if n not in CHAPTERS]
    if unknown:
        raise UsageError(f"argument --chapters: unknown chapter {unknown[0]!r}; choose all or some of {', '.join(CHAPTERS)}")
    return [c for c in CHAPTERS if c in names]


# ----------------------------------------------------------------------------- numbers of a row

def split_numbers(text: str) -> tuple[tuple[str, ...], list[float]]:
    """``text`` -> (the pieces between its numbers, the numbers). Two seeds' rows read alike when
    their pieces are equal; then their numbers correspond one to one."""
    pieces, values, last = [], [], 0
    for m in _NUMBER.finditer(text):
        pieces.append(text[last:m.start()])
        values.append(float(m.group().replace("−", "-")))
        last = m.end()
    pieces.append(text[last:])
    return tuple(pieces), values


def _fmt(x: float) -> str:
    """A count as a whole number, anything else as the scoreboard writes it."""
    from .scoreboard import _fmt as board_fmt

    return str(int(x)) if x == int(x) and abs(x) < 1e4 else board_fmt(x)


def spread(texts: dict[int, str]) -> dict[str, Any]:
    """The *measured* texts of one row on each seed -> their numbers over the seeds.

    Uses the seeds whose text reads like the most common one (``seeds_alike``). Returns
    ``{"measured": text with each moving number as 'median [min … max]', "numbers": [{"index", "min",
    "median", "max", "values"}] (the numbers that move), "seeds_alike": [...]}``.
    """
    split = {s: split_numbers(t) for s, t in texts.items()}
    templates = [p for p, _ in split.values()]
    common = max(set(templates), key=templates.count)
    alike = [s for s, (p, _) in split.items() if p == common]
    first = texts[alike[0]]
    tokens = [m.group() for m in _NUMBER.finditer(first)]
    out, numbers = [common[0]], []
    for i, token in enumerate(tokens):
        vals = [split[s][1][i] for s in alike]
        if min(vals) == max(vals):
            out.append(token)
        else:
            lo, med, hi = min(vals), statistics.median(vals), max(vals)
            out.append(f"{_fmt(med)} [{_fmt(lo)} … {_fmt(hi)}]")
            numbers.append({"index": i, "min": lo, "median": med, "max": hi,
                            "values": dict(zip(map(str, alike), vals))})
        out.append(common[i + 1])
    return {"measured": "".join(out), "numbers": numbers, "seeds_alike": alike}


def overall(verdicts: list[str]) -> str:
    """The replicated verdict of one claim from its verdict on each seed (see the module docstring)."""
    if not verdicts:
        raise ValueError("no seed to judge")
    if all(v == "yes" for v in verdicts):
        return "yes"
    if any(v in ("yes", "partly") for v in verdicts):
        return "partly"
    if all(v == "not testable" for v in verdicts):
        return "not testable"
    return "no"


def judge(records_by_seed: dict[int, dict[str, dict]]) -> list[dict[str, Any]]:
    """``{seed: {chapter: record}}`` -> one replicated row per claim whose chapter ran on every seed."""
    from .scoreboard import board

    seeds = sorted(records_by_seed)
    boards = {s: board(records_by_seed[s]).set_index("claim") for s in seeds}
    claims = [c for c in boards[seeds[0]].index if all(c in boards[s].index for s in seeds)]
    return [_row(dict(boards[seeds[0]].loc[claim]) | {"claim": claim},
                 {s: boards[s].loc[claim, "holds"] for s in seeds},
                 {s: boards[s].loc[claim, "measured"] for s in seeds}) for claim in claims]


def _row(first: dict[str, Any], holds: dict[int, str], texts: dict[int, str]) -> dict[str, Any]:
    """One replicated claim: its description from ``first`` (a scoreboard row), its verdict on each seed
    (``holds``) and its *measured* text on each seed (``texts``), both keyed by seed."""
    seeds = sorted(holds)
    sp = spread({s: texts[s] for s in seeds})
    verdicts = [holds[s] for s in seeds]
    return {
        "claim": first["claim"], "kind": first["kind"], "chapter": first["chapter"], "paper": first["paper"],
        "operating_point": first["operating_point"], "rule": first["rule"],
        "holds_by_seed": {str(s): holds[s] for s in seeds},
        "seeds_holding": f"{verdicts.count('yes')}/{len(seeds)}",
        "verdict_counts": {v: verdicts.count(v) for v in VERDICTS},
        "verdict": overall(verdicts),
        "measured": sp["measured"], "numbers": sp["numbers"],
        "seeds_alike": f"{len(sp['seeds_alike'])}/{len(seeds)}",
        "measured_by_seed": {str(s): texts[s] for s in seeds},
    }


# ----------------------------------------------------------------------------- provenance

def commit() -> dict[str, Any]:
    """The git commit of the package's checkout (None outside one) and whether it had changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "advnb", "book/chapters", "book/results", "pyproject.toml"], cwd=root, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def chapter_keys(chapters: list[str], profile: str | None) -> dict[str, str]:
    """Each chapter's build-record key at its default parameters: what names this code, profile and device."""
    from ..base import available_chapters
    from .record import default_parameters, record_key

    nbs = available_chapters()
    return {c: record_key(c, default_parameters(nbs[c], profile), nbs[c]) for c in chapters}


# ----------------------------------------------------------------------------- the command

def replicate(seeds: list[int], profile: str | None, chapters: list[str], output_dir: str,
              workers: int | None = None, scheduler: str | None = None) -> dict[str, Any]:
    """Run ``chapters`` at every seed, judge every claim on each, write the outputs (module docstring).

    Returns ``{"json", "csv", "plot", "ran", "skipped", "failed", "claims"}``.
    """
    from .cluster import Run, check_options
    from .params import check
    from .runs import check_output_dir
    from .sweep import execute_all

    if profile is not None:
        check({"profile": profile})
    check_options(workers, scheduler)
    check_output_dir(output_dir)
    from ..nets.profiles import resolve_device, resolve_name

    prof, device = resolve_name(profile), str(resolve_device(None))
    out = Path(output_dir)
    start = time.perf_counter()
    runs = [Run(f"{c}/seed={s}", c, {"seed": s, "profile": prof}, out / "runs" / c / f"seed={s}", meta={"seed": s})
            for s in seeds for c in chapters]
    res = execute_all(runs, f"replicate {prof}", workers, scheduler)
    by_seed: dict[int, dict[str, dict]] = {s: {} for s in seeds}
    for run in runs:
        if run.name in res["records"]:
            by_seed[run.meta["seed"]][run.chapter] = res["records"][run.name]
    complete = {s: recs for s, recs in by_seed.items() if len(recs) == len(chapters)}
    result = {"json": None, "csv": None, "plot": None, **{k: res[k] for k in ("ran", "skipped", "failed", "where")},
              "claims": []}
    if not complete:
        return result
    rows = judge(complete)
    keys = chapter_keys(chapters, prof)
    from .bench import machine

    doc = {
        "profile": prof, "device": device, "seeds": sorted(complete), "seeds_asked": seeds,
        "chapters": chapters, "chapter_keys": keys, **commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(resolve_device(None)), "executor": _executors(complete),
        "wall_time_s": round(time.perf_counter() - start, 1),  # of this call (runs already complete cost nothing)
        "run_seconds": round(sum(r["wall_time_s"] for recs in complete.values() for r in recs.values()), 1),
        "versions": _versions_of([r.get("versions") for recs in complete.values() for r in recs.values()]),
        "runs": [{"chapter": r["chapter"], "seed": r["parameters"]["seed"], "wall_time_s": r["wall_time_s"],
                  "where": r.get("where")} for recs in complete.values() for r in recs.values()],
        "claims": rows,
    }
    result.update(write_outputs(doc, out), claims=rows)
    return result


def write_outputs(doc: dict[str, Any], out: Path) -> dict[str, str]:
    """``doc`` -> ``out/replicate.json``, ``out/replicate.csv`` and ``out/replicate.png`` (each written
    atomically), and this code's replication records for the summary page (:func:`save_replication`)."""
    rows = doc["claims"]
    json_path, csv_path, png_path = out / "replicate.json", out / "replicate.csv", out / "replicate.png"
    atomic_write(json_path, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n"))
    df = csv_table(rows)
    atomic_write(csv_path, lambda tmp: df.to_csv(tmp, index=False))
    fig = plot(rows, f"advnb replicate: {doc['profile']}, seeds {', '.join(map(str, doc['seeds']))}")
    atomic_write(png_path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    save_replication(doc)
    return {"json": str(json_path), "csv": str(csv_path), "plot": str(png_path)}


# ----------------------------------------------------------------------------- joining replications

# What two replications must share to be one: the same chapters, profile and device, run by the same code.
_SAME = ("profile", "device", "chapters", "chapter_keys")


def merge(paths: list[str], output_dir: str) -> dict[str, Any]:
    """Join replications of the same code made apart into one, written like :func:`replicate`'s.

    A replication split over machines that share no file system (seeds 0-2 on one, 3-4 on another), or one
    whose run folders are gone, leaves several ``replicate.json``. Each claim's verdicts and *measured*
    texts are kept per seed (``holds_by_seed``, ``measured_by_seed``), so the joined row is judged and spread
    exactly as if every seed had run in one call. The parts must share the profile, device, chapters and
    each chapter's build-record key (``chapter_keys``: the same code) and have no seed in common; anything
    else is a UsageError of one line, and nothing is written. ``merged_from`` keeps each part's seeds,
    commit, date, machine, library versions and times; ``versions`` shows any library whose version
    differed between the parts; ``runs``, ``run_seconds`` and ``wall_time_s`` add up.
    Returns ``{"json", "csv", "plot", "claims"}``.
    """
    from .runs import check_output_dir

    if len(paths) < 2:
        raise UsageError(f"argument --merge: give two or more replicate.json files (got {len(paths)})")
    docs = []
    for path in paths:
        doc = load_reference(Path(path))
        if doc is None or not all(k in doc for k in (*_SAME, "seeds", "claims")):
            raise UsageError(f"argument --merge: {path} is not a replicate.json written by advnb replicate")
        docs.append(doc)
    for path, doc in zip(paths[1:], docs[1:]):
        for k in _SAME:
            if doc[k] != docs[0][k]:
                what = "code" if k == "chapter_keys" else k
                raise UsageError(f"argument --merge: {path} differs from {paths[0]} in its {what}; "
                                 "only replications of the same code, profile, device and chapters join")
    seen: dict[int, str] = {}
    for path, doc in zip(paths, docs):
        for s in doc["seeds"]:
            if s in seen:
                raise UsageError(f"argument --merge: seed {s} is in both {seen[s]} and {path}; each seed once")
            seen[s] = path
    check_output_dir(output_dir)
    by_claim = [{r["claim"]: r for r in doc["claims"]} for doc in docs]
    rows = []
    for claim, first in by_claim[0].items():
        parts = [b.get(claim) for b in by_claim]
        if any(p is None for p in parts):
            continue
        holds = {int(s): v for p in parts for s, v in p["holds_by_seed"].items()}
        texts = {int(s): t for p in parts for s, t in p["measured_by_seed"].items()}
        rows.append(_row(first, holds, texts))
    runs = [r for doc in docs for r in doc.get("runs", [])]
    latest = max(docs, key=lambda d: str(d.get("date")))
    doc = {
        **{k: docs[0][k] for k in _SAME}, "seeds": sorted(seen),
        "seeds_asked": sorted({s for d in docs for s in d.get("seeds_asked", d["seeds"])}),
        "commit": latest.get("commit"), "dirty": any(d.get("dirty") for d in docs), "date": latest.get("date"),
        "machine": latest.get("machine"),
        "executor": _executors_of(runs),
        "wall_time_s": round(sum(d.get("wall_time_s", 0) for d in docs), 1),
        "run_seconds": round(sum(d.get("run_seconds", 0) for d in docs), 1),
        "versions": _versions_of([d.get("versions") for d in docs]),
        "merged_from": [{"file": str(p), "seeds": d["seeds"], **{k: d.get(k) for k in (
            "commit", "dirty", "date", "machine", "versions", "executor", "wall_time_s", "run_seconds")}}
            for p, d in zip(paths, docs)],
        "runs": runs,
        "claims": rows,
    }
    return {**write_outputs(doc, Path(output_dir)), "claims": rows}


def _executors(by_seed: dict[int, dict[str, dict]]) -> str:
    """Where the runs executed, from their records: ``"local-cluster: 30 runs, in-process: 6 runs"``."""
    return _executors_of([r for recs in by_seed.values() for r in recs.values()])


def _versions_of(versions: list[dict[str, str] | None]) -> dict[str, str]:
    """The library versions the runs used (``{"torch": "2.14.1", ...}``); a library whose version differed
    between runs reads ``"2.14.1 | 2.15.0"``."""
    names = sorted({k for v in versions if v for k in v})
    return {k: " | ".join(sorted({str(v.get(k)) for v in versions if v})) for k in names}


def _executors_of(runs: list[dict[str, Any]]) -> str:
    from collections import Counter

    where = Counter((r.get("where") or {}).get("executor", "unknown") for r in runs)
    return ", ".join(f"{k}: {v} runs" for k, v in where.most_common())


def csv_table(rows: list[dict[str, Any]]):
    """One row per claim: its verdict, k/N, the verdict on each seed, the measured text with spreads."""
    import pandas as pd

    return pd.DataFrame([{
        "claim": r["claim"], "kind": r["kind"], "chapter": r["chapter"], "verdict": r["verdict"],
        "seeds_holding": r["seeds_holding"],
        "holds_by_seed": "; ".join(f"{s}: {v}" for s, v in r["holds_by_seed"].items()),
        "measured": r["measured"],
    } for r in rows])


def plot(rows: list[dict[str, Any]], title: str):
    """A panel per claim whose numbers move across the seeds: each number (x) on each seed (a dot)."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moving = [r for r in rows if r["numbers"]] or rows[:1]
    ncols = min(4, len(moving))
    nrows = math.ceil(len(moving) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.5 * nrows), squeeze=False)
    for ax, r in zip(axes.flat, moving):
        for j, num in enumerate(r["numbers"]):
            vals = list(num["values"].values())
            ax.plot([j] * len(vals), vals, "o", ms=3, alpha=0.7, color="C0")
            ax.plot([j - 0.3, j + 0.3], [num["median"]] * 2, "-", color="C3", lw=1.5)
        vals = [v for num in r["numbers"] for v in num["values"].values()]
        if vals and min(vals) > 0 and max(vals) / min(vals) >= 100:
            ax.set_yscale("log")
        ax.set_title(f"{r['claim']}: {r['verdict']} ({r['seeds_holding']})", fontsize=8)
        ax.set_xlabel("number in the row (its order in the text)", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(moving):]:
        ax.axis("off")
    fig.suptitle(title + " (dots: seeds; red: median)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


# ----------------------------------------------------------------------------- for the summary page

def _replication_path(chapter: str, key: str) -> Path:
    from .record import records_dir

    return records_dir() / f"replicate-{chapter}-{key}.json"


def save_replication(doc: dict[str, Any]) -> list[Path]:
    """One record per chapter of ``doc`` (its claims, seeds and provenance), keyed like its build record."""
    paths = []
    for chapter, key in doc["chapter_keys"].items():
        part = {k: v for k, v in doc.items() if k not in ("claims", "runs", "chapter_keys", "chapters")}
        part.update(chapter=chapter, key=key, claims=[r for r in doc["claims"] if r["chapter"] == chapter])
        path = _replication_path(chapter, key)
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(part, indent=1, ensure_ascii=False)))
        paths.append(path)
    return paths


def find_replication(chapter: str, profile: str | None = None) -> dict[str, Any] | None:
    """This code's replication record of ``chapter`` at ``profile`` (default parameters), or None."""
    key = chapter_keys([chapter], profile)[chapter]
    try:
        doc = json.loads(_replication_path(chapter, key).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("key") == key else None


def load_reference(path: Path) -> dict[str, Any] | None:
    """A reference run (``book/reference/PROFILE/replicate.json``), or None when there is none or it is unreadable."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("claims"), list) else None


def reference_paths() -> dict[str, Path]:
    """The reference runs kept in the repository: ``book/reference/PROFILE/replicate.json``, by profile."""
    from ..base import chapters_dir

    root = chapters_dir().parent / "reference"
    return {p.parent.name: p for p in sorted(root.glob("*/replicate.json"))}


def seeds_text(row: dict[str, Any]) -> str:
    """``"3/5 seeds yes (partly on 2)"``: how a replicated claim fared, seed by seed."""
    counts = row.get("verdict_counts") or {v: list(row["holds_by_seed"].values()).count(v) for v in VERDICTS}
    n = sum(counts.values())
    rest = ", ".join(f"{v} on {counts[v]}" for v in VERDICTS[1:] if counts.get(v))
    return f"yes on {counts.get('yes', 0)}/{n} seeds" + (f" ({rest})" if rest else "")


def with_seeds(df, profile: str | None = None, references: dict[str, Path] | None = None):
    """The scoreboard ``df`` (:func:`advnb.book.scoreboard.board`) with the replication of this code, and the
    reference runs beside it.

    Where a replication record of this code exists for a claim's chapter (:func:`find_replication`), the row's
    ``holds`` becomes the replicated verdict, ``measured`` the text with each number's spread over the seeds,
    and ``seeds`` says on how many seeds the rule held; elsewhere ``seeds`` is "1 seed" and the row is as
    ``df`` had it. ``reference`` gives each reference run's verdict (``references``: {profile: path}, default
    :func:`reference_paths`), marked "from commit …" where that run's code differs from this build's.
    Returns a new DataFrame with the columns ``seeds``, ``holds_one_seed`` and ``reference`` added.
    """
    df = df.copy()
    reps = {c: find_replication(c, profile) for c in df["chapter"].unique()}
    refs = {p: load_reference(path) for p, path in (reference_paths() if references is None else references).items()}
    refs = {p: doc for p, doc in refs.items() if doc is not None}
    current = {p: chapter_keys([c for c in doc.get("chapters", []) if c in set(df["chapter"])], p)
               for p, doc in refs.items()}
    seeds, n_seeds, one, reference = [], [], [], []
    for i, row in df.iterrows():
        rep = reps.get(row["chapter"])
        rrow = next((r for r in rep["claims"] if r["claim"] == row["claim"]), None) if rep else None
        one.append(row["holds"])
        if rrow is None:
            seeds.append("1 seed")
            n_seeds.append(1)
        else:
            seeds.append(seeds_text(rrow))
            n_seeds.append(len(rrow["holds_by_seed"]))
            df.at[i, "holds"] = rrow["verdict"]
            df.at[i, "measured"] = rrow["measured"]
        parts = []
        for p, doc in refs.items():
            ref = next((r for r in doc["claims"] if r["claim"] == row["claim"]), None)
            if ref is None:
                continue
            same = doc.get("chapter_keys", {}).get(row["chapter"]) == current[p].get(row["chapter"])
            origin = "" if same else f", from commit {str(doc.get('commit'))[:7]}"
            parts.append(f"{p}: {ref['verdict']}, {seeds_text(ref)}{origin}")
        reference.append("; ".join(parts) if parts else "—")
    df["seeds"], df["n_seeds"], df["holds_one_seed"], df["reference"] = seeds, n_seeds, one, reference
    return df


def seeds_note(df) -> str:
    """One sentence for the summary page: how many rows of ``df`` (:func:`with_seeds`) rest on how many seeds."""
    replicated = df[df["n_seeds"] > 1]
    if replicated.empty:
        return ("one seed: every verdict here rests on 1/1 seed; no replication of this code exists yet "
                "(advnb replicate makes one)")
    counts = sorted(set(replicated["n_seeds"]))
    return (f"{len(replicated)} of the {len(df)} rows are replicated over {', '.join(map(str, counts))} seeds; "
            f"{len(df) - len(replicated)} rest on 1 seed")


def reference_note(references: dict[str, Path] | None = None) -> str:
    """One sentence naming each reference run kept in the repository: profile, seeds, commit, date, machine, time."""
    docs = {p: load_reference(path) for p, path in (reference_paths() if references is None else references).items()}
    parts = []
    for p, doc in docs.items():
        if doc is None:
            continue
        m = doc.get("machine") or {}
        where = m.get("gpu") or f"{m.get('cores_available', '?')}-core CPU"
        hours = doc.get("run_seconds", 0) / 3600
        joined = doc.get("merged_from") or []
        made = "; ".join(f"seeds {', '.join(map(str, j['seeds']))} at {str(j.get('commit'))[:7]}" for j in joined)
        parts.append(f"{p}: seeds {', '.join(map(str, doc.get('seeds', [])))}, commit {str(doc.get('commit'))[:7]}, "
                     f"{str(doc.get('date'))[:10]}, {where}, {hours:.1f} h of chapter runs"
                     + (f" (joined from {len(joined)} replications of the same code: {made})" if joined else ""))
    return "; ".join(parts) + "." if parts else "none is kept yet."
