"""One-line checks of config values, each a ConfigError naming the value and what is allowed."""

from __future__ import annotations

from typing import Any

from model.errors import ModelError
from model.peft_configs import INITS, OPTIONS, check_size
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


# TrialConfig's name of each AdapterSpec option in model.peft_configs.OPTIONS, and its default.
_OPTION_FIELDS = {
    "alpha": ("alpha", None),
    "dropout": ("lora_dropout", 0.0),
    "bias": ("bias", "none"),
    "rslora": ("rslora", False),
    "init": ("init", "default"),
    "orthogonal": ("orthogonal", False),
    "target_r": ("target_r", 0),
}


def check_method_options(config: Any) -> None:  # a TrialConfig
    """Options a method does not take keep their defaults (model.peft_configs.OPTIONS); the
    size parameter follows its own rules (check_size, as a ConfigError)."""
    check_choice("init", config.init, INITS)
    check_int("target_r", config.target_r, 0)
    if not (is_num(config.loraplus_lr_ratio) and config.loraplus_lr_ratio >= 0):
        raise ConfigError(f"loraplus_lr_ratio={config.loraplus_lr_ratio!r} must be >= 0")
    if config.method == "full":
        return
    allowed = OPTIONS[config.method]
    for option, (name, default) in _OPTION_FIELDS.items():
        if option not in allowed and getattr(config, name) != default:
            takes = ", ".join(_OPTION_FIELDS[o][0] for o in allowed) or "none"
            raise ConfigError(
                f"{name}={getattr(config, name)!r} is not supported by method={config.method} "
                f"(its options: {takes})"
            )
    if config.loraplus_lr_ratio and config.method not in ("lora", "dora"):
        raise ConfigError(f"loraplus_lr_ratio needs method lora or dora (got {config.method})")
    try:  # the size rules live with the peft configs
        check_size(config.method, config.r, config.adalora_target_r)
    except ModelError as err:
        raise ConfigError(str(err)) from None
