"""The command line: ``advnb run`` and ``advnb list``.

    advnb run CHAPTER [--profile P] [-p NAME VALUE]... [--output-dir DIR]
    advnb list

``run`` executes the chapter's notebook with papermill and writes
``DIR/CHAPTER.ipynb`` (the executed notebook) and ``DIR/CHAPTER.json``:
``{"chapter", "parameters", "profile", "device", "versions", "wall_time_s", "results"}``
where ``results`` holds every value the chapter glued. Bad input (an unknown
chapter or parameter, a value of the wrong type or out of range) exits with code 2
and one line naming the parameter and what is allowed; nothing is written.
Both files appear only once the run has succeeded; a failed run leaves
``DIR/CHAPTER.failed.ipynb`` for inspection and exits with code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import __version__
from .params import PROFILES, ParameterError, check, convert


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


def chapters_dir() -> Path:
    """Where the chapter notebooks live (``$ADVNB_CHAPTERS`` overrides)."""
    env = os.environ.get("ADVNB_CHAPTERS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "book" / "chapters"


def chapter_parameters(path: Path) -> dict[str, dict]:
    """The chapter's parameters cell: name -> {"default": source text, "help": comment}."""
    import papermill as pm

    return {name: {"default": info["default"], "help": info["help"]} for name, info in pm.inspect_notebook(str(path)).items()}


def available_chapters() -> dict[str, Path]:
    """Runnable chapters: notebooks with a cell tagged ``parameters``."""
    out = {}
    for path in sorted(chapters_dir().glob("*.ipynb")):
        nb = json.loads(path.read_text())
        if any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"]):
            out[path.stem] = path
    return out


def _parse_parameters(chapter: str, path: Path, pairs: list[list[str]], profile: str | None) -> dict:
    known = chapter_parameters(path)
    params = {}
    for name, text in pairs:
        if name not in known:
            raise UsageError(f"parameter {name}: unknown for chapter {chapter}; known: {', '.join(known)}")
        params[name] = convert(name, text)
    if profile is not None:
        params["profile"] = profile
    check(params)
    return params


def _versions() -> dict[str, str]:
    import numpy
    import torch

    return {"advnb": __version__, "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}


def run(chapter: str, pairs: list[list[str]], profile: str | None, output_dir: str) -> Path:
    chapters = available_chapters()
    if chapter not in chapters:
        raise UsageError(f"chapter {chapter!r}: unknown; choose one of {', '.join(chapters)}")
    src = chapters[chapter]
    params = _parse_parameters(chapter, src, pairs, profile)

    import papermill as pm

    from .record import glued_values

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{chapter}-", dir=out))
    try:
        start = time.perf_counter()
        try:
            nb = pm.execute_notebook(
                str(src), str(tmp / f"{chapter}.ipynb"), parameters=params,
                kernel_name="python3", cwd=str(src.parent), progress_bar=True,
            )
        except Exception as e:
            failed = out / f"{chapter}.failed.ipynb"
            if (tmp / f"{chapter}.ipynb").exists():
                shutil.move(str(tmp / f"{chapter}.ipynb"), failed)
            what = f"{e.ename}: {e.evalue}" if isinstance(e, pm.PapermillExecutionError) else f"{type(e).__name__}: {e}"
            what = what.strip().splitlines()[0] if what.strip() else type(e).__name__
            raise RuntimeError(f"chapter {chapter} failed: {what} (notebook: {failed})") from None
        wall = time.perf_counter() - start
        results = glued_values(nb)
        record = {
            "chapter": chapter,
            "parameters": params,
            "profile": results.get("profile", params.get("profile")),
            "device": results.get("device"),
            "versions": _versions(),
            "wall_time_s": round(wall, 3),
            "results": results,
        }
        (tmp / f"{chapter}.json").write_text(json.dumps(record, indent=2) + "\n")
        (out / f"{chapter}.failed.ipynb").unlink(missing_ok=True)
        os.replace(tmp / f"{chapter}.ipynb", out / f"{chapter}.ipynb")
        os.replace(tmp / f"{chapter}.json", out / f"{chapter}.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / f"{chapter}.json"


def list_chapters() -> None:
    for name, path in available_chapters().items():
        params = chapter_parameters(path)
        print(name)
        for pname, info in params.items():
            print(f"    {pname} = {info['default']}" + (f"    # {info['help']}" if info["help"] else ""))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        raise UsageError(message)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="advnb", description="Run the chapters of the advnb book.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute a chapter with papermill")
    p_run.add_argument("chapter")
    p_run.add_argument("--profile", help=f"one of {', '.join(PROFILES)}")
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p_run.add_argument("--output-dir", default="runs")
    sub.add_parser("list", help="list the chapters and their parameters")
    try:
        args = parser.parse_args(argv)
        if args.command == "list":
            list_chapters()
            return 0
        path = run(args.chapter, args.parameter, args.profile, args.output_dir)
        print(f"advnb: wrote {path} and {path.with_suffix('.ipynb')}")
        return 0
    except (UsageError, ParameterError) as e:
        print(f"advnb: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"advnb: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("advnb: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
