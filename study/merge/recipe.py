"""A merge trial's run folder and its recipe, merge.json: enough to rebuild the merged model.

Layout (written by save_merge_run, read by load_merge_run):
    config.json                    the stage-1 TrialConfig (heads, pooling, data sizes, model)
    meta.json                      model_sha256, dev metrics, library versions
    checkpoint/heads.safetensors   a copy of the stage-1 heads
    merge.json                     the recipe:
        format        "peft-study-merge/1"
        method        merge_method
        lambdas       {task: λ}  as sampled
        weights       {task: w}  what multiplies each ΔW (fedavg: λ / Σλ; eoe: λ per expert)
        density       float or null (ties, dare, dare_ties)
        seed          seed of DARE's random drops (the stage-1 config's seed)
        stage1_dir    absolute stage-1 run folder
        adapters      {task: absolute peft adapter folder in stage1_dir} (referenced, not copied)
        heads         absolute heads.safetensors of the stage-1 run
        model_sha256  sha256 of the base model weights the adapters were trained on
        dev           {sst, para, sts, overall} of this merge
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model.encoder import load_encoder, weights_sha256
from model.errors import ModelError
from model.files import load_tensors
from model.merging.methods import method_weights
from model.merging.saved import build_merged_model, read_lora_adapter
from model.multitask import MultiTaskBert
from study.atomic import copy_file, read_json, write_json_atomic
from study.config import TASKS, TrialConfig
from study.errors import UserError
from study.merge.stage1 import adapter_path, heads_path, read_stage1_config
from study.train.checkpoint import library_versions

RECIPE = "merge.json"
RECIPE_FORMAT = "peft-study-merge/1"


def make_recipe(method: str, lambdas: list[float], density: float | None, source: Path) -> dict:
    """The merge.json content (see the module docstring) for a stage-1 run folder."""
    config = read_stage1_config(source)
    meta_file = source / "meta.json"
    meta = read_json(meta_file) if meta_file.is_file() else {}
    weights = lambdas if method == "eoe" else method_weights(method, lambdas)
    return {
        "format": RECIPE_FORMAT,
        "method": method,
        "lambdas": dict(zip(TASKS, lambdas, strict=True)),
        "weights": dict(zip(TASKS, weights, strict=True)),
        "density": density,
        "seed": config.seed,
        "stage1_dir": str(source),
        "adapters": {t: str(adapter_path(source, t)) for t in TASKS},
        "heads": str(heads_path(source)),
        "model_sha256": meta.get("model_sha256", ""),
    }


def load_merge_run(run_dir: str | Path) -> tuple[TrialConfig, MultiTaskBert]:
    """The model of a merge trial folder (for predict); UserError if it has no merge.json."""
    path = Path(run_dir) / RECIPE
    if not path.is_file():
        raise UserError(f"{run_dir} is not a merge trial folder: no {RECIPE}")
    recipe = read_json(path)
    if recipe.get("format") != RECIPE_FORMAT:
        raise UserError(
            f"{path} is not a merge recipe this version reads: format "
            f"{recipe.get('format')!r}, need {RECIPE_FORMAT}"
        )
    config = read_stage1_config(run_dir)
    return config, load_merged(run_dir, config, recipe)


def save_merge_run(
    run_dir: str | Path, config: TrialConfig, recipe: dict[str, Any], scores: dict[str, float]
) -> Path:
    """Write the run folder described in the module docstring; returns it (absolute)."""
    run_dir = Path(run_dir).resolve()
    (run_dir / "checkpoint").mkdir(parents=True, exist_ok=True)
    copy_file(recipe["heads"], run_dir / "checkpoint" / "heads.safetensors")
    write_json_atomic(run_dir / "config.json", config.to_dict())
    meta = {"model_sha256": recipe["model_sha256"], "dev": scores, **library_versions()}
    write_json_atomic(run_dir / "meta.json", meta)
    write_json_atomic(run_dir / RECIPE, {**recipe, "dev": scores})  # last: marks the folder whole
    return run_dir


def build_from_recipe(
    config: TrialConfig, recipe: dict[str, Any], heads_file: str | Path
) -> MultiTaskBert:
    """Rebuild the model a merge recipe (merge.json) describes."""
    saved_sha, sha = recipe.get("model_sha256"), weights_sha256(config.model_path)
    if saved_sha and saved_sha != sha:
        raise ModelError(
            f"the adapters were trained on a model with sha256 {saved_sha[:12]}…, but "
            f"{config.model_path or 'the embedded model'} has {sha[:12]}…"
        )
    try:
        paths = [recipe["adapters"][t] for t in TASKS]
        lambdas = [recipe["lambdas"][t] for t in TASKS]
        method = recipe["method"]
    except (KeyError, TypeError):
        raise UserError(
            "merge recipe needs method, lambdas and adapters for sst, para and sts"
        ) from None
    for path in [*paths, heads_file]:
        if not Path(path).exists():
            raise UserError(f"merge recipe needs {path}, which is missing; rerun stage 1")
    return build_merged_model(
        config.model_spec().heads,
        load_encoder(config.model_path),
        {t: read_lora_adapter(p) for t, p in zip(TASKS, paths, strict=True)},
        load_tensors(heads_file),
        method,
        lambdas,
        recipe.get("density"),
        recipe.get("seed", config.seed),
    )


def load_merged(run_dir: str | Path, config: TrialConfig, recipe: dict[str, Any]) -> MultiTaskBert:
    """The model of a merge trial folder: the recipe's adapters + its checkpoint/heads."""
    return build_from_recipe(config, recipe, Path(run_dir) / "checkpoint" / "heads.safetensors")
