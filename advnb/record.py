"""``glue`` for the book and for ``advnb run``.

``glue(name, value)`` does what ``myst_nb.glue`` does (the prose can paste the value
with ``{glue:text}`name``` and tables with ``{glue:}`name```) and also stores a
JSON form of the value in the same notebook output, under the mime type
``application/papermill.record/application/vnd.advnb+json``. ``advnb run`` reads those
back from the executed notebook (:func:`glued_values`), so the executed notebook
is the one source of every recorded number.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

GLUE_PREFIX = "application/papermill.record/"
# nbformat accepts any JSON value only under mime types matching application/(...+)json
JSON_MIME = GLUE_PREFIX + "application/vnd.advnb+json"


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
