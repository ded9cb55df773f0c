"""What every layer may need and that needs nothing of advnb: the one error type, and the files.

- :class:`ParameterError`: a value outside what is allowed (a one-line message naming the
  parameter and what is allowed), raised by the data loaders, the profiles and the checks of
  :mod:`advnb.book.params` alike.
- :func:`cache_dir`: the trained-network cache and the build records live in ``$ADVNB_CACHE``
  (default ``~/.cache/advnb``).
- :func:`chapters_dir`, :func:`results_dir`, :func:`available_chapters`: the notebooks of the book.
- :func:`atomic_write`: every checkpoint, record, JSON, CSV and plot is written through it.

This module imports nothing else of ``advnb``: it is the bottom layer of
base -> core -> nets -> chapters -> book.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class ParameterError(ValueError):
    """A parameter value outside what is allowed (one-line message)."""


def cache_dir() -> Path:
    return Path(os.environ.get("ADVNB_CACHE", Path.home() / ".cache" / "advnb"))


def atomic_write(path: Path, write) -> None:
    """Write ``path`` in one step: ``write(tmp)`` fills a temporary file beside it, then it is moved
    onto ``path`` (``os.replace``). A reader sees the old file or the new one, never half of one;
    an interrupted write leaves no file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as an ordinary file, not mkstemp's owner-only 0600 (caches may be shared)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def chapters_dir() -> Path:
    """Where the chapter notebooks live (``$ADVNB_CHAPTERS`` overrides)."""
    env = os.environ.get("ADVNB_CHAPTERS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "book" / "chapters"


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
