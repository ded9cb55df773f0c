"""Executing a chapter: its parameters checked, its notebook run with papermill, its results written.

Used by ``advnb run`` (:mod:`advnb.book.cli`), ``advnb sweep`` (:mod:`advnb.book.sweep`), ``advnb bench``
and the scoreboard. Bad input raises :class:`UsageError` or :class:`advnb.base.ParameterError` (one line,
exit code 2 at the command line); a chapter that fails raises RuntimeError (exit code 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..base import available_chapters
from .params import check, convert


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


def chapter_parameters(path: Path) -> dict[str, dict]:
    """The chapter's parameters cell: name -> {"default": source text, "help": comment}."""
    import papermill as pm

    return {name: {"default": info["default"], "help": info["help"]} for name, info in pm.inspect_notebook(str(path)).items()}


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
    check_output_dir(output_dir)
    return execute(chapter, params, output_dir, progress)


def check_output_dir(output_dir: str | Path) -> None:
    """A one-line UsageError, before anything runs, when ``output_dir`` cannot be created or written."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise UsageError(f"argument --output-dir: {output_dir} cannot be written ({e.strerror or e})") from None


def remove_stale_runs(out: Path, chapter: str) -> list[Path]:
    """Remove the temporary folders ``.CHAPTER-*`` that a killed run (SIGKILL: no clean-up) left in ``out``.

    A run's folder holds the process id that made it (``pid``); only folders whose process is gone are
    removed, so a run under way in the same folder is left alone. Returns what was removed.
    """
    removed = []
    for folder in out.glob(f".{chapter}-*"):
        try:
            if _alive(int((folder / "pid").read_text())):
                continue  # that run is under way
        except (OSError, ValueError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs. A zombie does not: a killed Dask worker whose parent was killed too
    stays one where nothing reaps orphans (an init that does not, in a container), yet answers signal 0."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # Linux: the state follows the command's closing parenthesis in /proc/PID/stat
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all there is


def _quiet_leftover_tasks() -> None:
    """Silence asyncio's report of the cell task that an interrupt left unfinished.

    That task ends in nbclient's ``DeadKernelError`` (the kernel is shut down on the way out), and asyncio
    logs "Task exception was never retrieved" with a traceback whenever the task is collected, which can be
    after the caller's one-line "interrupted" message. The interrupt is the whole story: the task is
    collected here, with the report silenced."""
    import gc
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    gc.collect()


def execute(chapter: str, params: dict, output_dir: str | Path, progress: bool = True,
            where: dict | None = None) -> Path:
    """Execute a chapter with checked ``params``; write DIR/CHAPTER.ipynb and DIR/CHAPTER.json.

    Both files appear together, once the run has succeeded; returns the JSON's path. ``where`` (the
    executor, worker and host of a sweep's or replication's run, :mod:`advnb.book.cluster`) goes into
    the record; without it the record says the run was in this process on this host.
    """
    import papermill as pm

    from .record import code_fingerprint, glued_values

    src = available_chapters()[chapter]
    code = code_fingerprint(src)  # of the code this run executes: a resumed sweep re-runs it once the code changed
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_runs(out, chapter)
    tmp = Path(tempfile.mkdtemp(prefix=f".{chapter}-", dir=out))
    (tmp / "pid").write_text(str(os.getpid()))
    try:
        start = time.perf_counter()
        try:
            nb = pm.execute_notebook(
                str(src), str(tmp / f"{chapter}.ipynb"), parameters=params,
                kernel_name="python3", cwd=str(src.parent), progress_bar=progress,
            )
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the caller says so in one line; asyncio must not add to it
            _quiet_leftover_tasks()
            raise
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
            "code": code,
            "profile": results.get("profile", params.get("profile")),
            "device": results.get("device"),
            "versions": _versions(),
            "wall_time_s": round(wall, 3),
            "where": where or {"executor": "in-process", "worker": None, "host": socket.gethostname(), "pid": os.getpid()},
            "results": results,
        }
        (tmp / f"{chapter}.json").write_text(json.dumps(record, indent=2) + "\n")
        (out / f"{chapter}.failed.ipynb").unlink(missing_ok=True)
        os.replace(tmp / f"{chapter}.ipynb", out / f"{chapter}.ipynb")
        os.replace(tmp / f"{chapter}.json", out / f"{chapter}.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / f"{chapter}.json"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        raise UsageError(message)


