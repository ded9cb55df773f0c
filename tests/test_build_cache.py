"""`make book`'s execution cache (advnb/book/build.py): one cache per profile, device and source hash; what
is reused and what is executed. Cheap: tiny notebooks put into a jupyter-cache by hand, no book build."""

from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

from advnb.base import ParameterError
from advnb.book import build

ROOT = Path(__file__).resolve().parents[1]


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    return pkg


def test_sources_hash_follows_every_source_file_and_nothing_else(tmp_path):
    pkg = _package(tmp_path)
    h0 = build.sources_hash(pkg, extra=())
    assert build.sources_hash(pkg, extra=()) == h0
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0compiled")
    (pkg / "notes.txt").write_text("not a source")
    assert build.sources_hash(pkg, extra=()) == h0  # caches and other files do not count
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    h1 = build.sources_hash(pkg, extra=())
    assert h1 != h0
    (pkg / "sub" / "c.py").write_text("")
    assert build.sources_hash(pkg, extra=()) != h1  # a new, empty module counts too
    (pkg / "sub" / "c.py").rename(pkg / "c.py")
    assert build.sources_hash(pkg, extra=()) not in (h0, h1)  # so does its place
    deps = tmp_path / "pyproject.toml"
    deps.write_text('dependencies = ["torch==2.0"]\n')
    h2 = build.sources_hash(pkg, extra=(deps,))
    deps.write_text('dependencies = ["torch==2.1"]\n')
    assert build.sources_hash(pkg, extra=(deps,)) != h2


def test_cache_folder_differs_by_profile_device_and_sources():
    names = {build.cache_name(p, d, h) for p in ("smoke", "quick") for d in ("cpu", "cuda") for h in ("a" * 64, "b" * 64)}
    assert len(names) == 8
    assert build.cache_name("smoke", "cpu", "0123456789abcdef" * 4) == "smoke-cpu-0123456789abcdef"
    with pytest.raises(ParameterError, match="parameter profile"):
        build.cache_name("smoke-x", "cpu", "a" * 64)


def test_current_key_follows_the_profile(monkeypatch):
    monkeypatch.setenv("ADVNB_PROFILE", "smoke")
    smoke = build.current_key()
    monkeypatch.setenv("ADVNB_PROFILE", "quick")
    quick = build.current_key()
    assert smoke[0] == "smoke" and quick[0] == "quick" and smoke[1:] == quick[1:]
    assert build.cache_name(*smoke) != build.cache_name(*quick)
    monkeypatch.setenv("ADVNB_PROFILE", "auto")
    assert build.current_key()[0] in ("quick", "paper")  # auto is resolved, never a folder of its own


def _book(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    for folder in ("chapters", "results"):
        (book / folder).mkdir(parents=True)
    for path, code in (("chapters/one", "x = 1"), ("chapters/two", "y = 2"), ("results/summary", "z = 3")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell(code)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(book / f"{path}.ipynb"))
    (book / "intro.md").write_text("# intro\n")
    (book / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "intro", "chapters": [
        {"file": "chapters/one"}, {"file": "chapters/two"}, {"file": "results/summary"}]}))
    (book / "_config.yml").write_text((ROOT / "book" / "_config.yml").read_text())
    return book


def _cache_executed(cache, path: Path) -> None:
    """Put an 'executed' copy of the notebook into the cache, as myst-nb does after a run."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    cache.cache_notebook_bundle(CacheBundleIn(nb, str(path)), check_validity=False, overwrite=True)


def test_plan_reuses_unchanged_code_and_executes_the_rest(tmp_path):
    book = _book(tmp_path)
    notebooks = build.toc_notebooks(book)
    assert [p.relative_to(book).as_posix() for p in notebooks] == ["chapters/one.ipynb", "chapters/two.ipynb",
                                                                    "results/summary.ipynb"]
    cache = get_cache(tmp_path / "cache")
    assert set(build.plan(cache, notebooks, book).values()) == {"execute (not cached)", "execute (results page)"}
    for nb in notebooks:
        _cache_executed(cache, nb)
    todo = build.plan(cache, notebooks, book)
    one, two, summary = notebooks
    assert todo == {one: "reuse", two: "reuse", summary: "execute (results page)"}  # the scoreboard: always

    nb = nbformat.read(str(one), as_version=4)  # prose changes: still reused
    nb.cells[0].source = "# another title"
    nbformat.write(nb, str(one))
    assert build.plan(cache, notebooks, book)[one] == "reuse"
    nb.cells[1].source = "x = 2"  # code changes: executed
    nbformat.write(nb, str(one))
    assert build.plan(cache, notebooks, book)[one] == "execute (not cached)"
    assert build.plan(cache, notebooks, book)[two] == "reuse"
    # a chapter whose build record is missing is executed, so that the results pages find one
    assert build.plan(cache, notebooks, book, has_record=lambda p: p != two)[two] == "execute (no build record)"
    # another profile, device or source hash is another folder: nothing of this one is reused there
    assert set(build.plan(get_cache(tmp_path / "other"), notebooks, book).values()) == {
        "execute (not cached)", "execute (results page)"}


def test_drop_makes_the_build_execute_a_cached_notebook(tmp_path):
    book = _book(tmp_path)
    notebooks = build.toc_notebooks(book)
    cache = get_cache(tmp_path / "cache")
    for nb in notebooks:
        _cache_executed(cache, nb)
    build.drop(cache, [notebooks[2]])
    assert build.cached_record(cache, notebooks[2]) is None
    assert build.cached_record(cache, notebooks[0]) is not None


def test_generated_config_changes_only_the_execute_section(tmp_path):
    book = ROOT / "book"
    original = yaml.safe_load((book / "_config.yml").read_text())
    assert original["execute"]["execute_notebooks"] == "force"  # the strict build and a plain build: afresh
    config = build.build_config(book, tmp_path / "cache")
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["cache"] == str((tmp_path / "cache").resolve())
    assert {k: v for k, v in config.items() if k != "execute"} == {k: v for k, v in original.items() if k != "execute"}
    assert {k: v for k, v in config["execute"].items() if k not in ("execute_notebooks", "cache")} == {
        k: v for k, v in original["execute"].items() if k not in ("execute_notebooks", "cache")}


def test_prune_keeps_the_most_recent_folders_of_one_profile_and_device(tmp_path):
    import os

    for i, h in enumerate("abcdef"):
        (tmp_path / f"smoke-cpu-{h * 16}").mkdir()
        os.utime(tmp_path / f"smoke-cpu-{h * 16}", (1000 + i, 1000 + i))
    (tmp_path / f"quick-cpu-{'a' * 16}").mkdir()
    removed = build.prune(tmp_path, f"smoke-cpu-{'a' * 16}", keep=3)  # the current one is the oldest
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [f"quick-cpu-{'a' * 16}"] + [f"smoke-cpu-{h * 16}" for h in "aef"]
    assert len(removed) == 3


def test_dry_run_lists_every_notebook_and_builds_nothing(tmp_path, capsys):
    book = _book(tmp_path)
    assert build.main(["--book", str(book), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "chapters/one.ipynb" in out and "results/summary.ipynb" in out and "3 to execute, 0 to reuse" in out
    assert not (book / "_build").exists()


def test_bad_book_folder_is_refused_in_one_line(tmp_path, capsys):
    assert build.main(["--book", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("parameter --book:") and "\n" not in err
