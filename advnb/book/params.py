"""Validation of chapter parameters.

Each chapter's parameters are defined once, in its notebook's parameters cell (the cell tagged
``parameters``: names, defaults and a comment each). This module holds only the *rules* for those
names (type, range, allowed values): one vocabulary shared by every chapter, so one table serves
the notebooks' validation cells (:func:`check_chapter`, which reads the names from the cell) and
``advnb run`` alike. A bad value
raises :class:`ParameterError` whose message is a single line naming the
parameter and what is allowed.
"""

from __future__ import annotations

import ast
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..base import ParameterError, available_chapters
from ..nets.profiles import DEVICES, PROFILES


@dataclass(frozen=True)
class Rule:
    kind: type  # int, float, str, bool or list
    allowed: str  # human text: what is allowed
    check: Any = None  # predicate on the converted value (None: any value of `kind`)
    nullable: bool = False  # None means "the profile's value"
    item: type = float  # for lists: the type of each entry (float, int or str)


def _positive_floats(v: list) -> bool:
    return len(v) > 0 and all(math.isfinite(b) and b > 0 for b in v)


def _architectures(v: list) -> bool:
    from ..nets.models import ARCHITECTURES

    return len(v) > 0 and all(a in ARCHITECTURES for a in v)


_positive = lambda v: math.isfinite(v) and v > 0  # noqa: E731


RULES: dict[str, Rule] = {
    "profile": Rule(str, "one of " + ", ".join(PROFILES), lambda v: v in PROFILES),
    "device": Rule(str, "one of " + ", ".join(DEVICES), lambda v: v in DEVICES),
    "seed": Rule(int, "an integer >= 0", lambda v: v >= 0),
    "beta": Rule(float, "a finite number > 0", lambda v: math.isfinite(v) and v > 0),
    "table_beta": Rule(float, "a finite number > 0", lambda v: math.isfinite(v) and v > 0),
    "betas": Rule(list, "a non-empty comma-separated list of numbers > 0", _positive_floats, True),
    "m": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "hidden": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "n_eval": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "n_dense": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "epochs": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "alpha": Rule(float, "a finite number > 0", _positive, True),
    "eps": Rule(float, "a finite number > 0", _positive, True),
    "ms": Rule(list, "a non-empty comma-separated list of integers >= 1", lambda v: len(v) > 0 and all(k >= 1 for k in v), True, int),
    "archs": Rule(list, "a non-empty comma-separated list of architectures (see advnb.nets.models.ARCHITECTURES)", _architectures, True, str),
    "arch": Rule(str, "an architecture of advnb.nets.models.ARCHITECTURES", lambda v: _architectures([v])),
    # -- rules added for the growth and gating chapters --
    "progress_from": Rule(float, "a number in [0, 1) (the relative progress m/m_success where fits start)", lambda v: 0 <= v < 1),
    "fit_from": Rule(int, "an integer >= 1 (the smallest step count m of the slope fits)", lambda v: v >= 1),
    "min_steps": Rule(int, "an integer >= 2 (fewest steps to success a sample needs to be kept)", lambda v: v >= 2),
    "checkpoints": Rule(int, "an integer >= 1 (steps of the attack where the Jacobian is re-taken)", lambda v: v >= 1),
    # -- rules added for the lp_attacks chapter --
    "eps_l2": Rule(float, "a finite number > 0 (the l2 budget)", _positive),
    "eps_linf": Rule(float, "a finite number > 0 (the l-inf budget)", _positive),
    "step_ratio": Rule(float, "a finite number > 0 (PGD step alpha = step_ratio * eps / m)", _positive),
    "eps_scales": Rule(list, "a non-empty comma-separated list of numbers > 0 (multiples of the budgets)", _positive_floats, True),
    # -- rules added for the theorem3 and theorem4 chapters --
    "eta": Rule(float, "a finite number > 0 (the learning rate of the training step)", _positive),
    # -- rules added for the lemma1 chapter --
    "yz_max": Rule(float, "a finite number > 0 (half-width of the grid of margins y z)", _positive),
    "n_grid": Rule(int, "an integer >= 3 (points of the grid of margins)", lambda v: v >= 3, True),
    "n_logits": Rule(int, "an integer >= 1 (random draws per class count and scale)", lambda v: v >= 1, True),
    "classes": Rule(list, "a non-empty comma-separated list of integers >= 2 (class counts)", lambda v: len(v) > 0 and all(k >= 2 for k in v), False, int),
    "logit_scales": Rule(list, "a non-empty comma-separated list of numbers > 0 (scales of the random logits)", _positive_floats),
    "symbolic_classes": Rule(list, "a non-empty comma-separated list of integers from 2 to 6 (class counts checked with sympy)", lambda v: len(v) > 0 and all(2 <= k <= 6 for k in v), False, int),
    # -- rules added for the theorem6 chapter --
    "lr": Rule(float, "a finite number > 0 (the learning rate of plain gradient descent)", _positive),
    "steps": Rule(int, "an integer >= 1 (gradient descent steps)", lambda v: v >= 1, True),
    "n_train": Rule(int, "an integer >= 1 (training digits)", lambda v: v >= 1, True),
    "record_every": Rule(int, "an integer >= 1 (steps between two Hessian eigenvalue records)", lambda v: v >= 1, True),
    "power_iters": Rule(int, "an integer >= 1 (cap on the power iterations per eigenvalue)", lambda v: v >= 1),
    "power_tol": Rule(float, "a number in (0, 1) (relative residual at which power iteration stops)", lambda v: 0 < v < 1),
    # -- rules added for the imbalance and theorem5 chapters --
    "a0": Rule(float, "a finite number > 0 (largest clean-input strength beta H_z |g_x|^2 over the attacked digits, which fixes the beta of each network)", _positive),
    "a0_grid": Rule(list, "a non-empty comma-separated list of numbers > 0 (strengths a0 of the robustness table)", _positive_floats, True),
    "factors": Rule(list, "a non-empty comma-separated list of numbers > 0 (lengths c as multiples of the length of the perturbation)", _positive_floats, True),
    "robust_archs": Rule(list, "a non-empty comma-separated list of architectures (see advnb.nets.models.ARCHITECTURES)", _architectures, True, str),
    # -- rules added for the summary page --
    "run_missing": Rule(bool, "true or false (run a chapter whose record of this build is missing)"),
    "data_root": Rule(str, "an existing directory, or empty for the embedded digits", lambda v: v == "" or os.path.isdir(v)),
    "download": Rule(bool, "true or false (fetch the data set into data_root; nothing is downloaded otherwise)"),
    "dataset": Rule(str, "one of mnist, cifar10", lambda v: v in ("mnist", "cifar10")),
    # -- rule added for advnb bench and the performance page --
    "repeat": Rule(int, "an integer >= 1 (timed runs per measurement, after one warm-up)", lambda v: v >= 1),
}


def convert_int(text: str) -> int:
    f = float(text)
    if not f.is_integer():
        raise ValueError
    return int(f)


def convert(name: str, text: str) -> Any:
    """Convert a command-line string to the type the rule for ``name`` expects."""
    rule = RULES.get(name)
    if rule is None:
        return text
    if rule.nullable and text.strip().lower() in ("none", "null", ""):
        return None
    try:
        if rule.kind is list:
            items = [t.strip() for t in text.split(",") if t.strip()]
            if rule.item is int:
                return [convert_int(t) for t in items]
            return [rule.item(t) for t in items]
        if rule.kind is int:
            return convert_int(text)
        if rule.kind is bool:
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[text.strip().lower()]
        return rule.kind(text)
    except (ValueError, KeyError):
        raise ParameterError(f"parameter {name}: must be {rule.allowed} (got {text!r})") from None


def check(values: dict[str, Any]) -> dict[str, Any]:
    """Check every value against its rule; return ``values`` unchanged if all pass.

    Unknown names are not this function's business (the CLI checks names against
    the chapter's parameters cell); names without a rule pass through.
    """
    for name, value in values.items():
        rule = RULES.get(name)
        if rule is None or (value is None and rule.nullable):
            continue
        ok = isinstance(value, rule.kind) and not (rule.kind is int and isinstance(value, bool))
        if rule.kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if rule.kind is list:
            accepted = {float: (int, float), int: (int,), str: (str,)}[rule.item]
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(b, accepted) and not isinstance(b, bool) for b in value
            )
        if not ok or (rule.check is not None and not rule.check(value)):
            raise ParameterError(f"parameter {name}: must be {rule.allowed} (got {value!r})")
    if values.get("device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ParameterError("parameter device: cuda was asked for but this machine has no CUDA device "
                                 "(use auto or cpu)")
    if values.get("dataset") == "cifar10" and not values.get("data_root"):
        raise ParameterError("parameter data_root: dataset cifar10 needs a folder holding cifar-10-batches-bin "
                             "(add -p download true to fetch it there)")
    return values


def parameters_cell(notebook: Path) -> str:
    """The source of the notebook's cell tagged ``parameters``."""
    nb = json.loads(Path(notebook).read_text())
    cell = next((c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise ValueError(f"{notebook} has no cell tagged 'parameters'")
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def parameter_names(notebook: Path) -> list[str]:
    """The names the parameters cell assigns at top level, in the cell's order."""
    return [t.id for node in ast.parse(parameters_cell(notebook)).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def check_chapter(chapter: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``chapter``'s parameters, read from ``namespace`` (the kernel's ``globals()``), checked.

    The names come from the chapter's own parameters cell, so a parameter is written once, there;
    papermill's injected cell has already replaced the defaults in ``namespace``. Returns
    {name: value} in the cell's order; raises :class:`ParameterError` on the first bad value.
    """
    chapters = available_chapters()
    if chapter not in chapters:
        raise ParameterError(f"chapter {chapter!r}: unknown; choose one of {', '.join(chapters)}")
    return check({name: namespace[name] for name in parameter_names(chapters[chapter])})
