"""advnb sweep: the grid, the CSV and plot, resuming after a kill, one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from advnb.base import ParameterError
from advnb.book.sweep import combinations, parse_grid, run_name

ADVNB = [sys.executable, "-m", "advnb.book.cli"]
KNOWN = {"beta": None, "betas": None, "seed": None, "archs": None, "profile": None}


def test_parse_grid_converts_and_checks_every_value():
    grid = parse_grid([["beta", "0.001, 0.1,10"], ["seed", "0,1"]], KNOWN)
    assert grid == {"beta": [0.001, 0.1, 10.0], "seed": [0, 1]}
    assert combinations(grid)[:3] == [{"beta": 0.001, "seed": 0}, {"beta": 0.001, "seed": 1}, {"beta": 0.1, "seed": 0}]
    assert len(combinations(grid)) == 6
    # list-valued parameters: alternatives separated by semicolons
    assert parse_grid([["betas", "0.1,1;2,3"]], KNOWN) == {"betas": [[0.1, 1.0], [2.0, 3.0]]}
    assert parse_grid([["archs", "mlp-3,cnn-3;mlp-4"]], KNOWN) == {"archs": [["mlp-3", "cnn-3"], ["mlp-4"]]}


@pytest.mark.parametrize("pairs,needle", [
    ([["beta", "0.1,-1"]], "parameter beta"),
    ([["seed", "0,x"]], "parameter seed"),
    ([["gamma", "1,2"]], "parameter gamma: unknown"),
    ([["beta", "0.1"], ["beta", "0.2"]], "given twice"),
    ([["beta", "0.1,0.1"]], "repeated"),
    ([["beta", " , "]], "no values"),
    ([["archs", "mlp-3;resnet-1000"]], "parameter archs"),
    ([], "at least one parameter"),
])
def test_parse_grid_rejects_bad_input_with_one_line(pairs, needle):
    with pytest.raises(ParameterError) as e:
        parse_grid(pairs, KNOWN)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_run_names_are_distinct_and_safe():
    names = [run_name(p) for p in combinations({"betas": [[0.1, 1.0], [2.0]], "archs": [["mlp-3"], ["cnn-3"]]})]
    assert len(set(names)) == 4
    assert all("/" not in n and " " not in n for n in names)
    assert run_name({"beta": 0.001, "seed": 2}) == "beta=0.001,seed=2"


def _sweep(*args, cwd=None, env=None):
    return subprocess.run([*ADVNB, "sweep", *args], capture_output=True, text=True, timeout=1200, env=env)


def test_sweep_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    for args in (["theorem2", "-p", "beta", "0.1,-1"], ["theorem2", "-p", "bogus", "1,2"], ["nope", "-p", "beta", "1"],
                 ["theorem2", "-p", "beta", "0.1", "--profile", "huge"]):
        r = _sweep(*args, "--output-dir", str(out))
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("advnb: error: "), r.stderr
        assert not out.exists()


def test_a_run_counts_as_complete_only_for_its_parameters_and_its_code(tmp_path):
    """A finished run is reused only when its record names the same parameters and the same code fingerprint
    (the chapter's code cells and every advnb source); a run made by other code, or missing its notebook, is not."""
    from advnb.book.sweep import _complete

    params = {"beta": 0.1, "profile": "smoke"}
    (tmp_path / "theorem2.ipynb").write_text("{}")
    (tmp_path / "theorem2.json").write_text(json.dumps({"chapter": "theorem2", "parameters": params, "code": "abc"}))
    assert _complete(tmp_path, "theorem2", params, "abc")["code"] == "abc"
    assert _complete(tmp_path, "theorem2", params, "abd") is None  # other code: executed again
    assert _complete(tmp_path, "theorem2", {**params, "beta": 0.2}, "abc") is None
    (tmp_path / "theorem2.json").write_text(json.dumps({"chapter": "theorem2", "parameters": params}))
    assert _complete(tmp_path, "theorem2", params, "abc") is None  # a record without a code fingerprint
    (tmp_path / "theorem2.json").write_text(json.dumps({"chapter": "theorem2", "parameters": params, "code": "abc"}))
    (tmp_path / "theorem2.ipynb").unlink()
    assert _complete(tmp_path, "theorem2", params, "abc") is None


def test_theorem2_sweep_writes_csv_and_plot_and_resumes_after_a_kill(tmp_path, monkeypatch):
    """Three values of beta at smoke; killed (SIGKILL) once the first run is complete, then resumed."""
    out = tmp_path / "sweep"
    args = [*ADVNB, "sweep", "theorem2", "-p", "beta", "0.001,0.01,0.1", "-p", "n_eval", "8", "-p", "archs", "mlp-3",
            "-p", "n_dense", "2", "--profile", "smoke", "--output-dir", str(out)]
    first = out / "theorem2-sweep" / "beta=0.001,n_eval=8,archs=mlp-3,n_dense=2"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 900
        while not (first / "theorem2.json").exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline, "the first run did not finish in 15 minutes"
            time.sleep(0.5)
        time.sleep(3)  # the second run is under way
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "theorem2-sweep.csv").exists()  # nothing aggregated from a killed sweep
    done_before = sorted(p.parent.name for p in (out / "theorem2-sweep").glob("*/theorem2.json"))
    assert 1 <= len(done_before) < 3
    stamp = (first / "theorem2.json").stat().st_mtime_ns

    r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{3 - len(done_before)} run(s) executed, {len(done_before)} already complete (skipped)" in r.stdout, r.stdout
    assert (first / "theorem2.json").stat().st_mtime_ns == stamp  # the finished run was not redone
    runs = sorted((out / "theorem2-sweep").iterdir())
    assert len(runs) == 3
    for run in runs:  # each run: its notebook and its record, and no leftover temporary folder
        assert sorted(p.name for p in run.iterdir()) == ["theorem2.ipynb", "theorem2.json"], list(run.iterdir())
    df = pd.read_csv(out / "theorem2-sweep.csv")
    assert df["beta"].tolist() == [0.001, 0.01, 0.1]
    assert (df["profile"] == "smoke").all() and (df["n_eval"] == 8).all()
    # kappa rises with beta (the chapter's own claim), read back from the glued values
    assert df["kappa"].is_monotonic_increasing and df["kappa"].iloc[0] < 1e-3
    rec = json.loads((first / "theorem2.json").read_text())
    assert df.loc[0, "kappa"] == pytest.approx(rec["results"]["kappa"], rel=1e-12)
    png = (out / "theorem2-sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
