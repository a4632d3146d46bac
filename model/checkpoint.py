"""Save and load what a trial trained: peft adapters (safetensors), heads, config, metadata.

Layout of a run folder:
    config.json                      the TrialConfig
    meta.json                        model sha256, dev metrics, library versions
    checkpoint/heads.safetensors     the three task heads
    checkpoint/adapters/<key>/       peft save_pretrained (adapter_model.safetensors + config)
    checkpoint/encoders/<key>/model.safetensors   full fine-tuning only
    merge.json                       merge trials only: the merge recipe (see below)
<key> is a task (single_task mode) or "shared" (sequential mode).
The checkpoint folder is written beside and renamed into place, so it is whole or absent.

merge.json (hook; merging itself lives elsewhere): a JSON object with at least
    {"method": "eoe" | "weighted_sum" | "ties" | "dare", "sources": [<run folder>, ...], ...}
plus whatever the method needs (e.g. "weights", "density", "seed"). When a run folder holds one,
load_trial hands (run_dir, config, recipe) to model.merge.load_merged, which must return the
MultiTaskBert; config.json must still be a TrialConfig (its dev_per_task, data_seed, max_len,
head_design and pooling say how the merged model is evaluated).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from model.encoder import check_model_folder, load_encoder, weights_sha256
from model.multitask import SHARED, MultiTaskBert, build_model
from study.config import TASKS, TrialConfig
from study.errors import ModelError, UserError


def save_trial(
    model: MultiTaskBert, config: TrialConfig, run_dir: str | Path, meta: dict[str, Any]
) -> Path:
    """Write the run folder; returns the checkpoint path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / "checkpoint"
    tmp = run_dir / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for key, enc in model.encoders.items():
        if hasattr(enc, "peft_config"):
            enc.save_pretrained(str(tmp / "adapters" / key))
        else:
            (tmp / "encoders" / key).mkdir(parents=True)
            state = {k: v.detach().contiguous().cpu() for k, v in enc.state_dict().items()}
            save_file(state, str(tmp / "encoders" / key / "model.safetensors"))
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in model.heads.state_dict().items()},
        str(tmp / "heads.safetensors"),
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _write_json(run_dir / "config.json", config.to_dict())
    _write_json(run_dir / "meta.json", {**meta, **library_versions()})
    return final


MERGE_RECIPE = "merge.json"


def load_trial(run_dir: str | Path) -> tuple[TrialConfig, MultiTaskBert]:
    """Rebuild the trained model of a run folder (UserError if it is not one)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint"
    if not (run_dir / "config.json").is_file() or not (ckpt / "heads.safetensors").is_file():
        raise UserError(
            f"{run_dir} is not a trial folder: need config.json and checkpoint/heads.safetensors"
        )
    config = TrialConfig.from_dict(_read_json(run_dir / "config.json"))
    check_model_folder(config.model_path)  # a ModelError, not a traceback, if it is gone
    saved_sha = read_meta(run_dir).get("model_sha256")
    current_sha = weights_sha256(config.model_path)
    if saved_sha and saved_sha != current_sha:
        raise ModelError(
            f"{run_dir} was trained on a model with sha256 {saved_sha[:12]}…, but "
            f"{config.model_path or 'the embedded model'} has {current_sha[:12]}…"
        )
    recipe = read_merge_recipe(run_dir)
    model = (
        load_checkpoint(run_dir, config)
        if recipe is None
        else _load_merged(run_dir, config, recipe)
    )
    model.eval()
    return config, model


def load_checkpoint(run_dir: str | Path, config: TrialConfig) -> MultiTaskBert:
    """The standard layout: base encoder(s) + saved adapters (or full weights) + heads."""
    ckpt = Path(run_dir) / "checkpoint"
    keys = list(TASKS) if config.mode == "single_task" else [SHARED]
    # Plain encoders first; the saved adapters (OrthoAda's frozen lora_A included) go on top.
    model = build_model(
        config.replace(method="full", orthogonal=False), load_encoder(config.model_path)
    )
    for key in keys:
        model.encoders[key] = _load_encoder_weights(ckpt, key, config, model.encoders[key])
    model.heads.load_state_dict(load_file(str(ckpt / "heads.safetensors")))
    return model


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    """meta.json of a run folder ({} when absent): model_sha256, dev metrics, versions."""
    path = Path(run_dir) / "meta.json"
    return _read_json(path) if path.is_file() else {}


def read_merge_recipe(run_dir: str | Path) -> dict[str, Any] | None:
    """The run folder's merge.json, or None for a trained (not merged) trial."""
    path = Path(run_dir) / MERGE_RECIPE
    if not path.is_file():
        return None
    recipe = _read_json(path)
    if not isinstance(recipe.get("method"), str):
        raise UserError(f'{path}: a merge recipe needs a "method" string (eoe, weighted_sum, …)')
    return recipe


def _load_merged(run_dir: Path, config: TrialConfig, recipe: dict[str, Any]) -> MultiTaskBert:
    """Hook for merge trials: model/merge.py provides load_merged(run_dir, config, recipe)."""
    try:
        from model.merge import load_merged
    except ImportError:
        raise UserError(
            f"{run_dir} holds a merge recipe (method {recipe['method']!r}), "
            "but this version cannot load merged trials (model.merge.load_merged is missing)"
        ) from None
    return load_merged(run_dir, config, recipe)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


def _load_encoder_weights(ckpt: Path, key: str, config: TrialConfig, base):  # noqa: ANN001, ANN202
    if config.method == "full":
        path = ckpt / "encoders" / key / "model.safetensors"
        if not path.is_file():
            raise UserError(
                f"{ckpt.parent}: missing encoder weights {path.relative_to(ckpt.parent)}"
            )
        base.load_state_dict(load_file(str(path)))
        return base
    path = ckpt / "adapters" / key
    if not (path / "adapter_model.safetensors").is_file():
        raise UserError(
            f"{ckpt.parent}: missing adapter {path.relative_to(ckpt.parent)}/adapter_model.safetensors"
        )
    from peft import PeftModel

    with warnings.catch_warnings():
        # peft asks transformers a deprecated question while loading; nothing for a user to fix.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        return PeftModel.from_pretrained(base, str(path))


def library_versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)
