"""Save and load what a trial trained: peft adapters (safetensors), heads, config, metadata.

Layout of a run folder:
    config.json                      the TrialConfig
    meta.json                        model sha256, dev metrics, library versions
    checkpoint/heads.safetensors     the three task heads
    checkpoint/adapters/<key>/       peft save_pretrained (adapter_model.safetensors + config;
                                     PiSSA/OLoRA converted to LoRA on the base weights)
    checkpoint/encoders/<key>/model.safetensors   full fine-tuning only
<key> is a task (single_task mode) or "shared" (sequential mode).
The checkpoint folder is written beside and renamed into place, so it is whole or absent.
A merge trial's folder holds a merge.json instead of adapters (study/merge/recipe.py).
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from model.adapters import save_adapter
from model.encoder import check_model_folder, load_encoder, weights_sha256
from model.errors import ModelError
from model.files import load_peft_adapter, load_state
from model.multitask import SHARED, MultiTaskBert, build_model
from study.atomic import atomic_dir, read_json, write_json_atomic
from study.config import TASKS, TrialConfig
from study.errors import UserError
from study.train.model_card import write_model_cards


def save_trial(
    model: MultiTaskBert, config: TrialConfig, run_dir: str | Path, meta: dict[str, Any]
) -> Path:
    """Write the run folder; returns the checkpoint path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / "checkpoint"
    with atomic_dir(final) as tmp:
        for key, enc in model.encoders.items():
            if hasattr(enc, "peft_config"):
                save_adapter(enc, tmp / "adapters" / key)
            else:
                (tmp / "encoders" / key).mkdir(parents=True)
                state = {k: v.detach().contiguous().cpu() for k, v in enc.state_dict().items()}
                save_file(state, str(tmp / "encoders" / key / "model.safetensors"))
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in model.heads.state_dict().items()},
            str(tmp / "heads.safetensors"),
        )
    write_json_atomic(run_dir / "config.json", config.to_dict())
    write_json_atomic(run_dir / "meta.json", {**meta, **library_versions()})
    write_model_cards(run_dir, config, meta.get("model_sha256", ""), {"dev": meta.get("dev")})
    return final


def load_trial(run_dir: str | Path) -> tuple[TrialConfig, MultiTaskBert]:
    """Rebuild the trained model of a run folder (UserError if it is not one)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint"
    if not (run_dir / "config.json").is_file() or not (ckpt / "heads.safetensors").is_file():
        raise UserError(
            f"{run_dir} is not a trial folder: need config.json and checkpoint/heads.safetensors"
        )
    config = read_config(run_dir)
    check_model_folder(config.model_path)  # a ModelError, not a traceback, if it is gone
    check_model_sha(run_dir, read_meta(run_dir).get("model_sha256"), config.model_path)
    model = load_checkpoint(run_dir, config)
    model.eval()
    return config, model


def read_config(run_dir: str | Path) -> TrialConfig:
    """The TrialConfig of a run folder."""
    return TrialConfig.from_dict(read_json(Path(run_dir) / "config.json"))


def check_model_sha(run_dir: str | Path, saved_sha: str | None, model_path: str) -> None:
    """A ModelError when the run was trained on other base weights than model_path holds."""
    current_sha = weights_sha256(model_path)
    if saved_sha and saved_sha != current_sha:
        raise ModelError(
            f"{run_dir} was trained on a model with sha256 {saved_sha[:12]}…, but "
            f"{model_path or 'the embedded model'} has {current_sha[:12]}…"
        )


def load_checkpoint(run_dir: str | Path, config: TrialConfig) -> MultiTaskBert:
    """The standard layout: base encoder(s) + saved adapters (or full weights) + heads."""
    ckpt = Path(run_dir) / "checkpoint"
    keys = list(TASKS) if config.mode == "single_task" else [SHARED]
    # Plain encoders first; the saved adapters (OrthoAda's frozen lora_A included) go on top.
    plain = config.replace(method="full", orthogonal=False)
    model = build_model(plain.model_spec(), load_encoder(config.model_path))
    for key in keys:
        model.encoders[key] = _load_encoder_weights(ckpt, key, config, model.encoders[key])
    load_state(model.heads, ckpt / "heads.safetensors")
    return model


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    """meta.json of a run folder ({} when absent): model_sha256, dev metrics, versions."""
    path = Path(run_dir) / "meta.json"
    return read_json(path) if path.is_file() else {}


def _load_encoder_weights(ckpt: Path, key: str, config: TrialConfig, base):  # noqa: ANN001, ANN202
    if config.method == "full":
        load_state(base, ckpt / "encoders" / key / "model.safetensors")
        return base
    return load_peft_adapter(base, ckpt / "adapters" / key)


def library_versions() -> dict[str, str]:
    """The torch, transformers and peft this process runs: the loaded module's version, else
    the installed package's, so a study's driver records them without importing peft (seconds
    before its first trial)."""
    return {name: _version(name) for name in ("torch", "transformers", "peft")}


def _version(name: str) -> str:
    module = sys.modules.get(name)
    return module.__version__ if module is not None else importlib.metadata.version(name)
