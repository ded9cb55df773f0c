"""``make book``: build the book, re-executing only what changed (``python -m advnb.book.build``).

The book is built by jupyter-book with ``execute_notebooks: cache`` (jupyter-cache), in a cache
folder of its own for every profile, device and version of the ``advnb`` sources::

    book/_build/.jupyter_cache/PROFILE-DEVICE-HASH

PROFILE and DEVICE are the concrete ones the chapters will run at (``$ADVNB_PROFILE`` and
``$ADVNB_DEVICE`` through :func:`advnb.nets.profiles.resolve_name` and ``resolve_device``); HASH is
a SHA-256 of every ``advnb`` source file (path and bytes) and of ``pyproject.toml`` (the pinned
dependencies). jupyter-cache itself keys an executed notebook by its code cells only, so without
this folder a chapter executed at ``smoke`` would be shown in a ``quick`` build. A chapter is thus
executed when its code cells (or their metadata), the ``advnb`` sources, the dependencies, the
profile or the device changed, and reused otherwise; it is also executed when its build record
(``$ADVNB_CACHE/records``, :mod:`advnb.book.record`) is missing, since the results pages read the
record, not the page.

The results pages (``book/results``: the scoreboard, the performance page) are executed in every
build. They read the chapters' build records, and their own code does not change when a chapter
changes, so a cached scoreboard could be stale: for instance after a chapter is edited and the edit
reverted, the chapter's old executed notebook matches again while the cached scoreboard holds the
edited chapter's numbers. "Execute them when a chapter was executed" misses that case; executing
them always does not, and costs little (they read records; a missing record would make the
scoreboard run its chapter, which the rule above prevents).

The configuration of such a build is ``book/_config.yml`` with only its ``execute`` section changed
(``execute_notebooks: cache`` and the cache folder), written beside the cache as ``_config.yml``
and passed to ``jupyter-book build --config`` (which reads that file instead of the book's own).
``book/_config.yml`` itself keeps ``execute_notebooks: force``: ``make test``'s strict build
(``jupyter-book build book --all -W -n --keep-going``) and a plain ``jupyter-book build book``
execute every notebook afresh. Before building, every notebook is listed as ``execute`` or
``reuse``; after it, what happened (the cache's records are compared) with the execution times.

``--fresh`` empties this build's cache folder first (every notebook is executed, then cached);
``--dry-run`` prints the plan and builds nothing; arguments after ``--`` go to jupyter-book
(e.g. ``-- -W -n --keep-going``). At most :data:`KEEP` cache folders are kept per profile and
device (the least recently used are removed), so editing ``advnb`` does not fill the disk.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

from ..base import ParameterError

PACKAGE = Path(__file__).resolve().parents[1]  # advnb/
ROOT = PACKAGE.parent  # the repository: book/, pyproject.toml
KEEP = 4  # cache folders kept per profile and device
CONFIG_NAME = "_config.yml"  # the generated configuration, inside the cache folder


def sources_hash(package: Path = PACKAGE, extra: tuple[Path, ...] = (ROOT / "pyproject.toml",)) -> str:
    """SHA-256 over every ``*.py`` file of ``package`` (relative path and bytes, in sorted order; caches
    such as ``__pycache__`` hold no ``.py``) and over the ``extra`` files that exist (name and bytes)."""
    h = hashlib.sha256()
    for path in sorted(Path(package).rglob("*.py")):
        h.update(b"src\0" + path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for path in extra:
        path = Path(path)
        if path.is_file():
            h.update(b"extra\0" + path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_name(profile: str, device: str, source_hash: str) -> str:
    """The name of the cache folder of one profile, device and source hash: ``PROFILE-DEVICE-HASH16``."""
    for name, value in (("profile", profile), ("device", device)):
        if not value or "-" in value or "/" in value:
            raise ParameterError(f"parameter {name}: must be a plain name without '-' or '/' (got {value!r})")
    return f"{profile}-{device}-{source_hash[:16]}"


def current_key() -> tuple[str, str, str]:
    """(profile, device, source hash) of a build run now: the concrete profile and device the chapters
    will use (``$ADVNB_PROFILE``, ``$ADVNB_DEVICE``) and :func:`sources_hash`."""
    from ..nets.profiles import resolve_device, resolve_name

    return resolve_name(None), resolve_device(None).type, sources_hash()


def toc_notebooks(book: Path) -> list[Path]:
    """The notebooks of ``book/_toc.yml``, in the table of contents' order."""
    out: list[Path] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                path = (book / node["file"]).with_suffix(".ipynb")
                if path.is_file():
                    out.append(path)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    root = yaml.safe_load((book / "_toc.yml").read_text())
    walk(root)
    return list(dict.fromkeys(out))


def is_results_page(notebook: Path, book: Path) -> bool:
    """A page that gathers the chapters' build records (``book/results/*.ipynb``): executed in every build."""
    return Path(notebook).resolve().parent == (Path(book) / "results").resolve()


def _read(notebook: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(notebook), as_version=4)  # as myst-nb reads an .ipynb


def cached_record(cache, notebook: Path):
    """The jupyter-cache record of ``notebook``'s code (cells and their metadata), or None (also when
    ``cache`` is None: no cache yet)."""
    if cache is None:
        return None
    try:
        return cache.match_cache_notebook(_read(notebook))
    except KeyError:
        return None


def has_chapter_record(notebook: Path, profile: str) -> bool:
    """Whether this code's build record of the chapter at ``profile`` exists (:func:`advnb.book.record.find_record`);
    True for a notebook that is not one of advnb's chapters (it writes no record the results pages read)."""
    from ..base import available_chapters
    from .record import find_record

    chapters = available_chapters()
    name = Path(notebook).stem
    if chapters.get(name, None) is None or chapters[name].resolve() != Path(notebook).resolve():
        return True
    return find_record(name, profile) is not None


def plan(cache, notebooks: list[Path], book: Path, has_record=lambda nb: True) -> dict[Path, str]:
    """For each notebook, what the build will do: ``"reuse"`` (its executed copy is in ``cache`` and
    ``has_record(notebook)``) or a reason to execute: ``"execute (results page)"``, ``"execute (not cached)"``
    (no executed copy of this code in this cache), ``"execute (no build record)"``."""
    out = {}
    for nb in notebooks:
        if is_results_page(nb, book):
            out[nb] = "execute (results page)"
        elif cached_record(cache, nb) is None:
            out[nb] = "execute (not cached)"
        elif not has_record(nb):
            out[nb] = "execute (no build record)"
        else:
            out[nb] = "reuse"
    return out


def drop(cache, notebooks: list[Path]) -> None:
    """Remove the executed copies of ``notebooks`` from ``cache``, so that the build executes them."""
    for nb in notebooks:
        record = cached_record(cache, nb)
        if record is not None:
            cache.remove_cache(record.pk)


def build_config(book: Path, cache_path: Path) -> dict:
    """``book/_config.yml`` with ``execute.execute_notebooks: cache`` and ``execute.cache: cache_path``;
    paths of ``sphinx.local_extensions`` made absolute (jupyter-book reads them relative to the config file)."""
    config = yaml.safe_load((book / "_config.yml").read_text()) or {}
    execute = dict(config.get("execute") or {})
    execute.update(execute_notebooks="cache", cache=str(Path(cache_path).resolve()))
    config["execute"] = execute
    local = (config.get("sphinx") or {}).get("local_extensions")
    if isinstance(local, dict):
        config["sphinx"]["local_extensions"] = {k: str((book / v).resolve()) for k, v in local.items()}
    return config


def prune(root: Path, current: str, keep: int = KEEP) -> list[Path]:
    """Remove all but the ``keep`` most recently used cache folders of ``current``'s profile and device
    (``current`` itself is always kept). Returns the folders removed."""
    prefix = "-".join(current.split("-")[:2]) + "-"
    folders = [p for p in Path(root).glob(prefix + "*") if p.is_dir() and p.name != current]
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = folders[max(keep - 1, 0):]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def _jupyter_book() -> str:
    here = Path(sys.executable).parent / "jupyter-book"
    return str(here) if here.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python -m advnb.book.build",
                                description="Build the book, re-executing only the notebooks whose code, advnb "
                                            "sources, profile or device changed (and the results pages).")
    p.add_argument("--book", default=str(ROOT / "book"), help="the book folder (default: book/)")
    p.add_argument("--fresh", action="store_true", help="empty this profile's cache first: execute every notebook")
    p.add_argument("--dry-run", action="store_true", help="print what would be executed and reused; build nothing")
    return p.parse_args(argv), extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse(argv)
    book = Path(args.book).resolve()
    if not (book / "_config.yml").is_file() or not (book / "_toc.yml").is_file():
        print(f"parameter --book: must be a folder holding _config.yml and _toc.yml (got {args.book!r})", file=sys.stderr)
        return 2
    from jupyter_cache import get_cache

    try:
        profile, device, src = current_key()
    except ParameterError as e:
        print(e, file=sys.stderr)
        return 2
    root = book / "_build" / ".jupyter_cache"
    name = cache_name(profile, device, src)
    folder = root / name
    if args.fresh and folder.exists() and not args.dry_run:
        shutil.rmtree(folder)
    # no cache yet (or --fresh): every notebook is executed; a dry run creates nothing
    cache = get_cache(folder) if folder.exists() and not args.fresh else None
    notebooks = toc_notebooks(book)
    todo = plan(cache, notebooks, book, has_record=lambda nb: has_chapter_record(nb, profile))
    width = max((len(str(nb.relative_to(book))) for nb in notebooks), default=0)
    print(f">> profile {profile}, device {device}, advnb sources {src[:16]}: cache {folder.relative_to(book.parent)}"
          if folder.is_relative_to(book.parent) else f">> profile {profile}, device {device}: cache {folder}")
    for nb, what in todo.items():
        print(f"   {str(nb.relative_to(book)):<{width}}  {what}")
    n_exec = sum(w != "reuse" for w in todo.values())
    print(f">> {n_exec} to execute, {len(todo) - n_exec} to reuse")
    if args.dry_run:
        return 0

    cache = cache or get_cache(folder)
    drop(cache, [nb for nb, w in todo.items() if w != "reuse"])
    before = {nb: getattr(cached_record(cache, nb), "pk", None) for nb in notebooks}
    config = folder / CONFIG_NAME
    config.write_text("# Generated by advnb.book.build from book/_config.yml: the execute section differs.\n"
                      + yaml.safe_dump(build_config(book, folder), sort_keys=False, allow_unicode=True))
    os.utime(folder)  # most recently used, for prune
    for p in prune(root, name):
        print(f">> removed the old cache {p.name}")
    cmd = [_jupyter_book(), "build", str(book), "--all", "--config", str(config), *extra]
    print(">> " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd)
    wall = time.perf_counter() - start

    executed, reused, missing = [], [], []
    for nb in notebooks:
        record = cached_record(cache, nb)
        if record is None:
            missing.append(nb)  # failed, or not executed
        elif record.pk != before[nb]:
            executed.append((nb, (record.data or {}).get("execution_seconds")))
        else:
            reused.append(nb)
    print(f">> {'built' if rc == 0 else f'jupyter-book exited with {rc}'} in {wall:.0f} s: executed {len(executed)} "
          f"notebook(s), reused {len(reused)}" + (f", {len(missing)} not in the cache (failed?)" if missing else ""))
    for nb, seconds in executed:
        print(f"   executed {nb.relative_to(book)}" + (f" ({seconds:.0f} s)" if seconds is not None else ""))
    for nb in missing:
        print(f"   not cached {nb.relative_to(book)}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
