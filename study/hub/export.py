"""`python -m study export TRIAL --hub DIR`: one self-contained, Hub-ready folder per task.

DIR/<task>/ holds the task's peft adapter (adapter_config.json, adapter_model.safetensors), its
head's weights (head.safetensors, the task's keys of heads.safetensors without the prefix),
head_config.json (design, pooling, pair head, max_len, the base model), head.py (torch,
transformers, peft and safetensors only: rebuilds the head and scores a sentence or a pair)
and a model card built with huggingface_hub's ModelCardData: base_model, the datasets in words
(they are not Hub datasets), the task's metric on dev, and the project's name and version in
place of a link (it has no public URL yet).
"""

from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from model.encoder import portable_model_name
from model.spec import TASKS
from study.atomic import atomic_dir, read_json, write_json_atomic, write_text
from study.config import TrialConfig
from study.errors import UserError
from study.predict import resolve_target

HEAD_PY = Path(__file__).with_name("head.py")
DATASETS = {
    "sst": "SST-5 sentiment (Stanford Sentiment Treebank, the minBERT split)",
    "para": "Quora Question Pairs (the minBERT split)",
    "sts": "STS Benchmark (the minBERT split)",
}
METRIC = {
    "sst": ("accuracy", "SST-5 accuracy"),
    "para": ("accuracy", "paraphrase accuracy"),
    "sts": ("pearsonr", "Pearson r"),
}
TASK_TYPE = {
    "sst": "text-classification",
    "para": "text-classification",
    "sts": "sentence-similarity",
}


def project_version() -> str:
    try:
        return version("peft-study")
    except PackageNotFoundError:
        return "unknown"


def export_hub(target: str, out: str | Path) -> list[Path]:
    """The folders written, one per task, for the trial (or a study's best trial) `target`."""
    run_dir, row = resolve_target(target)
    config = TrialConfig.from_dict(read_json(run_dir / "config.json"))
    if config.method == "full":
        raise UserError(
            f"{run_dir} is full fine-tuning: there is no adapter to export; --hub exports "
            "peft adapters (lora, dora, ...)"
        )
    checkpoint = run_dir / "checkpoint"
    heads_file = checkpoint / "heads.safetensors"
    if not heads_file.is_file():
        raise UserError(f"{run_dir} has no checkpoint/heads.safetensors: not a trained trial")
    from safetensors.torch import load_file, save_file

    heads = load_file(str(heads_file))
    meta = run_dir / "meta.json"
    scores = read_json(meta).get("dev", {}) if meta.is_file() else {}
    out = Path(out)
    written = []
    for task in TASKS:
        adapter = checkpoint / "adapters" / (task if config.mode == "single_task" else "shared")
        if not (adapter / "adapter_config.json").is_file():
            raise UserError(f"{run_dir}: no saved adapter for {task} at {adapter}")
        with atomic_dir(out / task) as tmp:
            for name in ("adapter_config.json", "adapter_model.safetensors"):
                shutil.copyfile(adapter / name, tmp / name)
            prefix = f"{task}."
            own = {
                k[len(prefix) :]: v.contiguous() for k, v in heads.items() if k.startswith(prefix)
            }
            save_file(own, str(tmp / "head.safetensors"))
            write_json_atomic(tmp / "head_config.json", _head_config(config, task))
            shutil.copyfile(HEAD_PY, tmp / "head.py")
            write_text(tmp / "README.md", _card(config, task, scores, row))
        written.append(out / task)
    return written


def _head_config(config: TrialConfig, task: str) -> dict:
    return {
        "task": task,
        "design": config.head_design,
        "pooling": config.pooling,
        "pair_head": "cosine" if config.pair_head_used == "cosine" else "paper",
        "max_len": config.max_len,
        "base_model": portable_model_name(config.model_path),
        "method": config.method,
    }


def _card(config: TrialConfig, task: str, scores: dict, row) -> str:  # noqa: ANN001
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    base = portable_model_name(config.model_path)
    metric, metric_name = METRIC[task]
    results = []
    if isinstance(scores.get(task), int | float):
        results.append(
            EvalResult(
                task_type=TASK_TYPE[task],
                dataset_type=f"minbert-{task}",
                dataset_name=DATASETS[task],
                dataset_split="dev",
                metric_type=metric,
                metric_name=metric_name,
                metric_value=float(scores[task]),
            )
        )
    data = ModelCardData(
        base_model=base,
        library_name="peft",
        datasets=[DATASETS[task]],
        metrics=[metric],
        eval_results=results or None,
        model_name=f"{config.method}-{task}-peft-study",
        tags=["peft", config.method, "bert", "peft-study", task],
    )
    made = f"study `{row.study}`, trial `{row.trial_id}`" if row is not None else "a trial"
    score = f"{scores[task]:.4f}" if isinstance(scores.get(task), int | float) else "-"
    body = f"""---
{data.to_yaml()}
---

# {config.method.upper()} adapter and head for {DATASETS[task]}

Made by peft-study {project_version()} (no public URL yet) from {made}: a {config.method}
adapter (r = {config.r}, targets `{config.targets}`, bias `{config.bias}`) on `{base}` and the
task's head (design {config.head_design}, pooling `{config.pooling}`). Dev {metric_name}:
{score} on the scale's dev rows ({config.scale}).

## Use

```bash
pip install torch transformers peft safetensors
python head.py "first sentence" "second sentence"      # or one sentence for SST
```

```python
from head import TaskHead
head = TaskHead.load(".")
head.score(["a sentence"], ["another one"])  # para: P(duplicate); sts: 0-5; sst: 5 classes
```

Files: `adapter_config.json` and `adapter_model.safetensors` (plain peft), `head.safetensors`
and `head_config.json` (the head), `head.py` (both together).
"""
    return str(ModelCard(body))
