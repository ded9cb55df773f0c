"""Repository hygiene: dependency lists in step, notebooks committed clean."""

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))


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
    assert {p.stem for p in NOTEBOOKS} >= {"setup", "theorem1", "theorem2", "growth", "lp_attacks", "gating",
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
        assert "check(" in nxt, f"{path.name}: the cell after the parameters must validate them"


def test_every_chapter_is_in_the_toc():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = {c["file"] for c in toc["chapters"]}
    assert {f"chapters/{p.stem}" for p in NOTEBOOKS} <= files
