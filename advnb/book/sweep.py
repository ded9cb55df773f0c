"""``advnb sweep``: a chapter run at every combination of parameter values, then one CSV and one plot.

    advnb sweep CHAPTER -p NAME V1,V2,... [-p NAME ...] [--profile P] [--output-dir DIR]
                [--workers N | --scheduler ADDRESS]

Each combination is one ``advnb run`` (papermill) into its own folder::

    DIR/CHAPTER-sweep/NAME=V1,NAME2=W1/CHAPTER.ipynb    the executed notebook
    DIR/CHAPTER-sweep/NAME=V1,NAME2=W1/CHAPTER.json     its record (see advnb.book.cli)
    DIR/CHAPTER-sweep.csv    one row per run: the swept values, then every scalar the chapter glued
    DIR/CHAPTER-sweep.png    each glued number that changes across the runs, against the swept parameter

Values are separated by commas; for a parameter whose value is itself a list
(``betas``, ``archs``, ...) separate the alternatives with semicolons:
``-p betas "0.01,1;0.001,10"``. Every value is checked before anything runs.

The runs execute on a local Dask cluster sized to the machine by default (``--workers N``,
``--workers 1`` for this process alone, ``--scheduler ADDRESS`` for an existing cluster:
:mod:`advnb.book.cluster`).

Runs share the trained-network cache (``$ADVNB_CACHE``), so a network is trained once
for the whole sweep. A run's JSON is written only once it has succeeded, atomically,
so an interrupted sweep resumes where it stopped: a run whose JSON exists with the
same parameters and the same code (its ``code`` field: :func:`advnb.book.record.code_fingerprint`
of the chapter's code cells and of every ``advnb`` source) is skipped; a run made by other code is
executed again, so one output never mixes two versions of the code. The CSV and the plot are
rewritten at the end of every sweep, also atomically. A failed run is reported and the others go on (exit code 1).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

from ..base import ParameterError, atomic_write
from .cluster import Run
from .params import RULES, check, convert


def parse_grid(pairs: list[list[str]], known: dict) -> dict[str, list[Any]]:
    """``[[name, "v1,v2"], ...]`` -> ``{name: [v1, v2]}`` with each value converted and checked.

    ``known``: the chapter's parameters (name -> anything); other names are rejected.
    Raises :class:`ParameterError` (one line) on an unknown, repeated or bad parameter.
    """
    grid: dict[str, list[Any]] = {}
    for name, text in pairs:
        if name not in known:
            raise ParameterError(f"parameter {name}: unknown for this chapter; known: {', '.join(known)}")
        if name in grid:
            raise ParameterError(f"parameter {name}: given twice; give all its values at once, V1,V2,...")
        rule = RULES.get(name)
        sep = ";" if rule is not None and rule.kind is list else ","
        texts = [t.strip() for t in text.split(sep) if t.strip()]
        if not texts:
            raise ParameterError(f"parameter {name}: no values to sweep (got {text!r})")
        values = [convert(name, t) for t in texts]
        for v in values:
            check({name: v})
        if len({json.dumps(v) for v in values}) < len(values):
            raise ParameterError(f"parameter {name}: a value is repeated (got {text!r})")
        grid[name] = values
    if not grid:
        raise ParameterError("parameter -p: give at least one parameter to sweep, -p NAME V1,V2,...")
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, the first parameter varying slowest."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*grid.values())]


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_name(params: dict[str, Any]) -> str:
    """The folder of one run: ``name=value,...`` with anything unsafe for a file name replaced."""
    name = ",".join(f"{k}={_text(v)}" for k, v in params.items())
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)[:200]


def _complete(folder: Path, chapter: str, params: dict[str, Any], code: str) -> dict | None:
    """The record of a finished run with exactly these parameters and this ``code`` fingerprint, or None."""
    try:
        record = json.loads((folder / f"{chapter}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("code") != code:
        return None
    same = json.dumps(record.get("parameters"), sort_keys=True) == json.dumps(params, sort_keys=True)
    return record if same and (folder / f"{chapter}.ipynb").exists() else None


def scalars(results: dict[str, Any]) -> dict[str, Any]:
    """The glued values that fit in one CSV cell: numbers, booleans and short strings."""
    return {k: v for k, v in results.items()
            if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 80)}


def table(records: list[tuple[dict[str, Any], dict]]):
    """One row per run: the swept values, the run's wall time and profile, then every scalar it glued."""
    import pandas as pd

    rows = []
    for params, record in records:
        row = {k: (_text(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()}
        row.update(run=run_name(params), profile=record.get("profile"), wall_time_s=record.get("wall_time_s"))
        row.update({k: v for k, v in scalars(record.get("results", {})).items() if k not in row})
        rows.append(row)
    return pd.DataFrame(rows)


def _numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def plot(df, swept: list[str], title: str):
    """A panel per glued number that changes across runs, against the first swept parameter.

    With more than one swept parameter, one line per combination of the others. The x axis
    is logarithmic when the swept values are positive numbers spanning a factor of 100 or more.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_name, others = swept[0], swept[1:]
    skip = set(swept) | {"run", "profile", "wall_time_s"}
    columns = [c for c in df.columns if c not in skip and _numeric(df[c]) and df[c].nunique(dropna=True) > 1]
    columns = columns or ["wall_time_s"]
    x_numeric = _numeric(df[x_name])
    xs = df[x_name] if x_numeric else df[x_name].astype(str)
    log_x = x_numeric and (df[x_name] > 0).all() and df[x_name].max() / df[x_name].min() >= 100
    ncols = min(4, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    groups = df.groupby(others, sort=False) if others else [((), df)]
    for ax, col in zip(axes.flat, columns):
        for key, part in groups:
            label = ", ".join(f"{o}={_text(k)}" for o, k in zip(others, key if isinstance(key, tuple) else (key,)))
            ax.plot(xs[part.index], part[col], "o-", ms=4, label=label or None)
        ax.set_title(col, fontsize=9)
        ax.set_xlabel(x_name, fontsize=8)
        ax.tick_params(labelsize=7)
        if log_x:
            ax.set_xscale("log")
        vals = df[col].dropna()
        if len(vals) and (vals > 0).all() and vals.max() / vals.min() >= 100:
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    if others:
        axes.flat[0].legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sweep(chapter: str, pairs: list[list[str]], profile: str | None, output_dir: str,
          workers: int | None = None, scheduler: str | None = None) -> dict[str, Any]:
    """Run ``chapter`` at every combination of ``pairs`` and aggregate the records.

    The runs not yet complete execute through :class:`advnb.book.cluster.Executor` (``workers``,
    ``scheduler``: see there). Returns ``{"csv", "plot", "ran", "skipped", "failed", "where"}``.
    """
    from ..base import available_chapters
    from .cluster import check_options
    from .runs import UsageError, chapter_parameters, check_output_dir

    chapters = available_chapters()
    if chapter not in chapters:
        raise UsageError(f"chapter {chapter!r}: unknown; choose one of {', '.join(chapters)}")
    grid = parse_grid(pairs, chapter_parameters(chapters[chapter]))
    if profile is not None:
        check({"profile": profile})
    check_options(workers, scheduler)
    check_output_dir(output_dir)
    out = Path(output_dir)
    runs_dir = out / f"{chapter}-sweep"
    runs_dir.mkdir(parents=True, exist_ok=True)
    runs = [Run(run_name(params), chapter, {**params, **({"profile": profile} if profile is not None else {})},
                runs_dir / run_name(params), meta={"swept": params})
            for params in combinations(grid)]
    res = execute_all(runs, f"sweep {chapter}", workers, scheduler)
    done = [(run.meta["swept"], res["records"][run.name]) for run in runs if run.name in res["records"]]
    result: dict[str, Any] = {"csv": None, "plot": None, **{k: res[k] for k in ("ran", "skipped", "failed", "where")}}
    if done:
        df = table(done)
        csv = out / f"{chapter}-sweep.csv"
        atomic_write(csv, lambda tmp: df.to_csv(tmp, index=False))
        fig = plot(df, list(grid), f"{chapter}: sweep over {', '.join(grid)} ({len(df)} runs)")
        png = out / f"{chapter}-sweep.png"
        atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
        import matplotlib.pyplot as plt

        plt.close(fig)
        result.update(csv=str(csv), plot=str(png))
    return result


def execute_all(runs: list[Run], desc: str, workers: int | None, scheduler: str | None) -> dict[str, Any]:
    """Execute the runs that are not complete yet, with a progress bar; shared by sweep and replicate.

    A run whose folder holds its JSON with the same parameters (and its notebook) is skipped. Returns
    ``{"records": {name: record}, "ran", "skipped", "failed": [names], "where": executor description}``.
    """
    from tqdm.auto import tqdm

    from ..base import available_chapters
    from .cluster import Executor
    from .record import code_fingerprint

    codes = {c: code_fingerprint(available_chapters()[c]) for c in {run.chapter for run in runs}}
    records, skipped, stale = {}, [], 0
    for run in runs:
        record = _complete(run.folder, run.chapter, run.params, codes[run.chapter])
        if record is not None:
            records[run.name] = record
            skipped.append(run.name)
        else:
            stale += (run.folder / f"{run.chapter}.json").exists()
    todo = [run for run in runs if run.name not in records]
    ran, failed, where = [], [], "nothing to run"
    if todo:
        with Executor(workers, scheduler, n_runs=len(todo)) as ex:
            where = ex.describe()
            bar = tqdm(total=len(runs), initial=len(skipped), desc=desc, unit="run")
            bar.write(f"advnb: {len(todo)} run(s) to execute {where}, {len(skipped)} already complete"
                      + (f", {stale} left by other code or parameters (executed again)" if stale else ""))
            for run, record, error in ex.map(todo):
                if error is None:
                    records[run.name] = record
                    ran.append(run.name)
                else:
                    failed.append(run.name)
                    bar.write(f"advnb: run {run.name} failed: {error}")
                bar.set_postfix_str(run.name)
                bar.update()
            bar.close()
    return {"records": records, "ran": ran, "skipped": skipped, "failed": failed, "where": where}
