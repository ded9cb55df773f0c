import json

import numpy as np
import pandas as pd
import torch

from advnb.book.record import JSON_MIME, glued_values, jsonable


def test_jsonable():
    df = pd.DataFrame({"beta": np.array([0.1, 1.0]), "k": np.array([1, 2])})
    assert jsonable(df) == [{"beta": 0.1, "k": 1}, {"beta": 1.0, "k": 2}]
    assert jsonable(np.float64(0.5)) == 0.5 and jsonable(torch.tensor(3)) == 3
    assert jsonable({"a": (np.int64(1), "s")}) == {"a": [1, "s"]}
    assert jsonable(float("nan")) == "nan"
    json.dumps(jsonable(df))


def test_glued_values_reads_outputs():
    nb = {"cells": [
        {"cell_type": "markdown", "source": "x"},
        {"cell_type": "code", "outputs": [
            {"output_type": "display_data", "metadata": {"scrapbook": {"name": "kappa"}},
             "data": {JSON_MIME: {"value": 1e-5}, "application/papermill.record/text/plain": "1e-05"}},
            {"output_type": "stream", "text": "hello"},
        ]},
    ]}
    assert glued_values(nb) == {"kappa": 1e-5}


# -- build records --------------------------------------------------------------------------

import nbformat  # noqa: E402
import pytest  # noqa: E402

from advnb import base
from advnb.book import record


@pytest.fixture
def toy_chapter(tmp_path, monkeypatch):
    """A one-parameter chapter in its own chapters folder, and a fresh cache for its records."""
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('import os\n\nprofile = os.environ.get("ADVNB_PROFILE", "auto")\nbeta = 0.01')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = beta ** 2")]
    nbformat.write(nb, chapters / "toy.ipynb")
    monkeypatch.setenv("ADVNB_CHAPTERS", str(chapters))
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVNB_PROFILE", "smoke")
    return chapters / "toy.ipynb"


def test_build_record_round_trip(toy_chapter, capsys):
    assert record.find_record("toy") is None
    record.begin_record("toy", {"profile": "smoke", "beta": 0.01})
    record.glue("square", np.float64(1e-4))
    record.glue("table", pd.DataFrame({"a": [1, 2]}))
    path = record.save_record()
    capsys.readouterr()
    rec = record.find_record("toy")
    assert rec is not None and path.exists() and path.parent == record.records_dir()
    assert rec["results"] == {"square": 1e-4, "table": [{"a": 1}, {"a": 2}]}
    assert rec["profile"] == "smoke" and rec["parameters"] == {"profile": "smoke", "beta": 0.01}
    assert rec["elapsed_s"] >= 0 and rec["written"].endswith("+00:00")
    # the profile written as "auto" (CPU: quick) is another run; so are other parameters
    assert record.find_record("toy", "quick") is None
    assert not list(record.records_dir().glob("*.tmp"))


def test_build_record_is_tied_to_the_code(toy_chapter, capsys):
    record.begin_record("toy", {"profile": "smoke", "beta": 0.01})
    record.save_record()
    capsys.readouterr()
    assert record.find_record("toy") is not None
    nb = nbformat.read(toy_chapter, 4)
    nb.cells[1].source = "x = beta ** 3"  # the chapter's code changed: its old record no longer counts
    nbformat.write(nb, toy_chapter)
    assert record.find_record("toy") is None


def test_other_parameters_are_another_record(toy_chapter, capsys):
    record.begin_record("toy", {"profile": "smoke", "beta": 0.5})  # e.g. advnb run toy -p beta 0.5
    record.save_record()
    capsys.readouterr()
    assert record.find_record("toy") is None  # the summary reads the default parameters only


def test_unreadable_record_counts_as_missing(toy_chapter, capsys):
    record.begin_record("toy", {"profile": "smoke", "beta": 0.01})
    path = record.save_record()
    capsys.readouterr()
    path.write_text('{"chapter": "toy", "key": ')  # truncated
    assert record.find_record("toy") is None


def test_save_record_needs_begin_record(monkeypatch):
    monkeypatch.setitem(record._RUN, "chapter", None)
    with pytest.raises(RuntimeError, match="begin_record"):
        record.save_record()


def test_default_parameters_reads_the_parameters_cell(toy_chapter):
    assert record.default_parameters(toy_chapter) == {"profile": "smoke", "beta": 0.01}
    assert record.default_parameters(toy_chapter, "paper")["profile"] == "paper"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"

    def explode(tmp):
        open(tmp, "w").write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        base.atomic_write(target, explode)
    assert list(tmp_path.iterdir()) == []
    base.atomic_write(target, lambda tmp: open(tmp, "w").write("{}"))
    assert target.read_text() == "{}" and list(tmp_path.iterdir()) == [target]
