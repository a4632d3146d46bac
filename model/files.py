"""Reading back what a run saved: safetensors files and peft adapter folders. A file that is
missing, torn (a full disk, an interrupted copy) or not what it should be is a ModelError
naming it, which the CLI prints as one line with exit code 2, never a library's traceback."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.errors import ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn

RESTORE = "restore it from a copy, or train that run again"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")  # peft's save_pretrained


def damaged(path: str | Path, why: str) -> ModelError:
    return ModelError(f"{path} is damaged ({why}); {RESTORE}")


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, on the CPU."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is missing; {RESTORE}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise damaged(path, _first_line(err)) from None


def check_tensor_file(path: str | Path) -> None:
    """A ModelError unless the safetensors file is there and its header reads."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is missing; {RESTORE}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            fh.keys()
    except (SafetensorError, OSError, ValueError) as err:
        raise damaged(path, _first_line(err)) from None


def load_state(module: nn.Module, path: str | Path) -> None:
    """module.load_state_dict from a safetensors file, every key and shape as saved."""
    state = load_tensors(path)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:  # missing or unexpected keys, other shapes
        raise damaged(path, f"its tensors do not fit: {_first_line(err)}") from None


def check_adapter_folder(folder: str | Path) -> dict[str, Any]:
    """The adapter_config.json of a peft adapter folder whose two files are whole: the config
    parses and the weights' safetensors header reads (peft would fail deep inside otherwise)."""
    folder = Path(folder)
    for name in ADAPTER_FILES:
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name} is missing; {RESTORE}")
    config_path = folder / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise damaged(config_path, f"not valid JSON: {_first_line(err)}") from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise damaged(config_path, "not a peft adapter config: no peft_type")
    check_tensor_file(folder / "adapter_model.safetensors")
    return config


def load_peft_adapter(base: nn.Module, folder: str | Path) -> nn.Module:
    """PeftModel.from_pretrained(base, folder) of a checked folder; a folder whose tensors do
    not fit the base model (another model, a hand-edited config) is one ModelError too."""
    from peft import PeftModel

    check_adapter_folder(folder)
    try:
        with warnings.catch_warnings():
            # peft asks transformers a deprecated question while loading; nothing to fix.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            return PeftModel.from_pretrained(base, str(folder))
    except (ValueError, RuntimeError, KeyError, TypeError) as err:
        raise damaged(folder, f"peft cannot load it: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
