"""Repository hygiene: dependency lists in step, notebooks committed clean."""

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))
RESULTS = sorted((ROOT / "book" / "results").glob("*.ipynb"))  # pages that read the chapters' records
NOTEBOOKS = CHAPTERS + RESULTS


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {r.strip() for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {r.strip() for r in pip if not r.startswith("-e")}
    assert listed == wanted


def test_there_are_chapters():
    assert {p.stem for p in RESULTS} >= {"summary", "performance"}
    assert {p.stem for p in CHAPTERS} >= {"setup", "theorem1", "theorem2", "growth", "lp_attacks", "gating",
                                           "lemma1", "theorem3", "theorem4", "imbalance", "theorem5", "theorem6"}


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} has outputs"


def test_every_chapter_has_parameters_then_validation():
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        idx = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(idx) == 1, f"{path.name}: one cell tagged parameters"
        src = "".join(cells[idx[0]]["source"])
        assert 'os.environ.get("ADVNB_PROFILE"' in src, f"{path.name}: profile default must read ADVNB_PROFILE"
        nxt = "".join(cells[idx[0] + 1]["source"])
        assert f'begin_record("{path.stem}", check_chapter("{path.stem}", globals()))' in nxt, (
            f"{path.name}: the cell after the parameters must validate them, reading the names from that cell, "
            "and begin its record")
        last = "".join([c for c in cells if c["cell_type"] == "code"][-1]["source"])
        assert "save_record()" in last, f"{path.name}: the last cell must save its record once the claims hold"


def test_every_chapter_is_in_the_toc():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [c["file"] for c in toc["chapters"]]
    assert {f"chapters/{p.stem}" for p in CHAPTERS} <= set(files)
    assert {f"results/{p.stem}" for p in RESULTS} <= set(files)
    # the results pages read the chapters' records, so they come after every chapter
    assert max(files.index(f"chapters/{p.stem}") for p in CHAPTERS) < min(files.index(f"results/{p.stem}") for p in RESULTS)
