"""The command line: ``advnb run``, ``advnb sweep``, ``advnb list`` and ``advnb bench``.

    advnb run CHAPTER [--profile P] [-p NAME VALUE]... [--output-dir DIR]
    advnb sweep CHAPTER -p NAME V1,V2,... [-p ...] [--profile P] [--output-dir DIR]   (advnb.sweep)
    advnb list
    advnb bench [--json] ...                                                        (advnb.bench)

``run`` executes the chapter's notebook with papermill and writes
``DIR/CHAPTER.ipynb`` (the executed notebook) and ``DIR/CHAPTER.json``:
``{"chapter", "parameters", "profile", "device", "versions", "wall_time_s", "results"}``
where ``results`` holds every value the chapter glued. Bad input (an unknown
chapter or parameter, a value of the wrong type or out of range) exits with code 2
and one line naming the parameter and what is allowed; nothing is written.
Both files appear only once the run has succeeded; a failed run leaves
``DIR/CHAPTER.failed.ipynb`` for inspection and exits with code 1. Ctrl-C or SIGTERM
removes the run's temporary folder and exits with code 130.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
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


def results_dir() -> Path:
    """The pages that gather the chapters' results (``summary``, ``performance``): beside ``chapters``."""
    return chapters_dir().parent / "results"


def available_chapters() -> dict[str, Path]:
    """Runnable notebooks, the chapters then the results pages: those with a cell tagged ``parameters``."""
    out = {}
    for path in [*sorted(chapters_dir().glob("*.ipynb")), *sorted(results_dir().glob("*.ipynb"))]:
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


def run(chapter: str, pairs: list[list[str]], profile: str | None, output_dir: str, progress: bool = True) -> Path:
    """``advnb run``: check the chapter and its ``-p NAME VALUE`` pairs, then :func:`execute` it."""
    chapters = available_chapters()
    if chapter not in chapters:
        raise UsageError(f"chapter {chapter!r}: unknown; choose one of {', '.join(chapters)}")
    params = _parse_parameters(chapter, chapters[chapter], pairs, profile)
    return execute(chapter, params, output_dir, progress)


def execute(chapter: str, params: dict, output_dir: str | Path, progress: bool = True) -> Path:
    """Execute a chapter with checked ``params``; write DIR/CHAPTER.ipynb and DIR/CHAPTER.json.

    Both files appear together, once the run has succeeded; returns the JSON's path.
    """
    import papermill as pm

    from .record import glued_values

    src = available_chapters()[chapter]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{chapter}-", dir=out))
    try:
        start = time.perf_counter()
        try:
            nb = pm.execute_notebook(
                str(src), str(tmp / f"{chapter}.ipynb"), parameters=params,
                kernel_name="python3", cwd=str(src.parent), progress_bar=progress,
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


def _take_parameters(argv: list[str]) -> tuple[list[str], list[list[str]]]:
    """Take every ``-p NAME VALUE`` out of ``argv`` before argparse sees it, so that a value that
    looks like an option (``-p beta -1e-3``, ``-p beta -inf``) reaches the parameter checks."""
    rest, pairs, i = [], [], 0
    while i < len(argv):
        if argv[i] in ("-p", "--parameter"):
            if len(argv) - i < 3:
                raise UsageError(f"argument {argv[i]}: expected two words, NAME VALUE")
            pairs.append([argv[i + 1], argv[i + 2]])
            i += 3
        else:
            rest.append(argv[i])
            i += 1
    return rest, pairs


def _terminate(signum, frame):  # SIGTERM (a job killed, CI cancelled): unwind like Ctrl-C
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark has its own options (advnb.bench)
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = _Parser(prog="advnb", description="Run the chapters of the advnb book.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute a chapter with papermill")
    p_run.add_argument("chapter")
    p_run.add_argument("--profile", help=f"one of {', '.join(PROFILES)}")
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p_run.add_argument("--output-dir", default="runs")
    p_sweep = sub.add_parser("sweep", help="run a chapter at every combination of parameter values")
    p_sweep.add_argument("chapter")
    p_sweep.add_argument("--profile", help=f"one of {', '.join(PROFILES)}")
    p_sweep.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "V1,V2,..."))
    p_sweep.add_argument("--output-dir", default="sweeps")
    sub.add_parser("list", help="list the chapters and their parameters")
    sub.add_parser("bench", help="measure speed-ups and chapter times (advnb bench --help)")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        rest, pairs = _take_parameters(argv)
        args = parser.parse_args(rest)
        if pairs and args.command not in ("run", "sweep"):
            raise UsageError(f"argument -p: only run and sweep take parameters (got {args.command})")
        if args.command in ("run", "sweep"):
            args.parameter = pairs
        if args.command == "list":
            list_chapters()
            return 0
        if args.command == "sweep":
            from .sweep import sweep

            res = sweep(args.chapter, args.parameter, args.profile, args.output_dir)
            print(f"advnb: {len(res['ran'])} run(s) executed, {len(res['skipped'])} already complete (skipped), "
                  f"{len(res['failed'])} failed" + (f": {', '.join(res['failed'])}" if res["failed"] else ""))
            if res["csv"]:
                print(f"advnb: wrote {res['csv']} and {res['plot']}")
            return 1 if res["failed"] else 0
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
        print("advnb: interrupted; runs that had not finished left no files (a sweep resumes where it stopped)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m advnb.cli: run the imported module, so its classes are advnb.cli's
    from advnb.cli import main as _main

    sys.exit(_main())
