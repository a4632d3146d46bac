"""`--set key=value` overrides, parsed into the types of TrialConfig's fields."""

from __future__ import annotations

import types
import typing
from typing import Any

from study.config import TrialConfig, field_names
from study.errors import ConfigError


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """Parse `key=value` strings (from `--set`) into typed values for TrialConfig."""
    hints = typing.get_type_hints(TrialConfig)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r} is invalid: expected key=value")
        if key not in hints:
            raise ConfigError(f"unknown --set key {key!r}; known keys: {', '.join(field_names())}")
        out[key] = parse_value(key, hints[key], text.strip())
    return out


def parse_value(key: str, hint: Any, text: str) -> Any:
    """Convert `text` to the field's type, or raise a one-line ConfigError."""
    args = typing.get_args(hint)
    is_optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if is_optional:
        if text.lower() in ("none", "null", ""):
            return None
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return tuple(p for p in text.replace("-", ",").split(",") if p)
    try:
        if hint is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        kind = {int: "an integer", float: "a number", bool: "true or false"}[hint]
        raise ConfigError(f"{key}={text!r} is invalid: must be {kind}") from None
    return text
