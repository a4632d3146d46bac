"""Save and load what a trial trained: peft adapters (safetensors), heads, config, metadata.

Layout of a run folder:
    config.json                      the TrialConfig
    meta.json                        model sha256, dev metrics, library versions
    checkpoint/heads.safetensors     the three task heads
    checkpoint/adapters/<key>/       peft save_pretrained (adapter_model.safetensors + config)
    checkpoint/encoders/<key>/model.safetensors   full fine-tuning only
<key> is a task (single_task mode) or "shared" (sequential mode).
The checkpoint folder is written beside and renamed into place, so it is whole or absent.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from model.encoder import load_encoder, weights_sha256
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


def load_trial(run_dir: str | Path) -> tuple[TrialConfig, MultiTaskBert]:
    """Rebuild the trained model of a run folder (UserError if it is not one)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint"
    if not (run_dir / "config.json").is_file() or not (ckpt / "heads.safetensors").is_file():
        raise UserError(
            f"{run_dir} is not a trial folder: need config.json and checkpoint/heads.safetensors"
        )
    config = TrialConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    meta = (
        json.loads((run_dir / "meta.json").read_text()) if (run_dir / "meta.json").is_file() else {}
    )
    saved_sha = meta.get("model_sha256")
    if saved_sha and saved_sha != weights_sha256(config.model_path):
        raise ModelError(
            f"{run_dir} was trained on a model with sha256 {saved_sha[:12]}…, but "
            f"{config.model_path or 'the embedded model'} has {weights_sha256(config.model_path)[:12]}…"
        )
    keys = list(TASKS) if config.mode == "single_task" else [SHARED]
    model = build_model(config.replace(method="full"), load_encoder(config.model_path))
    for key in keys:
        model.encoders[key] = _load_encoder_weights(ckpt, key, config, model.encoders[key])
    model.heads.load_state_dict(load_file(str(ckpt / "heads.safetensors")))
    model.eval()
    return config, model


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
