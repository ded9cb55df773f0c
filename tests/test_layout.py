"""The package's layout: imports run one way (base -> core -> nets -> chapters -> book), with no
cycle between modules; every chapter notebook has its module; one copy of each shared helper."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "advnb"
LAYERS = ("base", "core", "nets", "chapters", "book")  # a module may import only its own layer or those before


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every advnb module ``path`` imports, at top level or inside a function."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "advnb"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "advnb":
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known  # "from ..core import theory"
            out |= subs or {target}
    return {t for t in out if t != me}


def layer(name: str) -> int:
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "base":
        return 0  # advnb itself (__version__) and advnb.base import nothing of advnb
    return LAYERS.index(parts[1])


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, set(mods)) for name, path in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        colour[u] = 1
        stack.append(u)
        for v in sorted(g.get(u, ())):
            if colour.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if colour.get(v) is None and (c := visit(v)):
                return c
        colour[u] = 2
        stack.pop()
        return None

    for u in sorted(g):
        if colour.get(u) is None and (c := visit(u)):
            return c
    return None


def test_every_import_resolves_to_a_module():
    g, known = graph(), set(modules())
    unknown = {(u, v) for u, vs in g.items() for v in vs if v not in known}
    assert not unknown, f"imports of advnb modules that do not exist: {sorted(unknown)}"


def test_imports_run_one_way():
    wrong = [(u, v) for u, vs in graph().items() for v in vs if layer(v) > layer(u)]
    assert not wrong, "imports against the direction base -> core -> nets -> chapters -> book: " + ", ".join(
        f"{u} imports {v}" for u, v in sorted(wrong))


def test_no_import_cycle():
    assert find_cycle(graph()) is None, f"import cycle: {' -> '.join(find_cycle(graph()))}"


def test_base_and_core_import_nothing_above_them():
    g = graph()
    assert not g["advnb.base"] - {"advnb"}
    for name, deps in g.items():
        if name.startswith("advnb.core."):
            assert all(d.startswith("advnb.core.") or layer(d) == 0 for d in deps), (name, deps)


def test_the_checks_catch_a_cycle_and_a_wrong_direction(tmp_path):
    """The checks above can fail: a made-up graph with a cycle and an upward import."""
    g = {"advnb.core.a": {"advnb.core.b"}, "advnb.core.b": {"advnb.core.a"}, "advnb.nets.c": {"advnb.book.cli"}}
    assert find_cycle(g) in (["advnb.core.a", "advnb.core.b", "advnb.core.a"], ["advnb.core.b", "advnb.core.a", "advnb.core.b"])
    assert layer("advnb.book.cli") > layer("advnb.nets.c")
    bad = tmp_path / "advnb" / "core"
    bad.mkdir(parents=True)
    (bad / "x.py").write_text("def f():\n    from ..book import cli\n    from advnb.nets.models import build_model\n")
    found = set()
    for node in ast.walk(ast.parse((bad / "x.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add((node.level, node.module))
    assert found == {(2, "book"), (0, "advnb.nets.models")}  # function-level imports are seen by ast.walk


def test_every_chapter_has_its_module():
    chapters = sorted(p.stem for p in (PACKAGE.parent / "book" / "chapters").glob("*.ipynb"))
    missing = [c for c in chapters if c != "setup" and not (PACKAGE / "chapters" / f"{c}.py").exists()]
    assert not missing, f"chapter notebooks without a module in advnb/chapters: {missing}"


@pytest.mark.parametrize("helper", ["def cos(", "def one_minus_cos(", "def rel_error(", "def digit_image(", "def first_layer("])
def test_one_copy_of_each_helper(helper):
    copies = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if helper in p.read_text()]
    assert len(copies) == 1, f"{helper[4:-1]} is defined in {copies}"


def test_notebooks_import_the_new_layout():
    """No notebook imports a module of the old flat layout (advnb.core.theory, advnb.chapters.figures, ...)."""
    known = set(modules())
    for nb in (PACKAGE.parent / "book").rglob("*.ipynb"):
        if "_build" in nb.parts:
            continue
        cells = json.loads(nb.read_text())["cells"]
        src = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("advnb"):
                names = {f"{node.module}.{a.name}" for a in node.names}
                assert node.module in known or names <= known, f"{nb.name}: from {node.module} import ..."


def test_the_package_table_names_real_functions_and_chapters():
    """Every function the package docstring's table names exists, and every chapter it names is a notebook."""
    import importlib
    import re

    import advnb

    chapters = {p.stem for p in (PACKAGE.parent / "book" / "chapters").glob("*.ipynb")}
    rows = [line for line in advnb.__doc__.splitlines() if "``" in line and re.match(r"^\S|^  \S", line)
            and ("core." in line or "chapters." in line or "nets." in line)]
    assert len(rows) >= 20
    for row in rows:
        for ref in re.findall(r"``([\w.]+)``", row):
            module, _, name = f"advnb.{ref}".rpartition(".")
            if name and not hasattr(importlib.import_module(module) if module != "advnb" else advnb, name):
                mod = importlib.import_module(f"advnb.{ref}")  # a module named alone (``core.metrics``)
                assert mod is not None
        named = {c.strip() for c in row.split("``")[-1].split(",")}
        assert named <= chapters, (row, named - chapters)
