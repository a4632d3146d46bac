"""The model card (README.md) of each saved adapter folder, in place of peft's empty template,
and a base model name that works on another machine (peft would record a local path).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from model.encoder import portable_model_name
from study.atomic import read_json, write_json_atomic, write_text
from study.config import TrialConfig
from study.metrics import METRICS
from study.scales import SCALES, scale_config

CARD = "README.md"
TASK_NAMES = {
    "sst": "SST-5 sentiment (5 classes)",
    "para": "Quora paraphrase detection",
    "sts": "STS-B semantic similarity (0-5)",
    "shared": "all three tasks (SST, Quora, STS), trained sequentially",
}


def retrain_command(config: TrialConfig) -> str:
    """`python -m study train ...` that trains this config again."""
    preset = scale_config(config.scale) if config.scale in SCALES else TrialConfig()
    parts = ["python", "-m", "study", "train", "--scale", config.scale]
    if config.model_path:
        parts += ["--model-path", config.model_path]
    if config.data_dir:
        parts += ["--data-dir", config.data_dir]
    wanted, default = config.to_dict(), preset.to_dict()
    for key in sorted(wanted):
        if key in ("scale", "model_path", "data_dir", "threads") or wanted[key] == default[key]:
            continue
        value = wanted[key]
        text = "-".join(value) if isinstance(value, list) else json.dumps(value).strip('"')
        parts += ["--set", f"{key}={text}"]
    return shlex.join(parts)


def write_model_cards(
    run_dir: str | Path,
    config: TrialConfig,
    model_sha256: str,
    scores: dict[str, Any],
    study: str | None = None,
    trial_id: str | None = None,
) -> list[Path]:
    """A card in every checkpoint/adapters/<key>/ folder of the run; their adapter_config.json
    name the base model portably. Returns the cards written."""
    run_dir = Path(run_dir)
    written = []
    for folder in sorted((run_dir / "checkpoint" / "adapters").glob("*")):
        if not (folder / "adapter_config.json").is_file():
            continue
        adapter_cfg = read_json(folder / "adapter_config.json")
        adapter_cfg["base_model_name_or_path"] = portable_model_name(config.model_path)
        write_json_atomic(folder / "adapter_config.json", adapter_cfg)
        text = _card(folder.name, config, model_sha256, scores, study, trial_id)
        write_text(folder / CARD, text)
        written.append(folder / CARD)
    return written


def _card(key, config, sha, scores, study, trial_id) -> str:  # noqa: ANN001
    base = portable_model_name(config.model_path)
    where = (
        f"study `{study}`, trial `{trial_id}`" if study else "`python -m study train` (no study)"
    )
    rows = "\n".join(
        f"| {split} | " + " | ".join(_fmt(values.get(m)) for m in METRICS) + " |"
        for split, values in scores.items()
        if values
    )
    config_json = json.dumps(config.to_dict(), indent=2, sort_keys=True)
    return f"""---
base_model: {base}
library_name: peft
tags: [peft, {config.method}, bert, multi-task, peft-study]
---

# {config.method.upper()} adapter for {TASK_NAMES.get(key, key)}

Trained by peft-study {_version()} (no public URL yet; {where}): one of the task adapters of a
multi-task minBERT ({config.mode}), fine-tuned on SST, Quora and STS.

- **Base model:** `{base}`, `model.safetensors` sha256 `{sha}`
- **Task:** {TASK_NAMES.get(key, key)}
- **Method:** {config.method}, r = {config.r}, alpha = {config.lora_alpha:g}, targets
  `{config.targets}`, bias `{config.bias}`{", orthogonal lora_A (OrthoAda)" if config.orthogonal else ""}
- **Head:** design {config.head_design} (paper Eq. {config.head_design}), pooling
  `{config.pooling}`, d = {config.proj_dim}

## Scores

| split | SST acc | Para acc | STS Pearson | overall |
|---|---|---|---|---|
{rows}

overall = (sst + para + (sts + 1) / 2) / 3.

## Retrain

```bash
{retrain_command(config)}
```

## Load

The task heads are not part of the peft adapter: they are in `../../heads.safetensors`
(keys `sst.*`, `para.*`, `sts.*`); `python -m study export RUN --hub DIR` writes one folder per
task with the adapter, its head and a `head.py` that needs no peft-study.

```python
from peft import PeftModel
from transformers import BertModel

base = BertModel.from_pretrained("{base}", add_pooling_layer=False)
encoder = PeftModel.from_pretrained(base, "path/to/this/folder")
# with this project installed, the whole multi-task model and its heads:
#   from study.train.checkpoint import load_trial; config, model = load_trial("path/to/run")
```

## Config

```json
{config_json}
```
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("peft-study")
    except PackageNotFoundError:
        return "(not installed)"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
