"""advnb run / advnb list, end to end, and their one-line errors."""

import json
import subprocess
import sys

import pytest

ADVNB = [sys.executable, "-m", "advnb.book.cli"]


def advnb(*args, cwd=None):
    return subprocess.run([*ADVNB, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_list_shows_chapters_and_parameters():
    r = advnb("list")
    assert r.returncode == 0
    assert "theorem2" in r.stdout and "setup" in r.stdout and "beta = 0.01" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["run", "nope"], "chapter 'nope'"),
    (["run", "theorem2", "-p", "beta", "-1"], "parameter beta"),
    (["run", "theorem2", "-p", "beta", "0"], "parameter beta"),
    (["run", "theorem2", "-p", "m", "0"], "parameter m"),
    (["run", "theorem2", "-p", "seed", "x"], "parameter seed"),
    (["run", "theorem2", "-p", "bogus", "1"], "parameter bogus"),
    (["run", "theorem2", "--profile", "huge"], "parameter profile"),
    (["run", "theorem2", "-p", "betas", "0.1,-2"], "parameter betas"),
    (["run", "theorem2", "-p", "data_root", "/no/such/folder"], "parameter data_root"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "out"
    r = advnb(*args, "--output-dir", str(out)) if args[0] == "run" else advnb(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_run_theorem2_writes_notebook_and_record(tmp_path):
    out = tmp_path / "out"
    r = advnb("run", "theorem2", "--profile", "smoke", "-p", "seed", "3", "-p", "n_eval", "8",
              "-p", "betas", "0.0001,0.01,1", "-p", "archs", "mlp-3,cnn-3", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["theorem2.ipynb", "theorem2.json"]
    rec = json.loads((out / "theorem2.json").read_text())
    assert set(rec) == {"chapter", "parameters", "code", "profile", "device", "versions", "wall_time_s", "where", "results"}
    assert rec["where"]["executor"] == "in-process"
    from advnb.base import available_chapters
    from advnb.book.record import code_fingerprint
    assert rec["code"] == code_fingerprint(available_chapters()["theorem2"])  # the code it ran, for resuming
    assert rec["parameters"] == {"seed": 3, "n_eval": 8, "betas": [0.0001, 0.01, 1.0], "archs": ["mlp-3", "cnn-3"],
                                 "profile": "smoke"}
    assert rec["profile"] == "smoke" and rec["device"] == "cpu"
    res = rec["results"]
    assert isinstance(res["kappa"], float) and 0 < res["kappa"] < 1e-3
    assert [row["beta"] for row in res["kappa_vs_beta"]] == [0.0001, 0.01, 1.0]
    assert set(res["kappa_vs_beta"][0]) == {"beta", "kappa", "success_rate"}
    assert res["kappa_vs_beta"][0]["kappa"] < res["kappa_vs_beta"][-1]["kappa"]


def test_failed_run_leaves_no_complete_looking_file(tmp_path):
    out = tmp_path / "out"
    empty = tmp_path / "empty"  # exists, so it passes validation, but holds no MNIST files
    empty.mkdir()
    r = advnb("run", "theorem2", "--profile", "smoke", "-p", "data_root", str(empty), "--output-dir", str(out))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("advnb: error: chapter theorem2 failed") and "data_root" in last
    assert sorted(p.name for p in out.iterdir()) == ["theorem2.failed.ipynb"]


def test_terminated_run_leaves_nothing_behind(tmp_path):
    """SIGTERM (a cancelled job) while the chapter executes: exit 130, no file and no temporary folder."""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([*ADVNB, "run", "theorem2", "--profile", "smoke", "--output-dir", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out.exists() and any(out.glob(".theorem2-*"))):  # the run's temporary folder: executing
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err.strip().splitlines()[-1]
    assert "never retrieved" not in err  # asyncio's report of the cell task the interrupt left unfinished
    assert list(out.iterdir()) == [], list(out.iterdir())


def test_an_output_dir_that_cannot_be_written_is_refused_before_running(tmp_path):
    r = advnb("run", "theorem2", "--profile", "smoke", "--output-dir", "/proc/nope")
    assert r.returncode == 2 and "--output-dir" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = advnb("sweep", "theorem2", "--profile", "smoke", "-p", "seed", "0,1", "--output-dir", "/proc/nope")
    assert r.returncode == 2 and "--output-dir" in r.stderr, r.stderr


def test_cuda_on_a_machine_without_it_is_refused_before_running(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    r = advnb("run", "theorem6", "--profile", "smoke", "-p", "device", "cuda", "--output-dir", str(out))
    assert r.returncode == 2 and "parameter device" in r.stderr, r.stderr
    assert not out.exists() or not list(out.iterdir())


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path):
    import os
    import subprocess as sp

    from advnb.book.runs import remove_stale_runs

    dead = sp.Popen(["true"])
    dead.wait()
    stale = tmp_path / ".theorem2-abc123"
    stale.mkdir()
    (stale / "pid").write_text(str(dead.pid))
    (stale / "theorem2.ipynb").write_text("{}")
    alive = tmp_path / ".theorem2-live"
    alive.mkdir()
    (alive / "pid").write_text(str(os.getpid()))
    unmarked = tmp_path / ".theorem2-old"  # from before runs wrote their pid
    unmarked.mkdir()
    zombie = sp.Popen(["true"])  # exits, not reaped: a zombie answers signal 0 but runs nothing
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # until it has exited, leaving it unreaped
    (tmp_path / ".theorem2-zombie").mkdir()
    (tmp_path / ".theorem2-zombie" / "pid").write_text(str(zombie.pid))
    try:
        removed = remove_stale_runs(tmp_path, "theorem2")
    finally:
        zombie.wait()
    assert sorted(p.name for p in removed) == [".theorem2-abc123", ".theorem2-old", ".theorem2-zombie"]
    assert alive.exists() and not stale.exists()
