"""Validation of chapter parameters.

Every chapter shares one vocabulary of parameter names, so one table of rules
serves the notebooks' validation cells and ``advnb run`` alike. A bad value
raises :class:`ParameterError` whose message is a single line naming the
parameter and what is allowed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

PROFILES = ("smoke", "quick", "paper", "auto")
DEVICES = ("auto", "cpu", "cuda")


class ParameterError(ValueError):
    """A parameter value outside what is allowed (one-line message)."""


@dataclass(frozen=True)
class Rule:
    kind: type  # int, float, str or list (a list of floats)
    allowed: str  # human text: what is allowed
    check: Any = None  # predicate on the converted value (None: any value of `kind`)
    nullable: bool = False  # None means "the profile's value"


def _positive_floats(v: list) -> bool:
    return len(v) > 0 and all(math.isfinite(b) and b > 0 for b in v)


RULES: dict[str, Rule] = {
    "profile": Rule(str, "one of " + ", ".join(PROFILES), lambda v: v in PROFILES),
    "device": Rule(str, "one of " + ", ".join(DEVICES), lambda v: v in DEVICES),
    "seed": Rule(int, "an integer >= 0", lambda v: v >= 0),
    "beta": Rule(float, "a finite number > 0", lambda v: math.isfinite(v) and v > 0),
    "betas": Rule(list, "a non-empty comma-separated list of numbers > 0", _positive_floats, True),
    "m": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "hidden": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "n_eval": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "n_dense": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "epochs": Rule(int, "an integer >= 1", lambda v: v >= 1, True),
    "data_root": Rule(str, "an existing directory, or empty for the embedded digits", lambda v: v == "" or os.path.isdir(v)),
}


def convert(name: str, text: str) -> Any:
    """Convert a command-line string to the type the rule for ``name`` expects."""
    rule = RULES.get(name)
    if rule is None:
        return text
    if rule.nullable and text.strip().lower() in ("none", "null", ""):
        return None
    try:
        if rule.kind is list:
            return [float(t) for t in text.split(",") if t.strip()]
        if rule.kind is int:
            f = float(text)
            if not f.is_integer():
                raise ValueError
            return int(f)
        return rule.kind(text)
    except ValueError:
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
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(b, (int, float)) and not isinstance(b, bool) for b in value
            )
        if not ok or (rule.check is not None and not rule.check(value)):
            raise ParameterError(f"parameter {name}: must be {rule.allowed} (got {value!r})")
    return values
