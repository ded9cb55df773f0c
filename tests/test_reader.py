"""The book as a reader gets it: the code behind every number one click away, the paper's equations labelled.

- Every code cell that computes (trains, attacks, measures, plots, shows a table) is tagged ``hide-input``:
  its output shows, its source sits behind a toggle. The bookkeeping cells stay removed: the validation cell
  (``begin_record``), cells that only ``glue``, and the last cell (the claims and ``save_record``). The
  parameters cell is shown as it is.
- The chapters that state a theorem show the function that does its mathematics (``literalinclude`` with
  ``:pyobject:``), and every such include names a file of ``advnb`` and an object defined in it.
- The paper's numbered equations that the book uses carry a label in the chapter that states them, next to
  the paper's number in words; every ``{eq}`` reference names a defined label.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted((BOOK / "chapters").glob("*.ipynb")) + sorted((BOOK / "results").glob("*.ipynb"))
REMOVED = {"remove-input", "remove-cell"}
VISIBILITY = REMOVED | {"hide-input"}
GLUE = {"glue", "glue_figure"}

# label -> (chapter that states it, the paper's equation number)
PAPER_EQUATIONS = {
    "eq-two-layer": ("setup", 3),
    "eq-theorem1": ("theorem1", 5),
    "eq-theorem2": ("theorem2", 6),
    "eq-theorem3": ("theorem3", 9),
    "eq-theorem4": ("theorem4", 10),
    "eq-theorem5": ("theorem5", 11),
    "eq-theorem6": ("theorem6", 12),
}
CODE_SHOWN_IN = {"theorem1", "theorem2", "theorem3", "theorem4", "theorem5", "theorem6", "lemma1", "growth"}

INCLUDE = re.compile(r"^```\{literalinclude\}[ \t]+(\S+)[ \t]*\n((?:[ \t]*:[\w-]+:.*\n?)*)", re.M)
LABEL = re.compile(r"\$\$[ \t]*\((eq-[\w-]+)\)[ \t]*$", re.M)
EQ_ROLE = re.compile(r"\{eq\}`([^`]+)`")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _markdown(path: Path) -> list[str]:
    return [_src(c) for c in _cells(path) if c["cell_type"] == "markdown"]


def glue_only(src: str) -> bool:
    """Every statement of the cell is a call of glue (or myst_nb's glue): it computes nothing to show."""
    body = ast.parse(src).body
    return bool(body) and all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                              and isinstance(s.value.func, ast.Name) and s.value.func.id in GLUE for s in body)


def defined_objects(path: Path) -> set[str]:
    """Top-level functions and classes of a module, and the methods of its classes as Class.method."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def test_glue_only_tells_bookkeeping_from_computation():
    assert glue_only('glue("a", 1)\nglue("b", x.max())')
    assert glue_only('glue_figure("fig", fig, display=False)')
    assert not glue_only('k = min(3, n)\nglue("k", k)')
    assert not glue_only('fig = plot(t)\nglue("a", 1)')
    assert not glue_only("")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_that_computes_is_one_click_away_and_bookkeeping_is_removed(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    hidden = 0
    for k, cell in enumerate(code):
        tags, src = _tags(cell), _src(cell)
        if "parameters" in tags:
            assert not tags & VISIBILITY, f"{path.name}: the parameters cell is shown as it is (tags {sorted(tags)})"
            continue
        visibility = tags & VISIBILITY
        assert len(visibility) == 1, (
            f"{path.name}: code cell {k} needs exactly one of {sorted(VISIBILITY)} (has {sorted(tags)})")
        bookkeeping = "begin_record(" in src or "save_record(" in src or k == len(code) - 1 or glue_only(src)
        if bookkeeping:
            assert visibility <= REMOVED, (
                f"{path.name}: code cell {k} only validates, glues or asserts; it stays removed (has {sorted(tags)})")
        else:
            assert visibility == {"hide-input"}, (
                f"{path.name}: code cell {k} computes what the page shows; tag it hide-input (has {sorted(tags)})")
            hidden += 1
    assert hidden > 0, f"{path.name}: no code cell is one click away"


def test_literalincludes_show_functions_of_advnb():
    shown: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        for src in _markdown(path):
            for m in INCLUDE.finditer(src):
                target = (path.parent / m.group(1)).resolve()
                options = dict(re.findall(r":([\w-]+):[ \t]*(.*)", m.group(2)))
                assert target.is_file(), f"{path.name}: literalinclude of a missing file {m.group(1)}"
                assert target.is_relative_to(ROOT / "advnb"), f"{path.name}: {m.group(1)} is not a file of advnb"
                assert options.get("pyobject"), f"{path.name}: include {m.group(1)} with :pyobject: (one function)"
                assert options["pyobject"] in defined_objects(target), (
                    f"{path.name}: {options['pyobject']} is not defined in {m.group(1)}")
                shown.setdefault(path.stem, []).append(options["pyobject"])
    missing = CODE_SHOWN_IN - set(shown)
    assert not missing, f"chapters that show no function of their computation: {sorted(missing)}"


def test_the_papers_equations_are_labelled_where_they_are_stated():
    defined: dict[str, list[str]] = {}
    for path in NOTEBOOKS:
        for src in _markdown(path):
            assert r"\tag{" not in src, f"{path.name}: a hand-written equation number; label the equation instead"
            for label in LABEL.findall(src):
                defined.setdefault(label, []).append(path.stem)
                if label in PAPER_EQUATIONS:
                    number = PAPER_EQUATIONS[label][1]
                    assert f"the paper's Eq. ({number})" in src, (
                        f"{path.name}: name the paper's Eq. ({number}) in words beside {label}")
    for label, (chapter, _) in PAPER_EQUATIONS.items():
        assert defined.get(label) == [chapter], f"{label} must be defined once, in {chapter} (found in {defined.get(label)})"
    for label, where in defined.items():
        assert len(where) == 1, f"{label} is defined more than once: {where}"


def test_every_equation_reference_names_a_label():
    defined = {label for path in NOTEBOOKS for src in _markdown(path) for label in LABEL.findall(src)}
    used: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for src in _markdown(path):
            for label in EQ_ROLE.findall(src):
                used.setdefault(label, set()).add(path.stem)
    unknown = {label: sorted(where) for label, where in used.items() if label not in defined}
    assert not unknown, f"{{eq}} references to labels no chapter defines: {unknown}"
    for label, (chapter, number) in PAPER_EQUATIONS.items():
        assert used.get(label, set()) - {chapter}, f"the paper's Eq. ({number}) ({label}) is never referred to from another page"


def test_the_scoreboard_table_spans_the_page():
    """The scoreboard's table (claim, paper, measured, verdict, seeds, reference runs) is too wide for the text
    column: its cell carries sphinx-book-theme's ``full-width`` tag."""
    cells = [c for c in _cells(BOOK / "results" / "summary.ipynb") if c["cell_type"] == "code"]
    table = [c for c in cells if "markdown_table(" in _src(c)]
    assert len(table) == 1 and "full-width" in _tags(table[0]), [sorted(_tags(c)) for c in table]
