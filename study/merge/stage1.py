"""Stage 1 of the merge study: train the per-task adapters once (or reuse saved ones).

Two sets per seed are kept under <study_dir>/stage1/ (the first seed's at the top, each further
seed's under seed<N>/):
    orthogonal/   single_task LoRA with orthogonal=True (OrthoAda's adapters)
    standard/     single_task LoRA (EoE, FedAvg, task arithmetic, TIES, DARE)
Each is a run folder as run_trial writes it (config.json, meta.json, checkpoint/adapters/<task>/
in peft format, checkpoint/heads.safetensors) plus stage1.json: run_trial's final metrics and
residual_overlap (max ‖ΔWᵢ ΔWⱼᵀ‖ / (‖ΔWᵢ‖ ‖ΔWⱼ‖) over layers and task pairs).
A set is reused when its saved config.json equals the wanted config (threads aside) and the
model checksum and every file are there; otherwise it is trained again.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import Any

from model.encoder import weights_sha256
from model.errors import ModelError
from model.files import check_adapter_folder, check_tensor_file
from model.merging.saved import LoraAdapter, max_residual_overlap, read_lora_adapter
from study.atomic import read_json, write_json_atomic
from study.config import TASKS, TrialConfig
from study.errors import ConfigError, UserError
from study.metrics import METRICS

STAGE1 = "stage1"
SUMMARY = "stage1.json"
# OrthoAda first: a rank too large for the orthogonal basis fails before any training.
SETS = {"orthogonal": True, "standard": False}
_IGNORED = ("threads",)  # does not change what is trained


def stage1_config(base: TrialConfig, orthogonal: bool) -> TrialConfig:
    """The single-task config one adapter set trains with; merging needs LoRA without biases."""
    if base.method != "lora" or base.bias != "none":
        raise ConfigError(
            f"the merge study needs method=lora and bias=none (got method={base.method}, "
            f"bias={base.bias}): DoRA and trained biases are not additive residuals"
        )
    if base.init in ("pissa", "olora"):
        raise ConfigError(
            f"the merge study needs init=default or gaussian (got init={base.init}): PiSSA and "
            "OLoRA change the base weights, so their residuals do not add onto them"
        )
    return base.replace(mode="single_task", orthogonal=orthogonal)


def set_folder(root: Path, name: str, index: int, seed: int) -> Path:
    """Where seed `seed` keeps set `name`: the first seed at stage1/<set> (the layout of one
    seed), each further seed at stage1/seed<seed>/<set>."""
    return root / name if index == 0 else root / f"seed{seed}" / name


def prepare_task_adapters(
    base: TrialConfig, study_dir: str | Path, seeds: int = 1, progress: bool = False
) -> dict[str, Any]:
    """Train (or reuse) both adapter sets for each of `seeds` seeds (base.seed, base.seed + 1,
    ...). Returns JSON-able paths and facts; the first seed's sets at the top level, where the
    search over λ reads them:

    {"standard": "<abs run dir>", "orthogonal": "<abs run dir>",
     "seeds": {"<seed>": {"standard": ..., "orthogonal": ...}},
     "reused": {set: bool}, "dev": {set: {sst, para, sts, overall}},
     "residual_overlap": {set: float}}   (the last three: the first seed's)
    """
    from study.train.run import run_trial

    root = Path(study_dir) / STAGE1
    out: dict[str, Any] = {"reused": {}, "dev": {}, "residual_overlap": {}, "seeds": {}}
    for index in range(seeds):
        seed = base.seed + index
        paths = {}
        for name, orthogonal in SETS.items():
            config = stage1_config(base.replace(seed=seed), orthogonal)
            run_dir = set_folder(root, name, index, seed)
            reused = is_reusable(run_dir, config)
            if not reused and not orthogonal and adopt_from_sibling(run_dir, config, study_dir):
                reused = True
            if not reused:
                if progress:
                    print(f"stage 1: training the {name} set, seed {seed}", file=sys.stderr)
                (run_dir / SUMMARY).unlink(missing_ok=True)
                record = run_trial(config, report=None, run_dir=run_dir, progress=progress)
                adapters = read_task_adapters(run_dir)
                overlap = max_residual_overlap([adapters[t] for t in TASKS])
                summary = record.to_dict() | {"residual_overlap": overlap}
                write_json_atomic(run_dir / SUMMARY, summary)
            summary = read_summary(run_dir)
            paths[name] = str(run_dir.resolve())
            if index == 0:
                out[name] = paths[name]
                out["reused"][name] = reused
                out["dev"][name] = {k: summary[k] for k in METRICS}
                out["residual_overlap"][name] = summary["residual_overlap"]
        out["seeds"][str(seed)] = paths
    return out


SIBLING = "lora_sweep"
"""A study whose completed trials may already hold a standard set: `run paper` puts it beside
the merge study, and its paper row LoRA r=64 on all linear layers is this very config."""


def adopt_from_sibling(run_dir: Path, config: TrialConfig, study_dir: str | Path) -> bool:
    """Copy a completed trial of the sibling study trained with exactly `config` (its seed
    included) into run_dir as the standard set; False when there is none."""
    from study.records import read_records

    sibling = Path(study_dir).resolve().parent / SIBLING
    if not (sibling / "trials.jsonl").is_file():
        return False
    for record in read_records(sibling):
        if not record.completed or not record.adapter_dir:
            continue
        source = Path(record.adapter_dir)
        saved = source / "config.json"
        if not saved.is_file() or first_difference(read_json(saved), config) is not None:
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(source, run_dir)
        adapters = read_task_adapters(run_dir)
        overlap = max_residual_overlap([adapters[t] for t in TASKS])
        summary = record.to_dict() | {"residual_overlap": overlap, "adopted_from": str(source)}
        write_json_atomic(run_dir / SUMMARY, summary)
        if is_reusable(run_dir, config):
            print(
                f"stage 1: the standard set of seed {config.seed} is {SIBLING} trial "
                f"{record.trial_id} (the same config), copied from {source}",
                file=sys.stderr,
            )
            return True
        shutil.rmtree(run_dir, ignore_errors=True)  # not whole after all: train it
    return False


def is_reusable(run_dir: Path, config: TrialConfig) -> bool:
    """True when run_dir holds a whole stage-1 set trained with `config` on today's model."""
    ckpt = run_dir / "checkpoint"
    needed = [run_dir / "config.json", run_dir / "meta.json", run_dir / SUMMARY]
    needed += [ckpt / "heads.safetensors"]
    needed += [ckpt / "adapters" / t / "adapter_model.safetensors" for t in TASKS]
    if not all(p.is_file() for p in needed):
        return False
    try:
        saved = read_json(run_dir / "config.json")
        meta = read_json(run_dir / "meta.json")
        read_json(run_dir / SUMMARY)
        for task in TASKS:
            check_adapter_folder(adapter_path(run_dir, task))
        check_tensor_file(heads_path(run_dir))
    except (UserError, ModelError) as err:  # a derived set: train it again, say why
        print(f"warning: stage 1 {run_dir.name}: {err}; training it again", file=sys.stderr)
        return False
    return first_difference(saved, config) is None and meta.get("model_sha256") == weights_sha256(
        config.model_path
    )


def first_difference(saved: dict[str, Any], config: TrialConfig) -> str | None:
    """'key: saved vs wanted' for the first field where a saved config.json differs, else None.
    The learning rate is compared as trained (lr, else the default times lr_scale), so lr=3e-4
    and the default 3e-4 are the same training."""
    wanted = config.to_dict()
    rates = ("lr", "lr_scale")
    for key in sorted(set(saved) | set(wanted)):
        if key not in _IGNORED + rates and saved.get(key) != wanted.get(key):
            return f"{key}: {saved.get(key)!r} vs {wanted.get(key)!r}"
    try:
        rate = TrialConfig.from_dict(saved).learning_rate
    except (UserError, TypeError, ValueError):
        rate = None
    if rate is None or not math.isclose(rate, config.learning_rate, rel_tol=1e-9):
        return f"lr: {rate!r} vs {config.learning_rate!r}"
    return None


def read_stage1_config(run_dir: str | Path) -> TrialConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a stage-1 run folder: no config.json")
    return TrialConfig.from_dict(read_json(path))


def read_task_adapters(run_dir: str | Path) -> dict[str, LoraAdapter]:
    """{task: adapter} from run_dir/checkpoint/adapters/<task>/ (peft format)."""
    return {t: read_lora_adapter(adapter_path(run_dir, t)) for t in TASKS}


def adapter_path(run_dir: str | Path, task: str) -> Path:
    return Path(run_dir).resolve() / "checkpoint" / "adapters" / task


def heads_path(run_dir: str | Path) -> Path:
    return Path(run_dir).resolve() / "checkpoint" / "heads.safetensors"


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        raise UserError(f"{run_dir} has no {SUMMARY}; run stage 1 (prepare_task_adapters) again")
    return read_json(path)
