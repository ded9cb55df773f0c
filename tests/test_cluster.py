"""Sweeps and replications on Dask distributed: a local cluster, a killed worker, an existing scheduler.

The chapter is ``lemma1`` (a few seconds at smoke: sympy and random logits, no training), swept over its
seed. Every cluster here listens on 127.0.0.1 only.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ADVNB = [sys.executable, "-m", "advnb.book.cli"]
DASK = str(Path(sys.executable).parent / "dask")


def _sweep(out, *extra, seeds="0,1"):
    return [*ADVNB, "sweep", "lemma1", "-p", "seed", seeds, "--profile", "smoke", "--output-dir", str(out), *extra]


def _runs(out):
    return sorted((out / "lemma1-sweep").iterdir())


def _numbers(csv):
    df = pd.read_csv(csv)
    return df.drop(columns=["wall_time_s"]).select_dtypes("number")


def test_local_cluster_sweep_gives_the_in_process_numbers(tmp_path):
    r1 = subprocess.run(_sweep(tmp_path / "one", "--workers", "1"), capture_output=True, text=True, timeout=900)
    assert r1.returncode == 0, r1.stderr[-3000:]
    r2 = subprocess.run(_sweep(tmp_path / "two", "--workers", "2"), capture_output=True, text=True, timeout=900)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "on a local Dask cluster of 2 workers" in r2.stdout, r2.stdout
    one, two = _numbers(tmp_path / "one" / "lemma1-sweep.csv"), _numbers(tmp_path / "two" / "lemma1-sweep.csv")
    assert len(one) == 2 and one.shape[1] >= 4
    pd.testing.assert_frame_equal(one, two)
    wheres = [json.loads((run / "lemma1.json").read_text())["where"] for run in _runs(tmp_path / "two")]
    assert {w["executor"] for w in wheres} == {"local-cluster"}
    assert all(w["worker"].startswith("tcp://127.0.0.1:") and w["host"] == socket.gethostname() for w in wheres)
    assert json.loads((_runs(tmp_path / "one")[0] / "lemma1.json").read_text())["where"]["executor"] == "in-process"


def test_a_worker_killed_mid_run_has_its_run_redone_elsewhere_exactly_once(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.Popen(_sweep(out, "--workers", "2", seeds="0,1,2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    killed = None
    try:
        deadline = time.time() + 600
        while killed is None:  # a run under way: its temporary folder holds the worker's pid
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline, "no run started in 10 minutes"
            for pid_file in out.glob("lemma1-sweep/*/.lemma1-*/pid"):
                try:
                    killed = int(pid_file.read_text())
                except (OSError, ValueError):
                    continue
                os.kill(killed, signal.SIGKILL)  # the worker process, in the middle of its run
                break
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr[-3000:]
    assert "3 run(s) executed, 0 already complete (skipped), 0 failed" in stdout, stdout
    runs = _runs(out)
    assert len(runs) == 3
    for run in runs:  # each run once, complete, and nothing half-written left (the killed run's folder is gone)
        assert sorted(p.name for p in run.iterdir()) == ["lemma1.ipynb", "lemma1.json"], list(run.iterdir())
        assert json.loads((run / "lemma1.json").read_text())["where"]["pid"] != killed
    assert len(pd.read_csv(out / "lemma1-sweep.csv")) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_option_runs_on_an_existing_cluster(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        procs.append(subprocess.Popen([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                       "--host", "127.0.0.1", "--memory-limit", "0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        out = tmp_path / "rep"
        r = None
        for _ in range(30):  # the scheduler and its worker take a few seconds to come up
            r = subprocess.run([*ADVNB, "replicate", "--chapters", "lemma1", "--seeds", "0,1", "--profile", "smoke",
                                "--scheduler", address, "--output-dir", str(out)], capture_output=True, text=True,
                               timeout=900)
            if "cannot reach" not in r.stderr:
                break
            time.sleep(2)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "Lemma 1" in r.stdout and "2/2" in r.stdout, r.stdout
        doc = json.loads((out / "replicate.json").read_text())
        assert doc["seeds"] == [0, 1] and doc["chapters"] == ["lemma1"]
        import torch

        assert doc["versions"]["torch"] == torch.__version__  # one version: every run used the same libraries
        assert {run["where"]["executor"] for run in doc["runs"]} == {"scheduler"}
        assert all(run["where"]["worker"].startswith("tcp://127.0.0.1:") for run in doc["runs"])
        (claim,) = [c for c in doc["claims"] if c["claim"] == "Lemma 1"]
        assert claim["seeds_holding"] == "2/2" and set(claim["holds_by_seed"]) == {"0", "1"}
        assert (out / "replicate.csv").exists() and (out / "replicate.png").read_bytes()[:4] == b"\x89PNG"
        # resumes: a second call executes nothing and gives the same verdicts
        again = subprocess.run([*ADVNB, "replicate", "--chapters", "lemma1", "--seeds", "0,1", "--profile", "smoke",
                                "--workers", "1", "--output-dir", str(out)], capture_output=True, text=True, timeout=600)
        assert again.returncode == 0 and "0 run(s) executed, 2 already complete" in again.stdout, again.stdout
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("args,needle", [
    (["--workers", "0"], "argument --workers"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], "not allowed with argument"),
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach"),
])
def test_sweep_cluster_options_bad_input_exit_2(tmp_path, args, needle):
    out = tmp_path / "out"
    r = subprocess.run(_sweep(out, *args), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not any(p for p in out.rglob("*") if p.is_file()) if out.exists() else True
