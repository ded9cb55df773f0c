"""Hardening (issue 5): every chapter rejects every bad parameter in one line, the same seed
and profile give the same numbers twice, concurrent runs share the cache safely, and nothing
is ever unpickled unsafely.

Corrupt and truncated cache entries (retrained with a warning, then replaced by a good entry),
the behavioural unsafe-unpickling test and bitwise-identical retraining of one TrainConfig live
beside the cache they test, in ``tests/test_train.py``.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
import torch

from advnb import base
from advnb.base import ParameterError
from advnb.book import cli, runs
from advnb.book.params import RULES, check, convert
from advnb.nets import train as T

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = base.available_chapters()
PARAMETERS = {chapter: runs.chapter_parameters(path) for chapter, path in CHAPTERS.items()}
PAIRS = [(chapter, name) for chapter, params in PARAMETERS.items() for name in params]


@pytest.fixture(autouse=True)
def _restore_process_state():
    """cli.main installs a SIGTERM handler and the validation cells start a record in advnb.book.record:
    put both back, so that running them in-process leaves pytest as it was."""
    from advnb.book import record

    handler = signal.getsignal(signal.SIGTERM)
    run = copy.deepcopy(getattr(record, "_RUN", None))
    yield
    signal.signal(signal.SIGTERM, handler)
    if run is not None:
        record._RUN.clear()
        record._RUN.update(run)


# -- bad values, derived from the rules -------------------------------------------------------
#
# Two sources, both read off the rule rather than a hand table per parameter:
# 1. by kind, values that no rule of that kind may accept: text that is not a number (or not
#    true/false for a switch), a non-integer for an integer, NaN and infinities, negative
#    numbers (every parameter of this book is a count, size, strength, rate or tolerance: none
#    is signed), an empty list, an architecture or a folder that does not exist, no value at
#    all where None is not allowed. These test the rules themselves.
# 2. boundary probes: small values of the rule's kind that its own predicate refuses (0 for
#    "> 0", 1 for "in [0, 1)", 2 for "an integer >= 3", 7 for "from 2 to 6", ...). These test
#    that the refusal reaches the user, through the CLI and through the chapter's own cell.

NO_FOLDER = "/no/such/folder/advnb-test"
NUMBER_PROBES = ["0", "1", "2", "3", "7", "0.5", "1000000"]
TEXT_PROBES = ["", "auto", "cpu", "smoke", "mlp-3"]


def _kind_bad_texts(name: str) -> list[str]:
    rule = RULES[name]
    empty = [] if rule.nullable else [""]  # "" means None (the profile's value) where nullable
    if rule.kind is int:
        return ["x", "1.5", "-1", "nan", "1e400", *empty]
    if rule.kind is float:
        return ["x", "-1", "nan", "inf", "1e400", *empty]
    if rule.kind is bool:
        return ["x", "2", "maybe", "-1", *empty]
    if rule.kind is list and rule.item is str:
        return [",", "no-such-arch", "mlp-3,no-such-arch", *empty]
    if rule.kind is list:
        numeric = ["x", "-1", "1,-1", "1,nan", "1,inf", ","]
        return numeric + (["1.5", "2,2.5"] if rule.item is int else []) + empty
    assert rule.kind is str, f"no bad values known for a rule of kind {rule.kind} ({name})"
    return [NO_FOLDER]  # "" is a probe: it means the embedded digits for data_root


def _refused(name: str, text: str) -> bool:
    try:
        check({name: convert(name, text)})
    except ParameterError:
        return True
    return False


def bad_texts(name: str) -> list[str]:
    """Command-line values that ``-p name VALUE`` must refuse."""
    rule = RULES[name]
    kind = _kind_bad_texts(name)
    if rule.kind is bool:
        return kind
    probes = TEXT_PROBES if rule.kind is str or rule.item is str else NUMBER_PROBES
    return kind + [t for t in probes if t not in kind and _refused(name, t)]


def _papermill_value(text: str):
    """What ``papermill -p NAME TEXT`` injects (papermill.cli._resolve_type)."""
    from papermill.cli import _resolve_type

    return _resolve_type(text)


def bad_values(name: str) -> list:
    """Python values the chapter's validation cell must refuse when injected for ``name``."""
    rule = RULES[name]
    out = []
    for text in bad_texts(name):
        out.append(_papermill_value(text))  # a notebook run by papermill directly
        try:
            out.append(convert(name, text))  # the typed value, out of range
        except ParameterError:
            pass
    if rule.kind is int:
        out += [True, "1", 1.0]
    elif rule.kind is float:
        out += [True, "0.5"]
    elif rule.kind is bool:
        out += [1, 0, "true", 1.0]
    elif rule.kind is list:
        out += ["mlp-3"] if rule.item is str else [1, [True], ["1"]] + ([[1.5]] if rule.item is int else [])
    else:
        out += [3, ["mlp-3"]]
    if not rule.nullable:
        out.append(None)
    unique = {}
    for v in out:
        unique.setdefault(repr(v), v)
    return list(unique.values())


def test_bad_values_are_derived_for_every_rule():
    """Every rule gets a fair set of bad values, and the typed ones really are refused by it."""
    for name, rule in RULES.items():
        texts = bad_texts(name)
        assert len(texts) >= 2, (name, texts)
        for text in texts:
            assert _refused(name, text), f"rule {name} accepts the bad value {text!r}"
        for value in bad_values(name):
            with pytest.raises(ParameterError):
                check({name: value})


# -- 1. every chapter, every parameter ------------------------------------------------------

def test_every_chapter_parameter_has_a_rule():
    missing = [f"{chapter}.{name}" for chapter, name in PAIRS if name not in RULES]
    assert not missing, f"parameters without a rule in advnb.book.params.RULES: {missing}"
    assert len(CHAPTERS) >= 12 and all(PARAMETERS.values())


def _one_error_line(err: str, name: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"advnb: error: parameter {name}:"), err
    return lines[0]


def cli_bad_texts(chapter: str, name: str) -> list[str]:
    """All of :func:`bad_texts` for the first chapter having ``name``; three of them, a different
    three for each further chapter, elsewhere. The CLI refuses a value by the rule of its name,
    the same for every chapter; what differs between chapters is only whether the chapter knows
    the name, so the full set once per name keeps the test fast without losing a case."""
    texts = bad_texts(name)
    having = [c for c, n in PAIRS if n == name]
    i = having.index(chapter)
    if i == 0:
        return texts
    return [texts[(3 * i + j) % len(texts)] for j in range(min(3, len(texts)))]


@pytest.mark.parametrize("chapter,name", PAIRS, ids=[f"{c}-{n}" for c, n in PAIRS])
def test_cli_rejects_every_bad_value_in_one_line_and_writes_nothing(chapter, name, tmp_path, capsys):
    """``advnb run CHAPTER -p NAME BAD``: exit code 2, one stderr line naming NAME, no files."""
    out = tmp_path / "out"
    for text in cli_bad_texts(chapter, name):
        rc = cli.main(["run", chapter, "-p", name, text, "--output-dir", str(out)])
        stdout, stderr = capsys.readouterr()
        assert rc == 2, f"{chapter}: -p {name} {text!r} gave exit code {rc}: {stderr}"
        _one_error_line(stderr, name)
        assert stdout == "" and "Traceback" not in stderr
        assert not out.exists(), f"{chapter}: -p {name} {text!r} wrote {list(out.rglob('*'))}"
    assert not base.cache_dir().exists()  # nothing trained, no record begun


@pytest.mark.parametrize("text", ["-inf", "-1e-3"])
def test_cli_names_the_parameter_of_a_negative_value_that_looks_like_an_option(text, tmp_path, capsys):
    rc = cli.main(["run", "theorem2", "-p", "beta", text, "--output-dir", str(tmp_path / "out")])
    assert rc == 2
    _one_error_line(capsys.readouterr().err, "beta")


def _code(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _calls_check(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "check_chapter")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "check_chapter"))


@functools.cache
def chapter_cells(chapter: str) -> tuple[str, str]:
    """The source of the chapter's parameters cell and of its validation cell (the next code cell)."""
    nb = json.loads(CHAPTERS[chapter].read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    i = next(i for i, c in enumerate(code) if "parameters" in c.get("metadata", {}).get("tags", []))
    params, validation = _code(code[i]), _code(code[i + 1])
    assert any(_calls_check(n) for n in ast.walk(ast.parse(validation))), (
        f"{chapter}: the code cell after the parameters cell does not call check_chapter(...)")
    return params, validation


def run_cells(chapter: str, injected: dict) -> dict:
    """Execute the parameters cell, then ``injected`` (as papermill's injected-parameters cell
    would), then the validation cell, in a fresh namespace; return the namespace."""
    params, validation = chapter_cells(chapter)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(params, f"{chapter}:parameters", "exec"), namespace)
    namespace.update(injected)
    exec(compile(validation, f"{chapter}:validation", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_validation_cell_accepts_the_defaults_and_checks_every_parameter(chapter, monkeypatch):
    """The defaults pass (at the smoke profile), and the cell's check_chapter(...) reads exactly the
    parameters of the parameters cell, each under its own name, into the run's record."""
    from advnb.book import record

    monkeypatch.setenv("ADVNB_PROFILE", "smoke")
    namespace = run_cells(chapter, {})
    begun = record._RUN["parameters"]
    assert record._RUN["chapter"] == chapter
    assert list(begun) == list(PARAMETERS[chapter]), f"{chapter}: checked {list(begun)}"
    assert all(begun[k] is namespace[k] for k in begun), f"{chapter}: a parameter checked under another value"



@pytest.mark.parametrize("chapter,name", PAIRS, ids=[f"{c}-{n}" for c, n in PAIRS])
def test_validation_cell_rejects_every_bad_value_when_run_directly(chapter, name, monkeypatch):
    """Run without the CLI (papermill injecting a bad value after the parameters cell), the
    chapter's own validation cell raises ParameterError in one line naming the parameter."""
    monkeypatch.setenv("ADVNB_PROFILE", "smoke")
    for value in bad_values(name):
        with pytest.raises(ParameterError) as err:
            run_cells(chapter, {name: value})
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith(f"parameter {name}:"), (chapter, name, value, msg)


# -- 2 and 3. determinism, and one cache shared by concurrent runs ------------------------------

# The cheapest chapter that trains a network: `setup` trains the two-layer network at the smoke
# profile (2000 digits x 5 epochs) and measures with it; about 40 s on 2 CPU cores, most of it
# kernel start, imports and loading the digits.
DETERMINISM_CHAPTER = "setup"
# Glued names of that chapter whose values are timings, which no two runs share. `setup` glues
# profile, device, lin_err_small, lin_table, n_lin and deriv_max_err: none is a timing, so every
# result must repeat exactly. (The timings glued elsewhere: theorem2's dense_ms, push_ms,
# dense_speedup, push_ms_imagenet and at_scale's *_s columns; theorem6's wall_time_s.)
TIMINGS: frozenset[str] = frozenset()
LOOKS_LIKE_TIMING = re.compile(r"(_s|_ms|_seconds|time|speedup)$")


def _names(value, prefix=""):
    """Every glued name, and every column of a glued table."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _names(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, dict):
                yield from _names(v, prefix)


def _environment(cache: Path) -> dict:
    """The subprocesses' environment: this cache, and no pinned hash seed, so that each run
    orders sets of strings its own way, as two runs by a user would."""
    env = dict(os.environ, ADVNB_CACHE=str(cache))
    for name in ("ADVNB_PROFILE", "ADVNB_DEVICE", "PYTHONHASHSEED"):
        env.pop(name, None)
    return env


def _assert_one_good_entry(cache: Path, monkeypatch) -> Path:
    """The cache holds one network entry, no temporary file, and the entry loads without a warning."""
    entries = sorted(cache.glob("*.pt"))
    assert len(entries) == 1, entries
    assert not list(cache.rglob("*.tmp")), list(cache.rglob("*.tmp"))
    payload = torch.load(entries[0], map_location="cpu", weights_only=True)
    config = T.TrainConfig(**json.loads(payload["config"]))
    assert entries[0].name == f"{config.arch}-{config.key()}.pt"

    def must_not_train(*a, **k):
        raise AssertionError("the cache entry was not trusted")

    monkeypatch.setenv("ADVNB_CACHE", str(cache))
    monkeypatch.setattr(T, "_fit", must_not_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.train(config, types.SimpleNamespace(source=config.data), progress=False)  # data unused: cached
    return entries[0]


def test_two_concurrent_chapter_runs_on_one_fresh_cache_give_identical_results(tmp_path, monkeypatch):
    """Determinism and cache sharing, end to end: two `advnb run setup --profile smoke` started
    together on one empty cache both succeed; their `results` agree exactly (no timing excluded,
    see TIMINGS); the cache ends with one network entry that loads without a warning, no *.tmp
    file, and build records that are valid JSON."""
    cache = tmp_path / "cache"
    env = _environment(cache)
    procs = []
    for i in range(2):
        log = open(tmp_path / f"run{i}.log", "w")
        cmd = [sys.executable, "-m", "advnb.book.cli", "run", DETERMINISM_CHAPTER, "--profile", "smoke",
               "-p", "device", "cpu", "-p", "seed", "0", "--output-dir", str(tmp_path / f"out{i}")]
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT), log))
    for p, log in procs:
        p.wait(timeout=600)
        log.close()
    for i, (p, _) in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"run{i}.log").read_text()[-3000:]
    a, b = (json.loads((tmp_path / f"out{i}" / f"{DETERMINISM_CHAPTER}.json").read_text()) for i in range(2))
    for key in ("chapter", "parameters", "profile", "device"):
        assert a[key] == b[key], key
    assert a["device"] == "cpu" and a["profile"] == "smoke"
    untimed = [n for n in _names(a["results"]) if LOOKS_LIKE_TIMING.search(n) and n.split(".")[0] not in TIMINGS]
    assert not untimed, f"{untimed} look like timings: list them in TIMINGS (and say why) or rename them"
    ra = {k: v for k, v in a["results"].items() if k not in TIMINGS}
    rb = {k: v for k, v in b["results"].items() if k not in TIMINGS}
    assert ra.keys() == rb.keys()
    differ = [k for k in ra if ra[k] != rb[k]]
    assert not differ, {k: (ra[k], rb[k]) for k in differ}
    _assert_one_good_entry(cache, monkeypatch)
    for record in (cache / "records").glob("*.json") if (cache / "records").exists() else []:
        json.loads(record.read_text())


TRAIN_AT_ONCE = textwrap.dedent("""
    import hashlib, json, sys, time
    from pathlib import Path

    import torch
    from advnb.nets import train as T
    from advnb.nets.data import Dataset

    barrier, me = Path(sys.argv[1]), sys.argv[2]
    g = torch.Generator().manual_seed(0)  # a small synthetic data set: loading the digits takes seconds
    data = Dataset(torch.rand(512, 1, 28, 28, generator=g), torch.randint(0, 10, (512,), generator=g),
                   torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g), "synthetic")
    config = T.TrainConfig(hidden=32, n_train=512, epochs=2, seed=0, data=data.source)
    trained = []
    fit = T._fit
    T._fit = lambda *a, **k: (trained.append(True), fit(*a, **k))[1]
    (barrier / me).touch()
    deadline = time.time() + 300
    while len(list(barrier.iterdir())) < 2:  # both processes are ready, neither has trained
        if time.time() > deadline:
            sys.exit("the other process never arrived")
        time.sleep(0.01)
    model, acc = T.train(config, data, progress=False)
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values())).hexdigest()
    print(json.dumps({"trained": bool(trained), "sha256": digest, "test_acc": acc}))
""")


def test_two_processes_training_one_config_at_once_leave_one_good_entry(tmp_path, monkeypatch):
    """Concurrency and cross-process determinism of training: two processes released together
    on one empty cache both train the same TrainConfig and write it; both get bitwise-identical
    weights, and the cache ends with one entry holding them, loadable without a warning, and no
    *.tmp file."""
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    env = _environment(cache)
    procs = [subprocess.Popen([sys.executable, "-c", TRAIN_AT_ONCE, str(barrier), str(i)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(r["trained"] for r in runs), runs  # both trained: the two writes really raced
    assert runs[0]["sha256"] == runs[1]["sha256"] and runs[0]["test_acc"] == runs[1]["test_acc"]
    entry = _assert_one_good_entry(cache, monkeypatch)
    state = torch.load(entry, map_location="cpu", weights_only=True)["state_dict"]
    assert hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest() == runs[0]["sha256"]


# -- 5. never unpickled unsafely ------------------------------------------------------------------

UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}


def _unsafe_loads(tree: ast.AST) -> list[str]:
    """torch.load without weights_only=True, np.load without allow_pickle=False, pickle-family
    imports, pandas' read_pickle, and torch's add_safe_globals (which widens weights_only)."""
    problems = []
    aliases = {"torch": "torch", "numpy": "numpy", "np": "numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in UNSAFE_MODULES:
                    problems.append(f"line {node.lineno}: import {a.name}")
                if a.name in ("torch", "numpy"):
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                problems.append(f"line {node.lineno}: from {node.module} import ...")
            for a in node.names:
                if node.module in ("torch", "numpy", "torch.serialization") and a.name == "load":
                    problems.append(f"line {node.lineno}: from {node.module} import load (call it qualified)")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        qualified = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        owner = aliases.get(func.value.id) if qualified else None
        kw = {k.arg: k.value for k in node.keywords}

        def const(arg, value):
            return arg in kw and isinstance(kw[arg], ast.Constant) and kw[arg].value is value

        if name == "load" and owner == "torch" and not const("weights_only", True):
            problems.append(f"line {node.lineno}: torch.load without weights_only=True")
        if name == "load" and owner == "numpy" and not const("allow_pickle", False):
            problems.append(f"line {node.lineno}: np.load without allow_pickle=False")
        if name in ("read_pickle", "add_safe_globals", "safe_globals"):
            problems.append(f"line {node.lineno}: {name}")
    return problems


def test_scanner_catches_unsafe_loads():
    src = ("import pickle\nimport numpy as np\nimport torch\nfrom joblib import load\n"
           "torch.load(p)\ntorch.load(p, weights_only=False)\nnp.load(p)\nnp.load(p, allow_pickle=True)\n"
           "torch.load(p, weights_only=True)\nnp.load(p, allow_pickle=False)\n")
    found = _unsafe_loads(ast.parse(src))
    assert len(found) == 6, found


def _notebook_code(path: Path) -> str:
    nb = json.loads(path.read_text())
    lines = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            lines += [ln for ln in _code(cell).splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def test_nothing_is_unpickled_unsafely():
    """Every torch.load in advnb (and in the chapters) passes weights_only=True, every np.load
    passes allow_pickle=False, and nothing imports pickle, dill, joblib, cloudpickle or shelve."""
    sources = {p.relative_to(ROOT): p.read_text() for p in sorted((ROOT / "advnb").rglob("*.py"))}
    sources.update({p.relative_to(ROOT): _notebook_code(p) for p in CHAPTERS.values()})
    problems = [f"{path}: {msg}" for path, src in sources.items() for msg in _unsafe_loads(ast.parse(src))]
    assert not problems, problems
    assert any("torch.load(" in src for src in sources.values())  # the scan does see the cache's load
