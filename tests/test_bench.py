"""advnb bench: the record it writes, the agreement checks, its one-line errors.

Speed is reported, never asserted: these tests check what the record holds and that
both ways of each comparison give the same numbers, at tiny sizes.
"""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from advnb.base import ParameterError
from advnb.book import bench
from advnb.book.params import check

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--chapters", "none", "--device", "cpu", "--repeat", "1", "--sizes", "32,64", "--batch", "1", "--steps", "2"]
REQUIRED = ("speedup_pushthrough_vs_dense_n784", "speedup_pushthrough_vs_dense_n3072", "speedup_jacobian_vmap_vs_loop",
            "attack_steps_per_second", "chapter_seconds", "machine", "device", "timestamp")


def _positive(v) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v > 0


@pytest.fixture(scope="module")
def tiny_record(tmp_path_factory):
    """One tiny in-process run: (exit code, the JSON printed, the JSON written)."""
    out = tmp_path_factory.mktemp("bench") / "sub" / "rec.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = bench.main(["--json", "--output", str(out), *TINY])
    return rc, json.loads(buf.getvalue()), json.loads(out.read_text())


def test_json_record_has_the_keys_and_sane_values(tiny_record):
    rc, rec, written = tiny_record
    assert rc == 0
    assert rec == written
    for n in (32, 64):
        assert _positive(rec[f"speedup_pushthrough_vs_dense_n{n}"])
    assert _positive(rec["speedup_jacobian_vmap_vs_loop"])
    assert set(rec["attack_steps_per_second"]) == {"real", "frozen_gating"}
    assert all(_positive(v) for v in rec["attack_steps_per_second"].values())
    assert _positive(rec[f"pushthrough_ms_per_input_n{bench.IMAGENET_N}"])
    assert rec["chapter_seconds"] == {} and rec["chapter_errors"] == {}
    assert rec["device"] == "cpu" and rec["repeat"] == 1 and rec["dtype"] == "float64"
    m = rec["machine"]
    assert {"cpu", "logical_cores", "torch_threads", "torch", "gpu"} <= set(m)
    assert m["gpu"] is None and m["logical_cores"] >= 1 and m["torch_threads"] >= 1
    assert rec["timestamp"].endswith("+00:00")


def test_the_record_names_no_host():
    host = socket.gethostname()
    rec = bench.machine(bench.torch.device("cpu"))
    assert "hostname" not in rec and "node" not in rec
    if len(host) >= 4:
        assert host not in json.dumps(rec)


def test_both_forms_agree(tiny_record):
    _, rec, _ = tiny_record
    for n in (32, 64):
        assert rec[f"max_rel_diff_pushthrough_vs_dense_n{n}"] <= 1e-10
    assert rec["max_rel_diff_jacobian_vmap_vs_loop"] <= 1e-10
    assert [r["n"] for r in rec["pushthrough_vs_dense"]] == [32, 64]


def test_jacobian_loop_is_the_linearisation():
    import torch

    from advnb.core.linearize import linearize

    model, x = bench.zoo_network(torch.device("cpu")), bench.digits_like(3, torch.device("cpu"))
    J, b = linearize(model, x)
    Jl = bench.jacobian_loop(model, x)
    assert Jl.shape == J.shape == (3, 10, 784)
    torch.testing.assert_close(Jl, J, rtol=1e-12, atol=1e-12)


def test_defaults_measure_n784_and_n3072_and_every_chapter_at_smoke():
    args = bench.parse([])
    assert args.sizes == (784, 3072) and args.profiles == ["smoke"] and args.repeat >= 1
    assert args.chapters[0] == "setup" and {"theorem1", "theorem2", "theorem6"} <= set(args.chapters)
    assert bench.parse(["--chapters", "theorem2,setup"]).chapters == ["setup", "theorem2"]  # book order
    assert bench.parse(["--profiles", "smoke,quick,smoke"]).profiles == ["smoke", "quick"]


def test_chapter_times_come_from_the_run_records(monkeypatch, tmp_path):
    """The chapter loop reads wall_time_s back, records a failure as None, and restores $ADVNB_CACHE."""
    import advnb.book.runs

    seen = []

    def fake_run(chapter, pairs, profile, output_dir, progress=True):
        seen.append((chapter, profile, os.environ["ADVNB_CACHE"]))
        if chapter == "theorem1":
            raise RuntimeError("chapter theorem1 failed: boom")
        path = Path(output_dir) / f"{chapter}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"wall_time_s": 1.5}))
        return path

    monkeypatch.setattr(advnb.book.runs, "run", fake_run)
    before = os.environ["ADVNB_CACHE"]
    seconds, errors = bench.chapter_seconds(["smoke"], ["setup", "theorem1"], "cpu", "fresh")
    assert seconds == {"smoke": {"setup": 1.5, "theorem1": None}}
    assert errors == {"smoke/theorem1": "chapter theorem1 failed: boom"}
    assert [s[:2] for s in seen] == [("setup", "smoke"), ("theorem1", "smoke")]
    assert seen[0][2] != before and os.environ["ADVNB_CACHE"] == before  # a fresh cache, then restored
    seconds, _ = bench.chapter_seconds(["smoke"], ["setup"], "cpu", "shared")
    assert seen[-1][2] == before


@pytest.mark.parametrize("args,name", [
    (["--repeat", "0"], "repeat"),
    (["--repeat", "two"], "repeat"),
    (["--profiles", "smoke,huge"], "profiles"),
    (["--chapters", "theorem2,nope"], "chapters"),
    (["--device", "tpu"], "device"),
    (["--sizes", "784,0"], "sizes"),
    (["--batch", "-1"], "batch"),
    (["--cache", "warm"], "cache"),
])
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, args, name):
    out = tmp_path / "rec.json"
    assert bench.main([*args, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"advnb: error: parameter {name}: ") and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_bad_input_from_the_command_line_has_no_traceback():
    r = subprocess.run([sys.executable, "-m", "advnb.book.bench", "--repeat", "0"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "Traceback" not in r.stderr
    assert r.stderr.startswith("advnb: error: parameter repeat: ")


def test_repeat_rule():
    check({"repeat": 3})
    with pytest.raises(ParameterError, match="parameter repeat"):
        check({"repeat": 0})


def test_stored_results_hold_the_record():
    """Every committed run under benchmarks/results has the keys the performance page reads."""
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    for path in files:
        rec = json.loads(path.read_text())
        assert set(REQUIRED) <= set(rec), (path.name, set(REQUIRED) - set(rec))
        assert _positive(rec["speedup_pushthrough_vs_dense_n784"]) and _positive(rec["speedup_jacobian_vmap_vs_loop"])
        assert rec["max_rel_diff_pushthrough_vs_dense_n784"] <= 1e-10
        for profile, chapters in rec["chapter_seconds"].items():
            assert profile in ("smoke", "quick", "paper")
            assert all(v is None or (isinstance(v, (int, float)) and v > 0) for v in chapters.values()), path.name
