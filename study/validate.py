"""One-line checks of config values, each a ConfigError naming the value and what is allowed."""

from __future__ import annotations

from typing import Any

from study.errors import ConfigError


def is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name}={value!r} is invalid: must be an integer >= {minimum}")


def check_unit(name: str, value: Any) -> None:
    if not (is_num(value) and 0 <= value < 1):
        raise ConfigError(f"{name}={value!r} is invalid: must be a number with 0 <= {name} < 1")


def check_choice(name: str, value: Any, allowed: tuple) -> None:
    # True == 1, but a bool is never a valid choice (e.g. head_design=True).
    if value not in allowed or isinstance(value, bool):
        choices = " | ".join(str(a) if a != "" else "''" for a in allowed)
        raise ConfigError(f"{name}={value!r} is invalid: must be one of {choices}")


def check_positive(name: str, value: Any) -> None:
    if value is not None and not (is_num(value) and value > 0):
        raise ConfigError(f"{name}={value!r} is invalid: must be a number > 0")
