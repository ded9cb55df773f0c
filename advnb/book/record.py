"""``glue`` for the book and for ``advnb run``.

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
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import numbers
import time
from pathlib import Path
from typing import Any

from ..base import atomic_write

GLUE_PREFIX = "application/papermill.record/"


# nbformat accepts any JSON value only under mime types matching application/(...+)json
JSON_MIME = GLUE_PREFIX + "application/vnd.advnb+json"


# The chapter run under way in this kernel: its name, parameters, start time and glued values.
_RUN: dict[str, Any] = {"chapter": None, "parameters": None, "start": None, "values": {}}


def jsonable(value: Any) -> Any:
    """A JSON form of numbers, strings, arrays, tensors, DataFrames (list of records)."""
    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # pandas DataFrame
        return [{str(k): jsonable(v) for k, v in row.items()} for row in value.to_dict(orient="records")]
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue ``value`` under ``name`` for the book, with its JSON form for ``advnb run``."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        value = value.item()  # so that {glue:text} formats a plain float, not np.float64(...)
    bundle, metadata = format_display_data(value)
    bundle = {GLUE_PREFIX + k: v for k, v in bundle.items()}
    bundle[JSON_MIME] = {"value": jsonable(value)}
    _RUN["values"][name] = bundle[JSON_MIME]["value"]
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    ipy_display(bundle, raw=True, metadata=metadata)
    if display:
        ipy_display(value)


def glued_values(notebook: dict) -> dict[str, Any]:
    """Every value glued with :func:`glue` in an executed notebook (nbformat dict)."""
    out: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            meta = output.get("metadata", {}).get("scrapbook")
            data = output.get("data", {})
            if meta and JSON_MIME in data:
                out[meta["name"]] = data[JSON_MIME]["value"]
    return out


def records_dir() -> Path:
    """Where build records live: ``$ADVNB_CACHE/records`` (beside the trained networks)."""
    from ..base import cache_dir

    return cache_dir() / "records"


def code_fingerprint(notebook: Path) -> str:
    """SHA-256 of the notebook's code cells and of every ``advnb`` source file."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    nb = json.loads(Path(notebook).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = cell["source"]
            h.update(("".join(src) if isinstance(src, list) else src).encode() + b"\0")
    return h.hexdigest()


def _resolved(parameters: dict[str, Any]) -> tuple[str, str | None]:
    """The concrete profile and device a run's parameters ask for (device None: the chapter has none)."""
    from ..nets.profiles import resolve_device, resolve_name

    device = str(resolve_device(parameters["device"])) if "device" in parameters else None
    return resolve_name(parameters.get("profile")), device


def record_key(chapter: str, parameters: dict[str, Any], notebook: Path) -> str:
    """The key of a run: code fingerprint, resolved profile and device, other parameters."""
    profile, device = _resolved(parameters)
    rest = {k: v for k, v in parameters.items() if k not in ("profile", "device")}
    blob = json.dumps({
        "chapter": chapter,
        "code": code_fingerprint(notebook),
        "profile": profile,
        "device": device,
        "parameters": jsonable(rest),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def begin_record(chapter: str, parameters: dict[str, Any]) -> None:
    """Start the record of this chapter run (called by every chapter's validation cell)."""
    _RUN.update(chapter=chapter, parameters=dict(parameters), start=time.perf_counter(), values={})


def save_record() -> Path:
    """Write the record of the chapter run begun by :func:`begin_record` (its last cell calls this).

    ``{"chapter", "key", "profile", "device", "parameters", "elapsed_s", "written", "results"}``,
    where ``elapsed_s`` runs from the validation cell to this call and ``results`` maps every
    name glued in the run to its JSON value. The write is atomic.
    """
    from ..base import available_chapters

    if _RUN["chapter"] is None:
        raise RuntimeError("save_record() before begin_record(): the chapter's validation cell did not run")
    chapter, params = _RUN["chapter"], _RUN["parameters"]
    key = record_key(chapter, params, available_chapters()[chapter])
    profile, device = _resolved(params)
    record = {
        "chapter": chapter,
        "key": key,
        "profile": profile,
        "device": device,
        "parameters": jsonable(params),
        "elapsed_s": round(time.perf_counter() - _RUN["start"], 3),
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "results": dict(_RUN["values"]),
    }
    path = records_dir() / f"{chapter}-{key}.json"
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
    return path


def default_parameters(notebook: Path, profile: str | None = None) -> dict[str, Any]:
    """The values the notebook's parameters cell gives (``profile`` overridden when given).

    The cell is executed in a fresh namespace, as the kernel would (it reads
    ``$ADVNB_PROFILE``); only the names it assigns at top level are returned.
    """
    from .params import parameter_names, parameters_cell

    src, names = parameters_cell(notebook), parameter_names(notebook)
    namespace: dict[str, Any] = {}
    exec(compile(src, str(notebook), "exec"), namespace)  # the chapter's own parameters cell
    values = {name: namespace[name] for name in names}
    if profile is not None:
        values["profile"] = profile
    return values


def find_record(chapter: str, profile: str | None = None) -> dict[str, Any] | None:
    """This code's record of ``chapter`` at its default parameters and ``profile``, or None.

    A record that cannot be read is treated as missing (and the chapter is re-run by the caller).
    """
    from ..base import available_chapters

    notebook = available_chapters()[chapter]
    key = record_key(chapter, default_parameters(notebook, profile), notebook)
    path = records_dir() / f"{chapter}-{key}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None
