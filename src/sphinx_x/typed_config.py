"""Dataclass configs that check and coerce their fields on construction.

A section is a dataclass whose `__post_init__` calls `check_fields(self, "section")`. Each field is
coerced to its annotated type (`lr: float` accepts `2e-5` and the string "2e-5" YAML gives for it,
`max_steps: int` accepts `1e3`), and refused with an error naming `section.field`, the value and what
was expected. Constraints sit in the field's metadata: `field(default=..., metadata=positive)`.

    @dataclass
    class OptimConfig:
        lr: float = field(default=2e-5, metadata=positive)

        def __post_init__(self):
            check_fields(self, "optim")
"""

from __future__ import annotations

import dataclasses
import types
import typing
import warnings
from collections.abc import Callable


class ConfigError(ValueError):
    """A config value that is not what its field expects; the message names `section.field`."""


class ConfigWarning(UserWarning):
    """A config value that will be ignored, or that changes how another is read."""


Check = Callable[[object], str | None]  # the problem with a (coerced) value, or None


def bounded(low: float | None = None, high: float | None = None, low_open: bool = False) -> dict:
    """Field metadata: `low <= value <= high` (`low < value` when `low_open`)."""

    def check(value) -> str | None:
        if low is not None and (value <= low if low_open else value < low):
            return f"must be {'>' if low_open else '>='} {low}"
        if high is not None and value > high:
            return f"must be <= {high}"
        return None

    return {"check": check}


def one_of(*choices: str) -> dict:
    return {"check": lambda value: None if value in choices else f"must be one of {', '.join(choices)}"}


positive = bounded(0, low_open=True)
non_negative = bounded(0)


def check_fields(section, name: str) -> None:
    """Coerce every field of the dataclass instance `section` in place; `ConfigError` on nonsense."""
    hints = typing.get_type_hints(type(section))
    for spec in dataclasses.fields(section):
        where = f"{name}.{spec.name}"
        value = coerce(getattr(section, spec.name), hints[spec.name], where)
        check = spec.metadata.get("check")
        if value is not None and check is not None and (problem := check(value)):
            raise ConfigError(f"{where}: {problem}, got {value!r}")
        setattr(section, spec.name, value)


def coerce(value, annotation, where: str):
    """`value` as the annotated type (int, float, bool, str, X | None, list[X], tuple[X, ...])."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return coerce(value, inner, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args[-1] is not Ellipsis and len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        items = [coerce(item, args[0] if origin is list or args[-1] is Ellipsis else args[i], f"{where}[{i}]")
                 for i, item in enumerate(value)]  # fmt: skip
        return origin(items)
    return SCALARS.get(annotation, lambda v, w: v)(value, where)


def as_float(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None


def as_int(value, where: str) -> int:
    number = as_float(value, where)
    if not number.is_integer():
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    return int(number)


def as_bool(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def as_str(value, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


SCALARS = {float: as_float, int: as_int, bool: as_bool, str: as_str}


def warn_ignored(where: str, why: str) -> None:
    warnings.warn(f"{where} is ignored: {why}", ConfigWarning, stacklevel=3)
