"""[from params]
Validation of chapter parameters.

Every chapter shares one vocabulary of parameter names, so one table of rules
serves the notebooks' validation cells and ``advnb run`` alike. A bad value
raises :class:`ParameterError` whose message is a single line naming the
parameter and what is allowed.


[from train]
Training, vanilla or adversarial, behind an on-disk cache.

Vanilla training minimises the cross-entropy with Adam. Adversarial training
(Madry et al. 2018) replaces each batch by its PGD adversarial examples (``adv``
is ``"linf"`` or ``"l2"``): ``adv_steps`` steps of size 2.5 eps / adv_steps from a
random start in the eps-ball, clipped to [0, 1], found with the network in eval mode.

Chapters share trained networks. A cache entry is keyed by the full training
configuration (architecture and its sizes, data source, sample count, epochs,
optimiser settings, seed, and the advnb version): a SHA-256 of its JSON.
Writes are atomic (a temporary file in the cache folder, then ``os.replace``), so
two runs sharing the cache never see a half-written file. Entries load with
``torch.load(..., weights_only=True)``; an unreadable, truncated or mismatched
entry is retrained with a warning, never trusted.

The cache lives in ``$ADVNB_CACHE`` (default ``~/.cache/advnb``).


[from record]
``glue`` for the book and for ``advnb run``.

``glue(name, value)`` does what ``myst_nb.glue`` does (the prose can paste the value
with ``{glue:text}`name``` and tables with ``{glue:}`name```) and also stores a
JSON form of the value in the same notebook output, under the mime type
``application/papermill.record/application/vnd.advnb+json``. ``advnb run`` reads those
back from the executed notebook (:func:`glued_values`), so the executed notebook
is the one source of every recorded number.

**Build records.** However a chapter is executed (the book build, nbval, papermill,
``advnb run``), its validation cell calls :func:`begin_record` with the chapter's name and
parameters, and its last cell, once every claim has held, calls :func:`save_record`. That
writes ``$ADVNB_CACHE/records/CHAPTER-KEY.json`` with every value glued in the run. KEY
hashes what decides the numbers: the chapter notebook's code, the ``advnb`` sources, the
resolved profile and device, and the other parameters. The ``summary`` chapter reads the
records of the default parameters through :func:`find_record`, so it reports the numbers
of this very code, never those of an older build or of a run with other parameters.


[from cli]
The command line: ``advnb run``, ``advnb sweep``, ``advnb list`` and ``advnb bench``.

    advnb run CHAPTER [--profile P] [-p NAME VALUE]... [--output-dir DIR]
    advnb sweep CHAPTER -p NAME V1,V2,... [-p ...] [--profile P] [--output-dir DIR]   (advnb.book.sweep)
    advnb list
    advnb bench [--json] ...                                                        (advnb.book.bench)

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
